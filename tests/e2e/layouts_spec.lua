-- Layouts: one file, one file with sections, .up.sql/.down.sql pairs,
-- directories, and all of them mixed — each applied and reverted with the
-- lumi binary, the schema compared with pg_dump before and after.
local h = require "support.helper"
local cjson = require "cjson"

-- Three migrations, each as {stem, up SQL, down SQL}.
local migrations = {
  { "001_create_users",
    "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE);\n"
      .. "CREATE INDEX users_email_lower ON users (lower(email));\n",
    "DROP TABLE users;\n" },
  { "002_types_and_functions",
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');\n"
      .. "CREATE FUNCTION add_one(i int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT i + 1 $$;\n"
      .. "CREATE SEQUENCE tickets START 100;\n",
    "DROP SEQUENCE tickets;\nDROP FUNCTION add_one(int);\nDROP TYPE mood;\n" },
  { "003_view_and_column",
    "ALTER TABLE users ADD COLUMN name text, ADD COLUMN feeling mood;\n"
      .. "CREATE VIEW user_names AS SELECT id, name FROM users;\n"
      .. "COMMENT ON TABLE users IS 'people';\n",
    "COMMENT ON TABLE users IS NULL;\nDROP VIEW user_names;\nALTER TABLE users DROP COLUMN feeling, DROP COLUMN name;\n" },
}

-- The files of migration i in a layout.
local writers = {
  sections = function(stem, up, down)
    return { ["migrations/" .. stem .. ".sql"] = "-- " .. stem .. "\n-- migrate:up\n" .. up .. "\n-- migrate:down\n" .. down }
  end,
  goose = function(stem, up, down)
    return { ["migrations/" .. stem .. ".sql"] = "-- +goose Up\n" .. up .. "-- +goose Down\n" .. down }
  end,
  pair = function(stem, up, down)
    return { ["migrations/" .. stem .. ".up.sql"] = up, ["migrations/" .. stem .. ".down.sql"] = down }
  end,
  directory = function(stem, up, down)
    return { ["migrations/" .. stem .. "/up.sql"] = up, ["migrations/" .. stem .. "/down.sql"] = down }
  end,
}

-- The file of a migration's down part in a layout.
local down_file = {
  sections = function(stem) return stem .. ".sql" end,
  goose = function(stem) return stem .. ".sql" end,
  pair = function(stem) return stem .. ".down.sql" end,
  directory = function(stem) return stem .. "/down.sql" end,
}

local function files_for(layouts)
  local files = {}
  for i, m in ipairs(migrations) do
    for k, v in pairs(writers[layouts[i]](m[1], m[2], m[3])) do files[k] = v end
  end
  return files
end

-- a database with something in it before lumi ever ran
local function database()
  local url = h.fresh_db()
  h.with_conn(url, function(c)
    assert(c:exec("CREATE TABLE keep (id int PRIMARY KEY, note text); CREATE INDEX keep_note ON keep (note);"))
  end)
  return url
end

local function round_trip(layouts, up_files)
  local url = database()
  local dir = h.project(files_for(layouts))
  local env = { DATABASE_URL = url }
  local before = h.schema_dump(url)

  local doc, code, err = h.json(dir, "up", env)
  assert.are.equal(0, code, err)
  assert.are.same(up_files, h.files(doc.applied))
  assert.are.same({ "001", "002", "003" }, h.versions(url))
  local files = {}
  for i, r in ipairs(h.query(url, "SELECT file, checksum FROM schema_migrations ORDER BY version")) do
    files[i] = r.file
    assert.are.equal(h.sha256sum(dir .. "/migrations/" .. r.file), r.checksum, r.file)
  end
  assert.are.same(up_files, files)
  local applied = h.schema_dump(url)
  assert.are_not.equal(before, applied)
  assert.is_true(h.column_exists(url, "users", "feeling"))
  assert.are.equal(2, h.value(url, "SELECT add_one(1)"))

  doc, code, err = h.json(dir, "down --all", env)
  assert.are.equal(0, code, err)
  -- newest first, each by its down part
  local down_files = {}
  for i = #migrations, 1, -1 do down_files[#down_files + 1] = down_file[layouts[i]](migrations[i][1]) end
  assert.are.same(down_files, h.files(doc.reverted))
  assert.are.same({}, h.versions(url))
  assert.are.equal(before, h.schema_dump(url))
  assert.is_true(h.table_exists(url, "keep"))
  assert.are.same({ "applied", "applied", "applied", "reverted", "reverted", "reverted" }, h.events(url))

  -- and everything applies again from there
  local out
  out, err, code = h.lumi(dir, "up", env)
  assert.are.equal(0, code, out .. err)
  assert.are.equal(applied, h.schema_dump(url))
  -- verify-down, on a scratch database, gives the same verdict as pg_dump
  local proof
  proof, code, err = h.json(dir, "verify-down", env)
  assert.are.equal(0, code, err)
  for _, m in ipairs(proof.migrations) do assert.are.equal("ok", m.status, m.file) end
  return url, dir
end

describe("layouts (end to end)", function()
  it("sections: one file with -- migrate:up / -- migrate:down, applied, reverted, schema as before", function()
    round_trip({ "sections", "sections", "sections" },
      { "001_create_users.sql", "002_types_and_functions.sql", "003_view_and_column.sql" })
  end)

  it("sections in goose's form (-- +goose Up / Down) round-trip too", function()
    round_trip({ "goose", "goose", "goose" },
      { "001_create_users.sql", "002_types_and_functions.sql", "003_view_and_column.sql" })
  end)

  it("pairs: NNN_x.up.sql + NNN_x.down.sql, applied, reverted, schema as before", function()
    round_trip({ "pair", "pair", "pair" },
      { "001_create_users.up.sql", "002_types_and_functions.up.sql", "003_view_and_column.up.sql" })
  end)

  it("directories: NNN_x/up.sql + down.sql, applied, reverted, schema as before", function()
    round_trip({ "directory", "directory", "directory" },
      { "001_create_users/up.sql", "002_types_and_functions/up.sql", "003_view_and_column/up.sql" })
  end)

  it("mixed: a directory, a pair and a sections file in one project", function()
    local url, dir = round_trip({ "directory", "pair", "sections" },
      { "001_create_users/up.sql", "002_types_and_functions.up.sql", "003_view_and_column.sql" })
    local doc = h.json(dir, "list")
    local listed = {}
    for i, m in ipairs(doc.migrations) do listed[i] = m.version .. " " .. m.file end
    assert.are.same({ "001 001_create_users/up.sql", "002 002_types_and_functions.up.sql", "003 003_view_and_column.sql" },
      listed)
    assert.are.same({}, doc.ignored)
    assert.are.equal("001_create_users/down.sql", doc.migrations[1].down)
    assert.are.equal("002_types_and_functions.down.sql", doc.migrations[2].down)
    local st = cjson.decode((h.lumi(dir, "status --json", { DATABASE_URL = url })))
    assert.are.same({ total = 3, applied = 3, pending = 0, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, st.totals)
  end)

  it("one file NNN_x.sql: applies; down --all refuses (no down part) and the schema stays as applied", function()
    local url = database()
    local files = {}
    for _, m in ipairs(migrations) do files["migrations/" .. m[1] .. ".sql"] = m[2] end
    local dir = h.project(files)
    local env = { DATABASE_URL = url }
    local before = h.schema_dump(url)
    local out, err, code = h.lumi(dir, "up", env)
    assert.are.equal(0, code, out .. err)
    assert.are.same({ "001", "002", "003" }, h.versions(url))
    local applied = h.schema_dump(url)
    assert.are_not.equal(before, applied)
    out, err, code = h.lumi(dir, "down --all", env)
    assert.are.equal(3, code, out .. err)
    assert.truthy(err:find("cannot revert 003_view_and_column.sql: it has no down migration", 1, true), err)
    assert.truthy(err:find('add a "-- migrate:down" section', 1, true), err)
    assert.are.same({ "001", "002", "003" }, h.versions(url))
    assert.are.equal(applied, h.schema_dump(url))
  end)

  it("ignores a .down.sql without its .up.sql, with the reason, and applies the rest", function()
    local url = h.fresh_db()
    local dir = h.project({
      ["migrations/001_a.up.sql"] = "CREATE TABLE a (id int);\n",
      ["migrations/001_a.down.sql"] = "DROP TABLE a;\n",
      ["migrations/002_b.down.sql"] = "DROP TABLE b;\n",
    })
    local doc, code, err = h.json(dir, "list")
    assert.are.equal(0, code, err)
    assert.are.same({ "001_a.up.sql" }, h.files(doc.migrations))
    assert.are.same({ { file = "002_b.down.sql", reason = "a down migration without 002_b.up.sql" } }, doc.ignored)
    local out
    out, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(0, code, out .. err)
    assert.are.same({ "001" }, h.versions(url))
    -- validate flags it: a .sql file that is not a migration is a mistake
    out, err, code = h.lumi(dir, "validate", { DATABASE_URL = url })
    assert.are.equal(3, code, out .. err)
    assert.truthy(err:find("002_b.down.sql: a down migration without 002_b.up.sql", 1, true), err)
  end)

  it("with layout = \"pair\", validate requires every up to have its down", function()
    local url = h.fresh_db()
    local dir = h.project({
      ["migrate.lua"] = 'return { layout = "pair" }\n',
      ["migrations/001_a.up.sql"] = "CREATE TABLE a (id int);\n",
      ["migrations/001_a.down.sql"] = "DROP TABLE a;\n",
      ["migrations/002_b.up.sql"] = "CREATE TABLE b (id int);\n",
    })
    local out, err, code = h.lumi(dir, "validate", { DATABASE_URL = url })
    assert.are.equal(3, code, out .. err)
    assert.truthy(err:find('no down: 002_b.up.sql: has no down migration (layout = "pair" asks for one)', 1, true), err)
    assert.is_nil(err:find("001_a", 1, true), err)
  end)

  it("a failure in a sections file points at the line in the whole file", function()
    local url = h.fresh_db()
    local dir = h.project({
      ["migrations/001_a.sql"] = "-- a header\n-- more header\n-- migrate:up\nCREATE TABLE a (id int);\nSELECT nope FROM a;\n"
        .. "-- migrate:down\nDROP TABLE a;\n",
    })
    local out, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(1, code, out .. err)
    assert.truthy(err:find("migrations/001_a.sql:5:8: ERROR 42703", 1, true), err)
    assert.is_false(h.table_exists(url, "a"))
  end)
end)
