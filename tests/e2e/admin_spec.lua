-- The commands that change the record without (or besides) running
-- migrations: baseline, mark, unmark, repair, fresh; and the event log they
-- all write to, shown by lumi log.
local h = require "support.helper"
local cjson = require "cjson"

local null = require("lumi.pg").null
local function is_null(v) return v == nil or v == null end

describe("lumi baseline (end to end)", function()
  local url, dir
  local function lumi(args) return h.lumi(dir, args, { DATABASE_URL = url }) end
  local function json(args) return h.json(dir, args, { DATABASE_URL = url }) end

  before_each(function()
    url = h.fresh_db()
    dir = h.project(h.three_files())
    -- the schema of 001 and 002 exists already, made by another tool
    h.with_conn(url, function(c)
      assert(c:exec(h.read(dir .. "/migrations/001_create_users.sql")))
      assert(c:exec(h.read(dir .. "/migrations/002_create_posts.sql")))
      assert(c:exec("INSERT INTO users (email) VALUES ('kept@example.com')"))
    end)
  end)

  it("records every migration up to VERSION as applied, runs nothing, and up applies the rest", function()
    local bdoc, code, err = json("baseline 002")
    assert.are.equal(0, code, err)
    assert.are.same({ { version = "001", file = "001_create_users.sql" }, { version = "002", file = "002_create_posts.sql" } },
      bdoc.baselined)
    assert.are.equal("002", bdoc.version)
    assert.are.same({ "001", "002" }, h.versions(url))
    for _, r in ipairs(h.query(url, "SELECT file, checksum, state FROM schema_migrations")) do
      assert.are.equal(h.sha256sum(dir .. "/migrations/" .. r.file), r.checksum)
      assert.are.equal("applied", r.state)
    end
    assert.is_false(h.column_exists(url, "users", "name"))
    assert.are.equal(1, h.value(url, "SELECT count(*)::int FROM users"))
    assert.are.same({ "baselined", "baselined" }, h.events(url))
    local doc = cjson.decode((lumi("status --json")))
    assert.are.same({ total = 3, applied = 2, pending = 1, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, doc.totals)

    local up
    up, code, err = json("up")
    assert.are.equal(0, code, err)
    assert.are.same({ "003_add_name.sql" }, h.files(up.applied))
    assert.are.same({ "001", "002", "003" }, h.versions(url))
    assert.is_true(h.column_exists(url, "users", "name"))
    assert.are.equal(1, h.value(url, "SELECT count(*)::int FROM users"))
  end)

  it("prints a line per migration it recorded, then how many (the human output)", function()
    local out, err, code = lumi("baseline 002")
    assert.are.equal(0, code, out .. err)
    assert.are.equal("  baselined  001_create_users.sql\n  baselined  002_create_posts.sql\n"
      .. "Recorded 2 migrations up to 002 as applied; nothing was run.\n", out)
  end)

  it("takes the version as the scheme compares it (2 is 002)", function()
    local out, err, code = lumi("baseline 2")
    assert.are.equal(0, code, out .. err)
    assert.are.same({ "001", "002" }, h.versions(url))
  end)

  it("refuses a version no file has (exit 2), recording nothing", function()
    local out, err, code = lumi("baseline 009")
    assert.are.equal(2, code, out .. err)
    assert.truthy(err:find("baseline 009: no migration file has that version", 1, true), err)
    -- bad input changes nothing: not even the tracking table is created
    assert.is_false(h.table_exists(url, "schema_migrations"))
  end)

  it("needs VERSION (exit 2)", function()
    local _, err, code = lumi("baseline")
    assert.are.equal(2, code)
    assert.truthy(err:find("baseline needs VERSION", 1, true), err)
  end)
end)

describe("lumi mark / unmark (end to end)", function()
  local url, dir
  local function lumi(args) return h.lumi(dir, args, { DATABASE_URL = url }) end
  local function json(args) return h.json(dir, args, { DATABASE_URL = url }) end
  before_each(function()
    url = h.fresh_db()
    dir = h.project(h.three_files())
  end)

  it("mark records a pending migration as applied without running it", function()
    local out, err, code = lumi("up --to 001")
    assert.are.equal(0, code, out .. err)
    h.with_conn(url, function(c) assert(c:exec("CREATE TABLE posts (id bigserial PRIMARY KEY, user_id bigint)")) end)
    out, err, code = lumi("mark 002")
    assert.are.equal(0, code, out .. err)
    assert.truthy(out:find("Marked 002_create_posts.sql as applied; nothing was run.", 1, true), out)
    assert.is_false(h.table_exists(url, "posts_user"))   -- the index of 002 was not created
    local r = h.query(url, "SELECT state, checksum FROM schema_migrations WHERE version = '002'")[1]
    assert.are.equal("applied", r.state)
    assert.are.equal(h.sha256sum(dir .. "/migrations/002_create_posts.sql"), r.checksum)
    local doc
    doc, code, err = json("up")
    assert.are.equal(0, code, err)
    assert.are.same({ "003_add_name.sql" }, h.files(doc.applied))
    assert.are.same({ "applied", "marked", "applied" }, h.events(url))
  end)

  it("mark takes a file name too, and refuses what is already applied or unknown (exit 2)", function()
    lumi("up --to 001")
    local out, err, code = lumi("mark 002_create_posts.sql")
    assert.are.equal(0, code, out .. err)
    assert.are.same({ "001", "002" }, h.versions(url))
    out, err, code = lumi("mark 001")
    assert.are.equal(2, code, out .. err)
    assert.truthy(err:find("mark: 001_create_users.sql is already applied", 1, true), err)
    out, err, code = lumi("mark 9")
    assert.are.equal(2, code, out .. err)
    assert.truthy(err:find('mark: no migration has version or file "9"', 1, true), err)
    assert.are.same({ "001", "002" }, h.versions(url))
  end)

  it("unmark forgets an applied migration without running anything; up applies it again", function()
    lumi("up")
    local out, err, code = lumi("unmark 003")
    assert.are.equal(0, code, out .. err)
    assert.truthy(out:find("Forgot 003_add_name.sql (it was applied); nothing was run. `lumi up` will apply it again.", 1, true), out)
    assert.are.same({ "001", "002" }, h.versions(url))
    assert.is_true(h.column_exists(url, "users", "name"))      -- nothing was reverted
    local doc = cjson.decode((lumi("status --json")))
    assert.are.same({ total = 3, applied = 2, pending = 1, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, doc.totals)
    h.with_conn(url, function(c) assert(c:exec("ALTER TABLE users DROP COLUMN name")) end)
    out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.are.same({ "001", "002", "003" }, h.versions(url))
    assert.are.same({ "applied", "applied", "applied", "unmarked", "applied" }, h.events(url))
  end)

  it("unmark forgets a missing migration's record", function()
    lumi("up")
    os.remove(dir .. "/migrations/003_add_name.sql")
    local out, err, code = lumi("unmark 003")
    assert.are.equal(0, code, out .. err)
    assert.truthy(out:find("Forgot 003_add_name.sql (it was applied, and its file is gone); nothing was run.", 1, true), out)
    assert.is_nil(out:find("will apply it again", 1, true), out)
    assert.are.same({ "001", "002" }, h.versions(url))
    local _, verr, vcode = lumi("validate")
    assert.are.equal(0, vcode, verr)
  end)

  it("unmark refuses a pending migration (exit 2)", function()
    lumi("up --to 002")
    local out, err, code = lumi("unmark 003")
    assert.are.equal(2, code, out .. err)
    assert.truthy(err:find("unmark: 003_add_name.sql is not recorded (it is pending)", 1, true), err)
  end)
end)

describe("lumi repair (end to end)", function()
  local url, dir
  local function lumi(args) return h.lumi(dir, args, { DATABASE_URL = url }) end
  local function json(args) return h.json(dir, args, { DATABASE_URL = url }) end
  before_each(function()
    url = h.fresh_db()
    dir = h.project(h.three_files())
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
  end)

  it("after an applied file was edited, accepts it: status shows applied again and validate exits 0", function()
    local path = dir .. "/migrations/002_create_posts.sql"
    local old = h.sha256sum(path)
    h.write(path, "-- posts belong to users\n" .. h.read(path))
    local doc = cjson.decode((lumi("status --json")))
    assert.are.equal("changed", doc.entries[2].state)
    local _, _, vcode = lumi("validate")
    assert.are.equal(3, vcode)
    local out, err, code = lumi("up")
    assert.are.equal(3, code, out .. err)
    assert.truthy(err:find("lumi repair", 1, true), err)

    local rdoc
    rdoc, code, err = json("repair")
    assert.are.equal(0, code, err)
    assert.are.same({ { version = "002", file = "002_create_posts.sql", old = old, new = h.sha256sum(path) } }, rdoc.repaired)
    assert.are.equal(h.sha256sum(path), h.value(url, "SELECT checksum FROM schema_migrations WHERE version = '002'"))
    doc = cjson.decode((lumi("status --json")))
    assert.are.same({ total = 3, applied = 3, pending = 0, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, doc.totals)
    local vout, verr
    vout, verr, vcode = lumi("validate")
    assert.are.equal(0, vcode, vout .. verr)
    assert.truthy(vout:find("OK: 3 migrations checked, no problems.", 1, true), vout)
    -- nothing ran: the table of 002 is as it was
    assert.are.equal(1, h.value(url, "SELECT count(*)::int FROM pg_indexes WHERE indexname = 'posts_user'"))
    local last = h.query(url, "SELECT event, version, checksum FROM schema_migrations_log ORDER BY id DESC LIMIT 1")[1]
    assert.are.same({ "repaired", "002", h.sha256sum(path) }, { last.event, last.version, last.checksum })
  end)

  it("prints each file it repaired with its old and new checksum, then how many (the human output)", function()
    local path = dir .. "/migrations/002_create_posts.sql"
    local old = h.sha256sum(path)
    h.write(path, "-- posts belong to users\n" .. h.read(path))
    local out, err, code = lumi("repair")
    assert.are.equal(0, code, out .. err)
    assert.are.equal("  repaired  002_create_posts.sql  " .. old:sub(1, 12) .. "… -> " .. h.sha256sum(path):sub(1, 12) .. "…\n"
      .. "Accepted the current contents of 1 file.\n", out)
  end)

  it("repair VERSION repairs that one; an unchanged one is refused (exit 2); nothing changed says so", function()
    h.write(dir .. "/migrations/001_create_users.sql", "-- x\n" .. h.read(dir .. "/migrations/001_create_users.sql"))
    h.write(dir .. "/migrations/003_add_name.sql", "-- y\n" .. h.read(dir .. "/migrations/003_add_name.sql"))
    local out, err, code = lumi("repair 002")
    assert.are.equal(2, code, out .. err)
    assert.truthy(err:find("repair: 002_create_posts.sql has not changed", 1, true), err)
    out, err, code = lumi("repair 3")
    assert.are.equal(0, code, out .. err)
    local doc = cjson.decode((lumi("status --json")))
    assert.are.equal("changed", doc.entries[1].state)
    assert.are.equal("applied", doc.entries[3].state)
    lumi("repair")
    out, err, code = lumi("repair")
    assert.are.equal(0, code, out .. err)
    assert.truthy(out:find("Nothing to repair: no applied file has changed.", 1, true), out)
  end)
end)

describe("lumi fresh (end to end)", function()
  local url, dir
  local function lumi(args) return h.lumi(dir, args .. " </dev/null", { DATABASE_URL = url }) end
  local function json(args) return h.json(dir, args .. " </dev/null", { DATABASE_URL = url }) end
  before_each(function()
    url = h.fresh_db()
    dir = h.project(h.three_files())
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    h.with_conn(url, function(c) assert(c:exec("INSERT INTO users (email) VALUES ('a@example.com'), ('b@example.com')")) end)
  end)

  it("without a terminal and without --force exits 2 and changes nothing", function()
    local before = h.query(url, "SELECT version, applied_at FROM schema_migrations ORDER BY version")
    local out, err, code = lumi("fresh")
    assert.are.equal(2, code, out .. err)
    assert.truthy(err:find("fresh drops data: add --force when not on a terminal", 1, true), err)
    assert.are.equal(2, h.value(url, "SELECT count(*)::int FROM users"))
    assert.are.same(before, h.query(url, "SELECT version, applied_at FROM schema_migrations ORDER BY version"))
  end)

  it("with --force drops everything and applies every migration again", function()
    h.with_conn(url, function(c) assert(c:exec("CREATE TABLE stray (id int)")) end)
    local first = h.value(url, "SELECT max(id)::int FROM schema_migrations_log")
    local doc, code, err = json("fresh --force")
    assert.are.equal(0, code, err)
    local dropped = {}
    for i, d in ipairs(doc.dropped) do dropped[i] = d.schema end
    assert.are.same({ "public" }, dropped)
    assert.are.same({ "001_create_users.sql", "002_create_posts.sql", "003_add_name.sql" }, h.files(doc.applied))
    assert.are.equal(0, h.value(url, "SELECT count(*)::int FROM users"))
    assert.is_false(h.table_exists(url, "stray"))
    assert.is_true(h.column_exists(url, "users", "name"))
    assert.are.same({ "001", "002", "003" }, h.versions(url))
    -- the tracking rows are the new ones: the log restarted with them
    assert.are.same({ "applied", "applied", "applied" }, h.events(url))
    assert.is_true(first >= 3)
  end)

  it("prints the schemas it dropped, a line per migration, then how many it applied (the human output)", function()
    local out, err, code = lumi("fresh --force")
    assert.are.equal(0, code, out .. err)
    assert.truthy(out:match("^  dropped  schema public\n  applied  001_create_users%.sql  %d+ ms\n"
      .. "  applied  002_create_posts%.sql  %d+ ms\n  applied  003_add_name%.sql      %d+ ms\nApplied 3 migrations in %d+ ms%.\n$"), out)
    h.write(dir .. "/migrate.lua", 'return { schemas = { "public", "app" } }\n')
    out, err, code = lumi("fresh --force")
    assert.are.equal(0, code, out .. err)
    assert.truthy(out:match("^  dropped  schemas public, app\n"), out)
  end)

  it("a target with protected = true refuses fresh even with --force (exit 2)", function()
    h.write(dir .. "/migrate.lua", "return { protected = true }\n")
    local out, err, code = lumi("fresh --force")
    assert.are.equal(2, code, out .. err)
    assert.truthy(err:find("target default is protected (protected = true in migrate.lua): `lumi fresh` refuses to run on it", 1, true), err)
    assert.are.equal(2, h.value(url, "SELECT count(*)::int FROM users"))
    assert.are.same({ "001", "002", "003" }, h.versions(url))
    -- and redo too
    out, err, code = lumi("redo")
    assert.are.equal(2, code, out .. err)
    assert.truthy(err:find("`lumi redo` refuses to run on it", 1, true), err)
  end)

  it("drops and re-creates the schemas it is told to, and the tracking table's schema", function()
    h.write(dir .. "/migrate.lua", 'return { schemas = { "public", "app" }, table = "ops.migrations" }\n')
    local u2 = h.fresh_db()
    local out, err, code = h.lumi(dir, "up </dev/null", { DATABASE_URL = u2 })
    assert.are.equal(0, code, out .. err)
    h.with_conn(u2, function(c)
      assert(c:exec("CREATE SCHEMA app; CREATE TABLE app.t (id int); CREATE SCHEMA other; CREATE TABLE other.t (id int);"))
    end)
    local doc
    doc, code, err = h.json(dir, "fresh --force </dev/null", { DATABASE_URL = u2 })
    assert.are.equal(0, code, err)
    local dropped = {}
    for i, d in ipairs(doc.dropped) do dropped[i] = d.schema end
    assert.are.same({ "public", "app", "ops" }, dropped)
    assert.is_false(h.table_exists(u2, "app.t"))
    assert.is_true(h.table_exists(u2, "other.t"))
    assert.are.same({ "001", "002", "003" }, h.versions(u2, "ops.migrations"))
  end)
end)

describe("the event log and lumi log (end to end)", function()
  local url, dir
  local function lumi(args) return h.lumi(dir, args, { DATABASE_URL = url }) end
  local function json(args) return h.json(dir, args, { DATABASE_URL = url }) end
  before_each(function()
    url = h.fresh_db()
    dir = h.project({
      ["migrations/001_a.up.sql"] = "CREATE TABLE a (id int);\n",
      ["migrations/001_a.down.sql"] = "DROP TABLE a;\n",
      ["migrations/002_b.up.sql"] = "CREATE TABLE b (id int);\n",
      ["migrations/002_b.down.sql"] = "DROP TABLE b;\n",
      ["migrations/003_c.up.sql"] = "CREATE TABLE c (id int);\nSELECT missing_column FROM c;\n",
    })
  end)

  it("lumi log -n takes a whole number of 1 or more (exit 2 otherwise)", function()
    lumi("up")
    for _, n in ipairs({ "0", "-1", "abc", "1.5" }) do
      local out, err, code = lumi("log -n " .. n)
      assert.are.equal(2, code, n .. ": " .. out .. err)
      assert.truthy(err:find("log -n N: N must be a whole number of events, 1 or more", 1, true), n .. ": " .. err)
    end
    local out, err, code = lumi("log -n 1 --json")
    assert.are.equal(0, code, err)
    assert.are.equal(1, #require("cjson").decode(out).events)
  end)

  it("lumi log says so before anything happened", function()
    local out, err, code = lumi("log")
    assert.are.equal(0, code, out .. err)
    assert.truthy(out:find("No events logged yet.", 1, true), out)
  end)

  it("records applied, failed (with sqlstate and error), reverted, marked, unmarked, baselined, repaired", function()
    local _, _, code = lumi("up")
    assert.are.equal(1, code)
    local _, err2, code2 = lumi("down")                           -- reverts 002
    assert.are.equal(0, code2, err2)
    lumi("mark 002")
    lumi("unmark 002")
    lumi("unmark 001")
    lumi("baseline 002")
    h.write(dir .. "/migrations/002_b.up.sql", "-- edited\nCREATE TABLE b (id int);\n")
    lumi("repair")

    local rows = h.query(url, "SELECT event, version, file, checksum, sqlstate, error, execution_ms, db_user, target, at "
      .. "FROM schema_migrations_log ORDER BY id")
    local got = {}
    for i, r in ipairs(rows) do got[i] = r.event .. " " .. r.version end
    assert.are.same({ "applied 001", "applied 002", "failed 003", "reverted 002", "marked 002", "unmarked 002",
                      "unmarked 001", "baselined 001", "baselined 002", "repaired 002" }, got)
    local failed = rows[3]
    assert.are.equal("003_c.up.sql", failed.file)
    assert.are.equal("42703", failed.sqlstate)
    assert.truthy(h.has(failed.error, 'column "missing_column" does not exist'), failed.error)
    assert.are.equal(h.sha256sum(dir .. "/migrations/001_a.up.sql"), rows[1].checksum)
    assert.truthy(tonumber(rows[1].execution_ms), tostring(rows[1].execution_ms))
    assert.are.equal("postgres", rows[1].db_user)
    assert.are.equal("default", rows[1].target)
    assert.are.equal(h.sha256sum(dir .. "/migrations/002_b.up.sql"), rows[10].checksum)

    -- lumi log shows them newest first
    local doc, code3, err = json("log")
    assert.are.equal(0, code3, err)
    local shown = {}
    for i, ev in ipairs(doc.events) do shown[i] = ev.event .. " " .. ev.file end
    assert.are.same({ "repaired 002_b.up.sql", "baselined 002_b.up.sql", "baselined 001_a.up.sql", "unmarked 001_a.up.sql",
                      "unmarked 002_b.up.sql", "marked 002_b.up.sql", "reverted 002_b.up.sql", "failed 003_c.up.sql",
                      "applied 002_b.up.sql", "applied 001_a.up.sql" }, shown)
    local f = doc.events[8]
    assert.are.same({ "postgres", "42703" }, { f.db_user, f.sqlstate })
    assert.truthy(h.has(f.error, 'column "missing_column" does not exist'), f.error)
    assert.are.equal("postgres", doc.events[10].db_user)
    assert.truthy(doc.events[10].at:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"), doc.events[10].at)

    doc = json("log -n 2")
    shown = {}
    for i, ev in ipairs(doc.events) do shown[i] = ev.event .. " " .. ev.file end
    assert.are.same({ "repaired 002_b.up.sql", "baselined 002_b.up.sql" }, shown)

    -- the human output: a line per event, newest first, with when, what, which file, who and any error
    local out, err3, code4 = lumi("log")
    assert.are.equal(0, code4, out .. err3)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal(10, #lines, out)
    assert.truthy(lines[8]:find("failed%s+003_c%.up%.sql%s+postgres%s+.*42703.*column \"missing_column\" does not exist"), out)
    assert.truthy(lines[10]:find("^  %d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d UTC  applied%s+001_a%.up%.sql%s+postgres"), out)
    out = lumi("log -n 2")
    local n = 0
    for _ in out:gmatch("[^\n]+") do n = n + 1 end
    assert.are.equal(2, n, out)
  end)

  it("lumi log --json lists the events, newest first", function()
    lumi("up")
    local out, err, code = lumi("log --json")
    assert.are.equal(0, code, out .. err)
    local doc = cjson.decode(out)
    assert.are.equal("log", doc.command)
    assert.are.equal(3, #doc.events, out)
    assert.are.equal("failed", doc.events[1].event)
    assert.are.equal("42703", doc.events[1].sqlstate)
    assert.are.equal("003_c.up.sql", doc.events[1].file)
    assert.are.equal("applied", doc.events[3].event)
    assert.are.equal("001", doc.events[3].version)
  end)

  it("a failed run's log row survives the rollback of the migration", function()
    lumi("up")
    assert.are.same({ "001", "002" }, h.versions(url))
    assert.is_false(h.table_exists(url, "c"))
    local ev = h.events(url)
    assert.are.equal("failed", ev[#ev])
  end)

  it("tracking.log = false keeps no log, and lumi log says there are no events", function()
    h.write(dir .. "/migrate.lua", "return { tracking = { log = false } }\n")
    os.remove(dir .. "/migrations/003_c.up.sql")
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.is_false(h.table_exists(url, "schema_migrations_log"))
    out, err, code = lumi("log")
    assert.are.equal(0, code, out .. err)
    assert.truthy(out:find("No events logged yet.", 1, true), out)
  end)
end)
