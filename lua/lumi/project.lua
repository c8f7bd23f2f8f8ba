--- A project target: the stages of lumi's pipeline for one target, as
--- public functions that commands compose.
--
--   config    the target's settings (lumi.config)
--   discover  files on disk -> migrations          project:discover()
--   connect   the database                         project:connect()
--   records   the tracking table -> records        project:store():read()
--   plan      migrations x records                 project:plan(found, records, sums)
--   prepare   each file to run, read once          lumi.prepare.part(m, dir, project.config)
--   run       lock, transactions, hooks            lumi.runner
--   report    events and results -> text or JSON   lumi.report (the caller's)
--
-- The project holds what a command opened (its connection) and nothing it
-- computed: each stage returns its result to the command.
local config = require "lumi.config"
local naming = require "lumi.naming"
local discover = require "lumi.discover"

local M = {}

local Project = {}
Project.__index = Project

--- Open a project target.
---@param opts table {config=, cwd=, flags={database=, dir=, ...}, target=, on_event=fn}
---   or {loaded = the settings of one target, on_event=fn}
function M.open(opts)
  opts = opts or {}
  local cfg = opts.loaded or config.load(opts)
  return setmetatable({
    config = cfg,
    target = cfg.name,
    scheme = naming.resolve(cfg.naming),
    on_event = opts.on_event or function() end,
  }, Project)
end

--- Send an event to whoever reports (the CLI, or the API caller).
function Project:emit(event)
  event.target = event.target or self.target
  self.on_event(event)
end

--- A warning event.
function Project:warn(message)
  self:emit({ type = "warning", message = message })
end

--- What is wrong with what a `discover` of migrate.lua returned, or nil.
function M.check_found(found)
  if type(found) ~= "table" or type(found.migrations) ~= "table" then
    return "must return {migrations = {...}, ignored = {...}}"
  end
  if found.ignored ~= nil and type(found.ignored) ~= "table" then
    return string.format("returned ignored = %s (a %s): it must be a list", tostring(found.ignored), type(found.ignored))
  end
  for i, m in pairs(found.migrations) do
    if type(m) ~= "table" or type(m.file) ~= "string" then
      return string.format("returned migrations[%s] = %s: each must be a table with `file` (a string) and what "
        .. "the naming scheme's parse gives", tostring(i), type(m) == "table" and "a table without `file`" or tostring(m))
    end
  end
  return nil
end

--- The identity that matches files to tracking rows.
function Project:identity()
  local t = self.config.tracking or {}
  if t.identity then return t.identity end
  if t.columns and not t.columns.version then return "file" end
  return "version"
end

--- Migrations on disk: {migrations=, ignored=, duplicates=}, by the
--- `discover` of migrate.lua or the built-in one, `ignore` applied.
function Project:discover()
  local cfg = self.config
  local dir = cfg.migrations_dir
  local found
  if cfg.discover then
    local what = (cfg.file or "migrate.lua") .. ": discover"
    found = require("lumi.naming").guard(what, cfg.discover, M.check_found)(dir, self.scheme)
    for _, m in ipairs(found.migrations) do
      m.path = m.path or (dir .. "/" .. m.file)
      m.layout = m.layout or "file"
    end
  else
    found = discover.default(dir, self.scheme)
  end
  return discover.finish(found, self.scheme, self:identity(), discover.ignorer(cfg.ignore))
end

--- The database handle, connected on first use and kept until close().
function Project:connect()
  if not self.db then
    self.db = require("lumi.db").connect(self.config.database,
      { on_notice = function(n) self:emit({ type = "notice", notice = n }) end })
  end
  return self.db
end

--- The tracking tables of this target, on the project's connection.
function Project:store()
  return require("lumi.store").new(self:connect(), self.config.tracking)
end

--- The SHA-256s of the files of `migrations`, {path = hex}, added to
--- `sums` (a table the caller keeps between calls) when given. A file
--- that cannot be read is left out.
function Project:checksums(migrations, sums)
  local sha256_file = require("lumi.hash").sha256_file
  sums = sums or {}
  for _, m in ipairs(migrations) do
    if sums[m.path] == nil then sums[m.path] = sha256_file(m.path) end
  end
  return sums
end

--- The plan: what `found` (from discover) and `records` (from the store)
--- say together, with the applied files' checksums compared (sums: a
--- table to keep them in between calls, optional).
function Project:plan(found, records, sums)
  local plan = require "lumi.plan"
  local p = plan.build(found.migrations, records, self.scheme, self:identity())
  return plan.compare(p, self:checksums(plan.checked(p), sums), self.scheme)
end

--- Close the connection, if one was opened.
function Project:close()
  if self.db then self.db:close(); self.db = nil end
end

Project.__close = Project.close

return M
