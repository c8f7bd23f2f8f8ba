--- lumi as a library: open a project and run any command, getting the
--- structured result instead of printed output.
--
--   local lumi = require "lumi"
--   local project <close> = lumi.open { dir = "db/migrations", database = os.getenv("DATABASE_URL") }
--   local st = project:status()          -- {entries=, totals=, ...}
--   local r = project:up { to = "042" }  -- {applied=, error=?}: a failed migration is a value
--   if r.error then print(r.error.file, r.error.line, r.error.sqlstate) end
--
-- open() reads migrate.lua (from `cwd`, or `config`) like the command line,
-- and takes every setting of migrate.lua on top of it (database, dir,
-- naming, hooks, ...), plus:
--   config     path of a migrate.lua          cwd        where to look for one
--   target     which target (default: the first)
--   env        which environment (default: LUMI_ENV)
--   on_event   function(event): progress events such as
--              {type="applied", migration=, seconds=}, {type="log", message=}
-- lumi.targets(settings) opens every target, in order.
local project_mod = require "lumi.project"
local config = require "lumi.config"

local M = {}

M.version = require "lumi.version"
M.errors = require "lumi.errors"

-- the commands of the command line, each a method (verify-down: verify_down)
M.commands = require("lumi.cli").commands

-- Give a project one method per command: project:up{...}, project:status().
local function add_commands(p)
  for _, name in ipairs(M.commands) do
    p[(name:gsub("%-", "_"))] = function(self, opts)
      if type(opts) == "string" then opts = { args = { opts } } end
      opts = opts or {}
      local o = {}
      for k, v in pairs(opts) do o[k] = v end
      o.args = o.args or {}
      if name == "new" and o.name then o.args = { o.name } end
      if (name == "mark" or name == "unmark" or name == "baseline") and o.version then o.args = { o.version } end
      if name == "down" and o.count then o.args = { tostring(o.count) } end
      local cmd = require("lumi.commands." .. name)
      if cmd.destructive and self.config.protected then
        M.errors.raise("usage", string.format("%s is protected: %s refuses to run on it",
          self.config.env and ("environment " .. self.config.env) or ("target " .. self.target), name))
      end
      return cmd.run(self, o)
    end
  end
  return p
end

local function load(settings)
  settings = settings or {}
  local flags = {}
  for k, v in pairs(settings) do
    if config.schema[k] then flags[k] = v end
  end
  return config.load({ config = settings.config, cwd = settings.cwd, flags = flags,
                       target = settings.target, env = settings.env })
end

--- Open one target (the chosen one, or the first) of a project.
function M.open(settings)
  settings = settings or {}
  local cfg = load(settings)
  return add_commands(project_mod.open({ loaded = cfg, on_event = settings.on_event }))
end

--- Open every target of a project, in order.
function M.targets(settings)
  settings = settings or {}
  local cfg = load(settings)
  local list = {}
  for i, t in ipairs(cfg.targets) do
    list[i] = add_commands(project_mod.open({ loaded = t, on_event = settings.on_event }))
  end
  return list
end

return M
