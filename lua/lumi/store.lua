--- The tracking table: which migrations are applied, with their checksums.
--
-- All of lumi's SQL about its own bookkeeping lives here, apart from the
-- sequencing in runner.lua. One row per applied migration:
--
--   version text primary key, name text, file text, checksum text (SHA-256
--   hex of the file's bytes), applied_at timestamptz, execution_ms numeric,
--   applied_by text (the database role that applied it)
local M = {}

local Store = {}
Store.__index = Store

--- A store for the tracking table `qualified` ("name" or "schema.name").
function M.new(db, qualified)
  local schema, name = qualified:match("^([^.]+)%.([^.]+)$")
  if not schema then name = qualified end
  local self = setmetatable({ db = db, schema = schema, name = name, qualified = qualified }, Store)
  self.ident = (schema and db:quote_ident(schema) .. "." or "") .. db:quote_ident(name)
  return self
end

--- Does the tracking table exist?
function Store:exists()
  return self.db:value("SELECT to_regclass($1) IS NOT NULL", self.ident)
end

--- Create the schema and table if they are missing.
function Store:ensure()
  if self:exists() then return false end
  local sql = {}
  if self.schema then sql[#sql + 1] = "CREATE SCHEMA IF NOT EXISTS " .. self.db:quote_ident(self.schema) .. ";" end
  sql[#sql + 1] = "CREATE TABLE IF NOT EXISTS " .. self.ident .. [[ (
  version      text PRIMARY KEY,
  name         text NOT NULL,
  file         text NOT NULL,
  checksum     text NOT NULL,
  applied_at   timestamptz NOT NULL DEFAULT now(),
  execution_ms numeric(12,3) NOT NULL,
  applied_by   text NOT NULL DEFAULT current_user
);]]
  self.db:exec(table.concat(sql, "\n"))
  return true
end

local APPLIED = "SELECT version, name, file, checksum, "
  .. "to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS applied_at, "
  .. "execution_ms::float8 AS execution_ms, applied_by FROM "

-- rows of the tracking table, or {}, false when it does not exist yet
local function applied_result(rows, err)
  if rows then return rows, true end
  -- 42P01 undefined_table, 3F000 invalid_schema_name: not created yet
  if type(err) == "table" and (err.sqlstate == "42P01" or err.sqlstate == "3F000") then return {}, false end
  error(err, 0)
end

--- Applied records (in no particular order), and whether the table
--- exists ({}, false when it does not yet). One round trip.
function Store:applied()
  return applied_result(self.db.conn:query(APPLIED .. self.ident))
end

--- The same, in two steps: the query is sent now and the server works on
--- it while the caller does something else; call the returned function
--- for the records.
function Store:applied_later()
  local conn = self.db.conn
  local ok, err = conn:send(APPLIED .. self.ident)
  if not ok then error(err, 0) end
  return function() return applied_result(conn:receive()) end
end

--- How many rows the table holds (nil when it does not exist).
function Store:count()
  if not self:exists() then return nil end
  return self.db:value("SELECT count(*)::int FROM " .. self.ident)
end

--- The statement {sql, params...} that records an applied migration, for
--- the runner to send inside the migration's transaction.
function Store:record_statement(m, checksum, ms)
  return { "INSERT INTO " .. self.ident
    .. " (version, name, file, checksum, execution_ms) VALUES ($1, $2, $3, $4, $5)",
    m.version, m.name, m.file, checksum, ms }
end

--- Record an applied migration (inside the migration's transaction).
function Store:record(m, checksum, ms)
  self.db:query(table.unpack(self:record_statement(m, checksum, ms)))
end

--- A 60-bit advisory lock key derived from the tracking table's name, so
--- that two projects tracked in different tables never block each other.
function Store:lock_key(hash)
  local hex = hash.sha256("lumi:" .. (self.schema or "public") .. "." .. self.name)
  return math.tointeger(tonumber(hex:sub(1, 15), 16))
end

return M
