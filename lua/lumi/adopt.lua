--- Other tools' history tables, read to adopt their applied state (`lumi
--- adopt`). Each source is a table:
--
--   name      the tool
--   table     its history table (schema-qualified or not)
--   columns   the columns that tell it apart from another tool's table of
--             the same name (all must be there)
--   read(db)  -> {rows = {{version=|file=, applied_at=, applied_by=}...},
--                 dirty = message?, warning = message?}
--
-- A row names its migration by `version` (matched through the naming
-- scheme's key), by `file` or by `stem` (the name without what the layout
-- adds); `sha256` is the checksum the tool recorded of the file, when it
-- is one lumi can verify. Nothing here writes to the source.
local M = {}

-- the columns of a table, {name = type}, or nil when there is no such table
function M.columns(db, tbl)
  local rows = db:query("SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type "
    .. "FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped", tbl)
  if #rows == 0 then return nil end
  local out = {}
  for _, r in ipairs(rows) do out[r.name] = r.type end
  return out
end

local TS = "to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

-- The rows of `sql` (its columns `key` and, if it has one, `applied_at`),
-- each as {[field] = key, applied_at = ...}: the read of a plain history.
local function listed(db, sql, field)
  local out = {}
  for i, r in ipairs(db:query(sql)) do out[i] = { [field] = r.key, applied_at = r.applied_at } end
  return { rows = out }
end

M.sources = {
  {
    name = "golang-migrate", table = "schema_migrations", columns = { "version", "dirty" },
    read = function(db)
      local r = db:one("SELECT version::text AS version, dirty FROM schema_migrations LIMIT 1")
      if not r then return { rows = {}, head = nil } end
      return {
        head = r.version,
        dirty = r.dirty == true and string.format("schema_migrations says version %s is dirty: it failed midway "
          .. "(fix it by hand and `migrate force`, then adopt)", r.version) or nil,
        warning = "golang-migrate keeps only its newest version: every file up to it is taken as applied, "
          .. "though a file merged later with an older version may never have run",
      }
    end,
  },
  {
    -- Rails' schema_migrations has dbmate's one column: ar_internal_metadata,
    -- which Rails creates beside it, tells them apart
    name = "rails", table = "schema_migrations", columns = { "version" }, exact = true,
    beside = "ar_internal_metadata",
    read = function(db) return listed(db, "SELECT version AS key FROM schema_migrations ORDER BY version", "version") end,
  },
  {
    name = "dbmate", table = "schema_migrations", columns = { "version" }, exact = true, not_beside = "ar_internal_metadata",
    read = function(db) return listed(db, "SELECT version AS key FROM schema_migrations ORDER BY version", "version") end,
  },
  {
    name = "goose", table = "goose_db_version", columns = { "version_id", "is_applied", "tstamp" },
    read = function(db)
      -- the newest row of each version decides
      local rows = db:query("SELECT DISTINCT ON (version_id) version_id::text AS version, is_applied, "
        .. string.format(TS, "tstamp") .. " AS applied_at FROM goose_db_version WHERE version_id > 0 "
        .. "ORDER BY version_id, id DESC")
      local out = {}
      for _, r in ipairs(rows) do
        if r.is_applied == true then out[#out + 1] = { version = r.version, applied_at = r.applied_at } end
      end
      return { rows = out }
    end,
  },
  {
    name = "sql-migrate", table = "gorp_migrations", columns = { "id", "applied_at" },
    read = function(db)
      return listed(db, "SELECT id AS key, " .. string.format(TS, "applied_at") .. " AS applied_at "
        .. "FROM gorp_migrations ORDER BY id", "file")
    end,
  },
  {
    name = "diesel", table = "__diesel_schema_migrations", columns = { "version", "run_on" },
    read = function(db)
      return listed(db, "SELECT version AS key, " .. string.format(TS, "run_on") .. " AS applied_at "
        .. "FROM __diesel_schema_migrations ORDER BY version", "version")
    end,
  },
  {
    name = "sqlx", table = "_sqlx_migrations", columns = { "version", "description", "success", "checksum" },
    read = function(db)
      local rows = db:query("SELECT version::text AS version, success, " .. string.format(TS, "installed_on")
        .. " AS applied_at FROM _sqlx_migrations ORDER BY version")
      local out, failed = {}, {}
      for _, r in ipairs(rows) do
        if r.success == true then out[#out + 1] = { version = r.version, applied_at = r.applied_at }
        else failed[#failed + 1] = r.version end
      end
      return { rows = out, dirty = #failed > 0 and ("_sqlx_migrations has failed migrations: "
        .. table.concat(failed, ", ") .. " (fix them by hand, then adopt)") or nil }
    end,
  },
  {
    name = "prisma", table = "_prisma_migrations", columns = { "migration_name", "checksum", "finished_at", "rolled_back_at" },
    read = function(db)
      local rows = db:query("SELECT migration_name, checksum, finished_at IS NOT NULL AS finished, "
        .. "rolled_back_at IS NOT NULL AS rolled_back, " .. string.format(TS, "finished_at") .. " AS applied_at "
        .. "FROM _prisma_migrations ORDER BY migration_name, started_at")
      local out, unfinished = {}, {}
      for _, r in ipairs(rows) do
        if r.rolled_back ~= true then
          if r.finished == true then out[#out + 1] = { stem = r.migration_name, applied_at = r.applied_at, sha256 = r.checksum }
          else unfinished[#unfinished + 1] = r.migration_name end
        end
      end
      return { rows = out, dirty = #unfinished > 0 and ("_prisma_migrations has unfinished migrations: "
        .. table.concat(unfinished, ", ") .. " (resolve them with prisma migrate resolve, then adopt)") or nil }
    end,
  },
  {
    name = "node-pg-migrate", table = "pgmigrations", columns = { "id", "name", "run_on" },
    read = function(db)
      return listed(db, "SELECT name AS key, " .. string.format(TS, "run_on") .. " AS applied_at FROM pgmigrations "
        .. "ORDER BY id", "stem")
    end,
  },
  {
    name = "knex", table = "knex_migrations", columns = { "id", "name", "batch", "migration_time" },
    read = function(db)
      local locked = db:value("SELECT to_regclass('knex_migrations_lock') IS NOT NULL")
        and db:value("SELECT bool_or(is_locked = 1) FROM knex_migrations_lock")
      local rows = db:query("SELECT name, " .. string.format(TS, "migration_time") .. " AS applied_at "
        .. "FROM knex_migrations ORDER BY id")
      local out = {}
      for i, r in ipairs(rows) do out[i] = { stem = (r.name:gsub("%.[^.]+$", "")), applied_at = r.applied_at } end
      return { rows = out, dirty = locked == true and "knex_migrations_lock is locked: a knex run is under way "
        .. "or died (unlock it with knex migrate:unlock, then adopt)" or nil }
    end,
  },
  {
    name = "flyway", table = "flyway_schema_history",
    columns = { "installed_rank", "version", "script", "success", "installed_by", "installed_on" },
    read = function(db)
      local failed = db:query("SELECT version, script FROM flyway_schema_history WHERE NOT success ORDER BY installed_rank")
      local rows = db:query("SELECT DISTINCT ON (version) version, script AS file, installed_by AS applied_by, "
        .. string.format(TS, "installed_on") .. " AS applied_at FROM flyway_schema_history "
        .. "WHERE success AND version IS NOT NULL AND type <> 'BASELINE' ORDER BY version, installed_rank DESC")
      local out = {}
      for i, r in ipairs(rows) do out[i] = { version = r.version, applied_at = r.applied_at, applied_by = r.applied_by } end
      local dirty
      if #failed > 0 then
        local names = {}
        for i, f in ipairs(failed) do names[i] = f.script end
        dirty = "flyway_schema_history has failed migrations: " .. table.concat(names, ", ")
          .. " (repair them with flyway repair, then adopt)"
      end
      return { rows = out, dirty = dirty }
    end,
  },
}

--- The source named `name`, or nil.
function M.source(name)
  for _, s in ipairs(M.sources) do if s.name == name then return s end end
  return nil
end

--- Does `db` hold source s's table, with its columns (and only those, for
--- an exact one)?
function M.present(db, s)
  local cols = M.columns(db, s.table)
  if not cols then return false end
  for _, c in ipairs(s.columns) do if not cols[c] then return false end end
  if s.exact then
    local n = 0
    for _ in pairs(cols) do n = n + 1 end
    if n ~= #s.columns then return false end
  end
  local function exists(t) return db:value("SELECT to_regclass($1) IS NOT NULL", t) == true end
  if s.beside and not exists(s.beside) then return false end
  if s.not_beside and exists(s.not_beside) then return false end
  return true
end

--- The sources whose tables `db` holds.
function M.found(db)
  local out = {}
  for _, s in ipairs(M.sources) do if M.present(db, s) then out[#out + 1] = s end end
  return out
end

return M
