-- Several targets in one migrate.lua, a tracking table shared by targets,
-- and a tracking table with another project's columns.
local h = require "support.helper"
local cjson = require "cjson"

describe("targets (end to end)", function()
  local url1, url2, dir
  local function lumi(args) return h.lumi(dir, args) end
  local function json(args) return h.json(dir, args) end

  before_each(function()
    url1, url2 = h.fresh_db(), h.fresh_db()
    dir = h.project({
      ["migrate.lua"] = string.format([[
return {
  targets = {
    { name = "a", dir = "a", database = %q },
    { name = "b", dir = "b", database = %q, naming = "dated" },
  },
}
]], url1, url2),
      ["a/001_accounts.sql"] = "CREATE TABLE accounts (id int);\n",
      ["a/002_orders.sql"] = "CREATE TABLE orders (id int);\n",
      ["b/2025-10-20_0001_events.sql"] = "CREATE TABLE events (id int);\n",
      ["b/2025-10-21_0001_metrics.sql"] = "CREATE TABLE metrics (id int);\n",
    })
  end)

  it("lumi up applies every target in order, each in its own database with its own tracking", function()
    local doc, code, err = json("up")
    assert.are.equal(0, code, err)
    assert.are.equal(2, #doc.targets)
    assert.are.same({ "a", "b" }, { doc.targets[1].target, doc.targets[2].target })
    assert.are.same({ "001_accounts.sql", "002_orders.sql" }, h.files(doc.targets[1].applied))
    assert.are.same({ "2025-10-20_0001_events.sql", "2025-10-21_0001_metrics.sql" }, h.files(doc.targets[2].applied))
    assert.is_true(h.table_exists(url1, "accounts"))
    assert.is_true(h.table_exists(url1, "orders"))
    assert.is_false(h.table_exists(url1, "events"))
    assert.is_true(h.table_exists(url2, "events"))
    assert.is_true(h.table_exists(url2, "metrics"))
    assert.is_false(h.table_exists(url2, "accounts"))
    assert.are.same({ "001", "002" }, h.versions(url1))
    assert.are.same({ "2025-10-20_0001", "2025-10-21_0001" }, h.versions(url2))
    doc, code, err = json("up")
    assert.are.equal(0, code, err)
    assert.are.same({ "a", "b" }, { doc.targets[1].target, doc.targets[2].target })
    assert.are.same({}, h.files(doc.targets[1].applied))
    assert.are.same({}, h.files(doc.targets[2].applied))
  end)

  it("prints each target's output under its name, in order (the human output)", function()
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.truthy(out:match("^%[a%]\n  applied  001_accounts%.sql  %d+ ms\n  applied  002_orders%.sql    %d+ ms\n"
      .. "Applied 2 migrations in %d+ ms%.\n\n%[b%]\n  applied  2025%-10%-20_0001_events%.sql   %d+ ms\n"
      .. "  applied  2025%-10%-21_0001_metrics%.sql  %d+ ms\nApplied 2 migrations in %d+ ms%.\n$"), out)
    out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.are.equal("[a]\nNothing to apply: the database is up to date.\n\n[b]\nNothing to apply: the database is up to date.\n",
      out)
  end)

  it("--target b runs only b", function()
    local doc, code, err = json("up --target b")
    assert.are.equal(0, code, err)
    -- the document of that target alone
    assert.is_nil(doc.targets)
    assert.are.equal("b", doc.target)
    assert.are.same({ "2025-10-20_0001_events.sql", "2025-10-21_0001_metrics.sql" }, h.files(doc.applied))
    assert.are.same({ "2025-10-20_0001", "2025-10-21_0001" }, h.versions(url2))
    assert.is_false(h.table_exists(url1, "schema_migrations"))
    assert.is_false(h.table_exists(url1, "accounts"))
  end)

  it("an unknown --target is a usage error (exit 2) naming the targets", function()
    local out, err, code = lumi("up --target c")
    assert.are.equal(2, code, out .. err)
    assert.truthy(err:find('no target named "c" (targets: a, b)', 1, true), err)
    assert.is_false(h.table_exists(url1, "schema_migrations"))
    assert.is_false(h.table_exists(url2, "schema_migrations"))
  end)

  it("status --json over two targets prints {\"targets\": [...]}", function()
    lumi("up --target a")
    local out, err, code = lumi("status --json")
    assert.are.equal(0, code, out .. err)
    local doc = cjson.decode(out)
    assert.are.equal("status", doc.command)
    assert.are.equal(2, #doc.targets)
    assert.are.equal("a", doc.targets[1].target)
    assert.are.equal("b", doc.targets[2].target)
    assert.are.same({ total = 2, applied = 2, pending = 0, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, doc.targets[1].totals)
    assert.are.same({ total = 2, applied = 0, pending = 2, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, doc.targets[2].totals)
    assert.are.equal("2025-10-20_0001", doc.targets[2].entries[1].version)
    -- one target: the document of that target alone
    doc = cjson.decode((lumi("status --json --target b")))
    assert.is_nil(doc.targets)
    assert.are.equal("b", doc.target)
  end)

  it("a failed migration stops the targets after it", function()
    h.write(dir .. "/a/003_bad.sql", "SELECT nope;\n")
    local out, err, code = lumi("up")
    assert.are.equal(1, code, out .. err)
    assert.are.same({ "001", "002" }, h.versions(url1))
    assert.is_false(h.table_exists(url2, "events"))
  end)

  it("lumi new needs --target with several targets, and uses that target's scheme", function()
    local out, err, code = lumi("new thing")
    assert.are.equal(2, code, out .. err)
    assert.truthy(err:find("new: migrate.lua has several targets (a, b): add --target NAME", 1, true), err)
    out, err, code = lumi("new --target a thing")
    assert.are.equal(0, code, out .. err)
    assert.truthy(out:find("a/003_thing.sql", 1, true), out)
  end)
end)

describe("a tracking table shared by targets in one database (end to end)", function()
  local url, dir
  local function lumi(args) return h.lumi(dir, args) end
  local function json(args) return h.json(dir, args) end
  local function target(name, folder)
    return string.format([[
    { name = %q, dir = %q,
      tracking = {
        table = "schema_migrations",
        columns = { file = "migration_file", checksum = "checksum", applied_at = "applied_at" },
        identity = "file",
        where = { database_type = %q },
      } },
]], name, folder, name)
  end

  before_each(function()
    url = h.fresh_db()
    dir = h.project({
      ["migrate.lua"] = string.format("return {\n  database = %q,\n  targets = {\n%s%s  },\n}\n", url,
        target("timescaledb", "migrations/timescaledb"), target("postgres", "migrations/postgres")),
      -- both numbered from 001, even with the same file name
      ["migrations/timescaledb/001_init.sql"] = "CREATE TABLE ts_metrics (id int);\n",
      ["migrations/postgres/001_init.sql"] = "CREATE TABLE pg_users (id int);\n",
      ["migrations/postgres/002_more.sql"] = "CREATE TABLE pg_more (id int);\n",
    })
  end)

  local function rows()
    local out = {}
    for i, r in ipairs(h.query(url, "SELECT database_type, migration_file FROM schema_migrations ORDER BY 1, 2")) do
      out[i] = r.database_type .. ":" .. r.migration_file
    end
    return out
  end

  it("keeps each target's rows apart", function()
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.is_true(h.table_exists(url, "ts_metrics"))
    assert.is_true(h.table_exists(url, "pg_users"))
    assert.are.same({ "postgres:001_init.sql", "postgres:002_more.sql", "timescaledb:001_init.sql" }, rows())
    for _, r in ipairs(h.query(url, "SELECT database_type, migration_file, checksum FROM schema_migrations")) do
      assert.are.equal(h.sha256sum(dir .. "/migrations/" .. r.database_type .. "/" .. r.migration_file), r.checksum)
    end
    local doc = cjson.decode((lumi("status --json")))
    assert.are.same({ total = 1, applied = 1, pending = 0, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, doc.targets[1].totals)
    assert.are.same({ total = 2, applied = 2, pending = 0, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, doc.targets[2].totals)
  end)

  it("a new file of one target applies to that target only", function()
    lumi("up")
    h.write(dir .. "/migrations/timescaledb/002_more.sql", "CREATE TABLE ts_more (id int);\n")
    local doc, code, err = json("up")
    assert.are.equal(0, code, err)
    assert.are.same({ "timescaledb", "postgres" }, { doc.targets[1].target, doc.targets[2].target })
    assert.are.same({ "002_more.sql" }, h.files(doc.targets[1].applied))
    assert.are.same({}, h.files(doc.targets[2].applied))
    assert.is_true(h.table_exists(url, "ts_more"))
    assert.are.same({ "postgres:001_init.sql", "postgres:002_more.sql", "timescaledb:001_init.sql",
                      "timescaledb:002_more.sql" }, rows())
  end)

  it("unmark on one target forgets that target's row only", function()
    lumi("up")
    local out, err, code = lumi("unmark 001_init.sql --target postgres")
    assert.are.equal(0, code, out .. err)
    assert.are.same({ "postgres:002_more.sql", "timescaledb:001_init.sql" }, rows())
    local doc = cjson.decode((lumi("status --json")))
    assert.are.equal(0, doc.targets[1].totals.pending)
    assert.are.equal(1, doc.targets[2].totals.pending)
  end)

  it("a row of another target is never reported missing", function()
    lumi("up --target postgres")
    local doc = cjson.decode((lumi("status --json --target timescaledb")))
    assert.are.same({ total = 1, applied = 0, pending = 1, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, doc.totals)
  end)
end)

describe("a tracking table with another project's columns (end to end)", function()
  local url, dir
  local function lumi(args) return h.lumi(dir, args, { DATABASE_URL = url }) end

  before_each(function()
    url = h.fresh_db()
    -- FluxStudio's table, as its old runner created it, with one row of its own
    h.with_conn(url, function(c)
      assert(c:exec([[
CREATE TABLE schema_migrations (
  id SERIAL PRIMARY KEY,
  migration_name VARCHAR(255) UNIQUE NOT NULL,
  applied_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  execution_time_ms INTEGER,
  checksum VARCHAR(64),
  applied_by VARCHAR(255) DEFAULT current_user
);
CREATE TABLE base (id int);
INSERT INTO schema_migrations (migration_name, execution_time_ms) VALUES ('000_base.sql', 12);
]]))
    end)
    dir = h.project({
      ["migrate.lua"] = [[
return {
  tracking = {
    table = "schema_migrations",
    columns = { file = "migration_name", applied_at = "applied_at", execution_ms = "execution_time_ms",
                checksum = "checksum", applied_by = "applied_by" },
    identity = "file",
  },
}
]],
      ["migrations/000_base.sql"] = "CREATE TABLE base (id int);\n",
      ["migrations/001_create_initial_schema.sql"] = "CREATE TABLE users (id int);\n",
      ["migrations/001_add_message_threading.sql"] = "CREATE TABLE threads (id int);\n",
      ["migrations/002_settings.sql"] = "CREATE TABLE settings (id int);\n",
    })
  end)

  local function names()
    local out = {}
    for i, r in ipairs(h.query(url, "SELECT migration_name FROM schema_migrations ORDER BY id")) do out[i] = r.migration_name end
    return out
  end

  it("applies into the existing table, and two files sharing 001 both apply (identity = \"file\")", function()
    -- 000_base.sql was recorded by the old runner
    local up, code, err = h.json(dir, "up", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    assert.are.same({ "001_add_message_threading.sql", "001_create_initial_schema.sql", "002_settings.sql" },
      h.files(up.applied))
    assert.is_true(h.table_exists(url, "users"))
    assert.is_true(h.table_exists(url, "threads"))
    assert.are.same({ "000_base.sql", "001_add_message_threading.sql", "001_create_initial_schema.sql", "002_settings.sql" },
      names())
    for _, r in ipairs(h.query(url, "SELECT migration_name, checksum, applied_by, execution_time_ms, applied_at "
        .. "FROM schema_migrations WHERE id > 1")) do
      assert.are.equal(h.sha256sum(dir .. "/migrations/" .. r.migration_name), r.checksum)
      assert.are.equal("postgres", r.applied_by)
      assert.are.equal("number", type(r.execution_time_ms))
      assert.truthy(r.applied_at)
    end
    -- lumi added no columns of its own to the table
    assert.are.equal(6, h.value(url, "SELECT count(*)::int FROM information_schema.columns WHERE table_name = 'schema_migrations'"))
    local doc = cjson.decode((lumi("status --json")))
    assert.are.same({ total = 4, applied = 4, pending = 0, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, doc.totals)
    local _, verr, vcode = lumi("validate")
    assert.are.equal(0, vcode, verr)
  end)

  it("a version two files share is ambiguous for unmark; the file name is not", function()
    lumi("up")
    local out, err, code = lumi("unmark 001")
    assert.are.equal(2, code, out .. err)
    assert.truthy(err:find('"001" names 2 migrations', 1, true), err)
    assert.truthy(err:find("give the file name", 1, true), err)
    out, err, code = lumi("unmark 001_add_message_threading.sql")
    assert.are.equal(0, code, out .. err)
    assert.are.same({ "000_base.sql", "001_create_initial_schema.sql", "002_settings.sql" }, names())
  end)

  it("a file changed since it was applied is reported by its name", function()
    lumi("up")
    h.write(dir .. "/migrations/001_create_initial_schema.sql", "CREATE TABLE users (id bigint);\n")
    local out, err, code = lumi("up")
    assert.are.equal(3, code, out .. err)
    assert.truthy(err:find("001_create_initial_schema.sql", 1, true), err)
    assert.is_nil(err:find("001_add_message_threading.sql", 1, true), err)
  end)
end)
