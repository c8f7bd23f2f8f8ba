--- A project target: its configuration, naming scheme, migrations on disk,
--- and (opened on first use) its database connection and tracking tables.
local config = require "lumi.config"
local naming = require "lumi.naming"

local M = {}

local Project = {}
Project.__index = Project

--- Open a project target.
---@param opts table {config=, cwd=, flags={database=, dir=, ...}, target=, on_event=fn}
---   or {loaded=the settings of one target, pending=connection begun by db.connect_start}
function M.open(opts)
  opts = opts or {}
  local cfg = opts.loaded or config.load(opts)
  local self = setmetatable({
    config = cfg,
    target = cfg.name,
    scheme = naming.resolve(cfg.naming),
    on_event = opts.on_event or function() end,
    _pending = opts.pending,
  }, Project)
  return self
end

--- Send an event to whoever reports (the CLI, or the API caller).
function Project:emit(event)
  event.target = event.target or self.target
  self.on_event(event)
end

--- The identity that matches files to tracking rows.
function Project:identity()
  local t = self.config.tracking or {}
  if t.identity then return t.identity end
  if t.columns and not t.columns.version then return "file" end
  return "version"
end

--- Migration files on disk: {migrations=, ignored=, duplicates=}. The
--- files are hashed on a worker thread from the moment they are listed,
--- unless the caller says it needs no checksums (list, new).
---@param opts table? {checksums = false}
function Project:scan(opts)
  if not self._scan then
    local hashing = not (opts and opts.checksums == false)
    local layout = require "lumi.layout"
    local dir = self.config.migrations_dir
    local found
    if self.config.discover then
      found = self.config.discover(dir, self.scheme)
      if type(found) ~= "table" or type(found.migrations) ~= "table" then
        require("lumi.errors").raise("config", "discover: must return {migrations = {...}, ignored = {...}}")
      end
      for _, m in ipairs(found.migrations) do
        m.path = m.path or (dir .. "/" .. m.file)
        m.layout = m.layout or "file"
      end
    else
      found = layout.discover(dir, self.scheme, {
        prefetch = hashing and function(paths) self._hashing = require("lumi.hash").start(paths, self:checksum_cache()) end or nil,
      })
    end
    self._scan = layout.finish(found, self.scheme, self:identity())
  end
  return self._scan
end

--- The database handle, connected on first use.
function Project:db()
  if not self._db then
    local db = require "lumi.db"
    local opts = { on_notice = function(n) self:emit({ type = "notice", notice = n }) end }
    if self._pending then
      -- still connecting: the handle waits on first use, and the tracking
      -- query can be sent before that (see Project:plan)
      self._db = db.wrap_connecting(self._pending, opts, self.config.database)
      self._pending = nil
    else
      self._db = db.connect(self.config.database, opts)
    end
  end
  return self._db
end

--- The tracking tables of this target.
function Project:store()
  if not self._store then self._store = require("lumi.store").new(self:db(), self.config.tracking) end
  return self._store
end

--- The file that keeps the SHA-256s of this target's migration files
--- between runs (see lumi.hash): the one `checksum_cache` names (relative
--- to migrate.lua), or one per migrations directory in $XDG_CACHE_HOME/lumi
--- (~/.cache/lumi); nil when `checksum_cache = false` or there is no home
--- to keep it in.
function Project:checksum_cache()
  local setting = self.config.checksum_cache
  if setting == false then return nil end
  if type(setting) == "string" then return require("lumi.fs").join(self.config.root, setting) end
  local base = os.getenv("XDG_CACHE_HOME")
  if not base or base:sub(1, 1) ~= "/" then
    local home = os.getenv("HOME")
    if not home or home:sub(1, 1) ~= "/" then return nil end
    base = home .. "/.cache"
  end
  local dir = self.config.migrations_dir
  if dir:sub(1, 1) ~= "/" then
    local cwd = require("lumi.sys").cwd()
    if not cwd then return nil end
    dir = cwd .. "/" .. dir
  end
  -- named by a 64-bit FNV-1a of the directory (SHA-256 here would make the
  -- main thread initialise OpenSSL, which the hashing thread does anyway)
  local h = -3750763034362895579                  -- 0xcbf29ce484222325
  for i = 1, #dir do h = (h ~ dir:byte(i)) * 1099511628211 end
  return string.format("%s/lumi/checksums-%016x", base, h)
end

--- {path = sha256 hex} of the migration files (hashed since the scan).
function Project:checksums(migrations)
  if self._hashing then
    local sums = self._hashing:wait()
    self._hashing = nil
    self._sums = sums
  end
  self._sums = self._sums or {}
  local missing = {}
  for _, m in ipairs(migrations) do
    if self._sums[m.path] == nil then missing[#missing + 1] = m.path end
  end
  if #missing > 0 then
    for path, sum in pairs(require("lumi.hash").start(missing, self:checksum_cache()):wait()) do self._sums[path] = sum end
  end
  return self._sums
end

--- The plan: files × tracking records, with checksums compared. The
--- tracking table is read while the files are scanned and hashed. Returns
--- plan, scan, and whether the tracking table exists.
---@param fields table? the record fields the caller needs (a set; all when nil)
function Project:plan(records, fields)
  local take = not records and self:store():applied_later(fields)
  local scan = self:scan()
  local exists = true
  if take then records, exists = take() end
  local sums = self:checksums(scan.migrations)
  return require("lumi.plan").build(scan.migrations, records, self.scheme, sums, self:identity()), scan, exists
end

function Project:close()
  -- no worker thread may outlive the command (see lumi.hash job:cancel)
  if self._hashing then self._hashing:cancel(); self._hashing = nil end
  if self._db then self._db:close(); self._db = nil end
  if self._pending then self._pending:close(); self._pending = nil end
  self._store = nil
end

Project.__close = Project.close

return M
