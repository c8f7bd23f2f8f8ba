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
--   db:transaction(fn)           BEGIN; fn(db); COMMIT (ROLLBACK on error)
--   db:savepoint(fn)             the same with a savepoint, inside a transaction
--   db:in_batches(opts, fn)      a large table in committed batches (resumable)
--   db:quote_ident(s), db:quote_literal(s)
--   db.null                      the SQL NULL sentinel in rows and parameters
local pg = require "lumi.pg"
local errors = require "lumi.errors"
local config = require "lumi.config"

local M = {}

local DB = {}
DB.__index = DB
DB.__name = "lumi.db"

M.null = pg.null
DB.null = pg.null

-- Raise a database error as a value; attach the notices seen so far.
local function check(self, r, err)
  if self.on_notice then
    for _, n in ipairs(self.conn:notices()) do self.on_notice(n) end
  end
  if r == nil then error(err, 0) end
  return r
end

local signal_numbers = { SIGINT = 2, SIGTERM = 15 }

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
    err.exit_code = M.interrupted_error(sig, "").exit_code
    err.hint = err.hint or string.format("interrupted by %s: lumi cancelled the statement that was running", sig)
  end
  return err
end

--- Connect, or raise a `connection` error (with the password redacted).
---@param url string? URL or conninfo; nil uses the PG* environment
function M.connect(url, opts)
  local conn, err = pg.connect(url)
  if not conn then
    errors.raise("connection", "cannot connect to the database: " .. config.scrub(err.message, url),
      { sqlstate = err.sqlstate })
  end
  local db = M.wrap(conn, opts)
  db.url = url
  return db
end

--- Start connecting without waiting (see pg.connect_start); returns the raw
--- connection, or raises a `connection` error. Finish with M.finish_connect.
function M.connect_start(url)
  local conn, err = pg.connect_start(url)
  if not conn then
    errors.raise("connection", "cannot connect to the database: " .. config.scrub(err.message, url),
      { sqlstate = err.sqlstate })
  end
  return conn
end

--- Wait for a connection begun by M.connect_start; returns a db handle.
function M.finish_connect(conn, opts, url)
  local ok, err = conn:wait_connected()
  if not ok then
    errors.raise("connection", "cannot connect to the database: " .. config.scrub(err.message, url),
      { sqlstate = err.sqlstate })
  end
  local db = M.wrap(conn, opts)
  db.url = url
  return db
end

--- A db handle on a connection begun by M.connect_start, without waiting
--- for it: the handle finishes connecting on first use (DB:connected), and
--- its conn:send may come before that (the query goes out as soon as the
--- session is ready, from the thread finishing the handshake).
function M.wrap_connecting(conn, opts, url)
  local db = M.wrap(conn, opts)
  db.url = url
  db.connecting = true
  return db
end

--- Wait for the connection to be ready, if it is still being established;
--- raises a `connection` error when it cannot be.
--- `failed`: the error a conn:send made of the connection's failure.
function DB:connected(failed)
  if self.connecting then
    self.connecting = nil
    local ok, err = false, failed
    if not failed then ok, err = self.conn:wait_connected() end
    if not ok then
      errors.raise("connection", "cannot connect to the database: " .. config.scrub(err.message, self.url),
        { sqlstate = err.sqlstate })
    end
  end
  return self
end

--- Wrap an open lumi.pg connection.
function M.wrap(conn, opts)
  opts = opts or {}
  return setmetatable({ conn = conn, on_notice = opts.on_notice, savepoints = 0 }, DB)
end

function DB:exec(sql)
  self:settle()
  return check(self, self.conn:exec(sql))
end

function DB:query(sql, ...)
  self:settle()
  return check(self, self.conn:query(sql, ...))
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
  if not self:in_transaction() then return self.conn:rows(sql, ...) end
  self.cursors = (self.cursors or 0) + 1
  local name = "lumi_rows_" .. self.cursors
  self:query("DECLARE " .. name .. " NO SCROLL CURSOR FOR " .. sql, ...)
  local size = self.rows_per_fetch or 10000
  local fetch = "FETCH FORWARD " .. size .. " FROM " .. name
  local db = self
  local state = { batch = {}, i = 0, open = true }
  local function ask()          -- send the next FETCH without waiting
    local ok, err = db.conn:send(fetch)
    if not ok then error(err, 0) end
    db.prefetch = state
  end
  local function close()
    db:settle()
    if state.open then
      state.open = false
      if db:in_transaction() and not db.conn:is_closed() then db.conn:exec("CLOSE " .. name) end
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
      -- the last batch: the cursor is done
      if #batch == 0 then close(); return nil end
      close()
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
  local reader, err = pg.connect(self.url)
  if not reader then
    errors.raise("connection", "db:stream: cannot open its reading connection: " .. config.scrub(err.message, self.url))
  end
  local r = M.wrap(reader)
  r:exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT "
    .. reader:escape_literal(snapshot))
  local next_row, _, _, closer = r:rows(sql, ...)
  local done = false
  local function finish()
    if done then return end
    done = true
    getmetatable(closer).__close(closer)
    r.conn:exec("COMMIT")
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

--- Take the result of a FETCH sent ahead by db:rows, so that the connection
--- is free for the next statement. Every method calls it first.
function DB:settle()
  if self.connecting then self:connected() end
  if self.pending_copy then
    self.pending_copy = nil
    local r, err = self.conn:receive()
    if not r then error(err, 0) end
  end
  local state = self.prefetch
  if state then
    self.prefetch = nil
    local rows, err = self.conn:receive()
    if not rows then error(err, 0) end
    state.ready = rows
  end
  -- while a migration or a hook runs (db.guarded), a signal stops it at
  -- its next statement (the one running was cancelled by the handler);
  -- what was in flight is taken first, so the connection is idle for the
  -- rollback
  if self.guarded then
    local sig = pg.interrupted()
    if sig then error(M.interrupted_error(sig, "interrupted by " .. sig), 0) end
  end
end

--- Several statements {sql, params...} in one round trip; their rows.
function DB:pipeline(statements)
  self:settle()
  local r, err, index = self.conn:pipeline(statements)
  if r == nil and type(err) == "table" then err.statement = index end
  return check(self, r, err)
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
    local ok, err = self.conn:copy_from(sql, source, opts)
    if not ok then error(err, 0) end
    self.pending_copy = true
    return true
  end
  return check(self, self.conn:copy_from(sql, source))
end

function DB:quote_ident(s)
  -- a name of printable ASCII needs no connection: this is what libpq's
  -- PQescapeIdentifier makes of it (the encoding matters only beyond ASCII)
  if type(s) == "string" and not s:find("[^\32-\126]") then return '"' .. s:gsub('"', '""') .. '"' end
  self:connected()
  return self.conn:escape_identifier(s)
end

function DB:quote_literal(s)
  self:connected()
  return self.conn:escape_literal(s)
end

function DB:info()
  self:connected()
  return self.conn:info()
end

function DB:in_transaction()
  if self.prefetch or self.pending_copy then pcall(self.settle, self) end
  local t = self.conn:info().transaction
  return t == "intrans" or t == "inerror"
end

--- Run fn(db) in a transaction: COMMIT if it returns, ROLLBACK and re-raise
--- if it raises. Returns what fn returns. Inside a transaction already (in
--- a migration), it is a savepoint instead, and commits nothing.
function DB:transaction(fn)
  -- inside a transaction already (a migration): a savepoint nests in it
  if self:in_transaction() then return self:savepoint(fn) end
  self:exec("BEGIN")
  local res = table.pack(pcall(fn, self))
  if not res[1] then
    if not self.conn:is_closed() then self.conn:exec("ROLLBACK") end
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
  self.savepoints = self.savepoints + 1
  local name = "lumi_sp_" .. self.savepoints
  self:exec("SAVEPOINT " .. name)
  local res = table.pack(pcall(fn, self))
  self.savepoints = self.savepoints - 1
  if not res[1] then
    if not self.conn:is_closed() then self.conn:exec("ROLLBACK TO SAVEPOINT " .. name) end
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

function DB:close()
  self.conn:close()
end

DB.__close = DB.close

return M
