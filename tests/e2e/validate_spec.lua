local h = require "support.helper"
local cjson = require "cjson"

describe("lumi validate (end to end)", function()
  local url, dir
  before_each(function()
    url = h.fresh_db()
    dir = h.project(h.three_files())
  end)

  local function lumi(args) return h.lumi(dir, args, { DATABASE_URL = url }) end

  it("exits 0 when all is well", function()
    lumi("up")
    local out, err, code = lumi("validate")
    assert.are.equal(0, code, err)
    assert.truthy(out:find("OK: 3 migrations checked, no problems.", 1, true), out)
  end)

  it("exits 0 before anything is applied", function()
    local _, err, code = lumi("validate")
    assert.are.equal(0, code, err)
    assert.is_false(h.table_exists(url, "schema_migrations"))
  end)

  describe("reads what up would run", function()
    local function problem(file, contents, needle)
      h.write(dir .. "/migrations/" .. file, contents)
      local out, err, code = lumi("validate")
      assert.are.equal(3, code, out .. err)
      assert.truthy(err:find(needle, 1, true), err)
      os.remove(dir .. "/migrations/" .. file)
    end

    it("a pending SQL file that does not parse, at its line and column", function()
      problem("004_bad.sql", "SELECT 1;\ncreate tabel x(i int);\n",
        "syntax: 004_bad.sql: migrations/004_bad.sql:2:8: syntax error at or near \"tabel\"")
      problem("004_bad.sql", "select $$oops;\n", "syntax: 004_bad.sql: migrations/004_bad.sql:")
    end)

    it("a statement PostgreSQL refuses inside a transaction, in a part that runs in one: where, and the marker", function()
      local marker = "cannot run inside a transaction, and this migration runs in one: put `-- lumi: no-transaction` "
        .. "first in the file"
      for _, c in ipairs({
        { "SELECT 1;\n  CREATE INDEX CONCURRENTLY i ON t (x);\n", "004_bad.sql:2:3: CREATE INDEX CONCURRENTLY" },
        { "create unique index concurrently i on t (x);\n", "004_bad.sql:1:1: CREATE INDEX CONCURRENTLY" },
        { "-- hm\nDROP INDEX CONCURRENTLY i;\n", "004_bad.sql:2:1: DROP INDEX CONCURRENTLY" },
        { "REINDEX (VERBOSE) TABLE CONCURRENTLY t;\n", "004_bad.sql:1:1: REINDEX CONCURRENTLY" },
        { "REINDEX INDEX CONCURRENTLY i;\n", "004_bad.sql:1:1: REINDEX CONCURRENTLY" },
        { "ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY;\n", "004_bad.sql:1:1: DETACH PARTITION CONCURRENTLY" },
        { "VACUUM ANALYZE t;\n", "004_bad.sql:1:1: VACUUM" },
        { "ALTER SYSTEM SET work_mem = '8MB';\n", "004_bad.sql:1:1: ALTER SYSTEM" },
        { "CREATE DATABASE other;\n", "004_bad.sql:1:1: CREATE DATABASE" },
        { "BEGIN;\nCREATE INDEX CONCURRENTLY i ON t (x);\nCOMMIT;\n", "004_bad.sql:2:1: CREATE INDEX CONCURRENTLY" },
      }) do
        problem("004_bad.sql", c[1], c[2] .. " " .. marker)
      end
      -- the down part too, told as such
      problem("004_bad.sql", "-- migrate:up\nSELECT 1;\n-- migrate:down\nDROP INDEX CONCURRENTLY i;\n",
        "004_bad.sql:4:1: DROP INDEX CONCURRENTLY cannot run inside a transaction, and this down part runs in one")
    end)

    it("the same statements are no problem where they run outside one, nor where they only look alike", function()
      for _, text in ipairs({
        "-- lumi: no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);\nVACUUM t;\n",
        "REFRESH MATERIALIZED VIEW CONCURRENTLY mv;\n",
        "CREATE INDEX i ON t (\"concurrently\");\n",
        "SELECT 'VACUUM';\n",
        "ALTER TABLE p DETACH PARTITION p1;\n",
      }) do
        h.write(dir .. "/migrations/004_fine.sql", text)
        local out, err, code = lumi("validate")
        assert.are.equal(0, code, text .. out .. err)
      end
      os.remove(dir .. "/migrations/004_fine.sql")
    end)

    it("a down part that does not parse", function()
      problem("004_bad.sql", "-- migrate:up\nCREATE TABLE x (i int);\n-- migrate:down\ndrop tabel x;\n",
        "syntax: 004_bad.sql: migrations/004_bad.sql:4:6: syntax error at or near \"tabel\"")
    end)

    it("a file it cannot read, a Lua migration that does not load, a placeholder without a value", function()
      assert(os.execute("ln -s nowhere.sql " .. h.q(dir .. "/migrations/004_link.sql")))
      local out, err, code = lumi("validate")
      assert.are.equal(3, code, out .. err)
      assert.truthy(err:find("unloadable: 004_link.sql: cannot read migration", 1, true), err)
      os.remove(dir .. "/migrations/004_link.sql")
      problem("004_bad.lua", "return { up = function(ctx) end\n", "unloadable: 004_bad.lua: cannot load Lua migration")
      h.write(dir .. "/migrate.lua", 'return { placeholders = { a = "x" } }\n')
      problem("004_bad.sql", "SELECT '${missing}';\n", "placeholder ${missing} has no value")
    end)

    it("a pending file older than the newest applied one, which up refuses", function()
      os.remove(dir .. "/migrations/002_create_posts.sql")
      lumi("up")
      h.write(dir .. "/migrations/002_create_posts.sql", "CREATE TABLE posts (id int);\n")
      local out, err, code = lumi("validate")
      assert.are.equal(3, code, out .. err)
      assert.truthy(err:find("out of order: 002_create_posts.sql: pending, and older than the newest applied migration 003", 1, true), err)
    end)

    it("applied files are not parsed again; a good project stays OK", function()
      lumi("up")
      local out, err, code = lumi("validate")
      assert.are.equal(0, code, out .. err)
      assert.are.equal("", err)
    end)
  end)

  it("exits 3 when an applied file changed", function()
    lumi("up")
    h.write(dir .. "/migrations/003_add_name.sql", "ALTER TABLE users ADD COLUMN full_name text;\n")
    local _, err, code = lumi("validate")
    assert.are.equal(3, code)
    assert.truthy(err:find("changed: 003_add_name.sql: changed since it was applied", 1, true), err)
    assert.truthy(err:find("1 problem found.", 1, true), err)
  end)

  it("exits 3 when an applied file is missing", function()
    lumi("up")
    os.remove(dir .. "/migrations/001_create_users.sql")
    local _, err, code = lumi("validate")
    assert.are.equal(3, code)
    assert.truthy(err:find("missing: 001_create_users.sql: applied, but the file is gone", 1, true), err)
  end)

  it("exits 3 for a .sql file the naming scheme cannot parse, and for duplicates", function()
    h.write(dir .. "/migrations/add_things.sql", "SELECT 1;\n")
    h.write(dir .. "/migrations/02_again.sql", "SELECT 1;\n")
    h.write(dir .. "/migrations/README.md", "notes\n")
    local _, err, code = lumi("validate")
    assert.are.equal(3, code)
    assert.truthy(err:find("unparsable: add_things.sql: does not start with a version number", 1, true), err)
    assert.truthy(err:find("duplicate: ", 1, true), err)
    assert.truthy(err:find("files share version 2", 1, true), err)
    assert.is_nil(err:find("README.md", 1, true), err)
    assert.truthy(err:find("2 problems found.", 1, true), err)
  end)

  it("reports problems as JSON with --json", function()
    lumi("up")
    os.remove(dir .. "/migrations/001_create_users.sql")
    local out, _, code = lumi("validate --json")
    assert.are.equal(3, code)
    local doc = cjson.decode(out)
    assert.is_false(doc.ok)
    assert.are.equal(1, #doc.problems)
    assert.are.equal("missing", doc.problems[1].kind)
    assert.are.equal("001_create_users.sql", doc.problems[1].file)
  end)
end)
