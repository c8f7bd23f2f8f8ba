-- The five example projects (examples/*, the conventions of the five
-- migration guides lumi replaces), each through its everyday workflow with
-- the lumi binary against a real PostgreSQL.
local h = require "support.helper"
local cjson = require "cjson"

-- A copy of examples/NAME in a temporary directory, and a fresh database.
local function example(name)
  local dir = h.tmpdir()
  assert(os.execute("cp -r " .. h.q(h.root .. "/examples/" .. name) .. "/. " .. h.q(dir)))
  local url = h.fresh_db()
  return dir, url
end

local function psql(url, sql)
  local out, err, code = h.sh("psql -X -q -At -v ON_ERROR_STOP=1 -d " .. h.q(url) .. " -c " .. h.q(sql))
  assert(code == 0, err)
  return (out:gsub("\n$", ""))
end

local function rows(url, sql)
  local c = h.connect(url)
  local r = assert(c:query(sql))
  c:close()
  return r
end

describe("examples/calos", function()
  it("adopts a database with 138-139 applied by hand (baseline), then applies 140 and numbers the next", function()
    local dir, url = example("calos")
    -- the state before lumi: the old runner applied 138 and 139
    for _, f in ipairs({ "138_learning_paths.sql", "139_lessons.sql" }) do
      local _, err, code = h.sh("psql -X -q -v ON_ERROR_STOP=1 -d " .. h.q(url) .. " -f " .. h.q(dir .. "/database/migrations/" .. f))
      assert.are.equal(0, code, err)
    end
    local env = { DATABASE_URL = url }
    local doc, code, err = h.json(dir, "baseline 139", env)
    assert.are.equal(0, code, err)
    assert.are.same({ "138_learning_paths.sql", "139_lessons.sql" }, h.files(doc.baselined))
    doc, code, err = h.json(dir, "status", env)
    assert.are.equal(0, code, err)
    assert.are.same({ total = 3, applied = 2, pending = 1, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, doc.totals)
    assert.are.equal("pending", h.entry(doc, "140_user_preferences.sql").state)
    doc, code, err = h.json(dir, "up", env)
    assert.are.equal(0, code, err)
    assert.are.same({ "140_user_preferences.sql" }, h.files(doc.applied))
    local r = rows(url, "SELECT filename, status FROM migration_history ORDER BY migration_id")
    assert.are.same({ "138_learning_paths.sql", "139_lessons.sql", "140_user_preferences.sql" },
      { r[1].filename, r[2].filename, r[3].filename })
    assert.are.equal("applied", r[3].status)
    local out
    out, err, code = h.lumi(dir, "new add your feature", env)
    assert.are.equal(0, code, err)
    assert.truthy(out:find("database/migrations/141_add_your_feature.sql", 1, true), out)
  end)
end)

describe("examples/atspro", function()
  it("applies in filename order, keyed by the name without .sql, with checksums and an audit trail", function()
    local dir, url = example("atspro")
    local env = { DATABASE_URL = url }
    local out, err, code = h.lumi(dir, "up", env)
    assert.are.equal(0, code, err)
    local r = rows(url, "SELECT id, filename, checksum, success FROM migrations ORDER BY executed_at, id")
    assert.are.equal(5, #r)
    local ids = {}
    for i, row in ipairs(r) do
      ids[i] = row.id
      assert.are.equal(h.sha256sum(dir .. "/migrations/" .. row.filename), row.checksum)
      assert.is_true(row.success)
    end
    table.sort(ids)
    assert.are.same({ "000_create_betterauth_tables", "000_create_migrations_table", "001_create_atspro_tables",
                      "002_add_job_added_activity_type", "003_add_markdown_columns" }, ids)
    assert.are.equal("5", psql(url, "SELECT count(*) FROM migrations_log WHERE event = 'applied'"))
    -- a checksum mismatch stops the next deploy
    h.write(dir .. "/migrations/003_add_markdown_columns.sql", "-- edited after it ran\n" .. h.read(dir .. "/migrations/003_add_markdown_columns.sql"))
    h.write(dir .. "/migrations/004_add_notes.sql", "ALTER TABLE \"userJobs\" ADD COLUMN notes TEXT;\n")
    out, err, code = h.lumi(dir, "up", env)
    assert.are.equal(3, code, out .. err)
    assert.truthy(err:find("003_add_markdown_columns.sql", 1, true), err)
    assert.are.equal("f", psql(url, "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE column_name = 'notes')"))
  end)

  it("records a failed migration as success = false with its error, and applies it once fixed", function()
    local dir, url = example("atspro")
    local env = { DATABASE_URL = url }
    h.write(dir .. "/migrations/004_broken.sql", "CREATE TABLE resumes (id int);\nALTER TABLE nope ADD COLUMN x int;\n")
    local _, err, code = h.lumi(dir, "up", env)
    assert.are.equal(1, code, err)
    assert.truthy(err:find("004_broken.sql:2:1: ERROR 42P01", 1, true), err)
    assert.are.equal("", psql(url, "SELECT to_regclass('resumes')"))
    -- the table's own record of the failure, as the old runner kept it
    assert.are.equal('f|relation "nope" does not exist',
      psql(url, "SELECT success, error_message FROM migrations WHERE id = '004_broken'"))
    assert.are.equal("42P01", psql(url, "SELECT sqlstate FROM migrations_log WHERE event = 'failed' AND file = '004_broken.sql'"))
    local doc = cjson.decode((h.lumi(dir, "status --json", env)))
    assert.are.equal(1, doc.totals.pending)
    -- fixed, it applies: the same row, now a success
    h.write(dir .. "/migrations/004_broken.sql", "CREATE TABLE resumes (id int);\n")
    _, err, code = h.lumi(dir, "up", env)
    assert.are.equal(0, code, err)
    assert.are.equal("t|", psql(url, "SELECT success, coalesce(error_message, '') FROM migrations WHERE id = '004_broken'"))
  end)

  it("lumi down marks the row rolled back instead of deleting it; up applies it again", function()
    local dir, url = example("atspro")
    local env = { DATABASE_URL = url }
    assert.are.equal(0, select(3, h.lumi(dir, "up", env)))
    local down, code, err = h.json(dir, "down", env)
    assert.are.equal(0, code, err)
    assert.are.same({ "003_add_markdown_columns.sql" }, h.files(down.reverted))
    assert.are.equal("t|t", psql(url, "SELECT rolled_back, rolled_back_at IS NOT NULL FROM migrations "
      .. "WHERE id = '003_add_markdown_columns'"))
    assert.are.equal("f", psql(url, "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE column_name = 'description_md')"))
    local doc = cjson.decode((h.lumi(dir, "status --json", env)))
    assert.are.equal(4, doc.totals.applied)
    assert.are.equal(1, doc.totals.pending)
    local out
    out, err, code = h.lumi(dir, "up", env)
    assert.are.equal(0, code, out .. err)
    assert.are.equal("f|t", psql(url, "SELECT rolled_back, rolled_back_at IS NULL FROM migrations "
      .. "WHERE id = '003_add_markdown_columns'"))
    assert.are.equal("5", psql(url, "SELECT count(*) FROM migrations"))
  end)
end)

describe("examples/fluxstudio", function()
  it("counts duplicate-object failures as applied, tracks both 001 files by name, and rolls back a record", function()
    local dir, url = example("fluxstudio")
    local env = { DATABASE_URL = url }
    -- users was created by hand on this database before the runner existed
    psql(url, "CREATE TABLE users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email varchar(255))")
    local dry, code, err = h.json(dir, "up --dry-run", env)
    assert.are.equal(0, code, err)
    assert.is_true(dry.dry_run)
    assert.are.same({ "000_create_base_messaging_schema.sql", "001_add_message_threading_and_search.sql",
                      "001_create_initial_schema.sql", "002_create_user_settings.sql" }, h.files(dry.applied))
    local out
    out, err, code = h.lumi(dir, "up", env)
    assert.are.equal(0, code, err)
    assert.truthy(err:find("001_create_initial_schema.sql failed with 42P07", 1, true), err)
    local r = rows(url, "SELECT migration_name, applied_by FROM schema_migrations ORDER BY id")
    assert.are.same({ "000_create_base_messaging_schema.sql", "001_add_message_threading_and_search.sql",
                      "001_create_initial_schema.sql", "002_create_user_settings.sql" },
      { r[1].migration_name, r[2].migration_name, r[3].migration_name, r[4].migration_name })
    assert.are.equal("postgres", r[1].applied_by)
    -- "rollback": remove the tracking record only
    out, err, code = h.lumi(dir, "unmark 002_create_user_settings.sql", env)
    assert.are.equal(0, code, err)
    local st = h.json(dir, "status", env)
    assert.are.equal("pending", h.entry(st, "002_create_user_settings.sql").state)
    assert.are.same({ total = 4, applied = 3, pending = 1, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, st.totals)
    assert.are.equal("user_settings", psql(url, "SELECT to_regclass('user_settings')::text"))
    local v
    v, code, err = h.json(dir, "verify", env)
    assert.are.equal(0, code, err)
    assert.are.same({ "schema_migrations", true, 3 }, { v.table, v.table_exists, v.rows })
    out, err, code = h.lumi(dir, "new add user preferences", env)
    assert.are.equal(0, code, err)
    assert.truthy(out:find("003_add_user_preferences.sql", 1, true), out)
  end)

  it("without the duplicate, any other failure still stops the run", function()
    local dir, url = example("fluxstudio")
    h.write(dir .. "/database/migrations/003_bad.sql", "SELECT * FROM nowhere;\n")
    local _, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(1, code, err)
    assert.truthy(err:find("42P01", 1, true), err)
  end)
end)

describe("examples/multistore", function()
  it("runs two stores with their own numbering in one database, tracked apart by database_type", function()
    local dir, url = example("multistore")
    local env = { TIMESCALE_DSN = url }
    local before = psql(url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    local _, err, code = h.lumi(dir, "validate", env)
    assert.are.equal(0, code, err)
    local up
    up, code, err = h.json(dir, "up", env)
    assert.are.equal(0, code, err)
    -- the stores in the order migrate.lua names them
    assert.are.same({ "timescaledb", "postgres" }, { up.targets[1].target, up.targets[2].target })
    assert.are.same({ "001_episodic_memories.up.sql", "002_emotional_memories.up.sql" }, h.files(up.targets[1].applied))
    assert.are.same({ "001_procedural_memories.up.sql", "002_skill_progressions.up.sql", "003_portfolio_holdings.up.sql" },
      h.files(up.targets[2].applied))
    local out
    assert.are.equal("postgres|3\ntimescaledb|2",
      psql(url, "SELECT database_type, count(*) FROM schema_migrations GROUP BY 1 ORDER BY 1"))
    out, err, code = h.lumi(dir, "status --json", env)
    assert.are.equal(0, code, err)
    local doc = cjson.decode(out)
    assert.are.equal(2, #doc.targets)
    assert.are.equal("timescaledb", doc.targets[1].target)
    assert.are.equal(3, doc.targets[2].totals.applied)
    -- down N on one store, with a dry run first
    out, err, code = h.lumi(dir, "down 2 --dry-run --target postgres", env)
    assert.are.equal(0, code, err)
    assert.are.equal("postgres|3", psql(url, "SELECT database_type, count(*) FROM schema_migrations WHERE database_type = 'postgres' GROUP BY 1"))
    local down
    down, code, err = h.json(dir, "down 2 --target postgres", env)
    assert.are.equal(0, code, err)
    assert.are.equal("postgres", down.target)
    assert.are.same({ "003_portfolio_holdings.down.sql", "002_skill_progressions.down.sql" }, h.files(down.reverted))
    assert.are.equal("postgres|1\ntimescaledb|2",
      psql(url, "SELECT database_type, count(*) FROM schema_migrations GROUP BY 1 ORDER BY 1"))
    assert.are.equal("", psql(url, "SELECT to_regclass('portfolio_holdings')"))
    -- the generator writes a numbered pair in the right folder
    out, err, code = h.lumi(dir, "new --target postgres add user preferences", env)
    assert.are.equal(0, code, err)
    assert.truthy(h.read(dir .. "/migrations/postgres/004_add_user_preferences.up.sql"))
    assert.truthy(h.read(dir .. "/migrations/postgres/004_add_user_preferences.down.sql"))
    -- everything down: back to the tables there were before
    out, err, code = h.lumi(dir, "down --all", env)
    assert.are.equal(0, code, err)
    assert.are.equal(before + 2, tonumber(psql(url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")))
  end)

  it("fresh needs the typed confirmation or --force, and rebuilds both stores once", function()
    local dir, url = example("multistore")
    local env = { TIMESCALE_DSN = url }
    assert.are.equal(0, select(3, h.lumi(dir, "up", env)))
    psql(url, "INSERT INTO skill_progressions (user_id) VALUES ('u1')")
    local _, err, code = h.lumi(dir, "fresh < /dev/null", env)
    assert.are.equal(2, code, err)
    assert.truthy(err:find("add --force", 1, true), err)
    assert.are.equal("1", psql(url, "SELECT count(*) FROM skill_progressions"))
    local out
    out, err, code = h.lumi(dir, "fresh --force", env)
    assert.are.equal(0, code, err)
    assert.are.equal("0", psql(url, "SELECT count(*) FROM skill_progressions"))
    assert.are.equal("postgres|3\ntimescaledb|2",
      psql(url, "SELECT database_type, count(*) FROM schema_migrations GROUP BY 1 ORDER BY 1"))
    -- the confirmation typed on a terminal is checked word for word
    out = select(1, h.sh("cd " .. h.q(dir) .. " && printf 'delete all data\\n' | TIMESCALE_DSN=" .. h.q(url)
      .. " script -qec " .. h.q(h.q(h.bin) .. " fresh") .. " /dev/null 2>&1"))
    assert.truthy(out:find("not confirmed; nothing was changed", 1, true), out)
  end)
end)

describe("examples/thatsmartsite", function()
  it("applies dated files that carry their own BEGIN/COMMIT, tracked in system.schema_migrations", function()
    local dir, url = example("thatsmartsite")
    local env = { DATABASE_URL = url }
    local list, code, err = h.json(dir, "list", env)
    assert.are.equal(0, code, err)
    assert.are.same({ "2025-10-17_0001_create_error_logs_table.sql", "2025-10-20_0001_add_seo_audit_tracking.sql",
                      "2025-10-20_0002_add_subscription_fields.sql" }, h.files(list.migrations))
    local out
    out, err, code = h.lumi(dir, "up", env)
    assert.are.equal(0, code, err)
    assert.are.equal("", err:match("WARNING[^\n]*") or "")   -- no "already a transaction in progress"
    local r = rows(url, "SELECT filename, description FROM system.schema_migrations ORDER BY id")
    assert.are.equal(3, #r)
    assert.are.equal("2025-10-17_0001_create_error_logs_table.sql", r[1].filename)
    assert.are.equal("create_error_logs_table", r[1].description)
    assert.are.equal("health_monitoring.latest_seo_audits", psql(url, "SELECT to_regclass('health_monitoring.latest_seo_audits')::text"))
    local st
    st, code, err = h.json(dir, "status", env)
    assert.are.equal(0, code, err)
    assert.are.same({ total = 3, applied = 3, pending = 0, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }, st.totals)
  end)

  it("a file with its own BEGIN/COMMIT that fails leaves neither its effects nor a row", function()
    local dir, url = example("thatsmartsite")
    local env = { DATABASE_URL = url }
    h.write(dir .. "/backend/migrations/2025-10-21_0001_add_broken.sql",
      "BEGIN;\nCREATE TABLE tenants.customers (id SERIAL PRIMARY KEY);\nCREATE INDEX idx ON tenants.nope (x);\nCOMMIT;\n")
    local _, err, code = h.lumi(dir, "up", env)
    assert.are.equal(1, code, err)
    assert.truthy(err:find("2025-10-21_0001_add_broken.sql:3:", 1, true), err)
    assert.are.equal("", psql(url, "SELECT to_regclass('tenants.customers')"))
    assert.are.equal("3", psql(url, "SELECT count(*) FROM system.schema_migrations"))
  end)
end)
