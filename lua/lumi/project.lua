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
---   or {loaded=config table, pending=connection begun by db.connect_start}
function M.open(opts)
  opts = opts or {}
  local cfg = opts.loaded or config.load(opts)
  local self = setmetatable({
    config = cfg,
    scheme = naming.resolve(cfg.naming),
    on_event = opts.on_event or function() end,
    _pending = opts.pending,
  }, Project)
  return self
end

--- Send an event to whoever reports (the CLI, or the API caller).
function Project:emit(event)
  self.on_event(event)
end

--- Migration files on disk (see source.scan). The files are hashed on
--- worker threads from the moment they are listed.
function Project:scan()
  if not self._scan then
    self._scan = source.scan(self.config.migrations_dir, self.scheme, function(paths)
      self._hashing = hash.start(paths)
    end)
  end
  return self._scan
end

--- Start connecting in the background: the server sets up the session
--- while lumi scans and hashes files. Project:db() finishes it.
function Project:connect_early()
  if not self._db and not self._pending then
    self._pending = db.connect_start(self.config.database)
  end
end

--- The database handle, connected on first use.
function Project:db()
  if not self._db then
    local opts = { on_notice = function(n) self:emit({ type = "notice", notice = n }) end }
    if self._pending then
      self._db = db.finish_connect(self._pending, opts)
      self._pending = nil
    else
      self._db = db.connect(self.config.database, opts)
    end
  end
  return self._db
end

--- The tracking table of this project.
function Project:store()
  if not self._store then self._store = store.new(self:db(), self.config.table) end
  return self._store
end

--- {path = sha256 hex} of the migration files (hashed since the scan).
function Project:checksums(migrations)
  if self._hashing then
    local sums = self._hashing:wait()
    self._hashing = nil
    self._sums = sums
  end
  if not self._sums then
    local paths = {}
    for i, m in ipairs(migrations) do paths[i] = m.path end
    self._sums = hash.start(paths):wait()
  end
  return self._sums
end

--- The plan: files × tracking records, with checksums compared. The files
--- are hashed while the tracking table is read. Returns plan, scan, and
--- whether the tracking table exists.
function Project:plan(records)
  local take = not records and self:store():applied_later()
  local scan = self:scan()
  local exists = true
  if take then records, exists = take() end
  local sums = self:checksums(scan.migrations)
  return plan.build(scan.migrations, records, self.scheme, sums), scan, exists
end

function Project:close()
  if self._db then self._db:close(); self._db = nil end
  if self._pending then self._pending:close(); self._pending = nil end
  self._store = nil
end

Project.__close = Project.close

return M
