--- The tracking tables: which migrations are applied (the state table) and
--- everything that ever happened to them (the append-only event log).
--
-- What is read and what is written are policy: five functions, each taking
-- the store and a record and returning the statements to run, a list of
-- {sql, param1, param2, ...}. The built-in ones below work over `columns`;
-- a project whose table means more (a success flag, a rolled_back column)
-- replaces any of them in `tracking`:
--
--   read(store, fields)      -> {sql, params...}: the applied migrations,
--                               one row each, columns named as lumi's fields
--                               (fields: the set a command needs, or nil for
--                               all; a read may give more)
--   applied(store, rec)      -> recorded as applied (up, mark, baseline, repair)
--   unfinished(store, rec)   -> recorded as begun but not finished (a
--                               migration run without a transaction)
--   failed(store, rec)       -> after a failed migration was rolled back
--   reverted(store, rec)     -> reverted (down) or forgotten (unmark)
--
-- rec: {version=, name=, file=, stem=, checksum=, execution_ms=, error=,
-- sqlstate=, event=, recorded=}. `recorded` is true when a row for it
-- exists already (it was unfinished); `event` says what happened
-- ("applied", "marked", "baselined", "repaired", "counted", "reverted",
-- "unmarked", "started", "stopped", "failed"). The statements of applied,
-- unfinished and reverted run inside the transaction of the change they
-- record; those of failed, after its rollback.
--
-- Fields lumi reads: version, name, file, stem, checksum, applied_at,
-- execution_ms, applied_by, state ("applied" or "unfinished"), error.
-- store.table is the state table's quoted, schema-qualified name;
-- store:quote(name) quotes an identifier; store.columns, store.identity
-- and store.where are the settings in force.
local errors = require "lumi.errors"
local conninfo = require "lumi.conninfo"
local hash = require "lumi.hash"
local null = require("lumi.pg").null

local M = {}

local Store = {}
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

-- drift's columns of the default table: the schema's fingerprint after the
-- newest migration, and its canonical lines (drift.keep_snapshots). They
-- are not read with the records; a table of migrate.lua's own shape has
-- them when tracking.columns names them.
M.drift_columns = { fingerprint = "fingerprint", snapshot = "snapshot" }

local function split_name(qualified)
  local schema, name = qualified:match("^([^.]+)%.([^.]+)$")
  if not schema then return nil, qualified end
  return schema, name
end

--- A store on db for the tracking spec (`tracking` of migrate.lua; a
--- string is a table name).
function M.new(db, spec)
  if type(spec) == "string" then spec = { table = spec } end
  local self = setmetatable({ db = db, spec = spec, quoted = {} }, Store)
  self.qualified = spec.table or "schema_migrations"
  self.schema, self.name = split_name(self.qualified)
  self.explicit_schema = self.schema ~= nil
  self.columns = spec.columns or M.default_columns
  self.identity = spec.identity or (self.columns.version and "version" or "file")
  if not self.columns[self.identity] then
    errors.raise("config", string.format("tracking.identity = %q, and the tracking table has no column for %s",
      self.identity, self.identity), { hint = string.format("name one in tracking.columns (%s = \"%s\"), or choose "
      .. "another identity", self.identity, self.identity) })
  end
  self.where = spec.where or {}
  self.where_keys = {}
  for k in pairs(self.where) do self.where_keys[#self.where_keys + 1] = k end
  table.sort(self.where_keys)
  local log = spec.log
  if log == nil then log = self.qualified .. "_log" end
  if log then self.log_schema, self.log_name = split_name(log) end
  -- an unqualified name is read as is (the session's search_path) and
  -- qualified by resolve() before anything is written
  self.table = (self.schema and self:quote(self.schema) .. "." or "") .. self:quote(self.name)
  if self.log_name then self.log_table = (self.log_schema and self:quote(self.log_schema) .. "." or "") .. self:quote(self.log_name) end
  return self
end

function Store:quote(name)
  -- the same few column names, quoted for every statement of a run
  local q = self.quoted[name]
  if not q then q = self.db:quote_ident(name); self.quoted[name] = q end
  return q
end

--- Name the schema of the tracking tables for good (the first of the
--- search_path when the name was unqualified): a migration that changes
--- search_path, as pg_dump output does, must not lose lumi's bookkeeping.
function Store:resolve()
  if self.resolved then return self end
  if not self.schema then self.schema = self.db:value("SELECT coalesce(current_schema(), 'public')") end
  self.table = self:quote(self.schema) .. "." .. self:quote(self.name)
  if self.log_name then self.log_table = self:quote(self.log_schema or self.schema) .. "." .. self:quote(self.log_name) end
  self.resolved = true
  return self
end

--- The schemas the tracking tables live in (resolved): {state table's,
--- log table's when it is elsewhere}.
function Store:schemas()
  self:resolve()
  local out = { self.schema }
  if self.log_schema and self.log_schema ~= self.schema then out[2] = self.log_schema end
  return out
end

--- "schema.table" for messages (resolved when it has been).
function Store:display()
  return self.resolved and (self.schema .. "." .. self.name) or self.qualified
end

-- "col = $k AND ..." over `keys` = {column = value}, params appended
local function conditions(self, pairs_, params)
  local parts = {}
  for _, p in ipairs(pairs_) do
    params[#params + 1] = p[2]
    parts[#parts + 1] = self:quote(p[1]) .. " = $" .. #params
  end
  return table.concat(parts, " AND ")
end

-- this target's rows (the `where` columns), and, with rec, its row
local function row_filter(self, params, rec)
  local list = {}
  for _, k in ipairs(self.where_keys) do list[#list + 1] = { k, self.where[k] } end
  if rec then list[#list + 1] = { self.columns[self.identity], rec[self.identity] } end
  if #list == 0 then return "" end
  return " WHERE " .. conditions(self, list, params)
end

---------------------------------------------------------------- the built-in policy

--- read: every row of this target, columns renamed to lumi's fields
--- (those of `fields` only, when given).
function M.read(self, fields)
  local cols = {}
  for _, field in ipairs(order) do
    local col = self.columns[field]
    if col and (not fields or fields[field]) then
      local q = self:quote(col)
      if field == "applied_at" then
        cols[#cols + 1] = "to_char(" .. q .. " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS applied_at"
      elseif field == "execution_ms" then
        cols[#cols + 1] = q .. "::float8 AS execution_ms"
      else
        cols[#cols + 1] = q .. "::text AS " .. field
      end
    end
  end
  local params = {}
  local sql = "SELECT " .. table.concat(cols, ", ") .. " FROM " .. self.table .. row_filter(self, params)
  return { sql, table.unpack(params) }
end

-- INSERT of rec's fields (those with a column), with `extra` fields
local function insert(self, rec, extra)
  local cols, marks, params = {}, {}, {}
  for _, k in ipairs(self.where_keys) do
    params[#params + 1] = self.where[k]
    cols[#cols + 1] = self:quote(k)
    marks[#marks + 1] = "$" .. #params
  end
  for _, field in ipairs(order) do
    local col = self.columns[field]
    local v = extra[field]
    if v == nil then v = rec[field] end
    -- applied_at and applied_by are the column defaults (now, the user),
    -- unless the record brings its own (adopted from another tool)
    if col and v ~= nil and v ~= null then
      params[#params + 1] = v
      cols[#cols + 1] = self:quote(col)
      -- through numeric, a duration fits an integer column too (rounded)
      marks[#marks + 1] = "$" .. #params .. (field == "execution_ms" and "::numeric"
        or field == "applied_at" and "::timestamptz" or "")
    end
  end
  return table.pack("INSERT INTO " .. self.table .. " (" .. table.concat(cols, ", ") .. ") VALUES ("
    .. table.concat(marks, ", ") .. ")", table.unpack(params, 1, #marks))
end

-- UPDATE of rec's row setting `values` {field = value} (fields without a
-- column left out); nil when none has one
local function update(self, rec, values)
  local sets, params = {}, {}
  for _, field in ipairs(order) do
    local col, v = self.columns[field], values[field]
    if col and v ~= nil then
      params[#params + 1] = v
      sets[#sets + 1] = self:quote(col) .. " = $" .. #params .. (field == "execution_ms" and "::numeric" or "")
    end
  end
  if #sets == 0 then return nil end
  local sql = "UPDATE " .. self.table .. " SET " .. table.concat(sets, ", ") .. row_filter(self, params, rec)
  return table.pack(sql, table.unpack(params))
end

--- applied: a new row, or the unfinished row set to applied.
function M.applied(self, rec)
  if rec.recorded then
    return { update(self, rec, { state = "applied", error = null, checksum = rec.checksum,
                                 execution_ms = rec.execution_ms }) }
  end
  return { insert(self, rec, {}) }
end

--- unfinished: a row marked unfinished (none without a `state` column).
function M.unfinished(self, rec)
  if not self.columns.state then return {} end
  if rec.recorded then return { update(self, rec, { state = "unfinished", error = rec.error or null }) } end
  return { insert(self, rec, { state = "unfinished" }) }
end

--- failed: nothing (the event log keeps the failure).
function M.failed()
  return {}
end

--- reverted: the row is deleted.
function M.reverted(self, rec)
  local params = {}
  local sql = "DELETE FROM " .. self.table .. row_filter(self, params, rec)
  return { table.pack(sql, table.unpack(params)) }
end

---------------------------------------------------------------- the store's verbs

-- the policy function `name`: migrate.lua's, or the built-in one
local function policy(self, name, rec)
  local stmts = (self.spec[name] or M[name])(self, rec)
  if type(stmts) ~= "table" then
    errors.raise("config", string.format("tracking.%s: must return a list of statements {sql, params...}, returned %s",
      name, type(stmts)))
  end
  local out = {}
  for _, s in ipairs(stmts) do
    if s then out[#out + 1] = s end
  end
  return out
end

function Store:applied(rec) return policy(self, "applied", rec) end
function Store:unfinished(rec) return policy(self, "unfinished", rec) end
function Store:failed(rec) return policy(self, "failed", rec) end
function Store:reverted(rec) return policy(self, "reverted", rec) end

--- Does the state table exist?
function Store:exists()
  return self.db:value("SELECT to_regclass($1) IS NOT NULL", self.table)
end

-- NULLs as nil and the state "applied" when there is no state column: a
-- record's fields are plain values
local function plain(rows)
  local columns = rows.columns
  for i = 1, #rows do
    local r = rows[i]
    for j = 1, #columns do
      local k = columns[j]
      if r[k] == null then r[k] = nil end
    end
    if r.state == nil then r.state = "applied" end
  end
  return rows
end

--- The records of this target (in no particular order), and whether the
--- state table exists ({}, false when it does not yet). fields: the set of
--- lumi fields the caller needs (nil: all).
function Store:read(fields)
  local stmt = (self.spec.read or M.read)(self, fields)
  if type(stmt) ~= "table" or type(stmt[1]) ~= "string" then
    errors.raise("config", "tracking.read: must return the statement {sql, params...}")
  end
  local ok, rows = pcall(self.db.query, self.db, table.unpack(stmt, 1, stmt.n or #stmt))
  if ok then return plain(rows), true end
  -- 42P01 undefined_table, 3F000 invalid_schema_name: not created yet
  if type(rows) == "table" and (rows.sqlstate == "42P01" or rows.sqlstate == "3F000") then return {}, false end
  -- 42703 undefined_column, 42804 datatype_mismatch, 42883 undefined_function
  -- (to_char of a column that is no timestamp), 22P02 a bad cast: a table
  -- of another tool, or of another shape than `tracking` says
  if type(rows) == "table" and (rows.sqlstate == "42703" or rows.sqlstate == "42804" or rows.sqlstate == "42883"
      or rows.sqlstate == "22P02") then
    errors.raise("config", string.format("the tracking table %s is not of the shape lumi reads: %s",
      self:display(), rows.message), { sqlstate = rows.sqlstate,
      hint = "it may belong to another tool: map its columns with `tracking.columns` in migrate.lua, "
        .. "or name another table with `tracking.table`" })
  end
  error(rows, 0)
end

--- How many rows this target has (nil when the table does not exist).
function Store:count()
  local records, exists = self:read()
  return exists and #records or nil
end

--- Create the schema, the state table and the log table if they are
--- missing. Returns true when the state table was created.
function Store:ensure()
  self:resolve()
  local created, sql, schemas = false, {}, {}
  -- a schema is created only when missing: CREATE SCHEMA IF NOT EXISTS
  -- would say NOTICE "already exists" on every first run
  local function create_schema(name)
    if schemas[name] then return end
    schemas[name] = true
    if not self.db:value("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", name) then
      sql[#sql + 1] = "CREATE SCHEMA IF NOT EXISTS " .. self:quote(name) .. ";"
    end
  end
  if not self:exists() then
    if self.explicit_schema then create_schema(self.schema) end
    if type(self.spec.create) == "string" then
      sql[#sql + 1] = self.spec.create:gsub("%s*;?%s*$", ";")
    elseif self.spec.create ~= false then
      local cols, key = {}, {}
      for _, k in ipairs(self.where_keys) do
        cols[#cols + 1] = "  " .. self:quote(k) .. " text NOT NULL"
        key[#key + 1] = self:quote(k)
      end
      for _, field in ipairs(order) do
        local col = self.columns[field]
        if col then cols[#cols + 1] = "  " .. self:quote(col) .. " " .. types[field] end
      end
      local drift = self:drift_columns()
      if drift and not self.spec.columns then
        for _, field in ipairs({ "fingerprint", "snapshot" }) do
          cols[#cols + 1] = "  " .. self:quote(drift[field]) .. " text"
        end
      end
      local idcol = self.columns[self.identity]
      if idcol then key[#key + 1] = self:quote(idcol) end
      if #key > 0 then cols[#cols + 1] = "  PRIMARY KEY (" .. table.concat(key, ", ") .. ")" end
      sql[#sql + 1] = "CREATE TABLE IF NOT EXISTS " .. self.table .. " (\n" .. table.concat(cols, ",\n") .. "\n);"
    end
    created = true
  elseif not self.spec.columns and not self.spec.create then
    -- a default table from before drift: its two columns added, once
    local missing = self.db:value("SELECT count(*) FROM unnest(ARRAY['fingerprint', 'snapshot']) c WHERE NOT EXISTS "
      .. "(SELECT 1 FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attname = c AND NOT a.attisdropped)",
      self.table)
    if missing > 0 then
      sql[#sql + 1] = "ALTER TABLE " .. self.table .. " ADD COLUMN IF NOT EXISTS fingerprint text, "
        .. "ADD COLUMN IF NOT EXISTS snapshot text;"
    end
  end
  if self.log_table and self.db:value("SELECT to_regclass($1) IS NOT NULL", self.log_table) then
    -- the log lumi writes to must have its columns: found before anything
    -- is created or run, not when the first migration is recorded
    local ok, err = pcall(self.db.exec, self.db, "SELECT target, event, version, file, checksum, execution_ms, "
      .. "os_user, sqlstate, error FROM " .. self.log_table .. " LIMIT 0")
    if not ok then
      if type(err) == "table" and (err.sqlstate == "42703" or err.sqlstate == "42804") then
        errors.raise("config", string.format("the log table %s is not of the shape lumi writes: %s",
          self.spec.log or (self.qualified .. "_log"), err.message or errors.text(err)), {
          hint = "rename that table, or name another one with tracking.log (false: no log)" })
      end
      error(err, 0)
    end
  elseif self.log_table then
    if self.log_schema then create_schema(self.log_schema) end
    sql[#sql + 1] = "CREATE TABLE IF NOT EXISTS " .. self.log_table .. [[ (
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
      local code = type(err) == "table" and err.sqlstate or ""
      -- the server going away is not migrate.lua's fault
      if code:match("^08") or code:match("^57P") then error(err, 0) end
      errors.raise("migration", string.format("cannot create the tracking tables (%s%s): %s", self.qualified,
        self.log_table and (", " .. (self.spec.log or self.qualified .. "_log")) or "", errors.text(err)),
        { cause = err, sqlstate = type(err) == "table" and err.sqlstate or nil,
          hint = "check `tracking` in migrate.lua (create = the SQL of the state table)" })
    end
  end
  return created
end

--- The statement that appends an event to the log, or nil without a log.
--- ev: {event=, target=, version=, file=, checksum=, execution_ms=, sqlstate=, error=}
function Store:log(ev)
  if not self.log_table then return nil end
  return table.pack("INSERT INTO " .. self.log_table
    .. " (target, event, version, file, checksum, execution_ms, os_user, sqlstate, error)"
    .. " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    ev.target, ev.event, ev.version, ev.file, ev.checksum, ev.execution_ms,
    os.getenv("USER") or os.getenv("LOGNAME"), ev.sqlstate, ev.error and conninfo.scrub(ev.error))
end

--- The log, newest first (for `lumi log`), or {} when there is none yet.
function Store:history(limit)
  if not self.log_table then return {} end
  local ok, rows = pcall(self.db.query, self.db, "SELECT id, target, event, version, file, checksum, "
    .. "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS at, execution_ms::float8 AS execution_ms, "
    .. "db_user, os_user, sqlstate, error FROM " .. self.log_table .. " ORDER BY id DESC LIMIT $1", limit or 50)
  if not ok then
    if type(rows) == "table" and (rows.sqlstate == "42P01" or rows.sqlstate == "3F000") then return {} end
    error(rows, 0)
  end
  for _, r in ipairs(rows) do
    for k, v in pairs(r) do if v == null then r[k] = nil end end
  end
  return rows
end

--- The key of the migration lock: 60 bits of a SHA-256 of the tracking
--- table's name, so that two projects tracked in different tables never
--- block each other.
function Store:lock_key()
  self:resolve()
  local hex = hash.sha256("lumi:" .. self.schema .. "." .. self.name)
  return math.tointeger(tonumber(hex:sub(1, 15), 16))
end

--- Where the lock's lease is kept when a pooler rules out the advisory
--- lock (lumi.lock): the table `<state table>_lock` beside the state
--- table, and its schema, both quoted.
--- drift's columns {fingerprint=, snapshot=} of this table, or nil when it
--- has none (a table of migrate.lua's own shape that does not name them).
function Store:drift_columns()
  if self.spec.columns then
    local c = self.spec.columns
    return c.fingerprint and { fingerprint = c.fingerprint, snapshot = c.snapshot } or nil
  end
  if self.spec.create then return nil end
  return M.drift_columns
end

--- The statement that records the schema's fingerprint (and its lines,
--- when given) on rec's row; nil without drift columns.
function Store:fingerprint_statement(rec, sum, lines)
  local cols = self:drift_columns()
  if not cols then return nil end
  local params = { sum }
  local sets = { self:quote(cols.fingerprint) .. " = $1" }
  if cols.snapshot then
    params[2] = lines or null
    sets[2] = self:quote(cols.snapshot) .. " = $2"
  end
  local sql = "UPDATE " .. self.table .. " SET " .. table.concat(sets, ", ") .. row_filter(self, params, rec)
  return table.pack(sql, table.unpack(params))
end

--- The fingerprint (and lines, if kept) recorded on rec's row: hash,
--- lines; nil when none was.
function Store:recorded_fingerprint(rec)
  local cols = self:drift_columns()
  if not cols then return nil end
  local params = {}
  local sql = "SELECT " .. self:quote(cols.fingerprint) .. " AS hash, "
    .. (cols.snapshot and self:quote(cols.snapshot) or "NULL::text") .. " AS lines FROM " .. self.table
    .. row_filter(self, params, rec)
  local ok, r = pcall(self.db.one, self.db, sql, table.unpack(params))
  if not ok or not r or r.hash == null then return nil end
  return r.hash, r.lines ~= null and r.lines or nil
end

--- The tables that are lumi's own (tracking, log, lock), as names the
--- search_path in force resolves: what a schema fingerprint leaves out.
function Store:own_tables()
  local prefix = self.schema and (self:quote(self.schema) .. ".") or ""
  local out = { self.table, prefix .. self:quote(self.name .. "_lock") }
  if self.log_table then out[#out + 1] = self.log_table end
  return out
end

function Store:lease_table()
  self:resolve()
  return self:quote(self.schema) .. "." .. self:quote(self.name .. "_lock"), self:quote(self.schema)
end

return M
