-- How a migration's SQL runs: in lumi's transaction, in the file's own
-- BEGIN; ... COMMIT;, or (-- lumi: no-transaction) statement by statement,
-- with an unfinished record when it fails midway and the two documented
-- ways out (lumi mark / lumi unmark).
local h = require "support.helper"
local cjson = require "cjson"

local function count(url, tbl)
  return h.value(url, "SELECT count(*)::int FROM " .. tbl)
end

describe("-- lumi: no-transaction (end to end)", function()
  local url, dir
  local function lumi(args) return h.lumi(dir, args, { DATABASE_URL = url }) end
  local function json(args) return h.json(dir, args, { DATABASE_URL = url }) end

  before_each(function()
    url = h.fresh_db()
    dir = h.project({
      ["migrations/001_create_users.sql"] = "CREATE TABLE users (id bigserial PRIMARY KEY, email text);\n"
        .. "INSERT INTO users (email) SELECT 'u' || g FROM generate_series(1, 100) g;\n",
    })
  end)

  it("applies a file holding CREATE INDEX CONCURRENTLY, recorded as applied", function()
    h.write(dir .. "/migrations/002_index.sql",
      "-- lumi: no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n")
    local doc, code, err = json("up")
    assert.are.equal(0, code, err)
    assert.are.same({ "001_create_users.sql", "002_index.sql" }, h.files(doc.applied))
    assert.is_true(h.table_exists(url, "users_email"))
    assert.is_true(h.value(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email'::regclass"))
    local r = h.query(url, "SELECT state, error, checksum FROM schema_migrations WHERE version = '002'")[1]
    assert.are.equal("applied", r.state)
    assert.are.equal(h.sha256sum(dir .. "/migrations/002_index.sql"), r.checksum)
    assert.is_true(r.error == nil or r.error == require("lumi.pg").null)
    local st = cjson.decode((lumi("status --json")))
    assert.are.same({ total = 2, applied = 2, pending = 0, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, st.totals)
  end)

  it("an error without a position is placed at its statement's line; a first statement failing says so", function()
    h.write(dir .. "/migrations/002_c.sql",
      "-- lumi: no-transaction\nCREATE TABLE c (id int);\n\nALTER TABLE nosuch ADD COLUMN x int;\n")
    local out, err, code = lumi("up")
    assert.are.equal(1, code, out .. err)
    assert.truthy(err:find("002_c.sql:4:1: ERROR 42P01", 1, true), err)
    assert.truthy(err:find("4 | ALTER TABLE nosuch ADD COLUMN x int;", 1, true), err)
    assert.truthy(err:find("statement 2 of 2 failed, the 1 statement before it took effect", 1, true), err)
    lumi("unmark 002")
    h.write(dir .. "/migrations/002_c.sql", "-- lumi: no-transaction\nSELECT nosuch;\nCREATE TABLE z (i int);\n")
    out, err, code = lumi("up")
    assert.are.equal(1, code, out .. err)
    assert.truthy(err:find("its first statement failed, so nothing of it took effect", 1, true), err)
    assert.truthy(err:find("It is not recorded: `lumi up` runs it again.", 1, true), err)
    -- pending again, and nothing recorded: the next up runs it from the top
    assert.are.same({ "001" }, h.versions(url))
    h.write(dir .. "/migrations/002_c.sql", "-- lumi: no-transaction\nSELECT 1;\nCREATE TABLE z (i int);\n")
    out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.is_true(h.table_exists(url, "z"))
  end)

  it("without the directive, CREATE INDEX CONCURRENTLY fails inside lumi's transaction and nothing remains", function()
    h.write(dir .. "/migrations/002_index.sql", "CREATE INDEX CONCURRENTLY users_email ON users (email);\n")
    local out, err, code = lumi("up")
    assert.are.equal(1, code, out .. err)
    assert.truthy(err:find("25001", 1, true), err)
    assert.truthy(err:find("CREATE INDEX CONCURRENTLY cannot run inside a transaction block", 1, true), err)
    assert.truthy(err:find("HINT: put `-- lumi: no-transaction` first in the file", 1, true), err)
    assert.is_false(h.table_exists(url, "users_email"))
    assert.are.same({ "001" }, h.versions(url))
  end)

  it("dbmate's form (transaction:false on the up marker) works the same", function()
    h.write(dir .. "/migrations/002_index.sql",
      "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n"
        .. "-- migrate:down\nDROP INDEX CONCURRENTLY users_email;\n")
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.is_true(h.table_exists(url, "users_email"))
    assert.are.same({ "001", "002" }, h.versions(url))
  end)

  it("goose's form works where goose puts it: -- +goose NO TRANSACTION above -- +goose Up", function()
    h.write(dir .. "/migrations/002_index.sql",
      "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY users_id_email ON users (id, email);\n"
        .. "-- +goose Down\nDROP INDEX CONCURRENTLY users_id_email;\n")
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.is_true(h.table_exists(url, "users_id_email"))
    assert.are.same({ "001", "002" }, h.versions(url))
  end)

  it("a sections file starting with -- lumi: no-transaction runs its up section without a transaction", function()
    h.write(dir .. "/migrations/002_index.sql",
      "-- lumi: no-transaction\n-- migrate:up\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n"
        .. "-- migrate:down\nDROP INDEX CONCURRENTLY users_email;\n")
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.is_true(h.table_exists(url, "users_email"))
  end)

  it("a no-transaction down part (CREATE/DROP INDEX CONCURRENTLY) reverts", function()
    h.write(dir .. "/migrations/002_index.up.sql",
      "-- lumi: no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n")
    h.write(dir .. "/migrations/002_index.down.sql",
      "-- lumi: no-transaction\nDROP INDEX CONCURRENTLY users_email;\n")
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.is_true(h.table_exists(url, "users_email"))
    out, err, code = lumi("down")
    assert.are.equal(0, code, out .. err)
    assert.is_false(h.table_exists(url, "users_email"))
    assert.are.same({ "001" }, h.versions(url))
  end)

  describe("failing on its 3rd statement", function()
    local bad = "-- lumi: no-transaction\n"
      .. "CREATE TABLE audit (id int);\n"
      .. "INSERT INTO audit VALUES (1);\n"
      .. "INSERT INTO audit_missing VALUES (2);\n"
      .. "CREATE INDEX CONCURRENTLY audit_id ON audit (id);\n"

    before_each(function()
      h.write(dir .. "/migrations/002_audit.sql", bad)
      h.write(dir .. "/migrations/003_after.sql", "CREATE TABLE after_audit (id int);\n")
    end)

    local function fail_it()
      local out, err, code = lumi("up")
      assert.are.equal(1, code, out .. err)
      return out, err
    end

    it("leaves an unfinished record with the error, and the effects of statements 1-2", function()
      local _, err = fail_it()
      assert.truthy(err:find("migrations/002_audit.sql:4:13: ERROR 42P01", 1, true), err)
      assert.truthy(err:find("statement 3 of 4 failed", 1, true), err)
      assert.truthy(err:find("the 2 statements before it took effect", 1, true), err)
      assert.truthy(err:find("lumi mark 002", 1, true), err)
      assert.truthy(err:find("lumi unmark 002", 1, true), err)
      -- statements 1 and 2 took effect, 3 and 4 did not
      assert.are.equal(1, count(url, "audit"))
      assert.is_false(h.table_exists(url, "audit_id"))
      assert.is_false(h.table_exists(url, "after_audit"))
      local r = h.query(url, "SELECT version, state, error, checksum FROM schema_migrations ORDER BY version")
      assert.are.equal(2, #r)
      assert.are.same({ "001", "applied" }, { r[1].version, r[1].state })
      assert.are.equal("unfinished", r[2].state)
      assert.truthy(h.has(r[2].error, "statement 3"), r[2].error)
      assert.truthy(h.has(r[2].error, 'relation "audit_missing" does not exist'), r[2].error)
      assert.are.equal(h.sha256sum(dir .. "/migrations/002_audit.sql"), r[2].checksum)
      local last = h.query(url, "SELECT event, version, sqlstate, error FROM schema_migrations_log ORDER BY id DESC LIMIT 1")[1]
      assert.are.same({ "unfinished", "002", "42P01" }, { last.event, last.version, last.sqlstate })
      assert.truthy(h.has(last.error, "audit_missing"), last.error)
    end)

    it("with --json, names what was applied before it and the one that failed", function()
      local doc, code, err = json("up")
      assert.are.equal(1, code, err)
      assert.are.same({ "001_create_users.sql" }, h.files(doc.applied))
      assert.are.same({ file = "002_audit.sql", version = "002" }, doc.failed)
      assert.are.same({ "migrations/002_audit.sql", 4, 13, "42P01" },
        { doc.error.file, doc.error.line, doc.error.column, doc.error.sqlstate })
    end)

    it("lumi status shows it unfinished, and validate fails", function()
      fail_it()
      local doc, code, err = json("status")
      assert.are.equal(0, code, err)
      assert.are.same({ total = 3, applied = 1, pending = 1, changed = 0, missing = 0, unfinished = 1, in_progress = 0 }, doc.totals)
      local states = {}
      for i, e in ipairs(doc.entries) do states[i] = e.file .. ":" .. e.state end
      assert.are.same({ "001_create_users.sql:applied", "002_audit.sql:unfinished", "003_after.sql:pending" }, states)
      assert.truthy(h.has(doc.entries[2].error, 'statement 3 of 4 failed: relation "audit_missing" does not exist'),
        doc.entries[2].error)
      local out
      out, err, code = lumi("validate")
      assert.are.equal(3, code, out .. err)
      assert.truthy(err:find("unfinished: 002_audit.sql: failed midway without a transaction", 1, true), err)
      assert.truthy(err:find("(resolve with lumi mark 002 or lumi unmark 002)", 1, true), err)
    end)

    it("lumi up refuses to go past it (exit 3), naming lumi mark and lumi unmark", function()
      fail_it()
      local out, err, code = lumi("up")
      assert.are.equal(3, code, out .. err)
      assert.truthy(err:find("002_audit.sql ran without a transaction and failed midway: it is recorded as unfinished", 1, true), err)
      assert.truthy(err:find("lumi mark 002", 1, true), err)
      assert.truthy(err:find("lumi unmark 002", 1, true), err)
      assert.is_false(h.table_exists(url, "after_audit"))
      assert.are.equal(1, count(url, "audit"))
    end)

    it("resolution 1: finish it by hand, lumi mark VERSION, and up goes on", function()
      fail_it()
      h.with_conn(url, function(c)
        assert(c:exec("CREATE TABLE audit_missing (id int); INSERT INTO audit_missing VALUES (2);"))
        assert(c:exec("CREATE INDEX CONCURRENTLY audit_id ON audit (id)"))
      end)
      local out, err, code = lumi("mark 002")
      assert.are.equal(0, code, out .. err)
      assert.truthy(out:find("Marked 002_audit.sql as applied (it was unfinished); nothing was run.", 1, true), out)
      local r = h.query(url, "SELECT state, error FROM schema_migrations WHERE version = '002'")[1]
      assert.are.equal("applied", r.state)
      assert.is_true(r.error == nil or r.error == require("lumi.pg").null)
      -- nothing of the file ran again
      assert.are.equal(1, count(url, "audit"))
      local up
      up, code, err = json("up")
      assert.are.equal(0, code, err)
      assert.are.same({ "003_after.sql" }, h.files(up.applied))
      assert.are.same({ "001", "002", "003" }, h.versions(url))
      local doc = cjson.decode((lumi("status --json")))
      assert.are.same({ total = 3, applied = 3, pending = 0, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, doc.totals)
      local _, verr, vcode = lumi("validate")
      assert.are.equal(0, vcode, verr)
      assert.truthy(h.has(table.concat(h.events(url), " "), "unfinished marked applied"))
    end)

    it("resolution 2: undo it by hand, lumi unmark VERSION, fix the file, and up runs it again", function()
      fail_it()
      h.with_conn(url, function(c) assert(c:exec("DROP TABLE audit")) end)
      local out, err, code = lumi("unmark 002")
      assert.are.equal(0, code, out .. err)
      assert.truthy(out:find("Forgot 002_audit.sql (it was unfinished); nothing was run.", 1, true), out)
      assert.are.same({ "001" }, h.versions(url))
      local doc = cjson.decode((lumi("status --json")))
      assert.are.same({ total = 3, applied = 1, pending = 2, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, doc.totals)
      -- fixed: the missing table is created first
      h.write(dir .. "/migrations/002_audit.sql", (bad:gsub("INSERT INTO audit_missing",
        "CREATE TABLE audit_missing (id int);\nINSERT INTO audit_missing")))
      local up
      up, code, err = json("up")
      assert.are.equal(0, code, err)
      assert.are.same({ "002_audit.sql", "003_after.sql" }, h.files(up.applied))
      assert.are.equal(1, count(url, "audit"))
      assert.are.equal(1, count(url, "audit_missing"))
      assert.is_true(h.table_exists(url, "audit_id"))
      local r = h.query(url, "SELECT state, checksum FROM schema_migrations WHERE version = '002'")[1]
      assert.are.equal("applied", r.state)
      assert.are.equal(h.sha256sum(dir .. "/migrations/002_audit.sql"), r.checksum)
      assert.truthy(h.has(table.concat(h.events(url), " "), "unfinished unmarked applied"))
    end)
  end)
end)

describe("files with their own BEGIN; ... COMMIT; (end to end)", function()
  local url, dir
  local function lumi(args) return h.lumi(dir, args, { DATABASE_URL = url }) end
  before_each(function()
    url = h.fresh_db()
    dir = h.project({})
  end)

  it("apply unchanged: one tracking row, the effects present, no warning about a nested BEGIN", function()
    h.write(dir .. "/migrations/001_a.sql", "-- wraps itself\nBEGIN;\nCREATE TABLE a (id int);\nINSERT INTO a VALUES (1), (2);\nCOMMIT;\n")
    h.write(dir .. "/migrations/002_b.sql", "start transaction;\ncreate table b (id int);\nend;\n")
    h.write(dir .. "/migrations/003_c.sql", "CREATE TABLE c (id int);\n")
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.is_nil(err:find("already a transaction", 1, true), err)
    assert.is_nil(err:find("no transaction in progress", 1, true), err)
    assert.are.equal(2, count(url, "a"))
    assert.is_true(h.table_exists(url, "b"))
    assert.is_true(h.table_exists(url, "c"))
    local r = h.query(url, "SELECT version, state FROM schema_migrations ORDER BY version")
    assert.are.equal(3, #r)
    for _, row in ipairs(r) do assert.are.equal("applied", row.state) end
    assert.are.same({ "applied", "applied", "applied" }, h.events(url))
  end)

  it("a failing one rolls back entirely: no effect, no row, and those before it stay", function()
    h.write(dir .. "/migrations/001_a.sql", "CREATE TABLE a (id int);\n")
    h.write(dir .. "/migrations/002_b.sql", "BEGIN;\nCREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\nINSERT INTO nope VALUES (1);\nCOMMIT;\n")
    local out, err, code = lumi("up")
    assert.are.equal(1, code, out .. err)
    assert.truthy(err:find("migrations/002_b.sql:4:13: ERROR 42P01", 1, true), err)
    assert.truthy(err:find("The migration was rolled back", 1, true), err)
    assert.is_false(h.table_exists(url, "b"))
    assert.are.same({ "001" }, h.versions(url))
    assert.are.equal(0, h.value(url, "SELECT count(*)::int FROM schema_migrations WHERE state <> 'applied'"))
    -- no transaction was left open: the next run works
    h.write(dir .. "/migrations/002_b.sql", "BEGIN;\nCREATE TABLE b (id int);\nCOMMIT;\n")
    out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.are.same({ "001", "002" }, h.versions(url))
  end)

  it("a file that fails at its own COMMIT (a deferred constraint) leaves nothing", function()
    h.write(dir .. "/migrations/001_a.sql", "BEGIN;\n"
      .. "CREATE TABLE p (id int PRIMARY KEY);\n"
      .. "CREATE TABLE ch (p int REFERENCES p DEFERRABLE INITIALLY DEFERRED);\n"
      .. "INSERT INTO ch VALUES (1);\n"
      .. "COMMIT;\n")
    local out, err, code = lumi("up")
    assert.are.equal(1, code, out .. err)
    assert.truthy(err:find("23503", 1, true), err)
    assert.is_false(h.table_exists(url, "p"))
    assert.are.equal(0, h.value(url, "SELECT count(*)::int FROM schema_migrations"))
  end)

  it("several transactions in one file run statement by statement", function()
    h.write(dir .. "/migrations/001_a.sql", "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\nBEGIN;\nINSERT INTO a VALUES (1);\nCOMMIT;\n")
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.are.equal(1, count(url, "a"))
    assert.are.equal("applied", h.value(url, "SELECT state FROM schema_migrations WHERE version = '001'"))
  end)

  it("a file that only mentions BEGIN/END (DO blocks, CASE, BEGIN ATOMIC) still runs in one transaction", function()
    h.write(dir .. "/migrations/001_a.sql", "DO $$ BEGIN RAISE NOTICE 'starting'; END $$;\n"
      .. "CREATE TABLE a (id int, kind text);\n"
      .. "CREATE FUNCTION kind_of(i int) RETURNS text LANGUAGE sql\n  BEGIN ATOMIC\n    SELECT CASE WHEN i > 0 THEN 'pos' ELSE 'neg' END;\n  END;\n"
      .. "INSERT INTO a VALUES (1, kind_of(1));\n"
      .. "SELECT nope FROM a;\n")
    local out, err, code = lumi("up")
    assert.are.equal(1, code, out .. err)
    assert.truthy(err:find("The migration was rolled back", 1, true), err)
    assert.is_false(h.table_exists(url, "a"))
    assert.are.equal(0, h.value(url, "SELECT count(*)::int FROM pg_proc WHERE proname = 'kind_of'"))
    assert.are.equal(0, h.value(url, "SELECT count(*)::int FROM schema_migrations"))
    -- fixed, it applies whole
    h.write(dir .. "/migrations/001_a.sql", (h.read(dir .. "/migrations/001_a.sql"):gsub("SELECT nope FROM a;\n", "")))
    out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.are.equal("pos", h.value(url, "SELECT kind FROM a"))
    assert.are.equal("applied", h.value(url, "SELECT state FROM schema_migrations"))
  end)

  it("a down part with its own BEGIN; ... COMMIT; reverts", function()
    h.write(dir .. "/migrations/001_a.up.sql", "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n")
    h.write(dir .. "/migrations/001_a.down.sql", "BEGIN;\nDROP TABLE a;\nCOMMIT;\n")
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    out, err, code = lumi("down")
    assert.are.equal(0, code, out .. err)
    assert.is_false(h.table_exists(url, "a"))
    assert.are.same({}, h.versions(url))
    assert.are.same({ "applied", "reverted" }, h.events(url))
  end)
end)
