--- The tracking tables: which migrations are applied (the state table) and
--- everything that ever happened to them (the append-only log).
--
-- All of lumi's SQL about its own bookkeeping lives here; the runner only
-- sequences. The state table's name and columns come from the `tracking`
-- setting, so a project keeps the table its old runner created:
--
--   tracking = {
--     table = "migrations",                       -- "name" or "schema.name"
--     columns = { stem = "id", file = "filename", -- lumi's field -> column
--                 checksum = "checksum", applied_at = "executed_at",
--                 execution_ms = "execution_time_ms" },
--     identity = "file",                          -- what matches a file to a row
--     where = { database_type = "postgres" },     -- this target's rows in a shared table
--     log = "migrations_log",                     -- or false
--   }
--
-- Fields lumi knows: version, name, file, stem, checksum, applied_at,
-- execution_ms, applied_by, state ("applied" or "unfinished"), error.
local null = require("lumi.pg").null

local M = {}

local Store = {}

-- SQL NULL as Lua nil in tracking rows: a record's fields are plain values
local function denull(rows)
  for _, r in ipairs(rows) do
    for k, v in pairs(r) do if v == null then r[k] = nil end end
  end
  return rows
end
Store.__index = Store

--- The default state table: one row per applied migration.
M.default_columns = {
  version = "version", name = "name", file = "file", checksum = "checksum",
  applied_at = "applied_at", execution_ms = "execution_ms", applied_by = "applied_by",
  state = "state", error = "error",
}

local types = {
  version = "text", name = "text", file = "text", stem = "text", checksum = "text",
  applied_at = "timestamptz NOT NULL DEFAULT now()", execution_ms = "numeric(12,3)",
  applied_by = "text NOT NULL DEFAULT current_user", state = "text NOT NULL DEFAULT 'applied'",
  error = "text",
}
local order = { "version", "stem", "name", "file", "checksum", "applied_at", "execution_ms", "applied_by",
                "state", "error" }

local function split_name(qualified)
  local schema, name = qualified:match("^([^.]+)%.([^.]+)$")
  if not schema then return nil, qualified end
  return schema, name
end

--- A store on db for the tracking spec (see above; a string is a table name).
function M.new(db, spec)
  if type(spec) == "string" then spec = { table = spec } end
  local self = setmetatable({ db = db, spec = spec }, Store)
  self.qualified = spec.table or "schema_migrations"
  self.schema, self.name = split_name(self.qualified)
  self.explicit_schema = self.schema ~= nil
  local q = function(s) return db:quote_ident(s) end
  -- an unqualified name is read as is (the session's search_path) and
  -- qualified by resolve() before anything is written
  self.ident = (self.schema and q(self.schema) .. "." or "") .. q(self.name)
  self.columns = spec.columns or M.default_columns
  self.identity = spec.identity or (self.columns.version and "version" or "file")
  self.where = spec.where or {}
  self.where_keys = {}
  for k in pairs(self.where) do self.where_keys[#self.where_keys + 1] = k end
  table.sort(self.where_keys)
  local log = spec.log
  if log == nil then log = self.qualified .. "_log" end
  if log then
    local ls, ln = split_name(log)
    self.log_name = ln
    self.log_schema = ls              -- created when named; else the state table's schema
    self.log_ident = (ls and q(ls) .. "." or "") .. q(ln)
  end
  if self.schema then self:resolve() end
  return self
end

--- Name the schema of the tracking tables for good (the first of the
--- search_path when the name was unqualified): a migration that changes
--- search_path, as pg_dump output does, must not lose lumi's bookkeeping.
--- Called before anything is written.
function Store:resolve()
  if self.resolved then return self end
  local q = function(s) return self.db:quote_ident(s) end
  if not self.schema then self.schema = self.db:value("SELECT coalesce(current_schema(), 'public')") end
  self.ident = q(self.schema) .. "." .. q(self.name)
  if self.log_name then self.log_ident = q(self.log_schema or self.schema) .. "." .. q(self.log_name) end
  self.resolved = true
  return self
end

-- "WHERE col = $k AND ..." for this target's rows, params appended to `params`
function Store:where_sql(params)
  if #self.where_keys == 0 then return "" end
  local parts = {}
  for _, k in ipairs(self.where_keys) do
    params[#params + 1] = self.where[k]
    parts[#parts + 1] = self.db:quote_ident(k) .. " = $" .. #params
  end
  return " WHERE " .. table.concat(parts, " AND ")
end

--- Does the state table exist?
function Store:exists()
  return self.db:value("SELECT to_regclass($1) IS NOT NULL", self.ident)
end

--- Create the schema, the state table and the log table if they are
--- missing. Returns true when the state table was created.
function Store:ensure()
  self:resolve()
  local created = false
  local sql = {}
  local q = function(s) return self.db:quote_ident(s) end
  -- a schema is created only when missing: CREATE SCHEMA IF NOT EXISTS
  -- would say NOTICE "already exists" on every first run
  local schemas = {}
  local function create_schema(name)
    if schemas[name] then return end
    schemas[name] = true
    if not self.db:value("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", name) then
      sql[#sql + 1] = "CREATE SCHEMA IF NOT EXISTS " .. q(name) .. ";"
    end
  end
  if not self:exists() then
    if self.explicit_schema then create_schema(self.schema) end
    if type(self.spec.create) == "string" then
      sql[#sql + 1] = self.spec.create:gsub("%s*;?%s*$", ";")
    elseif self.spec.create ~= false then
      local cols = {}
      for _, k in ipairs(self.where_keys) do cols[#cols + 1] = "  " .. q(k) .. " text NOT NULL" end
      for _, field in ipairs(order) do
        local col = self.columns[field]
        if col then cols[#cols + 1] = "  " .. q(col) .. " " .. types[field] end
      end
      local key = { }
      for _, k in ipairs(self.where_keys) do key[#key + 1] = q(k) end
      local idcol = self.columns[self.identity]
      if idcol then key[#key + 1] = q(idcol) end
      if #key > 0 then cols[#cols + 1] = "  PRIMARY KEY (" .. table.concat(key, ", ") .. ")" end
      sql[#sql + 1] = "CREATE TABLE IF NOT EXISTS " .. self.ident .. " (\n" .. table.concat(cols, ",\n") .. "\n);"
    end
    created = true
  end
  if self.log_ident and not self.db:value("SELECT to_regclass($1) IS NOT NULL", self.log_ident) then
    if self.log_schema then create_schema(self.log_schema) end
    sql[#sql + 1] = "CREATE TABLE IF NOT EXISTS " .. self.log_ident .. [[ (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  target       text,
  event        text NOT NULL,
  version      text,
  file         text,
  checksum     text,
  at           timestamptz NOT NULL DEFAULT now(),
  execution_ms numeric(12,3),
  db_user      text NOT NULL DEFAULT current_user,
  os_user      text,
  sqlstate     text,
  error        text
);]]
  end
  if #sql > 0 then
    local ok, err = pcall(self.db.exec, self.db, table.concat(sql, "\n"))
    if not ok then
      require("lumi.errors").raise("migration", string.format("cannot create the tracking tables (%s%s): %s",
        self.qualified, self.log_ident and (", " .. (self.spec.log or self.qualified .. "_log")) or "", tostring(err)),
        { cause = err, sqlstate = type(err) == "table" and err.sqlstate or nil,
          hint = "check `tracking` in migrate.lua (create = the SQL of the state table)" })
    end
  end
  return created
end

--- The SELECT of this target's records; `fields` (a set of lumi fields)
--- narrows it to what the caller needs.
function Store:select_sql(params, fields)
  local cols = {}
  local q = function(s) return self.db:quote_ident(s) end
  for _, field in ipairs(order) do
    local col = self.columns[field]
    if col and (not fields or fields[field]) then
      if field == "applied_at" then
        cols[#cols + 1] = "to_char(" .. q(col) .. " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS applied_at"
      elseif field == "execution_ms" then
        cols[#cols + 1] = q(col) .. "::float8 AS execution_ms"
      else
        cols[#cols + 1] = q(col) .. "::text AS " .. field
      end
    end
  end
  return "SELECT " .. table.concat(cols, ", ") .. " FROM " .. self.ident .. self:where_sql(params)
end

-- NULLs as nil: a record's fields are plain values
local skip_nulls = { skip_nulls = true }

-- rows of the tracking table, or {}, false when it does not exist yet
local function applied_result(rows, err)
  if rows then
    for i = 1, #rows do
      local r = rows[i]
      if r.state == nil then r.state = "applied" end
    end
    return rows, true
  end
  -- 42P01 undefined_table, 3F000 invalid_schema_name: not created yet
  if type(err) == "table" and (err.sqlstate == "42P01" or err.sqlstate == "3F000") then return {}, false end
  error(err, 0)
end

--- Records of this target (in no particular order), and whether the table
--- exists ({}, false when it does not yet). One round trip.
function Store:applied()
  self.db:settle()
  return self:applied_later()()
end

--- The same in two steps: the query is sent now and the server works on it
--- while the caller does something else; call the returned function for
--- the records.
function Store:applied_later(fields)
  local conn = self.db.conn
  local params = {}
  local ok, err = conn:send(self:select_sql(params, fields), table.unpack(params))
  if not ok then
    self.db:connected(err)        -- a failure to connect is said as one
    error(err, 0)
  end
  return function()
    self.db:connected()
    return applied_result(conn:receive(skip_nulls))
  end
end

--- How many rows this target has (nil when the table does not exist).
function Store:count()
  if not self:exists() then return nil end
  local params = {}
  return self.db:value("SELECT count(*)::int FROM " .. self.ident .. self:where_sql(params), table.unpack(params))
end

--- The value of lumi field `field` for migration m in a new row.
local function field_value(m, field, extra)
  if extra[field] ~= nil then return extra[field] end
  return m[field]
end

--- The statement {sql, params...} that records migration m as applied (or
--- with extra.state = "unfinished"), for the runner to send inside the
--- migration's transaction.
function Store:record_statement(m, checksum, ms, extra)
  extra = extra or {}
  extra.checksum, extra.execution_ms = checksum, ms
  local cols, marks, params = {}, {}, {}
  local q = function(s) return self.db:quote_ident(s) end
  for _, k in ipairs(self.where_keys) do
    params[#params + 1] = self.where[k]
    cols[#cols + 1] = q(k)
    marks[#marks + 1] = "$" .. #params
  end
  for _, field in ipairs(order) do
    local col = self.columns[field]
    local v = field_value(m, field, extra)
    if col and v ~= nil and field ~= "applied_at" and field ~= "applied_by" then
      params[#params + 1] = v
      cols[#cols + 1] = q(col)
      -- through numeric, a duration fits an integer column too (rounded)
      marks[#marks + 1] = "$" .. #params .. (field == "execution_ms" and "::numeric" or "")
    end
  end
  return table.pack("INSERT INTO " .. self.ident .. " (" .. table.concat(cols, ", ") .. ") VALUES ("
    .. table.concat(marks, ", ") .. ")", table.unpack(params, 1, #marks))
end

--- Record migration m as applied (outside the runner: tests, tools).
function Store:record(m, checksum, ms)
  local stmt = self:record_statement(m, checksum, ms)
  self.db:query(table.unpack(stmt, 1, stmt.n))
end

--- The statement that deletes migration m's row (by the identity column).
function Store:remove_statement(m)
  local params = {}
  local idcol = self.columns[self.identity]
  local sql = "DELETE FROM " .. self.ident .. self:where_sql(params)
  params[#params + 1] = m[self.identity]
  sql = sql .. (#self.where_keys > 0 and " AND " or " WHERE ") .. self.db:quote_ident(idcol) .. " = $" .. #params
  return table.pack(sql, table.unpack(params))
end

--- The statement that sets fields {field = value} of migration m's row.
function Store:update_statement(m, values)
  local params, sets, n = {}, {}, 0
  local fields = {}
  for field in pairs(values) do fields[#fields + 1] = field end
  table.sort(fields)
  for _, field in ipairs(fields) do
    local col = self.columns[field]
    if col then
      n = n + 1
      params[n] = values[field]
      sets[#sets + 1] = self.db:quote_ident(col) .. " = $" .. n .. (field == "execution_ms" and "::numeric" or "")
    end
  end
  if #sets == 0 then return nil end
  local wparams = {}
  local where = self:where_sql(wparams)
  for i, v in ipairs(wparams) do params[n + i] = v end
  n = n + #wparams
  where = where:gsub("%$(%d+)", function(d) return "$" .. (tonumber(d) + n - #wparams) end)
  n = n + 1
  params[n] = m[self.identity]
  where = where .. (#self.where_keys > 0 and " AND " or " WHERE ")
    .. self.db:quote_ident(self.columns[self.identity]) .. " = $" .. n
  return table.pack("UPDATE " .. self.ident .. " SET " .. table.concat(sets, ", ") .. where, table.unpack(params, 1, n))
end

--- The statement that appends an event to the log, or nil without a log.
--- ev: {event=, target=, version=, file=, checksum=, execution_ms=, sqlstate=, error=}
function Store:log_statement(ev)
  if not self.log_ident then return nil end
  return table.pack("INSERT INTO " .. self.log_ident
    .. " (target, event, version, file, checksum, execution_ms, os_user, sqlstate, error)"
    .. " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    ev.target, ev.event, ev.version, ev.file, ev.checksum, ev.execution_ms,
    os.getenv("USER") or os.getenv("LOGNAME"), ev.sqlstate, ev.error)
end

--- The log, oldest first (for `lumi log` and tests).
function Store:history(limit)
  if not self.log_ident then return {} end
  return denull(self.db:query("SELECT id, target, event, version, file, checksum, "
    .. "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS at, execution_ms::float8 AS execution_ms, "
    .. "db_user, os_user, sqlstate, error FROM " .. self.log_ident .. " ORDER BY id DESC LIMIT $1", limit or 50))
end

--- A 60-bit advisory lock key derived from the tracking table's name, so
--- that two projects tracked in different tables never block each other.
function Store:lock_key(hash)
  self:resolve()
  local hex = hash.sha256("lumi:" .. self.schema .. "." .. self.name)
  return math.tointeger(tonumber(hex:sub(1, 15), 16))
end

return M
