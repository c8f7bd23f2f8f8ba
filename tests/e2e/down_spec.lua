-- lumi down (1, N, --to, --all, --dry-run) and lumi redo.
local h = require "support.helper"
local cjson = require "cjson"

-- Four reversible migrations as .up.sql/.down.sql pairs.
local function four()
  return {
    ["migrations/001_a.up.sql"] = "CREATE TABLE a (id int);\n",
    ["migrations/001_a.down.sql"] = "DROP TABLE a;\n",
    ["migrations/002_b.up.sql"] = "CREATE TABLE b (id int);\n",
    ["migrations/002_b.down.sql"] = "DROP TABLE b;\n",
    ["migrations/003_c.up.sql"] = "CREATE TABLE c (id int);\n",
    ["migrations/003_c.down.sql"] = "DROP TABLE c;\n",
    ["migrations/004_d.up.sql"] = "CREATE TABLE d (id int);\n",
    ["migrations/004_d.down.sql"] = "DROP TABLE d;\n",
  }
end

local function tables(url)
  local out = {}
  for _, t in ipairs({ "a", "b", "c", "d" }) do
    if h.table_exists(url, "public." .. t) then out[#out + 1] = t end
  end
  return table.concat(out, " ")
end

describe("lumi down (end to end)", function()
  local url, dir
  local function lumi(args) return h.lumi(dir, args, { DATABASE_URL = url }) end
  local function json(args) return h.json(dir, args, { DATABASE_URL = url }) end

  before_each(function()
    url = h.fresh_db()
    dir = h.project(four())
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.are.equal("a b c d", tables(url))
  end)

  it("without an argument reverts the newest applied migration only", function()
    local doc, code, err = json("down")
    assert.are.equal(0, code, err)
    assert.is_false(doc.dry_run)
    assert.are.same({ "004_d.down.sql" }, h.files(doc.reverted))
    assert.are.equal("004", doc.reverted[1].version)
    assert.are.equal("a b c", tables(url))
    assert.are.same({ "001", "002", "003" }, h.versions(url))
    local st = cjson.decode((lumi("status --json")))
    assert.are.same({ total = 4, applied = 3, pending = 1, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, st.totals)
  end)

  it("down 2 reverts the two newest, newest first", function()
    local doc, code, err = json("down 2")
    assert.are.equal(0, code, err)
    assert.are.same({ "004_d.down.sql", "003_c.down.sql" }, h.files(doc.reverted))
    assert.are.equal("a b", tables(url))
    assert.are.same({ "001", "002" }, h.versions(url))
  end)

  it("down --to VERSION reverts everything above VERSION (compared as versions: 1 is 001) and keeps it", function()
    local doc, code, err = json("down --to 1")
    assert.are.equal(0, code, err)
    assert.are.same({ "004_d.down.sql", "003_c.down.sql", "002_b.down.sql" }, h.files(doc.reverted))
    assert.are.equal("a", tables(url))
    assert.are.same({ "001" }, h.versions(url))
    -- nothing applied above 4: nothing to do
    doc, code, err = json("down --to 4")
    assert.are.equal(0, code, err)
    assert.are.same({}, h.files(doc.reverted))
    assert.are.equal("a", tables(url))
  end)

  it("down --to a version no file has is a usage error that changes nothing", function()
    local out, err, code = lumi("down --to 9")
    assert.are.equal(2, code, out .. err)
    assert.truthy(err:find("--to 9: no migration file has that version", 1, true), err)
    assert.are.equal("a b c d", tables(url))
  end)

  it("down --all reverts everything", function()
    local doc, code, err = json("down --all")
    assert.are.equal(0, code, err)
    assert.are.same({ "004_d.down.sql", "003_c.down.sql", "002_b.down.sql", "001_a.down.sql" }, h.files(doc.reverted))
    assert.are.equal("", tables(url))
    assert.are.same({}, h.versions(url))
    doc, code, err = json("down")
    assert.are.equal(0, code, err)
    assert.are.same({}, h.files(doc.reverted))
  end)

  it("down --dry-run shows what it would revert and changes nothing", function()
    local log_before = #h.events(url)
    local doc, code, err = json("down 2 --dry-run")
    assert.are.equal(0, code, err)
    assert.is_true(doc.dry_run)
    assert.are.same({ "004_d.down.sql", "003_c.down.sql" }, h.files(doc.reverted))
    assert.are.equal("a b c d", tables(url))
    assert.are.same({ "001", "002", "003", "004" }, h.versions(url))
    assert.are.equal(log_before, #h.events(url))
    doc = json("down --all --dry-run")
    assert.is_true(doc.dry_run)
    assert.are.same({ "004_d.down.sql", "003_c.down.sql", "002_b.down.sql", "001_a.down.sql" }, h.files(doc.reverted))
    assert.are.equal("a b c d", tables(url))
  end)

  it("prints a line per migration it reverts, then how many (the human output)", function()
    local out, err, code = lumi("down 2 --dry-run")
    assert.are.equal(0, code, out .. err)
    assert.are.equal("  would revert  004_d.down.sql\n  would revert  003_c.down.sql\n"
      .. "Dry run: 2 migrations would be reverted; nothing was changed.\n", out)
    out, err, code = lumi("down")
    assert.are.equal(0, code, out .. err)
    assert.truthy(out:match("^  reverted  004_d%.down%.sql  %d+ ms\nReverted 1 migration%.\n$"), out)
    out, err, code = lumi("down --all")
    assert.are.equal(0, code, out .. err)
    assert.truthy(out:match("^  reverted  003_c%.down%.sql  %d+ ms\n  reverted  002_b%.down%.sql  %d+ ms\n"
      .. "  reverted  001_a%.down%.sql  %d+ ms\nReverted 3 migrations%.\n$"), out)
    out, err, code = lumi("down")
    assert.are.equal(0, code, out .. err)
    assert.are.equal("Nothing to revert.\n", out)
  end)

  it("down N refuses N that is not a whole number of 1 or more (exit 2)", function()
    for _, n in ipairs({ "0", "-1", "x", "1.5" }) do
      local out, err, code = lumi("down -- " .. n)
      assert.are.equal(2, code, n .. ": " .. out .. err)
      assert.truthy(err:find("down N: N must be a whole number of migrations, 1 or more", 1, true), n .. ": " .. err)
    end
    assert.are.equal("a b c d", tables(url))
  end)

  it("refuses N, --to and --all given together (exit 2), reverting nothing", function()
    for _, args in ipairs({ "down 1 --all", "down --to 002 --all", "down 1 --to 001", "down --all --dry-run 2" }) do
      local out, err, code = lumi(args)
      assert.are.equal(2, code, args .. ": " .. out .. err)
      assert.truthy(err:find("down takes one of N, --to VERSION or --all, not ", 1, true), args .. ": " .. err)
    end
    assert.are.equal("a b c d", tables(url))
  end)

  it("fails before changing anything (exit 3) when one of the migrations has no down part", function()
    os.remove(dir .. "/migrations/003_c.down.sql")
    local out, err, code = lumi("down 2")
    assert.are.equal(3, code, out .. err)
    assert.truthy(err:find("cannot revert 003_c.up.sql: it has no down migration", 1, true), err)
    assert.truthy(err:find("add 003_c.down.sql", 1, true), err)
    -- 004 could have been reverted, but nothing was
    assert.are.equal("a b c d", tables(url))
    assert.are.same({ "001", "002", "003", "004" }, h.versions(url))
    -- the newest alone still goes down
    out, err, code = lumi("down")
    assert.are.equal(0, code, out .. err)
    assert.are.equal("a b c", tables(url))
  end)

  it("a failing down part is rolled back: the migration stays applied (exit 1)", function()
    h.write(dir .. "/migrations/004_d.down.sql", "DROP TABLE d;\nDROP TABLE nope;\n")
    local out, err, code = lumi("down 2")
    assert.are.equal(1, code, out .. err)
    assert.truthy(err:find("004_d.down.sql", 1, true), err)
    assert.truthy(err:find("42P01", 1, true), err)
    assert.truthy(err:find("The revert was rolled back; the migration stays applied. 0 migrations reverted before it.", 1, true), err)
    assert.are.equal("a b c d", tables(url))
    assert.are.same({ "001", "002", "003", "004" }, h.versions(url))
    local last = h.query(url, "SELECT event, version, sqlstate FROM schema_migrations_log ORDER BY id DESC LIMIT 1")[1]
    assert.are.same({ "revert failed", "004", "42P01" }, { last.event, last.version, last.sqlstate })
  end)

  it("a migration whose file changed since it was applied can still be reverted", function()
    h.write(dir .. "/migrations/004_d.up.sql", "CREATE TABLE d (id int, x int);\n")
    local out, err, code = lumi("down")
    assert.are.equal(0, code, out .. err)
    assert.are.equal("a b c", tables(url))
  end)

  it("a protected target refuses down (exit 2) and changes nothing", function()
    h.write(dir .. "/migrate.lua", "return { protected = true }\n")
    local out, err, code = lumi("down")
    assert.are.equal(2, code, out .. err)
    assert.truthy(err:find("target default is protected (protected = true in migrate.lua): `lumi down` refuses to run on it", 1, true), err)
    assert.are.equal("a b c d", tables(url))
  end)
end)

describe("lumi redo (end to end)", function()
  local url, dir
  local function lumi(args) return h.lumi(dir, args, { DATABASE_URL = url }) end
  local function json(args) return h.json(dir, args, { DATABASE_URL = url }) end

  before_each(function()
    url = h.fresh_db()
    dir = h.project(four())
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
  end)

  it("reverts the newest migration and applies it again, with the edited file", function()
    h.with_conn(url, function(c) assert(c:exec("INSERT INTO d VALUES (1)")) end)
    h.write(dir .. "/migrations/004_d.up.sql", "CREATE TABLE d (id int, note text);\n")
    local st = cjson.decode((lumi("status --json")))
    assert.are.equal(1, st.totals.changed)
    local doc, code, err = json("redo")
    assert.are.equal(0, code, err)
    assert.are.same({ "004_d.down.sql" }, h.files(doc.reverted))
    assert.are.same({ "004_d.up.sql" }, h.files(doc.applied))
    assert.is_true(h.column_exists(url, "d", "note"))
    assert.are.equal(0, h.value(url, "SELECT count(*)::int FROM d"))
    assert.are.same({ "001", "002", "003", "004" }, h.versions(url))
    assert.are.equal(h.sha256sum(dir .. "/migrations/004_d.up.sql"),
      h.value(url, "SELECT checksum FROM schema_migrations WHERE version = '004'"))
    st = cjson.decode((lumi("status --json")))
    assert.are.same({ total = 4, applied = 4, pending = 0, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, st.totals)
    local ev = h.events(url)
    assert.are.same({ "reverted", "applied" }, { ev[#ev - 1], ev[#ev] })
  end)

  it("leaves the migrations before the newest alone", function()
    h.with_conn(url, function(c) assert(c:exec("INSERT INTO c VALUES (1)")) end)
    local _, err, code = lumi("redo")
    assert.are.equal(0, code, err)
    assert.are.equal(1, h.value(url, "SELECT count(*)::int FROM c"))
  end)

  it("stops (exit 3) when the newest has no down part, and changes nothing", function()
    os.remove(dir .. "/migrations/004_d.down.sql")
    h.with_conn(url, function(c) assert(c:exec("INSERT INTO d VALUES (1)")) end)
    local out, err, code = lumi("redo")
    assert.are.equal(3, code, out .. err)
    assert.truthy(err:find("cannot revert 004_d.up.sql: it has no down migration", 1, true), err)
    assert.are.equal(1, h.value(url, "SELECT count(*)::int FROM d"))
  end)

  it("when the up part fails after the revert, says so (exit 1) and leaves it pending", function()
    h.write(dir .. "/migrations/004_d.up.sql", "CREATE TABLE d (id int);\nSELECT nope;\n")
    local out, err, code = lumi("redo")
    assert.are.equal(1, code, out .. err)
    assert.truthy(err:find("004_d.up.sql:2:8: ERROR 42703", 1, true), err)
    assert.is_false(h.table_exists(url, "public.d"))
    assert.are.same({ "001", "002", "003" }, h.versions(url))
    -- the same again, asking for JSON: the revert is reported, the up part failed
    h.write(dir .. "/migrations/004_d.up.sql", "CREATE TABLE d (id int);\n")
    assert.are.equal(0, select(3, lumi("up")))
    h.write(dir .. "/migrations/004_d.up.sql", "CREATE TABLE d (id int);\nSELECT nope;\n")
    local doc
    doc, code, err = json("redo")
    assert.are.equal(1, code, err)
    assert.are.same({ "004_d.down.sql" }, h.files(doc.reverted))
    assert.are.same({}, h.files(doc.applied))
    assert.are.same({ file = "004_d.up.sql", version = "004" }, doc.failed)
    assert.are.equal("42703", doc.error.sqlstate)
    assert.is_false(h.table_exists(url, "public.d"))
    assert.are.same({ "001", "002", "003" }, h.versions(url))
  end)
end)
