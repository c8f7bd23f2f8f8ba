--- The database handle that lumi, migrations and hooks use.
--
-- A thin layer over a lumi.pg connection that raises the structured error
-- instead of returning nil, err, so a data migration reads as straight-line
-- code; the runner catches it with one pcall and branches on err.sqlstate.
--
--   db:exec(sql)                 run a script (several statements)
--   db:query(sql, ...)           rows (typed), with rows.columns
--   db:one(sql, ...)             the first row, or nil
--   db:value(sql, ...)           the first column of the first row, or nil
--   db:rows(sql, ...)            iterator over a large result, constant memory
--   db:stream(sql, ...)          the same from a second connection on the same snapshot
--   db:copy_from(sql, source)    COPY ... FROM STDIN fed from Lua
--   db:pipeline(statements)      several {sql, params...} in one round trip
--   db:exec_watched(sql, s, fn)  db:exec, calling fn every s seconds while it runs
--   db:transaction(fn)           BEGIN; fn(db); COMMIT (ROLLBACK on error)
--   db:savepoint(fn)             the same with a savepoint, inside a transaction
--   db:in_batches(opts, fn)      a large table in committed batches (resumable)
--   db:quote_ident(s), db:quote_literal(s)
--   db:info()                    server version, user, database, pid, transaction status
--   db:in_transaction(), db:is_closed(), db:rollback(), db:close()
--   db:settle()                  receive what was sent without waiting (a COPY with
--                                wait = false), raising its error
--   db:guarded()                 the same connection, stopping at an interrupt
--   db.null                      the SQL NULL sentinel in rows and parameters
local pg = require "lumi.pg"
local errors = require "lumi.errors"
local conninfo = require "lumi.conninfo"

local M = {}

local DB = {}
DB.__index = DB
DB.__name = "lumi.db"

M.null = pg.null
DB.null = pg.null

local signal_numbers = { SIGINT = 2, SIGTERM = 15 }

---------------------------------------------------------------- interrupts

--- The signal that interrupted lumi ("SIGINT" or "SIGTERM"; see
--- pg.cancel_on_interrupt), or nil.
function M.interrupted()
  return pg.interrupted()
end

--- While on, a signal cancels the running statements and leaves the
--- process to Lua, which winds the run down (see pg.defer_interrupts);
--- otherwise it cancels them and ends the process.
function M.defer_interrupts(on)
  pg.defer_interrupts(on)
end

--- An `interrupted` error: the message, with the exit status the shell
--- gives a process the signal ended (130 for SIGINT, 143 for SIGTERM).
function M.interrupted_error(sig, message, fields)
  fields = fields or {}
  fields.signal = sig
  fields.exit_code = 128 + (signal_numbers[sig] or 2)
  return errors.new("interrupted", message, fields)
end

--- When a signal has come, mark err (a failure it caused: its statement
--- cancelled) as interrupted: the signal's exit status, and a hint saying
--- so. Returns err.
function M.mark_interrupted(err)
  local sig = pg.interrupted()
  if sig and type(err) == "table" and err.kind ~= "interrupted" then
    err.interrupted = sig
    err.exit_code = 128 + (signal_numbers[sig] or 2)
    err.hint = err.hint or string.format("interrupted by %s: lumi cancelled the statement that was running", sig)
  end
  return err
end

---------------------------------------------------------------- connecting

-- A handle: the connection's shared state `s` (the connection, what is in
-- flight, counters) and whether this handle stops at an interrupt.
local function handle(s, guard)
  return setmetatable({ s = s, guard = guard }, DB)
end

--- Connect, or raise a `connection` error (with the password redacted).
---@param url string? URL or conninfo; nil uses the PG* environment
---@param opts table? {on_notice = function(notice)}
function M.connect(url, opts)
  local bad = conninfo.misencoded(url)
  if bad then errors.raise("config", bad, { hint = "percent-encode the user name and password of the URL" }) end
  conninfo.remember(url)
  local invalid = conninfo.invalid(url)
  if invalid then errors.raise("config", invalid) end
  local conn, err = pg.connect(url)
  if not conn then
    errors.raise("connection", "cannot connect to the database: " .. conninfo.scrub(err.message, url),
      { sqlstate = err.sqlstate })
  end
  return M.wrap(conn, opts, url)
end

--- Wrap an open lumi.pg connection (url: where it leads, for db:stream).
function M.wrap(conn, opts, url)
  opts = opts or {}
  return handle({ conn = conn, url = url, on_notice = opts.on_notice, savepoints = 0, cursors = 0 }, false)
end

--- The same connection, through a handle that stops at an interrupt: once
--- a signal has come (see pg.defer_interrupts), its next statement raises
--- an `interrupted` error instead of running. Migrations and hooks get
--- this handle; lumi's own bookkeeping after a failure uses the other.
function DB:guarded()
  return handle(self.s, true)
end

---------------------------------------------------------------- statements

-- Raise a database error as a value; hand over the notices seen so far.
local function check(self, r, err)
  local s = self.s
  if s.on_notice then
    for _, n in ipairs(s.conn:notices()) do s.on_notice(n) end
  end
  if r == nil then error(err, 0) end
  return r
end

--- Take what was sent ahead (a FETCH of db:rows, a COPY of copy_from with
--- wait = false), so that the connection is free for the next statement.
--- Every method calls it first. On a guarded handle, once a signal has
--- come, it raises `interrupted` (after taking what was in flight, so
--- that the connection is idle for the rollback).
function DB:settle()
  local s = self.s
  if s.pending_copy then
    s.pending_copy = nil
    local r, err = s.conn:receive()
    if not r then error(err, 0) end
  end
  local fetch = s.prefetch
  if fetch then
    s.prefetch = nil
    local rows, err = s.conn:receive()
    if not rows then error(err, 0) end
    fetch.ready = rows
  end
  if self.guard then
    local sig = pg.interrupted()
    if sig then error(M.interrupted_error(sig, "interrupted by " .. sig), 0) end
  end
end

function DB:exec(sql)
  self:settle()
  return check(self, self.s.conn:exec(sql))
end

function DB:query(sql, ...)
  self:settle()
  return check(self, self.s.conn:query(sql, ...))
end

function DB:one(sql, ...)
  return self:query(sql, ...)[1]
end

function DB:value(sql, ...)
  local rows = self:query(sql, ...)
  local row = rows[1]
  if row == nil then return nil end
  return row[rows.columns[1]]
end

--- Run script sql like db:exec, calling watch() every `every` seconds
--- while it runs (watch looks elsewhere: another connection; it must not
--- use this one, and what it raises is ignored).
function DB:exec_watched(sql, every, watch)
  self:settle()
  local conn = self.s.conn
  local ok, err = conn:send(sql)
  if not ok then error(err, 0) end
  while true do
    local ready = conn:wait(every)
    if ready ~= false then break end      -- in, or the connection lost: receive says which
    pcall(watch)
  end
  return check(self, conn:receive())
end

--- Several statements {sql, params...} in one round trip; their rows. A
--- failure's error carries `statement`, its index.
function DB:pipeline(statements)
  self:settle()
  local r, err, index = self.s.conn:pipeline(statements)
  if r == nil and type(err) == "table" then err.statement = index end
  return check(self, r, err)
end

--- Iterate over the rows of a query in constant memory:
---   for row in db:rows("SELECT id, email FROM users WHERE id > $1", 0) do ... end
--- Inside a transaction (a migration), the rows come through a server-side
--- cursor, `rows_per_fetch` (10,000) at a time, so the loop body may run
--- other statements on the same handle — a COPY of transformed rows, say.
--- The next batch is asked for as soon as one arrives, so the server reads
--- it while Lua works on the current one. Outside a transaction the rows
--- stream in libpq's single-row mode. Leaving the loop early closes the
--- cursor (or cancels the query).
function DB:rows(sql, ...)
  self:settle()
  local s = self.s
  if not self:in_transaction() then return s.conn:rows(sql, ...) end
  s.cursors = s.cursors + 1
  local name = "lumi_rows_" .. s.cursors
  self:query("DECLARE " .. name .. " NO SCROLL CURSOR FOR " .. sql, ...)
  local size = self.rows_per_fetch or 10000
  local fetch = "FETCH FORWARD " .. size .. " FROM " .. name
  local db = self
  local state = { batch = {}, i = 0, open = true }
  local function ask()          -- send the next FETCH without waiting
    local ok, err = s.conn:send(fetch)
    if not ok then error(err, 0) end
    s.prefetch = state
  end
  local function close()
    db:settle()
    if state.open then
      state.open = false
      if db:in_transaction() then s.conn:exec("CLOSE " .. name) end
    end
  end
  local function next_row()
    state.i = state.i + 1
    local row = state.batch[state.i]
    if row ~= nil then return row end
    if not state.open then return nil end
    db:settle()
    local batch = state.ready
    state.ready = nil
    if batch == nil then batch = db:query(fetch) end
    state.batch, state.i = batch, 1
    if #batch < size then
      close()                   -- the last batch: the cursor is done
      if #batch == 0 then return nil end
    else
      ask()
    end
    return batch[1]
  end
  return next_row, nil, nil, setmetatable({}, { __close = close })
end

--- Like db:rows, but the rows come from a second, read-only connection
--- that shares the migration's snapshot (pg_export_snapshot): the server
--- reads the next rows while Lua works on these and the migration's own
--- connection writes (COPY), on as many cores as there are. The reading
--- side sees the database as the migration's transaction saw it when
--- db:stream was called, without the migration's own uncommitted changes:
--- read what the migration does not modify (the usual backfill: read old
--- columns or tables, write new ones). Outside a transaction it is db:rows.
function DB:stream(sql, ...)
  if not self:in_transaction() then return self:rows(sql, ...) end
  local snapshot = self:value("SELECT pg_export_snapshot()")
  local reader, err = pg.connect(self.s.url)
  if not reader then
    errors.raise("connection", "db:stream: cannot open its reading connection: "
      .. conninfo.scrub(err.message, self.s.url))
  end
  local r = M.wrap(reader)
  r:exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT "
    .. r:quote_literal(snapshot))
  local next_row, _, _, closer = r:rows(sql, ...)
  local done = false
  local function finish()
    if done then return end
    done = true
    getmetatable(closer).__close(closer)
    r:rollback()
    r:close()
  end
  local function step()
    local ok, row = pcall(next_row)
    if not ok then finish(); error(row, 0) end
    if row == nil then finish() end
    return row
  end
  return step, nil, nil, setmetatable({}, { __close = finish })
end

--- COPY ... FROM STDIN fed from Lua: source is an array of strings or a
--- function returning the next chunk (nil at the end). With
--- {wait = false} it returns as soon as the data is sent, and the server
--- ingests it while Lua goes on (a large load in batches runs at the speed
--- of the slower side, not of both added up); an error in the data then
--- comes out of the next use of the handle.
function DB:copy_from(sql, source, opts)
  self:settle()
  if opts and opts.wait == false then
    local ok, err = self.s.conn:copy_from(sql, source, opts)
    if not ok then error(err, 0) end
    self.s.pending_copy = true
    return true
  end
  return check(self, self.s.conn:copy_from(sql, source))
end

---------------------------------------------------------------- transactions

--- Is a transaction open (or failed and not yet rolled back)?
function DB:in_transaction()
  local s = self.s
  if s.prefetch or s.pending_copy then pcall(self.settle, self) end
  if s.conn:is_closed() then return false end
  local t = s.conn:info().transaction
  return t == "intrans" or t == "inerror"
end

--- Roll back the transaction that is open, if any, whatever state the
--- connection is in (the one way lumi ends a failed transaction). Never
--- raises; returns true when the connection is usable afterwards.
function DB:rollback()
  local s = self.s
  pcall(self.settle, handle(s, false))
  if s.conn:is_closed() then return false end
  if self:in_transaction() then s.conn:exec("ROLLBACK") end
  return not s.conn:is_closed()
end

--- Run fn(db) in a transaction: COMMIT if it returns, ROLLBACK and re-raise
--- if it raises. Returns what fn returns. Inside a transaction already (in
--- a migration), it is a savepoint instead, and commits nothing.
function DB:transaction(fn)
  if self:in_transaction() then return self:savepoint(fn) end
  self:exec("BEGIN")
  local res = table.pack(pcall(fn, self))
  if not res[1] then
    self:rollback()
    error(res[2], 0)
  end
  self:exec("COMMIT")
  return table.unpack(res, 2, res.n)
end

--- Run fn(db) inside a savepoint: on error, roll back to it and re-raise,
--- leaving the enclosing transaction usable.
function DB:savepoint(fn)
  if not self:in_transaction() then
    errors.raise("usage", "db:savepoint needs an open transaction")
  end
  local s = self.s
  s.savepoints = s.savepoints + 1
  local name = "lumi_sp_" .. s.savepoints
  self:exec("SAVEPOINT " .. name)
  local res = table.pack(pcall(fn, self))
  s.savepoints = s.savepoints - 1
  if not res[1] then
    if not s.conn:is_closed() then s.conn:exec("ROLLBACK TO SAVEPOINT " .. name) end
    error(res[2], 0)
  end
  self:exec("RELEASE SAVEPOINT " .. name)
  return table.unpack(res, 2, res.n)
end

--- Work through a large table in batches, each batch in its own transaction
--- committed with its work: for a migration that runs without a transaction
--- (`transaction = false`), so that a backfill of ten million rows neither
--- holds one giant transaction nor starts again from zero when interrupted.
---
---   db:in_batches({
---     select = "SELECT id FROM users WHERE email_lower IS NULL", -- rows still to do
---     key = "id",          -- unique and ordered: the batches walk it upwards
---     size = 10000,        -- rows per batch (default 1000)
---     total = true,        -- count the rows first (for a progress bar)
---     progress = ctx.progress,
---   }, function(db, batch)  -- batch.first, batch.last, batch.keys, batch.count
---     db:exec(...)          -- runs inside the batch's transaction
---   end)
---
--- Resuming: write `select` so that it lists only the rows still to do (as
--- above); a batch commits together with its work, so a rerun after an
--- interruption starts with the first row not yet done and never does a row
--- twice. Returns the number of rows processed.
function DB:in_batches(opts, fn)
  if type(opts) ~= "table" or type(opts.select) ~= "string" or type(opts.key) ~= "string" then
    errors.raise("usage", "db:in_batches needs {select = \"SELECT key ... \", key = \"column\"} and a function")
  end
  if self:in_transaction() then
    errors.raise("usage", "db:in_batches commits every batch: run it in a migration with transaction = false")
  end
  local size = math.tointeger(opts.size or 1000)
  local key = self:quote_ident(opts.key)
  local total = opts.total
  if total == true then
    total = self:value("SELECT count(*) FROM (" .. opts.select .. ") AS lumi_todo")
  end
  local page = "SELECT " .. key .. " AS k FROM (" .. opts.select .. ") AS lumi_todo"
  local first_page = page .. " ORDER BY " .. key .. " LIMIT " .. size
  local next_page = page .. " WHERE " .. key .. " > $1 ORDER BY " .. key .. " LIMIT " .. size
  local done, last = 0, nil
  while true do
    local rows = last == nil and self:query(first_page) or self:query(next_page, last)
    if #rows == 0 then break end
    local keys = {}
    for i, r in ipairs(rows) do keys[i] = r.k end
    local batch = { first = keys[1], last = keys[#keys], keys = keys, count = #keys, done = done }
    self:transaction(function(db) fn(db, batch) end)
    done = done + #keys
    last = keys[#keys]
    if opts.progress then opts.progress(done, total) end
    if #rows < size then break end
  end
  return done
end

---------------------------------------------------------------- the rest

function DB:quote_ident(s)
  -- a name of printable ASCII: what libpq's PQescapeIdentifier makes of it
  -- (the connection's encoding matters only beyond ASCII)
  if type(s) == "string" and not s:find("[^\32-\126]") then return '"' .. s:gsub('"', '""') .. '"' end
  return self.s.conn:escape_identifier(s)
end

function DB:quote_literal(s)
  return self.s.conn:escape_literal(s)
end

--- {server_version=, server_version_num=, user=, database=, host=, port=,
--- pid=, transaction=}
function DB:info()
  return self.s.conn:info()
end

--- Is the connection closed (by lumi, or lost)?
function DB:is_closed()
  return self.s.conn:is_closed()
end

function DB:close()
  self.s.conn:close()
end

DB.__close = DB.close

return M
