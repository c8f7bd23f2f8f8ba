-- Hooks in migrate.lua: before_all / after_all around a run of `up`,
-- before_each / after_each inside each migration's transaction, on_error
-- deciding what a failure means, and the seeding after_all of the README.
local h = require "support.helper"

-- A migrate.lua whose hooks write to hook_log through ctx.db; `after_each`
-- is more Lua run at the end of the after_each hook.
local function hooks_config(after_each)
  return [[
local function note(ctx, what)
  ctx.db:query("INSERT INTO hook_log (what, file, in_tx) VALUES ($1, $2, $3)",
    what, ctx.migration and ctx.migration.file or "-", ctx.db:in_transaction())
end
return {
  before_all = function(ctx) note(ctx, "before_all " .. #ctx.pending) end,
  after_all = function(ctx) note(ctx, "after_all " .. #ctx.result.applied) end,
  before_each = function(ctx) note(ctx, "before_each") end,
  after_each = function(ctx)
    note(ctx, "after_each")
    ]] .. (after_each or "") .. [[

  end,
}
]]
end

describe("hooks (end to end)", function()
  local url, dir
  local function lumi(args, env)
    env = env or {}
    env.DATABASE_URL = url
    return h.lumi(dir, args, env)
  end
  local function log_rows()
    local out = {}
    for _, r in ipairs(h.query(url, "SELECT what, file, in_tx FROM hook_log ORDER BY id")) do
      out[#out + 1] = string.format("%s %s %s", r.what, r.file, r.in_tx and "tx" or "no-tx")
    end
    return out
  end

  before_each(function()
    url = h.fresh_db()
    local _, err, code = h.psql(url, "CREATE TABLE hook_log (id serial PRIMARY KEY, what text, file text, in_tx boolean)")
    assert.are.equal(0, code, err)
    dir = h.project({
      ["migrations/001_create_users.sql"] = "CREATE TABLE users (id bigserial PRIMARY KEY, email text);\n",
      ["migrations/002_add_name.lua"] = [[
return { up = function(ctx) ctx.db:exec("ALTER TABLE users ADD COLUMN name text") end }
]],
      ["migrations/003_create_posts.sql"] = "CREATE TABLE posts (id int);\n",
    })
  end)

  it("before_all and after_all run once per `up`, before_each and after_each around every migration, in order", function()
    h.write(dir .. "/migrate.lua", hooks_config())
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.are.same({
      "before_all 3 - no-tx",
      "before_each 001_create_users.sql tx",
      "after_each 001_create_users.sql tx",
      "before_each 002_add_name.lua tx",
      "after_each 002_add_name.lua tx",
      "before_each 003_create_posts.sql tx",
      "after_each 003_create_posts.sql tx",
      "after_all 3 - no-tx",
    }, log_rows())
    assert.are.same({ "001", "002", "003" }, h.versions(url))
  end)

  it("a later `up` runs the hooks again for what is then pending", function()
    h.write(dir .. "/migrate.lua", hooks_config())
    local out, err, code = lumi("up --to 002")
    assert.are.equal(0, code, out .. err)
    out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    local rows = log_rows()
    assert.are.equal("before_all 2 - no-tx", rows[1])
    assert.are.equal("after_all 2 - no-tx", rows[6])
    assert.are.same({ "before_all 1 - no-tx", "before_each 003_create_posts.sql tx",
      "after_each 003_create_posts.sql tx", "after_all 1 - no-tx" }, { rows[7], rows[8], rows[9], rows[10] })
    assert.are.equal(10, #rows)
  end)

  it("--dry-run runs no hook", function()
    h.write(dir .. "/migrate.lua", hooks_config())
    local out, err, code = lumi("up --dry-run")
    assert.are.equal(0, code, out .. err)
    assert.are.same({}, log_rows())
  end)

  it("an after_each that raises rolls back that migration and its hooks' work: exit 1, the hook named", function()
    h.write(dir .. "/migrate.lua",
      hooks_config('if ctx.migration.version == "002" then error("users need a name for everyone") end'))
    local out, err, code = lumi("up")
    assert.are.equal(1, code, out .. err)
    assert.truthy(h.has(err, "after_each"), err)
    assert.truthy(h.has(err, "users need a name for everyone"), err)
    assert.truthy(h.has(err, "migrate.lua:"), err)
    -- 002 left no trace: no column, no record, no hook rows written in its transaction
    assert.is_false(h.column_exists(url, "users", "name"))
    assert.are.same({ "001" }, h.versions(url))
    assert.are.same({
      "before_all 3 - no-tx",
      "before_each 001_create_users.sql tx",
      "after_each 001_create_users.sql tx",
    }, log_rows())
    assert.is_false(h.table_exists(url, "posts"))
    assert.are.same({ "applied", "failed" }, h.events(url))
    -- run again, asking for JSON: 002 is the one that failed, and nothing is applied
    local doc
    doc, code, err = h.json(dir, "up", { DATABASE_URL = url })
    assert.are.equal(1, code, err)
    assert.are.same({ file = "002_add_name.lua", version = "002" }, doc.failed)
    assert.are.same({}, h.files(doc.applied))
    assert.truthy(h.has(doc.error.message, "users need a name for everyone"), doc.error.message)
    assert.are.same({ "001" }, h.versions(url))
  end)

  it("a before_each that raises stops before the migration runs: exit 1, the hook named", function()
    h.write(dir .. "/migrate.lua", [[
return {
  before_each = function(ctx)
    if ctx.migration.file:match("%.lua$") then error("no Lua migrations on Fridays") end
  end,
}
]])
    local out, err, code = lumi("up")
    assert.are.equal(1, code, out .. err)
    assert.truthy(h.has(err, "before_each"), err)
    assert.truthy(h.has(err, "no Lua migrations on Fridays"), err)
    assert.is_false(h.column_exists(url, "users", "name"))
    assert.are.same({ "001" }, h.versions(url))
  end)

  it("a before_all that raises stops before anything is applied: exit 1, the hook named", function()
    h.write(dir .. "/migrate.lua", [[
return {
  before_all = function(ctx)
    ctx.db:exec("SELECT * FROM backup_done_marker")
  end,
}
]])
    local out, err, code = lumi("up")
    assert.are.equal(1, code, out .. err)
    assert.truthy(h.has(err, "before_all"), err)
    assert.truthy(h.has(err, "backup_done_marker"), err)
    assert.is_false(h.table_exists(url, "users"))
    -- nothing at all: not even the tracking table
    assert.is_false(h.table_exists(url, "schema_migrations"))
  end)

  describe("on_error", function()
    it("sees ctx.error.sqlstate and ctx.migration; returning \"applied\" records the migration as applied", function()
      h.write(dir .. "/migrations/004_users_again.sql", "CREATE TABLE users (id int);\n")
      h.write(dir .. "/migrate.lua", [[
return {
  on_error = function(ctx)
    ctx.log("on_error saw %s in %s", ctx.error.sqlstate, ctx.migration.file)
    if ctx.error.sqlstate == "42P07" then return "applied" end
  end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      assert.truthy(h.has(out .. err, "on_error saw 42P07 in 004_users_again.sql"), out .. err)
      assert.truthy(h.has(err, "004_users_again.sql failed with 42P07"), err)
      assert.truthy(h.has(err, "on_error counts it as applied"), err)
      assert.are.same({ "001", "002", "003", "004" }, h.versions(url))
      assert.are.equal(h.sha256sum(dir .. "/migrations/004_users_again.sql"),
        h.value(url, "SELECT checksum FROM schema_migrations WHERE version = '004'"))
      local ev = h.query(url, "SELECT event, sqlstate FROM schema_migrations_log WHERE version = '004'")
      assert.are.equal(1, #ev)
      assert.are.equal("applied", ev[1].event)
      assert.are.equal("42P07", ev[1].sqlstate)
      -- the users table is the one 001 created, untouched
      assert.is_true(h.column_exists(url, "users", "email"))
    end)

    it("returning nothing lets the failure stand: exit 1, no record", function()
      h.write(dir .. "/migrations/004_bad.sql", "SELECT 1;\nINSERT INTO no_such_table VALUES (1);\n")
      h.write(dir .. "/migrate.lua", [[
return {
  on_error = function(ctx)
    ctx.log("on_error saw %s", ctx.error.sqlstate)
    if ctx.error.sqlstate == "42P07" then return "applied" end
  end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(1, code, out .. err)
      assert.truthy(h.has(out .. err, "on_error saw 42P01"), out .. err)
      assert.truthy(h.has(err, "migrations/004_bad.sql:2:"), err)
      assert.are.same({ "001", "002", "003" }, h.versions(url))
    end)

    it("also decides for a Lua migration's database error", function()
      h.write(dir .. "/migrations/004_again.lua", [[
return { up = function(ctx) ctx.db:exec("CREATE TABLE posts (id int)") end }
]])
      h.write(dir .. "/migrate.lua", [[
return { on_error = function(ctx) if ctx.error.sqlstate == "42P07" then return "applied" end end }
]])
      local out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      assert.are.same({ "001", "002", "003", "004" }, h.versions(url))
    end)
  end)

  describe("seeding after migrating (README: after_all runs seeds/*.sql in development)", function()
    local seeding = [[
return {
  environments = { development = {}, production = {} },
  after_all = function(ctx)
    if ctx.env ~= "development" then return end
    local glob = require "posix.glob"
    local files = glob.glob(ctx.config.root .. "/seeds/*.sql", 0) or {}
    table.sort(files)
    for _, path in ipairs(files) do
      local f = assert(io.open(path))
      ctx.db:exec(f:read("a"))
      f:close()
      ctx.log("seeded %s", path:match("[^/]+$"))
    end
  end,
}
]]
    before_each(function()
      h.write(dir .. "/migrate.lua", seeding)
      h.write(dir .. "/seeds/001_users.sql", "INSERT INTO users (email, name) VALUES ('dev@example.com', 'Dev');\n")
      h.write(dir .. "/seeds/002_posts.sql", "INSERT INTO posts SELECT g FROM generate_series(1, 5) g;\n")
    end)

    it("with --env development the seeds run after the migrations, in file order", function()
      local out, err, code = lumi("up --env development")
      assert.are.equal(0, code, out .. err)
      assert.are.equal(1, h.count(url, "users"))
      assert.are.equal(5, h.count(url, "posts"))
      local a, b = out:find("seeded 001_users.sql", 1, true), out:find("seeded 002_posts.sql", 1, true)
      assert.truthy(a and b and a < b, out)
      -- after the last migration: (kept as text: --json prints ctx.log lines on stderr and the
      -- applied migrations in one document at the end, so it has no order between the two)
      assert.truthy(out:find("applied  003_create_posts.sql", 1, true) < a, out)
    end)

    it("LUMI_ENV=development seeds too", function()
      local out, err, code = lumi("up", { LUMI_ENV = "development" })
      assert.are.equal(0, code, out .. err)
      assert.are.equal(1, h.count(url, "users"))
    end)

    it("without --env, or in another environment, nothing is seeded", function()
      local out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      assert.are.equal(0, h.count(url, "users"))
      assert.are.equal(0, h.count(url, "posts"))
      assert.is_nil(out:find("seeded", 1, true), out)
      local url2 = url
      url = h.fresh_db()
      out, err, code = lumi("up --env production")
      assert.are.equal(0, code, out .. err)
      assert.are.equal(0, h.count(url, "users"))
      url = url2
    end)
  end)
  describe("the README's examples", function()
    it("seeding in the development environment's after_all, with lumi.fs", function()
      h.write(dir .. "/migrate.lua", [==[
-- migrate.lua
local fs = require "lumi.fs"
return {
  environments = {
    development = {
      after_all = function(ctx)
        for _, file in ipairs(fs.list("seeds") or {}) do
          if file:match("%.sql$") then
            ctx.db:exec(assert(fs.read("seeds/" .. file)))
            ctx.log("seeded %s", file)
          end
        end
      end,
    },
  },
}
]==])
      h.write(dir .. "/seeds/001_users.sql", "INSERT INTO users (email, name) VALUES ('dev@example.com', 'Dev');\n")
      h.write(dir .. "/seeds/README.md", "not SQL\n")
      local out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      assert.are.equal(0, h.count(url, "users"))
      local url2 = url
      url = h.fresh_db()
      out, err, code = lumi("up --env development")
      assert.are.equal(0, code, out .. err)
      assert.truthy(h.has(out, "seeded 001_users.sql"), out)
      assert.is_nil(out:find("README", 1, true), out)
      assert.are.equal(1, h.count(url, "users"))
      assert.are.equal(0, h.count(url2, "users"))
    end)

    it("a pg_dump backup in production's before_all, only when something is pending", function()
      h.write(dir .. "/migrate.lua", string.format([==[
-- migrate.lua
return {
  environments = {
    production = {
      database = %q,
      protected = true,          -- fresh, down and redo refuse
      confirm = true,            -- up asks for "production" (or needs --yes)
      before_all = function(ctx)
        if #ctx.pending == 0 then return end
        local file = os.date("!backups/before-%%Y%%m%%dT%%H%%M%%SZ.dump")
        local ok = os.execute(string.format("pg_dump --format=custom --file=%%q %%q", file, ctx.config.database))
        if not ok then error("pg_dump failed: not migrating without a backup") end
        ctx.log("backup written to %%s", file)
      end,
    },
  },
}
]==], url))
      os.execute("mkdir -p " .. h.q(dir .. "/backups"))
      local out, err, code = h.lumi(dir, "up --env production --yes")
      assert.are.equal(0, code, out .. err)
      local file = out:match("backup written to (backups/before%-%d+T%d+Z%.dump)")
      assert.truthy(file, out)
      local listing, lerr, lcode = h.sh("pg_restore --list " .. h.q(dir .. "/" .. file))
      assert.are.equal(0, lcode, lerr)
      -- taken before anything was applied: the dump has no users table
      assert.is_nil(listing:find("TABLE public users", 1, true), listing)
      assert.are.same({ "001", "002", "003" }, h.versions(url))
      out, err, code = h.lumi(dir, "up --env production --yes")
      assert.are.equal(0, code, out .. err)
      assert.is_nil(out:find("backup written", 1, true), out)
    end)

    it("a failing backup stops the run before anything is applied", function()
      h.write(dir .. "/migrate.lua", [==[
return {
  before_all = function(ctx)
    local ok = os.execute("exit 3")
    if not ok then error("pg_dump failed: not migrating without a backup") end
  end,
}
]==])
      local out, err, code = lumi("up")
      assert.are.equal(1, code, out .. err)
      assert.truthy(h.has(err, "pg_dump failed: not migrating without a backup"), err)
      assert.is_false(h.table_exists(url, "users"))
    end)
  end)
end)
