--- lumi as a library: open a project and run any command, getting the
--- structured result instead of printed output.
--
--   local lumi = require "lumi"
--   local project <close> = lumi.open { dir = "db/migrations", database = os.getenv("DATABASE_URL") }
--   local st = project:status()          -- {entries=, totals=, ...}
--   local r = project:up { to = "042" }  -- {applied=, error=?}
--
-- open() takes the same settings as migrate.lua (they override it), plus
-- `config` (path of a migrate.lua), `cwd` and `on_event` (a function that
-- receives progress events such as {type="applied", migration=, seconds=}).
local project_mod = require "lumi.project"
local config = require "lumi.config"

local M = {}

M.version = require "lumi.version"
M.errors = require "lumi.errors"

local command_names = { "up", "status", "list", "new", "verify", "validate" }

function M.open(settings)
  settings = settings or {}
  local flags = {}
  for k, v in pairs(settings) do
    if config.schema[k] then flags[k] = v end
  end
  local p = project_mod.open({ config = settings.config, cwd = settings.cwd, flags = flags,
                               on_event = settings.on_event })
  for _, name in ipairs(command_names) do
    p[name] = function(self, opts)
      opts = opts or {}
      if name == "new" and type(opts) == "string" then opts = { args = { opts } } end
      opts.args = opts.args or {}
      return require("lumi.commands." .. name).run(self, opts)
    end
  end
  return p
end

return M
