--- Run: prepared parts (lumi.prepare) executed under the migration lock,
--- each with the records that say so, as events and a result value (what
--- was applied or reverted, what failed and why).
--
-- A part runs in one of two ways (part.mode):
--   in a transaction  "transaction": lumi's BEGIN, the text (or the Lua
--                     function), the records, COMMIT — all or nothing;
--                     "own": the same, the text being BEGIN; ... COMMIT;
--                     itself (it runs up to its COMMIT, then the records,
--                     then COMMIT);
--   without one       "statements": the statements one by one as they are
--                     (CREATE INDEX CONCURRENTLY works), or the Lua function
--                     with the handle in autocommit; the record is written
--                     first as unfinished and set to applied at the end,
--                     so that a failure midway leaves a marked record.
-- What the records are is the store's policy (lumi.store). Every failure
-- goes through one helper, atomically(), which rolls back whatever is open.
local errors = require "lumi.errors"
local clock = require "lumi.clock"
local lock = require "lumi.lock"
local plan_mod = require "lumi.plan"
local prepare = require "lumi.prepare"
local context = require "lumi.context"
local db_mod = require "lumi.db"
local timeouts = require "lumi.timeouts"
local pooler = require "lumi.pooler"
local conninfo = require "lumi.conninfo"

local M = {}

---------------------------------------------------------------- errors

--- A `migration` error for a failed part, located in its file.
---@param offset integer characters sent before part.text (a prefix), or
---   minus the offset of the statement within part.text
function M.migration_error(part, err, offset)
  local m = part.migration
  local fields = { migration = m.file, file = part.path, cause = err }
  if type(err) == "table" and err.sqlstate then
    local where = part.path
    -- an error of lumi's own bookkeeping (err.statement: from db:pipeline)
    -- has a position in lumi's statement, not in the file
    local pos = not part.lua and not part.large and not err.statement and err.position
      and prepare.file_position(part, err.position - (offset or 0))
    if pos then
      for k, v in pairs(pos) do fields[k] = v end
      where = string.format("%s:%d:%d", part.path, pos.line, pos.column)
    end
    fields.sqlstate, fields.detail, fields.hint, fields.where = err.sqlstate, err.detail, err.hint, err.where
    if err.sqlstate == "25001" and not part.lua and part.mode ~= "statements" and not fields.hint then
      -- active_sql_transaction: a CONCURRENTLY statement, a VACUUM, ... in a
      -- transaction (the hint, in the project's words: failure_of)
      fields.needs_no_transaction = true
    end
    local msg = string.format("%s: %s %s: %s", where, err.severity or "ERROR", err.sqlstate, err.message)
    if err.statement then
      fields.bookkeeping = true
      msg = msg .. " (while recording it in the tracking table)"
    end
    return errors.new("migration", msg, fields)
  end
  if errors.is(err) then
    err.migration, err.file = err.migration or m.file, err.file or part.path
    return err
  end
  return errors.new("migration", string.format("%s: %s", part.path, errors.text(err)), fields)
end

-- A `migration` error from a Lua failure {err=, line=} in a part or hook
-- whose file is `path`.
local function lua_error(m, path, failure)
  local e = failure.err
  local where = failure.line and string.format("%s:%d", path, failure.line) or path
  local fields = { migration = m and m.file, file = path, line = failure.line }
  if type(e) == "table" and e.sqlstate then
    fields.cause, fields.sqlstate, fields.detail, fields.hint, fields.where = e, e.sqlstate, e.detail, e.hint, e.where
    return errors.new("migration", string.format("%s: %s %s: %s", where, e.severity or "ERROR", e.sqlstate, e.message),
      fields)
  end
  local msg = errors.is(e) and e.message or errors.text(e)
  if errors.is(e) then fields.hint, fields.cause = e.hint, e end
  if errors.is(e, "interrupted") then return e end
  -- "path:12: boom" already says where; anything else gets the line found
  if not msg:find(path, 1, true) then msg = where .. ": " .. msg end
  return errors.new("migration", msg, fields)
end

-- The tracking table is gone from under a migration's bookkeeping: the
-- migration dropped it (DROP SCHEMA ... CASCADE, say).
local function tracking_dropped(err, st)
  if not (errors.is(err) and err.bookkeeping and (err.sqlstate == "42P01" or err.sqlstate == "3F000")) then return err end
  err.message = string.format("%s: the migration dropped lumi's tracking table %s (%s), so it cannot be recorded; "
    .. "it was rolled back", err.file, st:display(), err.cause and err.cause.message or err.sqlstate)
  err.hint = "keep the tracking table out of what migrations drop: give it a schema of its own, "
    .. "e.g. table = \"lumi.schema_migrations\" in migrate.lua"
  err.source_line, err.line, err.column = nil, nil, nil
  return err
end

---------------------------------------------------------------- checks

local function files_of(list, f)
  local out = {}
  for i, x in ipairs(list) do out[i] = f(x) end
  return table.concat(out, ", ")
end

--- Refuse to run a plan that is not sound: raise a validation error. Warn
--- about what will not stop it but is most likely a mistake: a .sql file
--- the naming scheme ignores, an applied migration whose file is gone.
function M.check_plan(project, p, found, opts)
  local cfg = project.config
  opts = opts or {}
  local discover = require "lumi.discover"
  for _, ig in ipairs(found.ignored) do
    if discover.misnamed(ig) then
      project:warn(string.format("%s is not a migration: %s (it will never run)", ig.file, ig.reason))
    end
  end
  for _, e in ipairs(p.missing) do
    project:warn(string.format("%s was applied, and its file is gone", e.record.file or e.record.stem or e.version))
  end
  if #found.duplicates > 0 then
    local d = found.duplicates[1]
    errors.raise("validation", string.format("two files share version %s: %s", d.key, table.concat(d.files, ", ")),
      { duplicates = found.duplicates, hint = "renumber one of them (lumi list shows every file)" })
  end
  if #p.unfinished > 0 then
    local e = p.unfinished[1]
    errors.raise("validation", string.format(
      "%s ran without a transaction and failed midway: it is recorded as unfinished%s",
      e.migration.file, e.record.error and (" (" .. e.record.error .. ")") or ""),
      { hint = string.format("finish or undo its statements by hand, then run `lumi mark %s` "
        .. "(count it as applied) or `lumi unmark %s` (forget it; `lumi up` runs it again)",
        e.version, e.version) })
  end
  if #p.changed > 0 and cfg.on_changed == "warn" then
    for _, e in ipairs(p.changed) do
      project:warn(e.migration.file .. " has changed since it was applied (on_changed = \"warn\": going on)")
    end
  end
  if #p.changed > 0 and cfg.on_changed == "stop" and not opts.ignore_changed then
    errors.raise("validation", string.format("applied migration%s changed since %s applied: %s",
      #p.changed > 1 and "s" or "", #p.changed > 1 and "they were" or "it was",
      files_of(p.changed, function(e) return e.migration.file end)),
      { changed = p.changed,
        hint = "restore the applied version and put the change in a new migration, "
          .. "or accept the file as it is now with `lumi repair`" })
  end
  if opts.to then
    local found_to = false
    for _, m in ipairs(found.migrations) do
      if m.key == project.scheme.key(opts.to) then found_to = true end
    end
    if not found_to then
      errors.raise("usage", string.format("--to %s: no migration file has that version", opts.to))
    end
  end
end

--- The migrations of `list` that the out_of_order policy refuses: pending,
--- older than the newest applied one, and not allowed ("apply", or a
--- function of migrate.lua saying yes).
function M.refused_out_of_order(project, p, list)
  local policy = project.config.out_of_order
  local refused = {}
  for _, m in ipairs(list) do
    if m.out_of_order then
      local ok = policy == "apply"
      if type(policy) == "function" then ok = policy(m, { newest_applied = p.newest_applied }) end
      if not ok then refused[#refused + 1] = m end
    end
  end
  return refused
end

-- The pending migrations `up` runs, after the out-of-order policy.
local function select_pending(project, p, opts)
  local todo = plan_mod.up_to(p, project.scheme, opts.to)
  if #p.out_of_order == 0 then return todo end
  local refused = M.refused_out_of_order(project, p, todo)
  if #refused > 0 then
    errors.raise("validation", string.format("pending migration%s older than the newest applied one (%s): %s",
      #refused > 1 and "s" or "", p.newest_applied, files_of(refused, function(m) return m.file end)),
      { out_of_order = refused,
        hint = "renumber it after " .. p.newest_applied .. ", or set out_of_order = \"apply\" in migrate.lua" })
  end
  for _, m in ipairs(todo) do
    if m.out_of_order then
      project:warn(m.file .. " is older than the newest applied migration " .. p.newest_applied
        .. "; applying it (out_of_order policy)")
    end
  end
  return todo
end

-- Prepare `direction` of every migration in list, before the first runs;
-- directive near misses become warnings.
local function prepare_all(project, list, direction)
  local parts = {}
  for i, m in ipairs(list) do
    local part = prepare.part(m, direction, project.config)
    if part then
      for _, problem in ipairs(part.problems) do
        project:warn(string.format("%s:%d: %s", part.path, problem.line, problem.message))
      end
    end
    parts[i] = part
  end
  return parts
end

---------------------------------------------------------------- the one rollback

-- Run fn(); if it raises, roll back what is open on db. Returns true, or
-- false and the error. Every failure of lumi's transactions goes through
-- here.
local function atomically(db, fn)
  local ok, err = pcall(fn)
  if not ok then db:rollback() end
  return ok, err
end

---------------------------------------------------------------- a run

-- What opens a migration's transaction. All but the last migration of a
-- run commit without waiting for the WAL flush; the last one's commit
-- flushes them all (README: "Durable at the end, consistent always").
local BEGIN = "BEGIN;\n"
local ASYNC = { "SET LOCAL synchronous_commit TO off" }
-- what a part that set them for the session puts back afterwards
local RESETS = { { "RESET lock_timeout" }, { "RESET statement_timeout" }, { "RESET application_name" } }
local RESET_ALL = "RESET lock_timeout; RESET statement_timeout; RESET application_name"

-- A run: the project, lumi's own handle on the connection, the guarded one
-- for migrations and hooks, the store, and migrate.lua's hooks.
local function new_run(project, db, st, lease)
  local c = project.config
  local drift = require("lumi.drift")
  local d = drift.settings(c)
  return {
    drift = d.record and st:drift_columns() and { options = drift.options(project), keep = d.keep_snapshots } or nil,
    project = project, db = db, user_db = db:guarded(), store = st, lease = lease,
    hooks = { before_all = c.before_all, after_all = c.after_all, before_each = c.before_each,
              after_each = c.after_each, on_error = c.on_error },
    timeouts = timeouts.settings(c.timeouts), on_lock_timeout = c.on_lock_timeout,
    monitor = nil,                -- a second connection, opened to look for blockers
  }
end

-- Close what a run opened besides lumi's connection.
local function end_run(run)
  if run.monitor then pcall(run.monitor.close, run.monitor); run.monitor = nil end
end

-- What pg_stat_activity shows for a migration: lumi, its version and the file.
local function app_name(part)
  return "lumi " .. require("lumi.version") .. " " .. part.file
end

-- A function that looks for the sessions blocking the migration `name`, on
-- the run's second connection, and says so once per set of blocking
-- sessions (over all the attempts at a part); the last set seen is in
-- run.blockers.
local function watcher(run, part, name)
  return function()
    if not run.monitor then run.monitor = db_mod.connect(run.project.config.database) end
    local b = timeouts.blockers(run.monitor, name, run.timeouts.show_queries)
    if #b == 0 then return end
    run.blockers = b
    local pids = {}
    for i, s in ipairs(b) do pids[i] = s.pid end
    local who = part.file .. ":" .. table.concat(pids, ",")
    if who ~= run.said_blockers then
      run.said_blockers = who
      run.project:emit({ type = "blocked", migration = part.migration, file = part.file, blockers = b,
        message = timeouts.describe(b) })
    end
  end
end

-- Run script sql (one part's, or one statement) on lumi's connection with
-- `limits` in force, watching for blockers when there is a lock timeout.
-- A lease (through a pooler) is renewed on the second connection while
-- the statement runs.
local function exec_limited(run, part, sql, limits)
  local lease = run.lease
  if limits.lock and limits.lock > 0 then
    -- at diagnose_at of the timeout, and 150 ms before it at the latest:
    -- the second connection must be opened and asked in time
    local wait = limits.lock
    local at = math.min(wait * run.timeouts.diagnose_at, math.max(wait - 0.15, wait / 4))
    local watch = watcher(run, part, app_name(part))
    return run.db:exec_watched(sql, at, lease and function() watch(); lease:renew(run.monitor, true) end or watch)
  elseif lease then
    return run.db:exec_watched(sql, lock.LEASE / 6, function()
      if not run.monitor then run.monitor = db_mod.connect(run.project.config.database) end
      lease:renew(run.monitor, true)
    end)
  end
  return run.db:exec(sql)
end

-- The record of migration m for the store (r: its tracking row, if any:
-- the row's own identity values win, so that its row is the one found).
local function record_of(m, r, fields)
  local rec = { version = m.version, name = m.name, file = m.file, stem = m.stem }
  if r then
    for _, k in ipairs({ "version", "file", "stem" }) do if r[k] ~= nil then rec[k] = r[k] end end
  end
  for k, v in pairs(fields or {}) do rec[k] = v end
  -- an error may quote a connection string: no password is ever stored
  if type(rec.error) == "string" then rec.error = conninfo.scrub(rec.error) end
  return rec
end

-- The statement that records the schema's fingerprint on rec's row,
-- computed now on the run's connection (inside the migration's
-- transaction when it has one); nil without drift, or when the catalogs
-- cannot be read (a warning: the migration itself stands).
local function fingerprint_of(run, rec)
  if not run.drift or not rec then return nil end
  local fp = require "lumi.fingerprint"
  -- what the migration left in flight (a COPY sent without waiting) is
  -- its own: its error is the migration's, not the fingerprint's
  run.db:settle()
  local in_tx = run.db:in_transaction()
  local ok, stmt = pcall(function()
    if in_tx then run.db:exec("SAVEPOINT lumi_fingerprint") end
    local lines = fp.lines(run.db, run.drift.options)
    if in_tx then run.db:exec("RELEASE SAVEPOINT lumi_fingerprint") end
    local text
    if run.drift.keep then
      local t = {}
      for i, l in ipairs(lines) do t[i] = l.line end
      text = table.concat(t, "\n")
    end
    return run.store:fingerprint_statement(rec, fp.hash(lines), text)
  end)
  if ok then return stmt end
  run.project:warn("the schema's fingerprint could not be recorded: " .. errors.text(stmt))
  if in_tx then pcall(run.db.exec, run.db, "ROLLBACK TO SAVEPOINT lumi_fingerprint") end
  return nil
end

-- The statements of an event: the store's (store_fn: "applied", ...) and
-- the log row.
local function records(run, store_fn, rec, log)
  local st = run.store
  local out = store_fn and st[store_fn](st, rec) or {}
  log.target, log.version, log.file = run.project.target, log.version or rec.version, log.file or rec.file
  out[#out + 1] = st:log(log)
  return out
end

-- Record a failure after its rollback: the store's `failed` statements
-- and the log row, outside any transaction (best effort: the failure
-- itself is what the user must hear about).
local function record_failure(run, m, merr, event, checksum)
  if run.db:is_closed() then return end
  local stmts = records(run, event == "failed" and "failed" or nil,
    record_of(m, nil, { error = merr.cause and merr.cause.message or merr.message, sqlstate = merr.sqlstate,
      event = event, checksum = checksum }),
    { event = event, sqlstate = merr.sqlstate, error = merr.cause and merr.cause.message or merr.message })
  if #stmts > 0 then pcall(run.db.pipeline, run.db, stmts) end
end

-- Run a hook of migrate.lua; a failure raises a `migration` error naming it.
local function run_hook(run, name, ctx)
  local fn = run.hooks[name]
  if not fn then return end
  local file = run.project.config.file
  local ok, failure = context.call(fn, ctx, file)
  if ok then return end
  local e = failure.err
  if errors.is(e, "interrupted") then error(e, 0) end
  local where = file and failure.line and (file .. ":" .. failure.line .. ": ") or ""
  local msg = type(e) == "table" and e.message or errors.text(e)
  errors.raise("migration", string.format("%shook %s failed: %s", where, name, msg),
    { hook = name, cause = e, sqlstate = type(e) == "table" and e.sqlstate or nil,
      detail = type(e) == "table" and e.detail or nil, hint = type(e) == "table" and e.hint or nil })
end

-- The context a Lua migration or a hook receives.
local function ctx_of(run, part, fields)
  local m = part and part.migration
  local c = context.new(run.project, run.user_db, fields)
  if m then
    c.migration = { version = m.version, name = m.name, file = m.file, path = part.path, direction = part.direction }
  end
  return c
end

-- The body of a part: before_each, the SQL or the Lua function, after_each.
-- `prefix` is sent with the SQL in one round trip (lumi's BEGIN). Raises; a
-- Lua failure is raised as {lua_failure = {err=, line=}}.
local function run_body(run, part, ctx, prefix, limits)
  local db = run.db
  if run.hooks.before_each then
    if prefix ~= "" then db:exec(prefix); prefix = "" end
    run_hook(run, "before_each", ctx)
  end
  if part.lua then
    if prefix ~= "" then db:exec(prefix) end
    local ok, failure = context.call(part.fn, ctx, part.path)
    if not ok then error({ lua_failure = failure }, 0) end
  elseif part.mode == "own" then
    -- the file's own BEGIN and statements, up to its COMMIT
    exec_limited(run, part, prefix .. part.text:sub(1, part.statements[#part.statements].start - 1), limits)
  elseif part.large then
    -- a piece at a time; a failure names the piece, to be placed in the file
    prepare.each_piece(part, run.project.config, function(piece)
      local ok, err = pcall(exec_limited, run, part, prefix .. piece.text, limits)
      if not ok then error({ piece_failure = { piece = piece, err = err, offset = utf8.len(prefix) or #prefix } }, 0) end
      prefix = ""
    end)
  else
    exec_limited(run, part, prefix .. part.text, limits)
  end
  run_hook(run, "after_each", ctx)
end

-- The error of a failed part, whatever raised it.
local function failure_of(run, part, err, offset)
  if type(err) == "table" and err.lua_failure then return lua_error(part.migration, part.path, err.lua_failure) end
  if type(err) == "table" and err.piece_failure then
    local f = err.piece_failure
    return tracking_dropped(failure_of(run, f.piece, f.err, f.offset), run.store)
  end
  if errors.is(err) then
    err.migration, err.file = err.migration or part.migration.file, err.file or part.path
    return err
  end
  local merr
  local transient = { ["40001"] = true, ["40P01"] = true, ["55P03"] = true, ["57014"] = true }
  if type(err) == "table" and err.sqlstate and not err.position and not err.statement
     and not transient[err.sqlstate] and not part.lua and part.mode ~= "statements" and not part.large
     and not part.large_piece then
    merr = M.locate(run.db, part, err)
  end
  merr = tracking_dropped(merr or M.migration_error(part, err, offset), run.store)
  if merr.needs_no_transaction and not merr.hint then
    merr.hint = run.project.config.no_transaction .. ": its statements then run one at a time, "
      .. "outside a transaction (`lumi validate` finds these before they run)"
  end
  return merr
end

--- The server gives no position for some errors (a missing table in ALTER
--- TABLE, a failing CREATE INDEX). To say which statement failed, the part
--- is run again statement by statement in a transaction that is rolled
--- back (as psql runs a file): only on failure, and only when it has
--- several statements. Returns a located error, or nil.
function M.locate(db, part, err)
  local stmts = prepare.statements(part)
  if not stmts or #stmts == 0 or db:is_closed() then return nil end
  if #stmts == 1 then
    -- one statement: it is the one that failed
    local e = setmetatable({ position = (stmts[1].text:find("%S") or 1) }, { __index = err })
    return M.migration_error(part, e, -prepare.chars_before(part, stmts[1].start))
  end
  local found
  atomically(db, function()
    db:exec("BEGIN")
    for i, s in ipairs(stmts) do
      -- the file's own transaction control must not end lumi's transaction
      if not prepare.controls_transaction(s.text) then
        local ok, e = pcall(db.exec, db, s.text)
        if not ok then found = { index = i, stmt = s, err = e }; break end
      end
    end
    error("rolled back", 0)
  end)
  if not found or type(found.err) ~= "table" or found.err.sqlstate ~= err.sqlstate then return nil end
  local e = found.err
  e.position = e.position or 1                  -- point at the statement itself
  local merr = M.migration_error(part, e, -prepare.chars_before(part, found.stmt.start))
  merr.statement, merr.statements, merr.located = found.index, #stmts, true
  return merr
end

-- Sleep `seconds`, or less when a signal comes.
local function pause(seconds)
  local deadline = clock.now() + seconds
  while not db_mod.interrupted() do
    local left = deadline - clock.now()
    if left <= 0 then return end
    clock.sleep(math.min(left, 0.1))
  end
end

-- The error of a migration that could not get its locks in its attempts.
local function lock_error(part, merr, attempts, waited, blockers)
  local limits = merr.limits or {}
  return errors.new("lock", string.format("%s could not get its locks: %s timed out (lock_timeout %s) over %s; %s",
    part.path, attempts == 1 and "its one attempt" or (attempts .. " attempts"), clock.format(limits.lock or 0),
    clock.format(waited), blockers), {
    migration = part.migration.file, file = part.path, sqlstate = merr.sqlstate, cause = merr.cause or merr,
    lock_timeout = true, statement = merr.statement, statements = merr.statements,
    hint = "wait for those sessions to finish (or end them yourself), then run `lumi up` again; timeouts.lock, "
      .. "timeouts.retries and timeouts.budget in migrate.lua say how long lumi tries" })
end

-- Run once() (an attempt at a part, or at one of its statements), again
-- after a lock timeout (or another SQLSTATE of timeouts.retry_on) while
-- the policy says so: the default is timeouts.retries more attempts within
-- timeouts.budget, a back-off with full jitter between them, and
-- on_lock_timeout(ctx) of migrate.lua has the last word. Every timed-out
-- attempt is logged, with the sessions that blocked it. Returns what
-- once() returns, or nil and a `lock` error when the attempts ran out.
local function with_retries(run, part, once, statement)
  local s, t0, n = run.timeouts, clock.now(), 0
  while true do
    run.blockers = nil
    local seconds, merr, extra = once()
    if seconds or type(merr) ~= "table" or not s.retryable[merr.sqlstate] or run.db:is_closed()
       or db_mod.interrupted() then
      return seconds, merr, extra
    end
    n = n + 1
    local blockers = run.blockers or {}
    local waited = clock.now() - t0
    local proposal = timeouts.pause(s, n)
    local verdict = (n <= s.retries and waited + proposal <= s.budget) and proposal or "fail"
    if run.on_lock_timeout then
      local ctx = ctx_of(run, part, { attempt = n, waited = waited, blockers = blockers, error = merr,
        statement = statement, pause = proposal })
      local answer
      local ok, failure = context.call(function(c) answer = run.on_lock_timeout(c) end, ctx, run.project.config.file)
      if not ok then
        run.project:warn("hook on_lock_timeout failed: " .. errors.text(failure.err) .. " (the default decides)")
      elseif answer == "retry" then verdict = proposal
      elseif answer == "fail" then verdict = "fail"
      elseif type(answer) == "number" and answer >= 0 then verdict = answer end
    end
    local line = timeouts.describe(blockers)
    local log = run.store:log({ target = run.project.target, event = "lock timeout", version = part.migration.version,
      file = part.migration.file, sqlstate = merr.sqlstate,
      error = string.format("attempt %d%s: %s", n, statement and (" at statement " .. statement) or "", line) })
    if log then pcall(run.db.pipeline, run.db, { log }) end
    run.project:emit({ type = "lock_timeout", migration = part.migration, file = part.file, attempt = n,
      blockers = blockers, message = line, pause = verdict ~= "fail" and verdict or nil })
    if verdict == "fail" then return nil, lock_error(part, merr, n, waited, line), extra end
    pause(verdict)
  end
end

-- Apply or revert a part in a transaction: the body, then the records and
-- COMMIT in one round trip. Returns seconds, or nil and the error.
local function in_transaction(run, part, record, durable)
  local db, t0 = run.db, clock.now()
  local ctx = ctx_of(run, part)
  -- the limits and the name, with lumi's BEGIN (SET LOCAL: they end with
  -- the transaction) or before the file's own BEGIN (for the session)
  local limits = timeouts.limits(run.timeouts, part)
  local own = part.mode == "own"
  local scope = own and "session" or "local"
  local prefix = (own and "" or BEGIN) .. timeouts.sql(limits, scope)
    .. (own and " SET " or " SET LOCAL ") .. "application_name = " .. db:quote_literal(app_name(part)) .. ";\n"
  local ok, err = atomically(db, function()
    run_body(run, part, ctx, prefix, limits)
    -- through a pooler: it commits only while this run holds the lease
    if run.lease then run.lease:renew(db) end
    local stmts = record((clock.now() - t0) * 1000)
    if not durable then table.insert(stmts, 1, ASYNC) end
    stmts[#stmts + 1] = { "COMMIT" }
    if own then for _, r in ipairs(RESETS) do stmts[#stmts + 1] = r end end
    db:pipeline(stmts)
  end)
  if ok then return clock.now() - t0 end
  if own then pcall(db.exec, db, RESET_ALL) end
  local merr = failure_of(run, part, err, utf8.len(prefix) or #prefix)
  if type(merr) == "table" then merr.limits = limits end
  return nil, merr, ctx
end

-- Apply or revert a part without a transaction: `started` records that it
-- began (committed on its own), then each statement (or the Lua function),
-- then `finished` records the end. Returns seconds, or nil and the error
-- with .statement, .statements, .no_transaction and .unfinished (a record
-- says it did not finish).
local function without_transaction(run, part, started, finished, stopped, nothing_done)
  local db, t0 = run.db, clock.now()
  local ctx = ctx_of(run, part)
  local begun = started()
  if #begun > 0 then db:pipeline(begun) end
  -- nothing: no statement took effect
  local function failed(merr, nothing)
    merr.no_transaction = true
    merr.record_error = merr.record_error or (merr.cause and merr.cause.message) or merr.message
    db:rollback()                         -- a BEGIN of the file's own, left open
    if nothing and nothing_done then
      -- not one statement took effect: as if it had never started
      merr.nothing_done = true
      local undo = nothing_done()
      if #undo > 0 then pcall(db.pipeline, db, undo) end
    else
      local stop = stopped(merr)
      merr.unfinished = #stop > 0
      if #stop > 0 then pcall(db.pipeline, db, stop) end
    end
    return nil, merr
  end
  -- the statement whose BEGIN opened the transaction still open, if any
  local opened_at = nil
  if part.lua then
    local ok, err = pcall(run_body, run, part, ctx, "")
    if not ok then return failed(failure_of(run, part, err, 0)) end
  else
    local hook_ok, herr = pcall(run_hook, run, "before_each", ctx)
    if not hook_ok then return failed(failure_of(run, part, herr, 0), true) end
    -- the name and each statement's limits, set for the session in a round
    -- trip of their own (statements sent together run in one implicit
    -- transaction, which a CONCURRENTLY statement refuses)
    local settings = "SET application_name = " .. db:quote_literal(app_name(part)) .. ";"
    local n = not part.large and #part.statements or nil
    local stop               -- {error, nothing took effect}
    local function statement(i, s, owner)
      local limits = timeouts.limits(run.timeouts, part, s.text)
      local want = settings .. " " .. timeouts.sql(limits, "session")
      if want ~= run.session_settings then db:exec(want); run.session_settings = want end
      local _, merr = with_retries(run, part, function()
        local ok, err = pcall(exec_limited, run, part, s.text, limits)
        if ok then return true end
        if type(err) == "table" and err.sqlstate and not err.position then
          -- the server gives no position: the statement is known, point at it
          err = setmetatable({ position = s.text:find("%S") or 1 }, { __index = err })
        end
        local e = failure_of(run, owner, err, -prepare.chars_before(owner, s.start))
        e.statement, e.statements, e.limits = i, n, limits
        e.record_error = string.format("statement %d%s failed: %s", i, n and (" of " .. n) or "",
          type(err) == "table" and err.message or errors.text(err))
        return nil, e
      end, i)
      if merr then
        merr.statement, merr.statements, merr.no_transaction = i, n, true
        merr.record_error = merr.record_error or string.format("statement %d%s failed: %s", i,
          n and (" of " .. n) or "", merr.message)
        -- a statement outside a transaction is all or nothing, except the
        -- CONCURRENTLY ones, which leave an invalid index behind
        stop = { merr, i == 1 and not timeouts.is_concurrent(s.text) }
        return false
      end
      if not db:in_transaction() then opened_at = nil elseif not opened_at then opened_at = i end
      if i == 1 and db_mod.interrupted() then return false end
    end
    local read_ok, rerr = pcall(prepare.each_statement, part, run.project.config, statement)
    if not read_ok and not stop then stop = { failure_of(run, part, rerr, 0), false } end
    if stop then
      pcall(db.exec, db, RESET_ALL)
      run.session_settings = nil
      return failed(stop[1], stop[2])
    end
    db:exec(RESET_ALL)
    run.session_settings = nil
    hook_ok, herr = pcall(run_hook, run, "after_each", ctx)
    if not hook_ok then return failed(failure_of(run, part, herr, 0)) end
  end
  if db:in_transaction() then
    -- a BEGIN without its COMMIT: nothing after it would be kept, and if
    -- it was the first statement, nothing of the file was
    local merr = errors.new("migration", string.format(
      "%s: leaves a transaction open (a BEGIN without its COMMIT): its work since that BEGIN was rolled back",
      part.path), { migration = part.migration.file, file = part.path, hint = "end the file with COMMIT;" })
    merr.left_open = true
    if opened_at then merr.statement, merr.statements = opened_at, not part.large and #part.statements or nil end
    return failed(merr, opened_at == 1)
  end
  -- all of it ran: the record goes through even after an interrupt
  local ok, err = pcall(db.pipeline, db, finished((clock.now() - t0) * 1000))
  if not ok then error(err, 0) end
  return clock.now() - t0
end

-- Apply one prepared part. Returns seconds, or nil and the error.
local function apply(run, part, durable)
  local m = part.migration
  local checksum = part.checksum
  if part.mode ~= "statements" then
    local seconds, merr, ctx = with_retries(run, part, function()
      return in_transaction(run, part, function(ms)
        -- a repeatable migration run again updates its row
        local stmts = records(run, "applied", record_of(m, nil, { checksum = checksum, execution_ms = ms,
          event = "applied", recorded = m.reapply }), { event = "applied", checksum = checksum, execution_ms = ms })
        -- the last of the run: the schema it leaves, for drift
        if durable then stmts[#stmts + 1] = fingerprint_of(run, record_of(m)) end
        return stmts
      end, durable)
    end)
    if seconds then return seconds end
    -- the project's policy may count this failure as applied (FluxStudio:
    -- "duplicate object" means an earlier hand-run already did it)
    if run.hooks.on_error and not run.db:is_closed() and not db_mod.interrupted() and merr.kind ~= "lock" then
      ctx.error = merr
      local verdict
      local ok, failure = context.call(function(c) verdict = run.hooks.on_error(c) end, ctx, run.project.config.file)
      if not ok then
        run.project:warn("hook on_error failed: " .. errors.text(failure.err))
      elseif verdict == "applied" then
        local why = merr.cause and merr.cause.message or merr.message
        local stmts = records(run, "applied", record_of(m, nil, { checksum = checksum, execution_ms = 0, event = "counted",
          recorded = m.reapply }),
          { event = "applied", checksum = checksum, sqlstate = merr.sqlstate, error = "counted as applied by on_error: " .. why })
        table.insert(stmts, 1, { "BEGIN" })
        stmts[#stmts + 1] = { "COMMIT" }
        local recorded, rerr = atomically(run.db, function() run.db:pipeline(stmts) end)
        if not recorded then error(rerr, 0) end
        run.project:warn(string.format("%s failed with %s (%s); on_error counts it as applied", m.file,
          tostring(merr.sqlstate), why))
        return 0
      elseif verdict ~= nil then
        run.project:warn(string.format("hook on_error returned %s: the one answer it can give is \"applied\" "
          .. "(or nothing); %s stays failed", type(verdict) == "string" and string.format("%q", verdict)
          or tostring(verdict), m.file))
      end
    end
    record_failure(run, m, merr, "failed", checksum)
    return nil, merr
  end
  local recorded = false
  local seconds, merr = without_transaction(run, part,
    function()
      -- a repeatable migration run again keeps its row (applied, with the
      -- old checksum) until it has run: if it fails, the next up tries again
      if m.reapply then return {} end
      local stmts = run.store:unfinished(record_of(m, nil, { checksum = checksum, event = "started" }))
      recorded = #stmts > 0
      return stmts
    end,
    function(ms)
      local stmts = records(run, "applied", record_of(m, nil, { checksum = checksum, execution_ms = ms,
        event = "applied", recorded = recorded or m.reapply }), { event = "applied", checksum = checksum,
        execution_ms = ms })
      if durable then stmts[#stmts + 1] = fingerprint_of(run, record_of(m)) end
      return stmts
    end,
    function(e)
      if not recorded then return records(run, nil, record_of(m), { event = "failed", sqlstate = e.sqlstate,
        error = e.record_error }) end
      return records(run, "unfinished", record_of(m, nil, { error = e.record_error, event = "stopped", recorded = true }),
        { event = "unfinished", sqlstate = e.sqlstate, error = e.record_error })
    end,
    function()
      -- the first statement failed: the migration is pending again (the
      -- failure is recorded below, as for one rolled back)
      if not recorded then return {} end
      return run.store:reverted(record_of(m, nil, { event = "failed" }))
    end)
  if not seconds and merr.nothing_done then record_failure(run, m, merr, "failed", checksum) end
  return seconds, merr
end

-- Revert one prepared down part (r: the migration's tracking row).
local function revert(run, part, r, durable)
  local m = part.migration
  if part.mode ~= "statements" then
    local seconds, merr = with_retries(run, part, function()
      return in_transaction(run, part, function(ms)
        local stmts = records(run, "reverted", record_of(m, r, { event = "reverted" }),
          { event = "reverted", execution_ms = ms })
        -- the last of the run: the schema it leaves, on the newest row left
        if durable then stmts[#stmts + 1] = fingerprint_of(run, run.newest_left) end
        return stmts
      end, durable)
    end)
    if not seconds then record_failure(run, m, merr, "revert failed") end
    return seconds, merr
  end
  return without_transaction(run, part,
    function() return {} end,
    function(ms)
      local stmts = records(run, "reverted", record_of(m, r, { event = "reverted" }),
        { event = "reverted", execution_ms = ms })
      if durable then stmts[#stmts + 1] = fingerprint_of(run, run.newest_left) end
      return stmts
    end,
    function(e)
      -- what ran before the failure stays: the migration is half reverted
      return records(run, "unfinished", record_of(m, r, { recorded = true, event = "stopped",
        error = "revert: " .. e.record_error }), { event = "revert failed", sqlstate = e.sqlstate, error = e.record_error })
    end,
    function()
      -- the first statement failed: the migration stays applied
      return records(run, nil, record_of(m, r), { event = "revert failed", error = "its first statement failed: "
        .. "nothing of the revert took effect" })
    end)
end

---------------------------------------------------------------- the lock

--- Run fn(db, store, lease) under the migration lock. fn creates the
--- tracking tables (store:ensure()) once it has found its input sound: bad
--- input leaves the database as it was. A signal during it cancels the
--- statement running and lets the run wind down (records, log, lock
--- released) instead of ending lumi. Through a connection pooler that
--- pools transactions, the lock is a lease (lumi.lock), given to fn, when
--- the `pooler` policy says "lease"; by default lumi refuses to run there.
function M.locked(project, fn)
  local db = project:connect()
  local st = project:store()
  local key = st:lock_key()
  local c = project.config
  local wait = c.lock_wait
  local lease
  local mode = pooler.probe(db, c.database)
  if mode == "transaction" then
    if c.pooler ~= "lease" then
      errors.raise("config", pooler.refusal(c.direct_url and "direct_url leads there too"
        or "give lumi a direct connection to the server"), {
        hint = "set direct_url in migrate.lua (or pass --direct URL) to a URL that bypasses the pooler; "
          .. "or set pooler = \"lease\" to take a lock that works through it" })
    end
    local tbl, schema = st:lease_table()
    lease = lock.lease(db, tbl, schema, key, string.format("lumi %s pid %d on %s", require("lumi.version"),
      require("posix.unistd").getpid(), require("posix.sys.utsname").uname().nodename))
  elseif (db:info().server_version_num or 0) >= 140000 then
    -- should lumi die without a word (SIGKILL, a lost machine), the server
    -- checks every second that it is still there, and stops the statement
    -- it runs instead of finishing it for nobody (PostgreSQL 14 and later;
    -- a session setting: never through a transaction pooler)
    db:value("SELECT set_config('client_connection_check_interval', '1s', false)")
  end
  local function on_wait(holder) project:emit({ type = "lock_wait", holder = holder, wait = wait }) end
  if lease then lease:acquire(wait, on_wait) else lock.acquire(db, key, wait, on_wait) end
  db_mod.defer_interrupts(true)
  local ok, res = pcall(fn, db, st, lease)
  if db:rollback() then
    local released, rerr = pcall(function()
      if lease then return lease:release() end
      return lock.release(db, key)
    end)
    if not released and ok then ok, res = false, rerr end
  end
  db_mod.defer_interrupts(false)
  if not ok then error(res, 0) end
  return res
end

-- Through a transaction pooler, only what runs in lumi's own transaction
-- stays on one server connection: refuse the parts that run otherwise.
local function pooled(parts)
  for _, part in ipairs(parts) do
    if part.mode == "statements" or part.mode == "own" then
      errors.raise("config", string.format("%s runs %s, and the database is reached through a connection pooler "
        .. "in transaction mode, which would send its statements and settings to any server connection",
        part.path, part.mode == "own" and "its own BEGIN and COMMIT" or "without a transaction"), {
        file = part.path,
        hint = "run it over a direct connection: set direct_url in migrate.lua or pass --direct URL" })
    end
  end
end

-- Stop before the next migration once a signal has come.
local function stop_if_interrupted(m, done, verb)
  local sig = db_mod.interrupted()
  if not sig then return nil end
  return db_mod.interrupted_error(sig, string.format("interrupted by %s before %s: %s", sig, m.file,
    done > 0 and string.format("the %d %s before it stay %s, nothing after ran", done,
      done == 1 and "migration" or "migrations", verb) or "nothing ran"))
end

---------------------------------------------------------------- up

-- what planning reads of a record: its identity, checksum and state
local PLAN_FIELDS = { version = true, file = true, stem = true, checksum = true, state = true, error = true }

-- Apply the parts of `todo` in order (under the lock), hooks around them.
local function apply_all(project, db, st, parts, result, lease)
  local run = new_run(project, db, st, lease)
  local pending = {}
  for i, part in ipairs(parts) do pending[i] = part.migration end
  run_hook(run, "before_all", ctx_of(run, nil, { pending = pending, direction = "up" }))
  -- created once before_all agreed: a refused run leaves nothing behind
  st:ensure()
  for i, part in ipairs(parts) do
    local m = part.migration
    local stop = stop_if_interrupted(m, #result.applied, "applied")
    if stop then result.error = stop; break end
    if lease then lease:renew(db, true) end
    project:emit({ type = "start", migration = m, part = part })
    local seconds, merr = apply(run, part, i == #parts)
    -- a no-transaction part commits its records synchronously, which
    -- flushes every commit before it to disk: those are certain
    if part.mode == "statements" then result.durable = #result.applied end
    if not seconds then
      db_mod.mark_interrupted(merr)
      result.failed, result.error = { migration = m, file = part.file, error = merr }, merr
      project:emit({ type = "failed", migration = m, file = part.file, error = merr })
      break
    end
    result.applied[#result.applied + 1] = { migration = m, file = part.file, seconds = seconds }
    if i == #parts or part.mode == "statements" then result.durable = #result.applied end
    project:emit({ type = "applied", migration = m, file = part.file, seconds = seconds })
  end
  if result.error and #result.applied > 0 and not db:is_closed() then
    -- those before it committed without waiting for the WAL flush: one
    -- durable commit (it gets a transaction id) flushes them all
    if pcall(db.value, db, "SELECT txid_current()") then result.durable = #result.applied end
  end
  end_run(run)
  -- what is still pending after this run
  result.pending = (result.pending or 0) - #result.applied
  if not result.error then
    run_hook(run, "after_all", ctx_of(run, nil, { pending = pending, result = result, direction = "up" }))
  end
  return result
end

--- lumi up: apply pending migrations in order.
---@param opts table {to=version?, dry_run=bool?, count=n?}
---@return table result {applied={...}, pending=n, dry_run=, error=?}
function M.up(project, opts)
  opts = opts or {}
  -- durable: how many of those applied are known to be on disk (the
  -- others committed without waiting for it: see apply_all)
  local result = { applied = {}, durable = 0, dry_run = opts.dry_run or false, to = opts.to }
  local found = project:discover()
  local sums = {}
  local function todo_of(p)
    M.check_plan(project, p, found, opts)
    local todo = select_pending(project, p, opts)
    if opts.count then todo = table.move(todo, 1, math.min(opts.count, #todo), 1, {}) end
    result.pending = #p.pending
    return todo
  end
  local st = project:store()
  if opts.dry_run then
    local p = project:plan(found, (st:read()), sums)
    local parts = prepare_all(project, todo_of(p), "up")
    require("lumi.lint").before_up(project, parts, project.db)
    project:emit({ type = "plan", parts = parts, dry_run = true })
    for _, part in ipairs(parts) do
      result.applied[#result.applied + 1] = { migration = part.migration, file = part.file, would = true }
      project:emit({ type = "would_apply", migration = part.migration, file = part.file })
    end
    return result
  end
  -- Nothing to apply and nothing unfinished, a tracking table and no
  -- before_all/after_all hooks to run: that is known from a read, which
  -- needs no lock. Anything else is judged from the records read under it
  -- (an unfinished record may be another runner's work in progress).
  if not project.config.before_all and not project.config.after_all then
    local rows, exists = st:read(PLAN_FIELDS)
    if exists then
      local p = project:plan(found, rows, sums)
      if #p.unfinished == 0 and #plan_mod.up_to(p, project.scheme, opts.to) == 0 then
        todo_of(p)
        return result
      end
    end
  end
  return M.locked(project, function(db, locked_st, lease)
    local p = project:plan(found, (locked_st:read()), sums)
    local parts = prepare_all(project, todo_of(p), "up")
    require("lumi.lint").before_up(project, parts, db)
    if #parts > 0 then require("lumi.drift").before_up(project, db, locked_st, p) end
    if lease then pooled(parts) end
    project:emit({ type = "plan", parts = parts })
    return apply_all(project, db, locked_st, parts, result, lease)
  end)
end

---------------------------------------------------------------- down

-- The down parts of the entries to revert, every one read before the first runs.
local function down_parts(project, todo)
  local parts = {}
  for i, e in ipairs(todo) do
    local m = e.migration
    if not m then
      errors.raise("validation", string.format("cannot revert %s: its file is missing", e.record.file or e.version))
    end
    local part = prepare_all(project, { m }, "down")[1]
    if not part then
      local lua = m.layout == "lua"
      errors.raise("validation", string.format("cannot revert %s: it has no down %s", m.file,
          lua and "function" or "migration"),
        { hint = "add " .. (m.down_file or m.layout == "pair" and (m.stem .. ".down.sql")
          or m.layout == "directory" and (m.stem .. "/down.sql")
          or lua and "a `down` function to the table it returns"
          or "a \"-- migrate:down\" section") })
    end
    part.record = e.record
    parts[i] = part
  end
  return parts
end

--- lumi down: revert applied migrations, newest version first.
---@param opts table {count=n?, to=version?, all=bool?, dry_run=bool?}
function M.down(project, opts)
  opts = opts or {}
  local result = { reverted = {}, dry_run = opts.dry_run or false }
  local found = project:discover()
  local function parts_of(rows)
    local p = project:plan(found, rows)
    M.check_plan(project, p, found, { to = opts.to, ignore_changed = true })
    local parts = down_parts(project, plan_mod.down_from(p, project.scheme, opts))
    project:emit({ type = "plan", parts = parts, dry_run = opts.dry_run })
    -- the newest applied migration that stays: its row records the schema
    local going, left = {}, nil
    for _, part in ipairs(parts) do going[part.migration] = true end
    for _, e in ipairs(p.applied) do
      if not going[e.migration] and not e.migration.repeatable then left = e end
    end
    return parts, left and record_of(left.migration, left.record) or nil
  end
  if opts.dry_run then
    for _, part in ipairs(parts_of((project:store():read()))) do
      result.reverted[#result.reverted + 1] = { migration = part.migration, file = part.file, would = true }
      project:emit({ type = "would_revert", migration = part.migration, file = part.file })
    end
    return result
  end
  return M.locked(project, function(db, st, lease)
    local parts, left = parts_of((st:read()))
    if lease then pooled(parts) end
    if #parts > 0 then st:ensure() end
    local run = new_run(project, db, st, lease)
    run.newest_left = left
    for i, part in ipairs(parts) do
      local m = part.migration
      local stop = stop_if_interrupted(m, #result.reverted, "reverted")
      if stop then result.error = stop; break end
      if lease then lease:renew(db, true) end
      project:emit({ type = "start", migration = m, part = part })
      local seconds, merr = revert(run, part, part.record, i == #parts)
      if not seconds then
        db_mod.mark_interrupted(merr)
        result.failed, result.error = { migration = m, file = part.file, error = merr }, merr
        project:emit({ type = "failed", migration = m, file = part.file, error = merr, direction = "down" })
        break
      end
      result.reverted[#result.reverted + 1] = { migration = m, file = part.file, seconds = seconds }
      project:emit({ type = "reverted", migration = m, file = part.file, seconds = seconds })
    end
    if result.error and #result.reverted > 0 and not db:is_closed() then pcall(db.value, db, "SELECT txid_current()") end
    end_run(run)
    return result
  end)
end

---------------------------------------------------------------- records only

--- The record-only commands (mark, unmark, baseline, repair): under the
--- lock, fn(plan, found) returns the changes to record, a list of
--- {migration=, record=, event=, fields=}, where event is "marked",
--- "baselined" or "repaired" (the store's applied) or "unmarked" (its
--- reverted); they are written in one transaction with their log rows.
--- Returns the list.
function M.record_only(project, fn)
  return M.locked(project, function(db, st)
    local found = project:discover()
    local p = project:plan(found, (st:read()))
    local changes = fn(p, found)
    st:ensure()
    local run = new_run(project, db, st)
    local stmts = { { "BEGIN" } }
    for _, c in ipairs(changes) do
      local fields = c.fields or {}
      fields.event = c.event
      fields.recorded = c.record ~= nil
      local rec = record_of(c.migration or {}, c.record, fields)
      local log = { event = c.event, checksum = fields.checksum, error = c.note }
      for _, s in ipairs(records(run, c.event == "unmarked" and "reverted" or "applied", rec, log)) do
        stmts[#stmts + 1] = s
      end
    end
    if #changes > 0 then
      stmts[#stmts + 1] = { "COMMIT" }
      local ok, err = atomically(db, function() db:pipeline(stmts) end)
      if not ok then error(err, 0) end
    end
    return changes
  end)
end

return M
