-- placeholders and the out_of_order policy as a function, from migrate.lua.
local h = require "support.helper"

describe("placeholders (end to end)", function()
  local url
  before_each(function() url = h.fresh_db() end)

  it("fills ${name} from migrate.lua, and $${x} stays a literal ${x}", function()
    local dir = h.project({
      ["migrate.lua"] = 'return { placeholders = { schema = "app", role_name = "app_rw" } }\n',
      ["migrations/001_schema.sql"] = "CREATE SCHEMA ${schema};\n"
        .. "CREATE TABLE ${schema}.settings (k text PRIMARY KEY, v text);\n"
        .. "INSERT INTO ${schema}.settings VALUES ('role', '${role_name}'), ('template', '$${schema}.$${other}');\n",
    })
    local out, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(0, code, out .. err)
    assert.is_true(h.table_exists(url, "app.settings"))
    assert.are.equal("app_rw", h.value(url, "SELECT v FROM app.settings WHERE k = 'role'"))
    assert.are.equal("${schema}.${other}", h.value(url, "SELECT v FROM app.settings WHERE k = 'template'"))
    -- the checksum is the file's as it is on disk
    assert.are.equal(h.sha256sum(dir .. "/migrations/001_schema.sql"),
      h.value(url, "SELECT checksum FROM schema_migrations WHERE version = '001'"))
  end)

  it("an error is placed at the line and column of the file, not of the filled text", function()
    local dir = h.project({
      ["migrate.lua"] = 'return { placeholders = { cols = "a int,\\n  b int,\\n  c int", role = "a_very_long_role_name" } }\n',
      ["migrations/001_multiline.sql"] = "CREATE TABLE t2 (\n  ${cols}\n);\nSELECT nosuch FROM t2;\n",
    })
    local out, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(1, code, out .. err)
    assert.truthy(err:find("001_multiline.sql:4:8: ERROR 42703", 1, true), err)
    assert.truthy(err:find("4 | SELECT nosuch FROM t2;", 1, true), err)
    os.remove(dir .. "/migrations/001_multiline.sql")
    h.write(dir .. "/migrations/001_long.sql", "-- ${role}\nSELECT '${role}', CRAETE;\n")
    out, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(1, code, out .. err)
    assert.truthy(err:find("001_long.sql:2:19: ERROR 42703", 1, true), err)
    assert.truthy(err:find("2 | SELECT '${role}', CRAETE;", 1, true), err)
    -- an error inside a value points at its placeholder
    h.write(dir .. "/migrate.lua", 'return { placeholders = { expr = "1 +* 2" } }\n')
    h.write(dir .. "/migrations/001_long.sql", "SELECT 1;\nSELECT ${expr};\n")
    out, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(1, code, out .. err)
    assert.truthy(err:find("001_long.sql:2:8: ERROR ", 1, true), err)
  end)

  it("a UTF-8 byte order mark at the start of a file is not sent", function()
    local dir = h.project({ ["migrations/001_bom.sql"] = "\239\187\191CREATE TABLE bom (id int);\n" })
    local out, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(0, code, out .. err)
    assert.is_true(h.table_exists(url, "bom"))
    assert.are.equal(h.sha256sum(dir .. "/migrations/001_bom.sql"),
      h.value(url, "SELECT checksum FROM schema_migrations WHERE version = '001'"))
    h.write(dir .. "/migrations/002_bom.sql", "\239\187\191SELECT nosuch;\n")
    out, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(1, code, out .. err)
    assert.truthy(err:find("002_bom.sql:1:8: ERROR 42703", 1, true), err)
    -- nor does it hide a section marker or a directive on the first line
    h.write(dir .. "/migrations/002_bom.sql", "\239\187\191-- migrate:up\nCREATE TABLE s (id int);\n-- migrate:down\nDROP TABLE s;\n")
    h.write(dir .. "/migrations/003_bom.sql", "\239\187\191-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY bom_id ON bom (id);\n")
    out, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(0, code, out .. err)
    assert.is_true(h.table_exists(url, "s"))
    assert.is_true(h.table_exists(url, "bom_id"))
  end)

  it("fills the down part too", function()
    local dir = h.project({
      ["migrate.lua"] = 'return { placeholders = { schema = "app" } }\n',
      ["migrations/001_schema.up.sql"] = "CREATE SCHEMA ${schema};\n",
      ["migrations/001_schema.down.sql"] = "DROP SCHEMA ${schema};\n",
    })
    local out, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(0, code, out .. err)
    assert.are.equal(1, h.value(url, "SELECT count(*)::int FROM pg_namespace WHERE nspname = 'app'"))
    out, err, code = h.lumi(dir, "down", { DATABASE_URL = url })
    assert.are.equal(0, code, out .. err)
    assert.are.equal(0, h.value(url, "SELECT count(*)::int FROM pg_namespace WHERE nspname = 'app'"))
  end)

  it("an unfilled ${other} fails with exit 2 naming it and its file:line, and nothing runs", function()
    local dir = h.project({
      ["migrate.lua"] = 'return { placeholders = { schema = "app" } }\n',
      ["migrations/001_schema.sql"] = "CREATE SCHEMA ${schema};\n",
      ["migrations/002_table.sql"] = "CREATE TABLE ${schema}.t (id int);\n\nGRANT SELECT ON ${schema}.t TO ${other};\n",
    })
    local out, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(2, code, out .. err)
    assert.truthy(err:find("migrations/002_table.sql:3: placeholder ${other} has no value", 1, true), err)
    assert.truthy(err:find("set placeholders = { other = ... } in migrate.lua, or write $${other} for the text itself", 1, true), err)
    -- every file is read before the first runs: not even 001 ran
    assert.are.equal(0, h.value(url, "SELECT count(*)::int FROM pg_namespace WHERE nspname = 'app'"))
    assert.is_false(h.table_exists(url, "schema_migrations"))
  end)

  it("names the line in the whole file when the placeholder is in a section", function()
    local dir = h.project({
      ["migrate.lua"] = 'return { placeholders = { schema = "app" } }\n',
      ["migrations/001_table.sql"] = "-- a table\n-- migrate:up\nCREATE TABLE t (id int);\nGRANT SELECT ON t TO ${other};\n"
        .. "-- migrate:down\nDROP TABLE t;\n",
    })
    local out, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(2, code, out .. err)
    assert.truthy(err:find("migrations/001_table.sql:4: placeholder ${other} has no value", 1, true), err)
  end)

  it("without placeholders in migrate.lua, ${...} is left as it is", function()
    local dir = h.project({
      ["migrations/001_t.sql"] = "CREATE TABLE t (v text);\nINSERT INTO t VALUES ('${not_a_placeholder}');\n",
    })
    local out, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(0, code, out .. err)
    assert.are.equal("${not_a_placeholder}", h.value(url, "SELECT v FROM t"))
  end)
end)

describe("out_of_order as a function in migrate.lua (end to end)", function()
  local url, dir
  local function lumi(args) return h.lumi(dir, args, { DATABASE_URL = url }) end

  before_each(function()
    url = h.fresh_db()
    dir = h.project({
      ["migrate.lua"] = "return { out_of_order = function(m) return m.file == '002_hotfix.sql' end }\n",
      ["migrations/001_a.sql"] = "CREATE TABLE a (id int);\n",
      ["migrations/003_c.sql"] = "CREATE TABLE c (id int);\n",
    })
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
  end)

  it("applies a pending migration older than the newest applied one when it returns true", function()
    h.write(dir .. "/migrations/002_hotfix.sql", "CREATE TABLE hotfix (id int);\n")
    h.write(dir .. "/migrations/004_d.sql", "CREATE TABLE d (id int);\n")
    local doc, code, err = h.json(dir, "up", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    assert.are.same({ "002_hotfix.sql", "004_d.sql" }, h.files(doc.applied))
    -- the warning (on stderr without --json)
    assert.are.same({ "002_hotfix.sql is older than the newest applied migration 003; applying it (out_of_order policy)" },
      doc.warnings)
    assert.is_true(h.table_exists(url, "hotfix"))
    assert.are.same({ "001", "002", "003", "004" }, h.versions(url))
  end)

  it("refuses one it returns false for (exit 3), and applies nothing", function()
    h.write(dir .. "/migrations/002_other.sql", "CREATE TABLE other (id int);\n")
    h.write(dir .. "/migrations/004_d.sql", "CREATE TABLE d (id int);\n")
    local out, err, code = lumi("up")
    assert.are.equal(3, code, out .. err)
    assert.truthy(err:find("pending migration older than the newest applied one (003): 002_other.sql", 1, true), err)
    assert.is_false(h.table_exists(url, "other"))
    assert.is_false(h.table_exists(url, "d"))
    assert.are.same({ "001", "003" }, h.versions(url))
  end)

  it("is asked about each out-of-order file on its own", function()
    h.write(dir .. "/migrations/010_j.sql", "CREATE TABLE j (id int);\n")
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    h.write(dir .. "/migrations/002_hotfix.sql", "CREATE TABLE hotfix (id int);\n")
    h.write(dir .. "/migrations/005_other.sql", "CREATE TABLE other (id int);\n")
    out, err, code = lumi("up")
    assert.are.equal(3, code, out .. err)
    assert.truthy(err:find("pending migration older than the newest applied one (010): 005_other.sql", 1, true), err)
    assert.is_nil(err:find("002_hotfix.sql,", 1, true), err)
    -- checked before anything runs: the accepted one did not run either
    assert.is_false(h.table_exists(url, "hotfix"))
    assert.are.same({ "001", "003", "010" }, h.versions(url))
  end)
end)
