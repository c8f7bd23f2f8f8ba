--- A project: its configuration, naming scheme, migrations on disk, and
--- (opened on first use) its database connection and tracking table.
local config = require "lumi.config"
local naming = require "lumi.naming"
local source = require "lumi.source"
local store = require "lumi.store"
local plan = require "lumi.plan"
local db = require "lumi.db"
local hash = require "lumi.hash"

local M = {}

local Project = {}
Project.__index = Project

--- Open a project.
---@param opts table {config=, cwd=, flags={database=, dir=, ...}, on_event=fn}
function M.open(opts)
  opts = opts or {}
  local cfg = config.load(opts)
  local self = setmetatable({
    config = cfg,
    scheme = naming.resolve(cfg.naming),
    on_event = opts.on_event or function() end,
  }, Project)
  return self
end

--- Send an event to whoever reports (the CLI, or the API caller).
function Project:emit(event)
  self.on_event(event)
end

--- Migration files on disk (see source.scan).
function Project:scan()
  if not self._scan then self._scan = source.scan(self.config.migrations_dir, self.scheme) end
  return self._scan
end

--- The database handle, connected on first use.
function Project:db()
  if not self._db then
    self._db = db.connect(self.config.database, {
      on_notice = function(n) self:emit({ type = "notice", notice = n }) end,
    })
  end
  return self._db
end

--- The tracking table of this project.
function Project:store()
  if not self._store then self._store = store.new(self:db(), self.config.table) end
  return self._store
end

--- SHA-256 of every migration file, keyed by path.
function Project:checksums(migrations)
  local sums = {}
  for _, m in ipairs(migrations) do
    sums[m.path] = hash.sha256_file(m.path)
  end
  return sums
end

--- The plan: files × tracking records, with checksums compared.
function Project:plan(records)
  local scan = self:scan()
  records = records or self:store():applied()
  return plan.build(scan.migrations, records, self.scheme, self:checksums(scan.migrations)), scan
end

function Project:close()
  if self._db then self._db:close(); self._db = nil end
  self._store = nil
end

Project.__close = Project.close

return M
