local h = require "support.helper"
local cjson = require "cjson"

describe("lumi status (end to end)", function()
  local url, dir
  before_each(function()
    url = h.fresh_db()
    dir = h.project(h.three_files())
  end)

  local function lumi(args) return h.lumi(dir, args, { DATABASE_URL = url }) end
  local function json(args) return h.json(dir, args, { DATABASE_URL = url }) end

  -- "version:file:state" of every entry of a status document, in its order.
  local function entries(doc)
    local out = {}
    for i, e in ipairs(doc.entries) do out[i] = e.version .. ":" .. e.file .. ":" .. e.state end
    return out
  end

  it("on a fresh database shows everything pending and creates nothing", function()
    local doc, code, err = json("status")
    assert.are.equal(0, code, err)
    assert.are.equal("schema_migrations", doc.table)
    assert.is_false(doc.table_exists)
    assert.are.same({ "001:001_create_users.sql:pending", "002:002_create_posts.sql:pending", "003:003_add_name.sql:pending" },
      entries(doc))
    assert.are.same({ total = 3, applied = 0, pending = 3, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, doc.totals)
    assert.is_false(h.table_exists(url, "schema_migrations"))
  end)

  it("shows applied and pending", function()
    lumi("up --to 002")
    local doc, code, err = json("status")
    assert.are.equal(0, code, err)
    assert.are.same({ "001:001_create_users.sql:applied", "002:002_create_posts.sql:applied", "003:003_add_name.sql:pending" },
      entries(doc))
    assert.are.same({ total = 3, applied = 2, pending = 1, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, doc.totals)
  end)

  it("shows an edited applied file as changed", function()
    lumi("up")
    h.write(dir .. "/migrations/002_create_posts.sql", "CREATE TABLE posts (id int);\n")
    local doc, code, err = json("status")
    assert.are.equal(0, code, err)
    assert.are.same({ "001:001_create_users.sql:applied", "002:002_create_posts.sql:changed", "003:003_add_name.sql:applied" },
      entries(doc))
    -- the file differs from the applied one
    local e = h.entry(doc, "002_create_posts.sql")
    assert.are.equal(h.sha256sum(dir .. "/migrations/002_create_posts.sql"), e.file_checksum)
    assert.are_not.equal(e.checksum, e.file_checksum)
    assert.are.same({ total = 3, applied = 2, pending = 0, changed = 1, missing = 0, unfinished = 0, in_progress = 0 }, doc.totals)
  end)

  it("shows a deleted applied file as missing", function()
    lumi("up")
    os.remove(dir .. "/migrations/002_create_posts.sql")
    local doc, code, err = json("status")
    assert.are.equal(0, code, err)
    assert.are.same({ "001:001_create_users.sql:applied", "002:002_create_posts.sql:missing", "003:003_add_name.sql:applied" },
      entries(doc))
    assert.truthy(h.entry(doc, "002_create_posts.sql").applied_at, "a missing entry keeps when it was applied")
    assert.are.same({ total = 3, applied = 2, pending = 0, changed = 0, missing = 1, unfinished = 0, in_progress = 0 }, doc.totals)
  end)

  it("prints a line per migration with its state and what it knows of it, then the totals (the human output)", function()
    -- (a line with nothing after its name may end in the spaces that pad it)
    local function trimmed(s) return (s:gsub(" +\n", "\n")) end
    local out, err, code = lumi("status")
    assert.are.equal(0, code, err)
    out = trimmed(out)
    assert.are.equal("Migrations in migrations, tracked in schema_migrations (not created yet: nothing applied)\n\n"
      .. "  pending  001_create_users.sql\n  pending  002_create_posts.sql\n  pending  003_add_name.sql\n"
      .. "\n3 migrations: 0 applied, 3 pending\n", out)
    os.rename(dir .. "/migrations/002_create_posts.sql", dir .. "/002_create_posts.sql")
    h.write(dir .. "/migrations/004_four.sql", "SELECT 4;\n")
    h.write(dir .. "/migrations/005_half.sql", "-- lumi: no-transaction\nSELECT 5;\nSELECT nope;\n")
    assert.are.equal(1, select(3, lumi("up")))
    os.rename(dir .. "/002_create_posts.sql", dir .. "/migrations/002_create_posts.sql")
    h.write(dir .. "/migrations/001_create_users.sql", "-- edited\n")
    os.remove(dir .. "/migrations/003_add_name.sql")
    h.write(dir .. "/migrations/006_six.sql", "SELECT 6;\n")
    out, err, code = lumi("status")
    assert.are.equal(0, code, err)
    out = trimmed(out)
    local at = "%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d UTC"
    local lines = {}
    for line in out:gmatch("[^\n]*") do lines[#lines + 1] = line end
    assert.are.equal("Migrations in migrations, tracked in schema_migrations", lines[1], out)
    assert.are.equal("", lines[2], out)
    -- the states as wide as the widest ("unfinished"), the names as the longest
    assert.truthy(lines[3]:match("^  changed     001_create_users%.sql  " .. at .. "  %d+ ms  file differs from the applied one$"),
      out)
    assert.are.equal("  pending     002_create_posts.sql  older than the newest applied migration", lines[4], out)
    assert.truthy(lines[5]:match("^  missing     003_add_name%.sql      applied " .. at .. ", file not found$"), out)
    assert.truthy(lines[6]:match("^  applied     004_four%.sql          " .. at .. "  %d+ ms$"), out)
    assert.are.equal('  unfinished  005_half.sql          failed midway: statement 2 of 2 failed: column "nope" does not exist',
      lines[7], out)
    assert.are.equal("  pending     006_six.sql", lines[8], out)
    assert.are.equal("", lines[9], out)
    assert.are.equal("6 migrations: 1 applied, 2 pending, 1 changed, 1 missing, 1 unfinished", lines[10], out)
  end)

  it("--json says which migrations can be reverted; text columns line up by characters", function()
    h.write(dir .. "/migrations/004_sections.sql", "-- migrate:up\nCREATE TABLE s (id int);\n-- migrate:down\nDROP TABLE s;\n")
    h.write(dir .. "/migrations/005_ünïcode.sql", "CREATE TABLE u (id int);\n")
    local out, err, code = lumi("status --json")
    assert.are.equal(0, code, err)
    local rev = {}
    for _, e in ipairs(cjson.decode(out).entries) do rev[e.file] = e.reversible end
    assert.is_false(rev["001_create_users.sql"])
    assert.is_true(rev["004_sections.sql"])
    lumi("up")
    out = lumi("status")
    local at = {}
    for line in out:gmatch("[^\n]+") do
      local file = line:match("^  applied  (%S+)")
      if file then at[#at + 1] = utf8.len(line:match("^(  applied  %S+%s+)")) end
    end
    assert.are.equal(5, #at, out)
    for i = 2, #at do assert.are.equal(at[1], at[i], out) end
  end)

  it("warns of a .sql file the naming scheme ignores; up warns of it and of a missing file", function()
    lumi("up")
    os.remove(dir .. "/migrations/002_create_posts.sql")
    h.write(dir .. "/migrations/004-typo.sql", "SELECT 1;\n")
    h.write(dir .. "/migrations/README.md", "notes\n")
    local out, err, code = lumi("status")
    assert.are.equal(0, code, out .. err)
    assert.truthy(err:find("warning: 004-typo.sql is not a migration: does not start with a version number", 1, true), err)
    assert.is_nil(err:find("README", 1, true), err)
    out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.truthy(err:find("warning: 004-typo.sql is not a migration", 1, true), err)
    assert.truthy(err:find("warning: 002_create_posts.sql was applied, and its file is gone", 1, true), err)
  end)

  it("marks a pending file older than the newest applied one", function()
    os.rename(dir .. "/migrations/002_create_posts.sql", dir .. "/002_create_posts.sql")
    lumi("up")
    os.rename(dir .. "/002_create_posts.sql", dir .. "/migrations/002_create_posts.sql")
    local doc, code, err = json("status")
    assert.are.equal(0, code, err)
    assert.are.same({ "001:001_create_users.sql:applied", "002:002_create_posts.sql:pending", "003:003_add_name.sql:applied" },
      entries(doc))
    assert.is_true(h.entry(doc, "002_create_posts.sql").out_of_order)
    assert.is_nil(h.entry(doc, "001_create_users.sql").out_of_order)
  end)

  it("finds the one changed file among many", function()
    for i = 4, 90 do
      h.write(string.format("%s/migrations/%03d_t%d.sql", dir, i, i), string.format("CREATE TABLE t%d (id int);\n", i))
    end
    lumi("up")
    h.write(dir .. "/migrations/050_t50.sql", "CREATE TABLE t50 (id bigint);\n")
    local out, err, code = lumi("status --json")
    assert.are.equal(0, code, err)
    local doc = require("cjson").decode(out)
    assert.are.same({ total = 90, applied = 89, pending = 0, changed = 1, missing = 0, unfinished = 0, in_progress = 0 }, doc.totals)
    for _, e in ipairs(doc.entries) do
      if e.state == "changed" then assert.are.equal("050_t50.sql", e.file) end
    end
  end)

  describe("--json", function()
    it("has the same facts: entries with state, and totals", function()
      lumi("up")
      h.write(dir .. "/migrations/001_create_users.sql", "-- edited\n")
      os.remove(dir .. "/migrations/002_create_posts.sql")
      h.write(dir .. "/migrations/004_more.sql", "SELECT 1;\n")
      local out, err, code = lumi("status --json")
      assert.are.equal(0, code, err)
      local doc = cjson.decode(out)
      assert.are.equal("status", doc.command)
      assert.are.equal("schema_migrations", doc.table)
      assert.is_true(doc.table_exists)
      assert.are.same({ total = 4, applied = 1, pending = 1, changed = 1, missing = 1, unfinished = 0, in_progress = 0 }, doc.totals)
      local states = {}
      for _, e in ipairs(doc.entries) do states[#states + 1] = e.version .. ":" .. e.file .. ":" .. e.state end
      assert.are.same({
        "001:001_create_users.sql:changed",
        "002:002_create_posts.sql:missing",
        "003:003_add_name.sql:applied",
        "004:004_more.sql:pending",
      }, states)
      local e1 = doc.entries[1]
      assert.are.equal(h.sha256sum(dir .. "/migrations/001_create_users.sql"), e1.file_checksum)
      assert.are_not.equal(e1.checksum, e1.file_checksum)
      local e3 = doc.entries[3]
      assert.are.equal(h.sha256sum(dir .. "/migrations/003_add_name.sql"), e3.checksum)
      assert.are.equal("postgres", e3.applied_by)
      assert.truthy(e3.applied_at:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"), e3.applied_at)
      assert.are.equal("number", type(e3.execution_ms))
      assert.is_nil(doc.entries[4].applied_at)
      assert.are.equal("", err)
    end)

    it("on a fresh database, with empty lists as arrays", function()
      local out, _, code = lumi("status --json")
      assert.are.equal(0, code)
      assert.truthy(out:find('"duplicates":[]', 1, true), out)
      assert.truthy(out:find('"ignored":[]', 1, true), out)
      local doc = cjson.decode(out)
      assert.is_false(doc.table_exists)
      assert.are.same({ total = 3, applied = 0, pending = 3, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, doc.totals)
      assert.are.equal("pending", doc.entries[1].state)
    end)
  end)
end)
