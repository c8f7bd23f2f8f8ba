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
--   db:copy_from(sql, source)    COPY ... FROM STDIN fed from Lua
--   db:pipeline(statements)      several {sql, params...} in one round trip
--   db:transaction(fn)           BEGIN; fn(db); COMMIT (ROLLBACK on error)
--   db:savepoint(fn)             the same with a savepoint, inside a transaction
--   db:quote_ident(s), db:quote_literal(s)
--   db.null                      the SQL NULL sentinel in rows and parameters
local pg = require "lumi.pg"
local errors = require "lumi.errors"
local redact = require("lumi.config").redact

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

--- Connect, or raise a `connection` error (with the password redacted).
---@param url string? URL or conninfo; nil uses the PG* environment
function M.connect(url, opts)
  local conn, err = pg.connect(url)
  if not conn then
    errors.raise("connection", "cannot connect to the database: " .. redact(err.message),
      { sqlstate = err.sqlstate })
  end
  return M.wrap(conn, opts)
end

--- Start connecting without waiting (see pg.connect_start); returns the raw
--- connection, or raises a `connection` error. Finish with M.finish_connect.
function M.connect_start(url)
  local conn, err = pg.connect_start(url)
  if not conn then
    errors.raise("connection", "cannot connect to the database: " .. redact(err.message),
      { sqlstate = err.sqlstate })
  end
  return conn
end

--- Wait for a connection begun by M.connect_start; returns a db handle.
function M.finish_connect(conn, opts)
  local ok, err = conn:wait_connected()
  if not ok then
    errors.raise("connection", "cannot connect to the database: " .. redact(err.message),
      { sqlstate = err.sqlstate })
  end
  return M.wrap(conn, opts)
end

--- Wrap an open lumi.pg connection.
function M.wrap(conn, opts)
  opts = opts or {}
  return setmetatable({ conn = conn, on_notice = opts.on_notice, savepoints = 0 }, DB)
end

function DB:exec(sql)
  return check(self, self.conn:exec(sql))
end

function DB:query(sql, ...)
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

function DB:rows(sql, ...)
  return self.conn:rows(sql, ...)
end

--- Several statements {sql, params...} in one round trip; their rows.
function DB:pipeline(statements)
  local r, err, index = self.conn:pipeline(statements)
  if r == nil and type(err) == "table" then err.statement = index end
  return check(self, r, err)
end

function DB:copy_from(sql, source)
  return check(self, self.conn:copy_from(sql, source))
end

function DB:quote_ident(s)
  return self.conn:escape_identifier(s)
end

function DB:quote_literal(s)
  return self.conn:escape_literal(s)
end

function DB:info()
  return self.conn:info()
end

function DB:in_transaction()
  local t = self.conn:info().transaction
  return t == "intrans" or t == "inerror"
end

--- Run fn(db) in a transaction: COMMIT if it returns, ROLLBACK and re-raise
--- if it raises. Returns what fn returns.
function DB:transaction(fn)
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

function DB:close()
  self.conn:close()
end

DB.__close = DB.close

return M
