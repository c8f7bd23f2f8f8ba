--- Execute a plan: lock, one transaction per migration with its tracking
--- row and log entry, events as it goes, and a result value (what was
--- applied or reverted, what failed and why).
--
-- How a migration's SQL runs depends on the SQL:
--   wrapped      the usual case: lumi's BEGIN, the file as one script, the
--                tracking row, COMMIT — all or nothing;
--   own          the file is BEGIN; ... COMMIT; itself: it runs unchanged up
--                to its COMMIT, then the tracking row, then the COMMIT;
--   statements   "-- lumi: no-transaction", or transaction control in the
--                middle of the file: the statements run one by one as they
--                are (CREATE INDEX CONCURRENTLY works); the tracking row is
--                written first as "unfinished" and set to "applied" at the
--                end, so a failure midway leaves a marked, unfinished record.
local errors = require "lumi.errors"
local clock = require "lumi.clock"
local lock = require "lumi.lock"
local hash = require "lumi.hash"
local plan_mod = require "lumi.plan"
local migration = require "lumi.migration"
local context = require "lumi.context"
local db_mod = require "lumi.db"

local M = {}

---------------------------------------------------------------- errors

--- A `migration` error for a failed migration, located in its file.
---@param part table the loaded direction (migration.load)
---@param sent_offset integer characters sent before part.text (a prefix),
---   or minus the offset of the statement within part.text
function M.migration_error(m, part, err, sent_offset)
  local path = part and part.path or m.path
  local fields = { migration = m.file, file = path, cause = err }
  local where = path
  if type(err) == "table" and err.sqlstate then
    -- an error of lumi's own bookkeeping (err.statement: from db:pipeline)
    -- has a position in lumi's statement, not in the file
    local pos = part and not err.statement and err.position
      and migration.file_position(part, err.position - (sent_offset or 0))
    if pos then
      for k, v in pairs(pos) do fields[k] = v end
      where = string.format("%s:%d:%d", path, pos.line, pos.column)
    end
    fields.sqlstate, fields.detail, fields.hint, fields.where = err.sqlstate, err.detail, err.hint, err.where
    local msg = string.format("%s: %s %s: %s", where, err.severity or "ERROR", err.sqlstate, err.message)
    if err.statement then msg = msg .. " (while recording it in the tracking table)" end
    return errors.new("migration", msg, fields)
  end
  if errors.is(err) then
    err.migration, err.file = err.migration or m.file, err.file or path
    return err
  end
  return errors.new("migration", string.format("%s: %s", where, tostring(err)), fields)
end

---------------------------------------------------------------- checks

local function files_of(list, f)
  local out = {}
  for i, x in ipairs(list) do out[i] = f(x) end
  return table.concat(out, ", ")
end

-- Refuse to run a plan that is not sound: raise a validation error. Warn
-- about what will not stop it but is most likely a mistake: a .sql file the
-- naming scheme ignores, an applied migration whose file is gone.
function M.check_plan(project, p, scan, opts)
  local cfg = project.config
  opts = opts or {}
  local layout = require "lumi.layout"
  for _, ig in ipairs(scan.ignored) do
    if layout.misnamed(ig) then
      project:emit({ type = "warning", message = string.format("%s is not a migration: %s (it will never run)",
        ig.file, ig.reason) })
    end
  end
  for _, e in ipairs(p.missing) do
    project:emit({ type = "warning", message = string.format("%s was applied, and its file is gone",
      e.record.file or e.record.stem or e.version) })
  end
  if #scan.duplicates > 0 then
    local d = scan.duplicates[1]
    errors.raise("validation", string.format("two files share version %s: %s", d.key, table.concat(d.files, ", ")),
      { duplicates = scan.duplicates, hint = "renumber one of them (lumi list shows every file)" })
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
      project:emit({ type = "warning", message = e.migration.file
        .. " has changed since it was applied (on_changed = \"warn\": going on)" })
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
    local found = false
    for _, m in ipairs(scan.migrations) do
      if m.key == project.scheme.key(opts.to) then found = true end
    end
    if not found then
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
      project:emit({ type = "warning", message = m.file .. " is older than the newest applied migration "
        .. p.newest_applied .. "; applying it (out_of_order policy)" })
    end
  end
  return todo
end

---------------------------------------------------------------- execution

-- What opens a migration's transaction. All but the last migration of a
-- run commit without waiting for the WAL flush; the last one's commit
-- flushes them all (README: "Durable at the end, consistent always").
local BEGIN_ASYNC = "BEGIN; SET LOCAL synchronous_commit TO off;\n"
local BEGIN_DURABLE = "BEGIN;\n"

local tx_words = { BEGIN = true, START = true, COMMIT = true, ["END"] = true, ROLLBACK = true, ABORT = true }

-- How part.text must run: "wrapped", "own" or "statements" (see the top),
-- and its statements when they were needed to decide.
function M.execution(part)
  if not part.directives.transaction then return "statements", M.split(part) end
  -- only a text that names a transaction keyword can control transactions
  local lower = part.text:lower()
  if not (lower:find("begin", 1, true) or lower:find("commit", 1, true) or lower:find("start", 1, true)
          or lower:find("rollback", 1, true) or lower:find("abort", 1, true) or lower:find("end", 1, true)) then
    return "wrapped"
  end
  local stmts = M.split(part)
  local sql = require "lumi.sql"
  local control = {}
  for i, s in ipairs(stmts) do
    local k = sql.first_keyword(s.text)
    local upper = tx_words[k] and s.text:upper() or ""
    -- ROLLBACK TO SAVEPOINT and COMMIT/ROLLBACK PREPARED do not end a transaction
    if tx_words[k] and not upper:match("^%s*ROLLBACK%s+TO%f[%W]") and not upper:match("^%s*%a+%s+PREPARED%f[%W]") then
      control[#control + 1] = { index = i, word = k }
    end
  end
  if #control == 0 then return "wrapped" end
  local n = #stmts
  if #control == 2 and control[1].index == 1 and (control[1].word == "BEGIN" or control[1].word == "START")
     and control[2].index == n and (control[2].word == "COMMIT" or control[2].word == "END") then
    return "own", stmts
  end
  return "statements", stmts
end

-- The top-level statements of part.text (lumi.sql, PostgreSQL's own scanner).
function M.split(part)
  local sql = require "lumi.sql"
  local stmts, err = sql.split(part.text)
  if not stmts then
    errors.raise("migration", string.format("%s: cannot split into statements: %s", part.path, tostring(err.message or err)),
      { file = part.path })
  end
  return stmts
end

local function log_of(project, st, m, event, extra)
  extra = extra or {}
  return st:log_statement({ target = project.target, event = event, version = m.version, file = m.file,
    checksum = extra.checksum, execution_ms = extra.ms, sqlstate = extra.sqlstate, error = extra.error })
end

-- Run fn(...) with db unguarded: lumi's own bookkeeping after a failure
-- goes on after an interrupt (see DB:settle).
local function unguarded(db, fn, ...)
  local guarded = db.guarded
  db.guarded = false
  local ok, err = pcall(fn, ...)
  db.guarded = guarded
  return ok, err
end

-- Record a failure in the log, outside any transaction (best effort).
local function log_failure(project, st, m, err, event)
  local db = project:db()
  if db.conn:is_closed() then return end
  local stmt = log_of(project, st, m, event or "failed", { sqlstate = err.sqlstate, error = err.message })
  if stmt then unguarded(db, db.query, db, table.unpack(stmt, 1, stmt.n)) end
end

-- Run one migration (apply_one or revert_one) with the db guarded: an
-- interrupt stops it at its next statement. A failure caused by the
-- interrupt (the running statement cancelled) says so, with its exit code.
local function interruptible(project, fn, st, item, ...)
  local db = project:db()
  db.guarded = true
  local ok, seconds, merr = pcall(fn, project, st, item, ...)
  db.guarded = false
  if not ok then
    -- stopped before it began (its first statement refused): a failure of its own
    if errors.is(seconds, "interrupted") then return nil, seconds end
    error(seconds, 0)
  end
  if not seconds then db_mod.mark_interrupted(merr) end
  return seconds, merr
end

-- Stop before the next migration once a signal has come.
local function stop_if_interrupted(m, done, verb)
  local sig = db_mod.interrupted()
  if not sig then return nil end
  return db_mod.interrupted_error(sig, string.format("interrupted by %s before %s: %s", sig, m.file,
    done > 0 and string.format("the %d %s before it stay %s, nothing after ran", done,
      done == 1 and "migration" or "migrations", verb) or "nothing ran"))
end

local function batch(...)
  local out = {}
  for i = 1, select("#", ...) do
    local s = select(i, ...)
    if s then out[#out + 1] = s end
  end
  return out
end

-- A `migration` error from a Lua failure {err=, line=} in migration m.
local function lua_error(m, part, failure)
  local e = failure.err
  local where = failure.line and string.format("%s:%d", part.path, failure.line) or part.path
  if type(e) == "table" and e.sqlstate then
    return errors.new("migration", string.format("%s: %s %s: %s", where, e.severity or "ERROR", e.sqlstate, e.message),
      { migration = m.file, file = part.path, line = failure.line, cause = e, sqlstate = e.sqlstate,
        detail = e.detail, hint = e.hint, where = e.where })
  end
  if errors.is(e) then
    -- lumi's own error (a misused API, say): the migration failed there
    local msg = e.message
    if not msg:find(part.path, 1, true) then msg = where .. ": " .. msg end
    return errors.new("migration", msg, { migration = m.file, file = part.path, line = failure.line,
      hint = e.hint, cause = e })
  end
  local msg = tostring(e)
  -- "path:12: boom" already says where; anything else gets the line found
  if not msg:find(part.path, 1, true) then msg = where .. ": " .. msg end
  return errors.new("migration", msg, { migration = m.file, file = part.path, line = failure.line })
end

-- Hooks of migrate.lua, looked up once per run.
local function hooks_of(project)
  local c = project.config
  return { before_all = c.before_all, after_all = c.after_all, before_each = c.before_each,
           after_each = c.after_each, on_error = c.on_error }
end

-- Run a hook; a failure becomes a `migration` error naming the hook.
local function run_hook(project, name, fn, ctx)
  local db = project._db
  local guarded = db and db.guarded
  if db then db.guarded = true end
  local ok, failure = context.call(fn, ctx, project.config.file)
  if db then db.guarded = guarded end
  if ok then return end
  local e = failure.err
  local where = project.config.file and failure.line and (project.config.file .. ":" .. failure.line .. ": ") or ""
  local msg = type(e) == "table" and e.message or tostring(e)
  errors.raise("migration", string.format("%shook %s failed: %s", where, name, msg),
    { hook = name, cause = e, sqlstate = type(e) == "table" and e.sqlstate or nil,
      detail = type(e) == "table" and e.detail or nil, hint = type(e) == "table" and e.hint or nil })
end

-- The body of a migration inside its transaction: the SQL (or the Lua up
-- function) between before_each and after_each. Raises on failure; a Lua
-- failure is raised as {lua_failure = {err=, line=}}.
local function run_body(project, item, mode, hooks, ctx, begin)
  local db = project:db()
  local part = item.part
  if hooks.before_each then run_hook(project, "before_each", hooks.before_each, ctx) end
  if part.lua then
    local ok, failure = context.call(part.fn, ctx, part.path)
    if not ok then error({ lua_failure = failure }, 0) end
  elseif mode == "own" then
    db:exec(part.text:sub(1, item.stmts[#item.stmts].start - 1))
  elseif begin then
    -- no hooks in the way: BEGIN and the file in one round trip
    db:exec(begin .. part.text)
  else
    db:exec(part.text)
  end
  if hooks.after_each then run_hook(project, "after_each", hooks.after_each, ctx) end
end

-- Apply one migration (item: {migration, part, checksum, durable}).
-- Returns seconds taken, or nil, error.
local function apply_one(project, st, item, hooks)
  local db = project:db()
  local m, part = item.migration, item.part
  local mode, stmts = "wrapped", nil
  if part.lua then
    mode = part.directives.transaction and "lua" or "lua-statements"
  else
    mode, stmts = M.execution(part)
  end
  item.stmts = stmts
  local t0 = clock.now()
  local function ms() return (clock.now() - t0) * 1000 end
  local ctx = context.new(project, { migration = { version = m.version, name = m.name, file = m.file,
    path = m.path, direction = "up" } })

  if mode == "statements" or mode == "lua-statements" then
    -- 1. the record, marked unfinished, committed on its own
    local has_state = st.columns.state ~= nil
    if has_state then
      local rec = st:record_statement(m, item.checksum, nil, { state = "unfinished" })
      db:query(table.unpack(rec, 1, rec.n))
    end
    local function failed(merr, message)
      merr.unfinished = has_state
      merr.no_transaction = true
      if has_state then
        local upd = st:update_statement({ [st.identity] = m[st.identity] }, { error = message })
        if upd then unguarded(db, db.query, db, table.unpack(upd, 1, upd.n)) end
      end
      log_failure(project, st, m, merr, has_state and "unfinished" or "failed")
      return nil, merr
    end
    -- 2. the statements as they are, in order (or the Lua up function)
    if mode == "lua-statements" then
      local ok, failure = pcall(run_body, project, item, mode, hooks, ctx)
      if not ok then
        if db:in_transaction() then db.conn:exec("ROLLBACK") end
        local merr = failure.lua_failure and lua_error(m, part, failure.lua_failure)
          or (errors.is(failure) and failure) or M.migration_error(m, part, failure, 0)
        return failed(merr, merr.message)
      end
    else
      if hooks.before_each then
        local ok, herr = pcall(run_hook, project, "before_each", hooks.before_each, ctx)
        if not ok then return failed(herr, herr.message or tostring(herr)) end
      end
      for i, s in ipairs(stmts) do
        local ok, err = pcall(db.exec, db, s.text)
        if not ok then
          if db:in_transaction() then db.conn:exec("ROLLBACK") end
          if type(err) == "table" and err.sqlstate and not err.position then
            -- the server gives no position: the statement is known, point at it
            err = setmetatable({ position = s.text:find("%S") or 1 }, { __index = err })
          end
          local merr = M.migration_error(m, part, err, -(utf8.len(part.text:sub(1, s.start - 1)) or (s.start - 1)))
          merr.statement, merr.statements = i, #stmts
          return failed(merr, string.format("statement %d of %d failed: %s", i, #stmts, err.message or tostring(err)))
        end
      end
      if hooks.after_each then
        local ok, herr = pcall(run_hook, project, "after_each", hooks.after_each, ctx)
        if not ok then return failed(herr, herr.message or tostring(herr)) end
      end
    end
    if db:in_transaction() then
      -- a BEGIN without its COMMIT: nothing after it would be kept
      db.conn:exec("ROLLBACK")
      local merr = errors.new("migration", string.format(
        "%s: leaves a transaction open (a BEGIN without its COMMIT): its work since that BEGIN was rolled back",
        part.path), { migration = m.file, file = part.path, hint = "end the file with COMMIT;" })
      return failed(merr, merr.message)
    end
    -- 3. the record, now applied (all of it ran: an interrupt now changes nothing)
    local done = has_state
      and st:update_statement({ [st.identity] = m[st.identity] }, { state = "applied", execution_ms = ms() })
      or st:record_statement(m, item.checksum, ms())
    local recorded, rerr = unguarded(db, db.pipeline, db,
      batch(done, log_of(project, st, m, "applied", { checksum = item.checksum, ms = ms() })))
    if not recorded then error(rerr, 0) end
    return clock.now() - t0
  end

  local begin = item.durable and BEGIN_DURABLE or BEGIN_ASYNC
  local one_trip = mode == "wrapped" and not hooks.before_each
  local ok, err = pcall(function()
    if mode ~= "own" and not one_trip then db:exec(begin) end
    run_body(project, item, mode, hooks, ctx, one_trip and begin or nil)
    db:pipeline(batch(st:record_statement(m, item.checksum, ms()),
      log_of(project, st, m, "applied", { checksum = item.checksum, ms = ms() }), { "COMMIT" }))
  end)
  if not ok then
    pcall(db.settle, db)
    if not db.conn:is_closed() and db:in_transaction() then db.conn:exec("ROLLBACK") end
    local merr
    if type(err) == "table" and err.lua_failure then
      merr = lua_error(m, part, err.lua_failure)
    elseif errors.is(err) then
      merr = err
    else
      local transient = { ["40001"] = true, ["40P01"] = true, ["55P03"] = true, ["57014"] = true }
      if type(err) == "table" and err.sqlstate and not err.position and not err.statement
         and not transient[err.sqlstate] and not db.conn:is_closed() then
        merr = M.locate(project, m, part, err)
      end
      merr = merr or M.migration_error(m, part, err, one_trip and #begin or 0)
    end
    -- the project's policy may count this failure as applied (FluxStudio:
    -- "duplicate object" means an earlier hand-run already did it)
    if hooks.on_error and not db.conn:is_closed() then
      ctx.error = merr
      local verdict
      local hook_ok, failure = context.call(function(c) verdict = hooks.on_error(c) end, ctx, project.config.file)
      if not hook_ok then
        project:emit({ type = "warning", message = "hook on_error failed: " .. tostring(failure.err) })
      elseif verdict == "applied" then
        db:pipeline(batch({ "BEGIN" }, st:record_statement(m, item.checksum, ms()),
          log_of(project, st, m, "applied", { checksum = item.checksum, ms = ms(), sqlstate = merr.sqlstate,
            error = "counted as applied by on_error: " .. (merr.cause and merr.cause.message or merr.message) }), { "COMMIT" }))
        project:emit({ type = "warning", message = string.format("%s failed with %s (%s); on_error counts it as applied",
          m.file, tostring(merr.sqlstate), merr.cause and merr.cause.message or merr.message) })
        return clock.now() - t0
      end
    end
    log_failure(project, st, m, merr)
    return nil, merr
  end
  return clock.now() - t0
end

--- The server gives no position for some errors (a missing table in ALTER
--- TABLE, a failing CREATE INDEX). To say which statement failed, the
--- migration is run again statement by statement in a transaction that is
--- rolled back (as psql runs a file): only on failure, and only when the
--- file has several statements. Returns a located error, or nil.
function M.locate(project, m, part, err)
  local db = project:db()
  local ok, stmts = pcall(M.split, part)
  if not ok or #stmts < 2 then return nil end
  local found
  local sql = require "lumi.sql"
  local run_ok = pcall(function()
    db:exec("BEGIN")
    for i, s in ipairs(stmts) do
      -- the file's own transaction control must not end lumi's transaction
      local k = sql.first_keyword(s.text)
      if tx_words[k] then goto skip end
      local good, e = pcall(db.exec, db, s.text)
      if not good then found = { index = i, stmt = s, err = e }; break end
      ::skip::
    end
  end)
  if not db.conn:is_closed() and db:in_transaction() then db.conn:exec("ROLLBACK") end
  if not run_ok or not found or type(found.err) ~= "table" or found.err.sqlstate ~= err.sqlstate then return nil end
  local s = found.stmt
  local before = utf8.len(part.text:sub(1, s.start - 1)) or (s.start - 1)
  local e = found.err
  if not e.position then
    -- point at the statement itself
    e.position = 1
  end
  local merr = M.migration_error(m, part, e, -before)
  merr.statement, merr.statements = found.index, #stmts
  merr.located = true
  return merr
end

-- Revert one migration (item: {migration, part, record}).
local function revert_one(project, st, item)
  local db = project:db()
  local m, part = item.migration, item.part
  local t0 = clock.now()
  local remove = st:remove_statement(item.record)
  if part.lua then
    local ctx = context.new(project, { migration = { version = m.version, name = m.name, file = m.file,
      path = m.path, direction = "down" } })
    local tx = part.directives.transaction
    if tx then db:exec("BEGIN") end
    local ok, failure = context.call(part.fn, ctx, part.path)
    if not ok then
      if db:in_transaction() then db.conn:exec("ROLLBACK") end
      local merr = lua_error(m, part, failure)
      log_failure(project, st, m, merr, "revert failed")
      return nil, merr
    end
    local records = batch(remove, log_of(project, st, m, "reverted", { ms = (clock.now() - t0) * 1000 }),
      tx and { "COMMIT" } or nil)
    if tx then
      db:pipeline(records)
    else
      -- it ran without a transaction, all of it: an interrupt now changes nothing
      local recorded, rerr = unguarded(db, db.pipeline, db, records)
      if not recorded then error(rerr, 0) end
    end
    return clock.now() - t0
  end
  local mode, stmts = M.execution(part)
  if mode == "statements" then
    for i, s in ipairs(stmts) do
      local ok, err = pcall(db.exec, db, s.text)
      if not ok then
        if db:in_transaction() then db.conn:exec("ROLLBACK") end
        local merr = M.migration_error(m, part, err, -(utf8.len(part.text:sub(1, s.start - 1)) or (s.start - 1)))
        merr.statement, merr.statements, merr.no_transaction = i, #stmts, true
        -- what ran before the failure stays: the migration is half reverted
        if st.columns.state then
          merr.unfinished = true
          local upd = st:update_statement({ [st.identity] = item.record[st.identity] or m[st.identity] },
            { state = "unfinished", error = string.format("revert: statement %d of %d failed: %s", i, #stmts,
              type(err) == "table" and err.message or tostring(err)) })
          if upd then unguarded(db, db.query, db, table.unpack(upd, 1, upd.n)) end
        end
        log_failure(project, st, m, merr, "revert failed")
        return nil, merr
      end
    end
    local recorded, rerr = unguarded(db, db.pipeline, db,
      batch(remove, log_of(project, st, m, "reverted", { ms = (clock.now() - t0) * 1000 })))
    if not recorded then error(rerr, 0) end
    return clock.now() - t0
  end
  local ok, err = pcall(function()
    if mode == "own" then
      db:exec(part.text:sub(1, stmts[#stmts].start - 1))
    else
      db:exec(BEGIN_DURABLE .. part.text)
    end
    db:pipeline(batch(remove, log_of(project, st, m, "reverted", { ms = (clock.now() - t0) * 1000 }), { "COMMIT" }))
  end)
  if not ok then
    if not db.conn:is_closed() and db:in_transaction() then db.conn:exec("ROLLBACK") end
    local merr = M.migration_error(m, part, err, mode == "own" and 0 or #BEGIN_DURABLE)
    log_failure(project, st, m, merr, "revert failed")
    return nil, merr
  end
  return clock.now() - t0
end

---------------------------------------------------------------- runs

--- Run fn(db, st) under the migration lock, creating the tracking tables.
function M.locked(project, fn)
  local db = project:db()
  local st = project:store()
  local key = st:lock_key(hash)
  -- should lumi die without a word (SIGKILL, a lost machine), the server
  -- checks every second that it is still there, and stops the statement
  -- it runs instead of finishing it for nobody (PostgreSQL 14 and later)
  if (db.conn:info().server_version_num or 0) >= 140000 then
    db:value("SELECT set_config('client_connection_check_interval', '1s', false)")
  end
  lock.acquire(db, key, project.config.lock_timeout, function(holder)
    project:emit({ type = "lock_wait", holder = holder, timeout = project.config.lock_timeout })
  end)
  -- from here a signal does not end lumi: the statement running is
  -- cancelled, and the run winds down (records, logs, releases the lock)
  db_mod.defer_interrupts(true)
  local ok, res = pcall(function()
    st:ensure()
    return fn(db, st)
  end)
  if not db.conn:is_closed() then
    pcall(db.settle, db)
    if db:in_transaction() then db.conn:exec("ROLLBACK") end
    local released, rerr = pcall(lock.release, db, key)
    if not released and ok then db_mod.defer_interrupts(false); error(rerr, 0) end
  end
  db_mod.defer_interrupts(false)
  if not ok then error(res, 0) end
  return res
end

-- Load the up part of every migration to apply, before the first runs.
local function load_up(project, list)
  local items = {}
  local sums = project:checksums(list)
  for i, m in ipairs(list) do
    local part = migration.load(m, "up", project.config.placeholders)
    items[i] = { migration = m, part = part,
                 checksum = sums[m.path] or hash.sha256_file(m.path) or hash.sha256(part.file_text) }
  end
  return items
end

-- What planning `up` reads of the records: identities, checksums and states
-- (and the error of an unfinished one), not when or by whom.
local plan_fields = { version = true, file = true, stem = true, checksum = true, state = true, error = true }

--- lumi up: apply pending migrations in order.
---@param opts table {to=version?, dry_run=bool?, count=n?}
---@return table result {applied={...}, pending=n, dry_run=, error=?}
function M.up(project, opts)
  opts = opts or {}
  local result = { applied = {}, dry_run = opts.dry_run or false, to = opts.to }

  local function run_plan(p, scan)
    M.check_plan(project, p, scan, opts)
    local todo = select_pending(project, p, opts)
    if opts.count then
      local cut = {}
      for i = 1, math.min(opts.count, #todo) do cut[i] = todo[i] end
      todo = cut
    end
    result.pending = #p.pending
    local items = load_up(project, todo)
    project:emit({ type = "plan", migrations = todo, dry_run = opts.dry_run })
    if opts.dry_run then
      for _, item in ipairs(items) do
        result.applied[#result.applied + 1] = { migration = item.migration, would = true }
        project:emit({ type = "would_apply", migration = item.migration })
      end
      return result
    end
    if #items > 0 then items[#items].durable = true end
    local st = project:store()
    local hooks = hooks_of(project)
    local pending = {}
    for i, item in ipairs(items) do pending[i] = item.migration end
    if hooks.before_all then
      run_hook(project, "before_all", hooks.before_all, context.new(project, { pending = pending, direction = "up" }))
    end
    for _, item in ipairs(items) do
      local stop = stop_if_interrupted(item.migration, #result.applied, "applied")
      if stop then result.error = stop; break end
      project:emit({ type = "start", migration = item.migration })
      local seconds, merr = interruptible(project, apply_one, st, item, hooks)
      if not seconds then
        result.failed = { migration = item.migration, error = merr }
        result.error = merr
        project:emit({ type = "failed", migration = item.migration, error = merr })
        break
      end
      result.applied[#result.applied + 1] = { migration = item.migration, seconds = seconds }
      project:emit({ type = "applied", migration = item.migration, seconds = seconds })
    end
    local db = project:db()
    if result.error and #result.applied > 0 and not db.conn:is_closed() then
      -- those before it committed without waiting for the WAL flush:
      -- one durable commit (it gets a transaction id) flushes them all
      pcall(db.value, db, "SELECT txid_current()")
    end
    if hooks.after_all and not result.error then
      run_hook(project, "after_all", hooks.after_all,
        context.new(project, { pending = pending, result = result, direction = "up" }))
    end
    return result
  end

  local function run(records)
    return run_plan(project:plan(records))
  end

  if opts.dry_run then return run() end
  -- Nothing to apply, a tracking table and no before_all/after_all hooks to
  -- run: that is known from a read, which needs no lock (the tracking query
  -- went out while the files were scanned). Anything to apply is planned
  -- again from the records read under the lock.
  if not project.config.before_all and not project.config.after_all then
    local p, scan, exists = project:plan(nil, plan_fields)
    if exists and #plan_mod.up_to(p, project.scheme, opts.to) == 0 then return run_plan(p, scan) end
  end
  return M.locked(project, function(_, st) return run((st:applied())) end)
end

--- lumi down: revert applied migrations, newest version first.
---@param opts table {count=n?, to=version?, all=bool?, dry_run=bool?}
function M.down(project, opts)
  opts = opts or {}
  local result = { reverted = {}, dry_run = opts.dry_run or false }

  local function run(records)
    local p, scan = project:plan(records)
    M.check_plan(project, p, scan, { to = opts.to, ignore_changed = true })
    local todo = plan_mod.down_from(p, project.scheme, opts)
    -- every down part is read before the first runs
    local items = {}
    for i, e in ipairs(todo) do
      if not e.migration then
        errors.raise("validation", string.format("cannot revert %s: its file is missing", e.record.file or e.version))
      end
      local part = migration.load(e.migration, "down", project.config.placeholders)
      if not part then
        local lua = e.migration.layout == "lua"
        errors.raise("validation", string.format("cannot revert %s: it has no down %s", e.migration.file,
            lua and "function" or "migration"),
          { hint = "add " .. (e.migration.layout == "pair" and (e.migration.stem .. ".down.sql")
            or e.migration.layout == "directory" and (e.migration.stem .. "/down.sql")
            or lua and "a `down` function to the table it returns"
            or "a \"-- migrate:down\" section") })
      end
      items[i] = { migration = e.migration, part = part, record = e.record }
    end
    project:emit({ type = "plan", migrations = (function()
      local l = {}
      for i, it in ipairs(items) do l[i] = it.migration end
      return l
    end)(), dry_run = opts.dry_run })
    if opts.dry_run then
      for _, item in ipairs(items) do
        result.reverted[#result.reverted + 1] = { migration = item.migration, would = true }
        project:emit({ type = "would_revert", migration = item.migration })
      end
      return result
    end
    local st = project:store()
    for _, item in ipairs(items) do
      local stop = stop_if_interrupted(item.migration, #result.reverted, "reverted")
      if stop then result.error = stop; break end
      local seconds, merr = interruptible(project, revert_one, st, item)
      if not seconds then
        result.failed = { migration = item.migration, error = merr }
        result.error = merr
        project:emit({ type = "failed", migration = item.migration, error = merr, direction = "down" })
        break
      end
      result.reverted[#result.reverted + 1] = { migration = item.migration, seconds = seconds }
      project:emit({ type = "reverted", migration = item.migration, seconds = seconds })
    end
    return result
  end

  if opts.dry_run then return run() end
  return M.locked(project, function(_, st) return run((st:applied())) end)
end

return M
