--- Other tools' history tables, read to adopt their applied state (`lumi
--- adopt`). Each source is a table:
--
--   name      the tool
--   table     its history table (schema-qualified or not)
--   columns   the columns that tell it apart from another tool's table of
--             the same name (all must be there)
--   read(db, where) -> {rows = {{version=|file=|stem=|revision=, applied_at=,
--                 applied_by=, sum=}...}, dirty = message?, warning = message?,
--                 head = version? (everything up to it), baseline = version?}
--             where = {root =, dir =}: the project's root and migrations
--             directory, for a tool whose history needs its files
--   checksum(text) -> what the tool records of a file, to compare with a
--             row's `sum` (a file edited since the tool applied it)
--
-- A row names its migration by `version` (matched through the naming
-- scheme's key), by `file`, by `stem` (the name without what the layout
-- adds) or by `revision` (an Alembic revision: the first word of the
-- migration's name). A `repeatable` row (Flyway's R__) whose sum differs
-- is not adopted: the file changed since it last ran, so it runs again.
-- Nothing here writes to the source.
local fs = require "lumi.fs"
local hash = require "lumi.hash"

local M = {}

-- CRC-32 (IEEE), the table built on first use
local crc_table
local function crc32(s)
  if not crc_table then
    crc_table = {}
    for i = 0, 255 do
      local c = i
      for _ = 1, 8 do c = (c & 1 == 1) and (0xEDB88320 ~ (c >> 1)) or (c >> 1) end
      crc_table[i] = c
    end
  end
  local c = 0xFFFFFFFF
  for i = 1, #s do c = crc_table[(c ~ s:byte(i)) & 0xFF] ~ (c >> 8) end
  return c ~ 0xFFFFFFFF
end

--- Flyway's checksum of a script: the CRC-32 of its lines without their
--- line breaks (and without a byte-order mark), as a signed 32-bit number.
function M.flyway_checksum(text)
  local c = crc32((text:gsub("^\239\187\191", ""):gsub("[\r\n]", "")))
  if c >= 0x80000000 then c = c - 0x100000000 end
  return tostring(math.tointeger(c))
end

-- the columns of a table, {name = type}, or nil when there is no such table
function M.columns(db, tbl)
  local rows = db:query("SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type "
    .. "FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped", tbl)
  if #rows == 0 then return nil end
  local out = {}
  for _, r in ipairs(rows) do out[r.name] = r.type end
  return out
end

local null = require("lumi.db").null
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
        rows = {},
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
    -- sqlx: SHA-384 of the file (the up part)
    checksum = function(text) return hash.digest("sha384", text) end,
    read = function(db)
      local rows = db:query("SELECT version::text AS version, success, encode(checksum, 'hex') AS sum, "
        .. string.format(TS, "installed_on") .. " AS applied_at FROM _sqlx_migrations ORDER BY version")
      local out, failed = {}, {}
      for _, r in ipairs(rows) do
        if r.success == true then out[#out + 1] = { version = r.version, applied_at = r.applied_at, sum = r.sum }
        else failed[#failed + 1] = r.version end
      end
      return { rows = out, dirty = #failed > 0 and ("_sqlx_migrations has failed migrations: "
        .. table.concat(failed, ", ") .. " (fix them by hand, then adopt)") or nil }
    end,
  },
  {
    name = "prisma", table = "_prisma_migrations", columns = { "migration_name", "checksum", "finished_at", "rolled_back_at" },
    checksum = hash.sha256,
    read = function(db)
      local rows = db:query("SELECT migration_name, checksum, finished_at IS NOT NULL AS finished, "
        .. "rolled_back_at IS NOT NULL AS rolled_back, " .. string.format(TS, "finished_at") .. " AS applied_at "
        .. "FROM _prisma_migrations ORDER BY migration_name, started_at")
      local out, unfinished = {}, {}
      for _, r in ipairs(rows) do
        if r.rolled_back ~= true then
          if r.finished == true then out[#out + 1] = { stem = r.migration_name, applied_at = r.applied_at, sum = r.checksum }
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
    columns = { "installed_rank", "version", "script", "success", "installed_by", "installed_on", "checksum" },
    checksum = M.flyway_checksum,
    read = function(db)
      local failed = db:query("SELECT script FROM flyway_schema_history WHERE NOT success ORDER BY installed_rank")
      if #failed > 0 then
        local names = {}
        for i, f in ipairs(failed) do names[i] = f.script end
        return { rows = {}, dirty = "flyway_schema_history has failed migrations: " .. table.concat(names, ", ")
          .. " (repair them with flyway repair, then adopt)" }
      end
      -- the newest row of each version (an undo after an apply: not
      -- applied), and of each repeatable script; a baseline counts every
      -- version up to its own as applied
      local rows = db:query("SELECT DISTINCT ON (coalesce(version, script)) version, script, type, "
        .. "checksum::text AS sum, installed_by AS applied_by, " .. string.format(TS, "installed_on") .. " AS applied_at "
        .. "FROM flyway_schema_history WHERE type NOT IN ('SCHEMA', 'DELETE') "
        .. "ORDER BY coalesce(version, script), installed_rank DESC")
      local out, baseline = {}, nil
      for _, r in ipairs(rows) do
        if r.type == "BASELINE" then
          baseline = r.version
        elseif not r.type:match("^UNDO") then
          out[#out + 1] = { version = r.version ~= null and r.version or nil, file = r.version == null and r.script or nil,
            repeatable = r.version == null or nil, sum = r.sum ~= null and r.sum or nil, applied_at = r.applied_at,
            applied_by = r.applied_by }
        end
      end
      return { rows = out, baseline = baseline }
    end,
  },
  {
    name = "sqitch", table = "sqitch.changes",
    columns = { "change_id", "script_hash", "change", "project", "committed_at", "committer_name" },
    -- Sqitch: SHA-1 of the deploy script
    checksum = function(text) return hash.digest("sha1", text) end,
    read = function(db, where)
      local plan = fs.read(where.dir .. "/sqitch.plan") or fs.read(where.root .. "/sqitch.plan") or ""
      local project = plan:match("\n%%project=(%S+)") or plan:match("^%%project=(%S+)")
      local last = db:one("SELECT event, change FROM sqitch.events WHERE $1::text IS NULL OR project = $1 "
        .. "ORDER BY committed_at DESC LIMIT 1", project or null)
      local rows = db:query("SELECT change, script_hash AS sum, committer_name AS applied_by, "
        .. string.format(TS, "committed_at") .. " AS applied_at FROM sqitch.changes "
        .. "WHERE $1::text IS NULL OR project = $1 ORDER BY committed_at", project or null)
      local out = {}
      for i, r in ipairs(rows) do
        out[i] = { file = "deploy/" .. r.change .. ".sql", sum = r.sum ~= null and r.sum or nil,
                   applied_at = r.applied_at, applied_by = r.applied_by }
      end
      return { rows = out, dirty = last and last.event == "fail" and string.format("sqitch's last event is a failed "
        .. "deploy of %s (deploy it with sqitch, or revert, then adopt)", last.change) or nil }
    end,
  },
  {
    name = "alembic", table = "alembic_version", columns = { "version_num" }, exact = true,
    read = function(db, where)
      local graph = M.alembic_graph(where.root)
      local heads = db:query("SELECT version_num FROM alembic_version ORDER BY version_num")
      local applied, order, unknown = {}, {}, {}
      local function visit(rev)
        if applied[rev] then return end
        applied[rev] = true
        local node = graph[rev]
        if not node then unknown[#unknown + 1] = rev; return end
        for _, parent in ipairs(node.parents) do visit(parent) end
        order[#order + 1] = rev
      end
      for _, h in ipairs(heads) do visit(h.version_num) end
      local out = {}
      for i, rev in ipairs(order) do out[i] = { revision = rev } end
      for _, rev in ipairs(unknown) do out[#out + 1] = { revision = rev } end
      return { rows = out }
    end,
  },
}

-- The directories holding an Alembic project's version files: alembic.ini's
-- version_locations, else its script_location's versions/, else
-- alembic/versions or migrations/versions (Flask-Migrate).
local function alembic_dirs(root)
  local ini = fs.read(root .. "/alembic.ini") or ""
  local function setting(key)
    local v = ini:match("\n%s*" .. key .. "%s*=%s*([^\n]-)%s*\n") or ini:match("^%s*" .. key .. "%s*=%s*([^\n]-)%s*\n")
    return v and (v:gsub("%%%(here%)s", root))
  end
  local function at(p) return p:sub(1, 1) == "/" and p or (root .. "/" .. p) end
  local out = {}
  local locations = setting("version_locations")
  if locations then
    for p in locations:gmatch("[^%s,;:]+") do out[#out + 1] = at(p) end
    return out
  end
  local script = setting("script_location")
  if script then return { at(script) .. "/versions" } end
  return { root .. "/alembic/versions", root .. "/migrations/versions" }
end

--- The revisions of an Alembic project, read from the `revision`,
--- `down_revision` and `depends_on` lines of its version files (never run):
--- {revision = {parents = {...}, file = path}}.
function M.alembic_graph(root)
  local graph = {}
  for _, dir in ipairs(alembic_dirs(root)) do
    for _, name in ipairs(fs.list(dir) or {}) do
      if name:match("%.py$") then
        local text = fs.read(dir .. "/" .. name) or ""
        local fields, key, value = {}, nil, nil
        for line in (text .. "\n"):gmatch("([^\n]*)\n") do
          if key then
            value = value .. " " .. line
          else
            key, value = line:match("^(%a[%w_]*)%s*:?[^=]*=%s*(.*)$")
            if key ~= "revision" and key ~= "down_revision" and key ~= "depends_on" then key = nil end
          end
          -- a tuple or list that goes on over the next lines
          if key and select(2, value:gsub("[%(%[]", "")) <= select(2, value:gsub("[%)%]]", "")) then
            local ids = {}
            for id in value:gmatch("[\"']([^\"']+)[\"']") do ids[#ids + 1] = id end
            fields[key] = ids
            key = nil
          end
        end
        local rev = fields.revision and fields.revision[1]
        if rev then
          local parents = {}
          for _, k in ipairs({ "down_revision", "depends_on" }) do
            for _, p in ipairs(fields[k] or {}) do parents[#parents + 1] = p end
          end
          graph[rev] = { parents = parents, file = dir .. "/" .. name }
        end
      end
    end
  end
  return graph
end

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
