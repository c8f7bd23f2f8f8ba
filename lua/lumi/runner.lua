--- Execute a plan: lock, one transaction per migration with its tracking
--- row, events as it goes, and a result value (what was applied, what
--- failed and why).
local errors = require "lumi.errors"
local clock = require "lumi.clock"
local lock = require "lumi.lock"
local hash = require "lumi.hash"
local fs = require "lumi.fs"
local plan_mod = require "lumi.plan"
local sqlerror = require "lumi.sqlerror"

local M = {}

--- A `migration` error for a failed migration, located in its file.
function M.migration_error(m, sql, err, offset)
  local fields = { migration = m.file, file = m.path, cause = err }
  local where = m.path
  if type(err) == "table" and err.sqlstate then
    local pos = sqlerror.position(sql, err, offset)
    if pos then
      for k, v in pairs(pos) do fields[k] = v end
      where = string.format("%s:%d:%d", m.path, pos.line, pos.column)
    end
    fields.sqlstate, fields.detail, fields.hint, fields.where = err.sqlstate, err.detail, err.hint, err.where
    local msg = string.format("%s: %s %s: %s", where, err.severity or "ERROR", err.sqlstate, err.message)
    return errors.new("migration", msg, fields)
  end
  if errors.is(err) then
    err.migration, err.file = err.migration or m.file, err.file or m.path
    return err
  end
  return errors.new("migration", string.format("%s: %s", where, tostring(err)), fields)
end

-- Refuse to run a plan that is not sound: raise a validation error.
local function check_plan(project, p, scan, to)
  local cfg = project.config
  if #scan.duplicates > 0 then
    local d = scan.duplicates[1]
    errors.raise("validation", string.format("two files share version %s: %s", d.key, table.concat(d.files, ", ")),
      { duplicates = scan.duplicates, hint = "renumber one of them (lumi list shows every file)" })
  end
  if #p.changed > 0 and cfg.on_changed == "warn" then
    for _, e in ipairs(p.changed) do
      project:emit({ type = "warning", message = e.migration.file
        .. " has changed since it was applied (on_changed = \"warn\": going on)" })
    end
  end
  if #p.changed > 0 and cfg.on_changed == "stop" then
    local files = {}
    for i, e in ipairs(p.changed) do files[i] = e.migration.file end
    errors.raise("validation", string.format("applied migration%s changed since %s applied: %s",
      #files > 1 and "s" or "", #files > 1 and "they were" or "it was", table.concat(files, ", ")),
      { changed = p.changed, hint = "restore the applied version and put the change in a new migration" })
  end
  if to then
    local found = false
    for _, m in ipairs(scan.migrations) do
      if m.key == project.scheme.key(to) then found = true end
    end
    if not found then
      errors.raise("usage", string.format("--to %s: no migration file has that version", to))
    end
  end
  if #p.out_of_order > 0 and cfg.out_of_order == "stop" then
    local files = {}
    for i, m in ipairs(p.out_of_order) do files[i] = m.file end
    errors.raise("validation", string.format("pending migration%s older than the newest applied one (%s): %s",
      #files > 1 and "s" or "", p.newest_applied, table.concat(files, ", ")),
      { out_of_order = p.out_of_order,
        hint = "renumber it after " .. p.newest_applied .. ", or set out_of_order = \"apply\" in migrate.lua" })
  end
end

-- Read every file to apply before the first one runs.
local function load_all(list)
  local loaded = {}
  for i, m in ipairs(list) do
    local sql, err = fs.read(m.path)
    if not sql then errors.raise("config", "cannot read migration " .. err, { file = m.path }) end
    loaded[i] = { migration = m, sql = sql, checksum = hash.sha256(sql) }
  end
  return loaded
end

-- What opens a migration's transaction. All but the last migration of a
-- run commit without waiting for the WAL flush; the last one's commit
-- flushes them all (README: "Durable at the end, consistent always").
local BEGIN_ASYNC = "BEGIN; SET LOCAL synchronous_commit TO off;\n"
local BEGIN_DURABLE = "BEGIN;\n"

-- Apply one migration and its record in one transaction, in two round
-- trips: the opening and the file as one script, then the tracking row and
-- COMMIT as one pipeline. Returns seconds taken, or nil, error.
local function apply_one(project, st, item)
  local db = project:db()
  local m = item.migration
  local begin = item.durable and BEGIN_DURABLE or BEGIN_ASYNC
  local t0 = clock.now()
  local ok, err = pcall(function()
    db:exec(begin .. item.sql)
    db:pipeline({ st:record_statement(m, item.checksum, (clock.now() - t0) * 1000), { "COMMIT" } })
  end)
  if not ok then
    if not db.conn:is_closed() then db.conn:exec("ROLLBACK") end
    return nil, M.migration_error(m, item.sql, err, #begin)
  end
  return clock.now() - t0
end

--- lumi up: apply pending migrations in order.
---@param opts table {to=version?, dry_run=bool?}
---@return table result {applied={...}, pending=n, dry_run=, error=?}
function M.up(project, opts)
  opts = opts or {}
  local db = project:db()
  local st = project:store()
  local result = { applied = {}, dry_run = opts.dry_run or false }

  if opts.dry_run then
    local p, scan = project:plan()
    check_plan(project, p, scan, opts.to)
    local todo = plan_mod.up_to(p, project.scheme, opts.to)
    load_all(todo)
    project:emit({ type = "plan", migrations = todo, dry_run = true })
    for _, m in ipairs(todo) do
      result.applied[#result.applied + 1] = { migration = m, would = true }
      project:emit({ type = "would_apply", migration = m })
    end
    result.pending = #p.pending
    return result
  end

  local key = st:lock_key(hash)
  lock.acquire(db, key, project.config.lock_timeout, function(holder)
    project:emit({ type = "lock_wait", holder = holder, timeout = project.config.lock_timeout })
  end)
  local ok, err = pcall(function()
    st:ensure()
    local p, scan = project:plan(st:applied())
    check_plan(project, p, scan, opts.to)
    local todo = plan_mod.up_to(p, project.scheme, opts.to)
    result.pending = #p.pending
    local items = load_all(todo)
    if #items > 0 then items[#items].durable = true end
    project:emit({ type = "plan", migrations = todo })
    for _, item in ipairs(items) do
      project:emit({ type = "start", migration = item.migration })
      local seconds, merr = apply_one(project, st, item)
      if not seconds then
        result.failed = { migration = item.migration, error = merr }
        result.error = merr
        if #result.applied > 0 and not db.conn:is_closed() then
          -- those before it committed without waiting for the WAL flush:
          -- one durable commit (it gets a transaction id) flushes them all
          pcall(db.value, db, "SELECT txid_current()")
        end
        project:emit({ type = "failed", migration = item.migration, error = merr })
        break
      end
      result.applied[#result.applied + 1] = { migration = item.migration, seconds = seconds }
      project:emit({ type = "applied", migration = item.migration, seconds = seconds })
    end
  end)
  if not db.conn:is_closed() then pcall(lock.release, db, key) end
  if not ok then error(err, 0) end
  return result
end

return M
