local h = require "support.helper"

describe("migrate.lua and settings (end to end)", function()
  local url
  before_each(function() url = h.fresh_db() end)

  it("table = \"system.schema_migrations\" creates the schema-qualified table", function()
    local files = h.three_files()
    files["migrate.lua"] = 'return { table = "system.schema_migrations" }\n'
    local dir = h.project(files)
    local out, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    assert.is_nil((out .. err):find("NOTICE", 1, true), out .. err)     -- no "schema already exists"
    assert.is_true(h.table_exists(url, "system.schema_migrations"))
    assert.is_false(h.table_exists(url, "public.schema_migrations"))
    assert.are.same({ "001", "002", "003" }, h.versions(url, "system.schema_migrations"))
    local doc
    doc, code, err = h.json(dir, "status", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    assert.are.equal("system.schema_migrations", doc.table)
    assert.is_true(doc.table_exists)
    assert.are.same({ total = 3, applied = 3, pending = 0, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, doc.totals)
  end)

  it("--table on the command line overrides migrate.lua", function()
    local files = h.three_files()
    files["migrate.lua"] = 'return { table = "system.schema_migrations" }\n'
    local dir = h.project(files)
    local _, err, code = h.lumi(dir, "--table audit.applied up", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    assert.is_true(h.table_exists(url, "audit.applied"))
    assert.is_false(h.table_exists(url, "system.schema_migrations"))
  end)

  it("a typo key exits 2 and suggests the right one", function()
    local dir = h.project({ ["migrate.lua"] = 'return { tabel = "x" }\n', ["migrations/001_a.sql"] = "SELECT 1;\n" })
    local out, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(2, code)
    assert.truthy(err:find('unknown key "tabel"', 1, true), err)
    assert.truthy(err:find('did you mean "table"', 1, true), err)
    assert.are.equal("", out)
    assert.is_false(h.table_exists(url, "schema_migrations"))
  end)

  it("a typo key fails offline commands too", function()
    local dir = h.project({ ["migrate.lua"] = "return { dri = 'db' }\n" })
    local _, err, code = h.lumi(dir, "list")
    assert.are.equal(2, code)
    assert.truthy(err:find('did you mean "dir"', 1, true), err)
  end)

  it("a value of the wrong type exits 2 naming the key", function()
    local dir = h.project({ ["migrate.lua"] = "return { lock_wait = '10s' }\n" })
    local _, err, code = h.lumi(dir, "status", { DATABASE_URL = url })
    assert.are.equal(2, code)
    assert.truthy(err:find('key "lock_wait" must be a number', 1, true), err)
  end)

  it("a bad table name exits 2", function()
    local dir = h.project({ ["migrate.lua"] = 'return { table = "x; drop table y" }\n' })
    local _, err, code = h.lumi(dir, "status", { DATABASE_URL = url })
    assert.are.equal(2, code)
    assert.truthy(err:find('key "table" must be "name" or "schema.name"', 1, true), err)
  end)

  it("reads dir and database from migrate.lua", function()
    local dir = h.project({
      ["migrate.lua"] = string.format("return { dir = 'db/changes', database = %q }\n", url),
      ["db/changes/001_a.sql"] = "CREATE TABLE a (id int);\n",
    })
    local _, err, code = h.lumi(dir, "up")
    assert.are.equal(0, code, err)
    assert.is_true(h.table_exists(url, "a"))
  end)

  it("DATABASE_URL wins over database in migrate.lua", function()
    local dir = h.project({
      ["migrate.lua"] = "return { database = 'postgresql:///nodb?host=/nonexistent' }\n",
      ["migrations/001_a.sql"] = "CREATE TABLE a (id int);\n",
    })
    local _, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    assert.is_true(h.table_exists(url, "a"))
  end)

  it("--database wins over DATABASE_URL", function()
    local dir = h.project({ ["migrations/001_a.sql"] = "CREATE TABLE a (id int);\n" })
    local _, err, code = h.lumi(dir, "--database " .. h.q(url) .. " up",
      { DATABASE_URL = "postgresql:///nodb?host=/nonexistent" })
    assert.are.equal(0, code, err)
    assert.is_true(h.table_exists(url, "a"))
  end)

  it("--config reads another file, relative to which dir is taken", function()
    local dir = h.project({
      ["deploy/lumi.lua"] = "return { dir = 'sql' }\n",
      ["deploy/sql/001_a.sql"] = "CREATE TABLE a (id int);\n",
    })
    local _, err, code = h.lumi(dir, "--config deploy/lumi.lua up", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    assert.is_true(h.table_exists(url, "a"))
  end)

  it("--config naming a missing file exits 2", function()
    local _, err, code = h.lumi(h.project({}), "--config nope.lua status", { DATABASE_URL = url })
    assert.are.equal(2, code)
    assert.truthy(err:find("config file nope.lua does not exist", 1, true), err)
  end)
end)
