-- Lua migrations: NNN_name.lua returning {up=, down=, transaction=}, run by
-- the lumi binary the way a user runs them.
local h = require "support.helper"
local cjson = require "cjson"

describe("Lua migrations (end to end)", function()
  local url, dir
  local function lumi(args, env)
    env = env or {}
    env.DATABASE_URL = env.DATABASE_URL or url
    return h.lumi(dir, args, env)
  end
  local function json(args) return h.json(dir, args, { DATABASE_URL = url }) end

  before_each(function()
    url = h.fresh_db()
    dir = h.project({
      ["migrations/001_create_users.sql"] = "CREATE TABLE users (id bigserial PRIMARY KEY, email text);\n",
    })
  end)

  describe("applying", function()
    it("applies an NNN_name.lua migration in order and records it with the sha256sum of the file", function()
      h.write(dir .. "/migrations/002_seed_users.lua", [[
return {
  up = function(ctx)
    ctx.db:exec("ALTER TABLE users ADD COLUMN name text")
    for i = 1, 3 do
      ctx.db:query("INSERT INTO users (email, name) VALUES ($1, $2)", "u" .. i .. "@x", "user " .. i)
    end
  end,
  down = function(ctx)
    ctx.db:exec("DELETE FROM users; ALTER TABLE users DROP COLUMN name")
  end,
}
]])
      h.write(dir .. "/migrations/003_posts.sql", "CREATE TABLE posts (id int);\n")
      local doc, code, err = json("up")
      assert.are.equal(0, code, err)
      assert.are.same({ "001_create_users.sql", "002_seed_users.lua", "003_posts.sql" }, h.files(doc.applied))
      assert.are.equal(3, h.count(url, "users"))
      assert.are.equal("user 2", h.value(url, "SELECT name FROM users WHERE email = 'u2@x'"))
      local r = h.query(url, "SELECT version, name, file, checksum, state FROM schema_migrations WHERE version = '002'")[1]
      assert.are.equal("seed_users", r.name)
      assert.are.equal("002_seed_users.lua", r.file)
      assert.are.equal("applied", r.state)
      assert.are.equal(h.sha256sum(dir .. "/migrations/002_seed_users.lua"), r.checksum)
      assert.are.same({ "001", "002", "003" }, h.versions(url))
      assert.are.same({ "applied", "applied", "applied" }, h.events(url))
    end)

    it("lists it, shows it in status and counts an edited .lua file as changed", function()
      h.write(dir .. "/migrations/002_x.lua", "return { up = function(ctx) ctx.db:exec('CREATE TABLE x (id int)') end }\n")
      local list, code, err = json("list")
      assert.are.equal(0, code, err)
      assert.are.same({ "001_create_users.sql", "002_x.lua" }, h.files(list.migrations))
      assert.are.same({}, list.ignored)
      local out
      out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      local st = cjson.decode((lumi("status --json")))
      assert.are.equal(2, st.totals.applied)
      assert.are.equal("002_x.lua", st.entries[2].file)
      h.write(dir .. "/migrations/002_x.lua", "return { up = function(ctx) ctx.db:exec('CREATE TABLE y (id int)') end }\n")
      out, err, code = lumi("validate")
      assert.are.equal(3, code, out .. err)
      assert.truthy(h.has(err, "002_x.lua"), err)
      out, err, code = lumi("up")
      assert.are.equal(3, code, out .. err)
      assert.truthy(h.has(err, "changed since it was applied: 002_x.lua"), err)
    end)

    it("`lumi down` runs the down function and removes the record; `lumi up` applies it again", function()
      h.write(dir .. "/migrations/002_things.lua", [[
return {
  up = function(ctx) ctx.db:exec("CREATE TABLE things (id int); INSERT INTO things VALUES (1), (2)") end,
  down = function(ctx) ctx.db:exec("DROP TABLE things") end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      assert.are.equal(2, h.count(url, "things"))
      local doc
      doc, code, err = json("down")
      assert.are.equal(0, code, err)
      assert.are.same({ "002_things.lua" }, h.files(doc.reverted))
      assert.is_false(h.table_exists(url, "things"))
      assert.are.same({ "001" }, h.versions(url))
      assert.are.same({ "applied", "applied", "reverted" }, h.events(url))
      out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      assert.are.equal(2, h.count(url, "things"))
      assert.are.same({ "001", "002" }, h.versions(url))
    end)

    it("a down function that fails leaves the migration applied and its changes in place", function()
      h.write(dir .. "/migrations/002_things.lua", [[
return {
  up = function(ctx) ctx.db:exec("CREATE TABLE things (id int)") end,
  down = function(ctx)
    ctx.db:exec("DROP TABLE things")
    ctx.db:exec("DROP TABLE no_such_table")
  end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      out, err, code = lumi("down")
      assert.are.equal(1, code, out .. err)
      assert.truthy(h.has(err, "migrations/002_things.lua:5:"), err)
      assert.truthy(h.has(err, "42P01"), err)
      assert.is_true(h.table_exists(url, "things"))
      assert.are.same({ "001", "002" }, h.versions(url))
      assert.are.equal("revert failed", h.events(url)[3])
    end)

    it("a Lua migration without down cannot be reverted, and the message speaks of a down function", function()
      h.write(dir .. "/migrations/002_x.lua", "return { up = function(ctx) ctx.db:exec('CREATE TABLE x (id int)') end }\n")
      local out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      out, err, code = lumi("down")
      assert.are.equal(3, code, out .. err)
      assert.truthy(h.has(err, "cannot revert 002_x.lua: it has no down"), err)
      -- the hint fits a Lua file (a `down` function), not an SQL section marker
      assert.is_nil(err:find("-- migrate:down", 1, true), err)
      assert.truthy(h.has(err, "down"), err)
      assert.is_true(h.table_exists(url, "x"))
      assert.are.same({ "001", "002" }, h.versions(url))
    end)
  end)

  describe("a failure", function()
    it("a Lua error after a CREATE TABLE leaves neither the table nor a record, and names the user's file and line", function()
      h.write(dir .. "/migrations/002_x.lua", [[
return {
  up = function(ctx)
    local db = ctx.db
    db:exec("CREATE TABLE half_done (id int)")
    error("the data is not what I expected")
  end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(1, code, out .. err)
      assert.truthy(h.has(err, "migrations/002_x.lua:5: the data is not what I expected"), err)
      assert.truthy(h.has(err, "The migration was rolled back"), err)
      -- lumi's own files and tracebacks are not what the user needs to read
      assert.is_nil(err:find("lua/lumi/", 1, true), err)
      assert.is_nil(err:find("traceback", 1, true), err)
      assert.is_false(h.table_exists(url, "half_done"))
      assert.are.same({ "001" }, h.versions(url))
      assert.are.same({ "applied", "failed" }, h.events(url))
      -- run again, asking for JSON: 002 is the one that failed, at the user's line
      local doc
      doc, code, err = json("up")
      assert.are.equal(1, code, err)
      assert.are.same({ file = "002_x.lua", version = "002" }, doc.failed)
      assert.are.same({}, h.files(doc.applied))
      assert.are.same({ "migrations/002_x.lua", 5 }, { doc.error.file, doc.error.line })
      assert.is_false(h.table_exists(url, "half_done"))
    end)

    it("a database error after a CREATE TABLE is rolled back and points at the line of the failing call", function()
      h.write(dir .. "/migrations/002_x.lua", [[
return {
  up = function(ctx)
    local db = ctx.db
    db:exec("CREATE TABLE half_done (id int)")
    db:query("INSERT INTO users (id, email) VALUES ($1, $2)", "not a number", "a@b")
  end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(1, code, out .. err)
      assert.truthy(h.has(err, "migrations/002_x.lua:5:"), err)
      assert.truthy(h.has(err, "22P02"), err)
      assert.is_nil(err:find("lua/lumi/", 1, true), err)
      assert.is_false(h.table_exists(url, "half_done"))
      assert.are.same({ "001" }, h.versions(url))
      local ev = h.query(url, "SELECT event, sqlstate FROM schema_migrations_log ORDER BY id DESC LIMIT 1")[1]
      assert.are.equal("failed", ev.event)
      assert.are.equal("22P02", ev.sqlstate)
    end)

    it("an error inside a helper function of the file names the line of the database call", function()
      h.write(dir .. "/migrations/002_x.lua", [[
local function backfill(db)
  db:exec("UPDATE users SET email = lower(email)")
  db:exec("SELECT 1 / 0")
end
return {
  up = function(ctx)
    ctx.db:exec("CREATE TABLE half_done (id int)")
    backfill(ctx.db)
  end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(1, code, out .. err)
      assert.truthy(h.has(err, "migrations/002_x.lua:3:"), err)
      assert.truthy(h.has(err, "22012"), err)
      assert.is_false(h.table_exists(url, "half_done"))
      assert.are.same({ "001" }, h.versions(url))
    end)

    it("an error raised without a position (error(msg, 0)) gets the line of the raising call", function()
      h.write(dir .. "/migrations/002_x.lua", [[
return {
  up = function(ctx)
    ctx.db:exec("CREATE TABLE half_done (id int)")
    error("no position here", 0)
  end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(1, code, out .. err)
      assert.truthy(h.has(err, "migrations/002_x.lua:4: no position here"), err)
      assert.is_false(h.table_exists(url, "half_done"))
    end)

    it("with --json, the error carries the file, the line and the SQLSTATE", function()
      h.write(dir .. "/migrations/002_x.lua", [[
return {
  up = function(ctx)
    ctx.db:exec("CREATE TABLE half_done (id int)")
    ctx.db:exec("SELECT * FROM no_such_table")
  end,
}
]])
      local out, err, code = lumi("up --json")
      assert.are.equal(1, code, out .. err)
      local doc = cjson.decode(out)
      assert.are.equal("migrations/002_x.lua", doc.error.file)
      assert.are.equal(4, doc.error.line)
      assert.are.equal("42P01", doc.error.sqlstate)
      assert.is_false(h.table_exists(url, "half_done"))
    end)

    it("the migrations after a failed one do not run, those before it stay applied", function()
      h.write(dir .. "/migrations/002_ok.lua", "return { up = function(ctx) ctx.db:exec('CREATE TABLE ok (id int)') end }\n")
      h.write(dir .. "/migrations/003_bad.lua", "return { up = function(ctx)\n  error('no')\nend }\n")
      h.write(dir .. "/migrations/004_later.sql", "CREATE TABLE later (id int);\n")
      local out, err, code = lumi("up")
      assert.are.equal(1, code, out .. err)
      assert.truthy(h.has(err, "migrations/003_bad.lua:2: no"), err)
      assert.is_true(h.table_exists(url, "ok"))
      assert.is_false(h.table_exists(url, "later"))
      assert.are.same({ "001", "002" }, h.versions(url))
    end)
  end)

  describe("a file that is not a migration", function()
    local function nothing_applied()
      assert.is_false(h.table_exists(url, "users"))
      assert.is_false(h.table_exists(url, "schema_migrations") and h.count(url, "schema_migrations") > 0)
    end

    it("returning a number: exit 3 (a file that does not load), the file named, nothing applied (not even the migrations before it)", function()
      h.write(dir .. "/migrations/002_x.lua", "return 42\n")
      local out, err, code = lumi("up")
      assert.are.equal(3, code, out .. err)
      assert.truthy(h.has(err, "migrations/002_x.lua must return a table with an `up` function"), err)
      nothing_applied()
    end)

    it("returning a table without up: exit 3 (a file that does not load), the file named", function()
      h.write(dir .. "/migrations/002_x.lua", "return { down = function() end }\n")
      local out, err, code = lumi("up")
      assert.are.equal(3, code, out .. err)
      assert.truthy(h.has(err, "migrations/002_x.lua must return a table with an `up` function"), err)
      assert.truthy(h.has(err, "without up"), err)
      nothing_applied()
    end)

    it("a syntax error: exit 3 (a file that does not load), with the file and line", function()
      h.write(dir .. "/migrations/002_x.lua", "return {\n  up = function(ctx)\n    ctx.db:exec('x'\n  end,\n}\n")
      local out, err, code = lumi("up")
      assert.are.equal(3, code, out .. err)
      assert.truthy(h.has(err, "migrations/002_x.lua:4:"), err)
      nothing_applied()
    end)

    it("a file that raises while loading: exit 3 (a file that does not load), with the file and line", function()
      h.write(dir .. "/migrations/002_x.lua", "local x = nil\nlocal y = x.field\nreturn { up = function() end }\n")
      local out, err, code = lumi("up")
      assert.are.equal(3, code, out .. err)
      assert.truthy(h.has(err, "migrations/002_x.lua:2:"), err)
      nothing_applied()
    end)

    it("`transaction` that is not a boolean: exit 3 (a file that does not load), the key named", function()
      h.write(dir .. "/migrations/002_x.lua", "return { transaction = 'no', up = function() end }\n")
      local out, err, code = lumi("up")
      assert.are.equal(3, code, out .. err)
      assert.truthy(h.has(err, "`transaction` must be true or false"), err)
      nothing_applied()
    end)
  end)

  describe("transaction = false", function()
    it("runs outside a transaction: CREATE INDEX CONCURRENTLY works, and the record says applied", function()
      h.write(dir .. "/migrations/002_index.lua", [[
return {
  transaction = false,
  up = function(ctx)
    ctx.db:exec("CREATE TABLE seen (in_tx boolean)")
    ctx.db:query("INSERT INTO seen VALUES ($1)", ctx.db:in_transaction())
    ctx.db:exec("CREATE INDEX CONCURRENTLY users_email ON users (email)")
  end,
  down = function(ctx) ctx.db:exec("DROP INDEX CONCURRENTLY users_email") end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      assert.is_false(h.value(url, "SELECT in_tx FROM seen"))
      assert.is_true(h.value(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email'::regclass"))
      assert.are.equal("applied", h.value(url, "SELECT state FROM schema_migrations WHERE version = '002'"))
      out, err, code = lumi("down")
      assert.are.equal(0, code, out .. err)
      assert.is_false(h.table_exists(url, "users_email"))
      assert.are.same({ "001" }, h.versions(url))
    end)

    it("by default a Lua migration runs in a transaction (CREATE INDEX CONCURRENTLY fails with 25001)", function()
      h.write(dir .. "/migrations/002_index.lua", [[
return {
  up = function(ctx)
    ctx.db:exec("CREATE TABLE before_index (id int)")
    ctx.db:exec("CREATE INDEX CONCURRENTLY users_email ON users (email)")
  end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(1, code, out .. err)
      assert.truthy(h.has(err, "migrations/002_index.lua:4:"), err)
      assert.truthy(h.has(err, "25001"), err)
      assert.is_false(h.table_exists(url, "before_index"))
      assert.are.same({ "001" }, h.versions(url))
    end)

    it("commits as it goes: a failure midway keeps what ran, exits 1 and leaves an unfinished record", function()
      h.write(dir .. "/migrations/002_x.lua", [[
return {
  transaction = false,
  up = function(ctx)
    ctx.db:exec("CREATE TABLE committed_part (id int)")
    ctx.db:exec("INSERT INTO committed_part VALUES (1)")
    error("stopped halfway")
  end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(1, code, out .. err)
      assert.truthy(h.has(err, "migrations/002_x.lua:6: stopped halfway"), err)
      assert.is_nil(err:find("lua/lumi/", 1, true), err)
      assert.is_true(h.table_exists(url, "committed_part"))
      assert.are.equal(1, h.count(url, "committed_part"))
      local r = h.query(url, "SELECT state, error FROM schema_migrations WHERE version = '002'")[1]
      assert.are.equal("unfinished", r.state)
      assert.truthy(h.has(r.error, "stopped halfway"), r.error)
      -- status shows it, up refuses to go past it, unmark lets up run it again
      local st = json("status")
      assert.are.equal("unfinished", h.entry(st, "002_x.lua").state)
      assert.truthy(h.has(h.entry(st, "002_x.lua").error, "stopped halfway"), h.entry(st, "002_x.lua").error)
      assert.are.same({ total = 2, applied = 1, pending = 0, changed = 0, missing = 0, unfinished = 1, in_progress = 0 }, st.totals)
      out, err, code = lumi("up")
      assert.are.equal(3, code, out .. err)
      assert.truthy(h.has(err, "002_x.lua ran without a transaction and failed midway"), err)
      h.write(dir .. "/migrations/002_x.lua", [[
return {
  transaction = false,
  up = function(ctx)
    ctx.db:exec("CREATE TABLE IF NOT EXISTS committed_part (id int)")
  end,
}
]])
      out, err, code = lumi("unmark 002")
      assert.are.equal(0, code, out .. err)
      out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      assert.are.equal("applied", h.value(url, "SELECT state FROM schema_migrations WHERE version = '002'"))
      assert.are.equal(h.sha256sum(dir .. "/migrations/002_x.lua"),
        h.value(url, "SELECT checksum FROM schema_migrations WHERE version = '002'"))
    end)
  end)

  describe("the context", function()
    it("ctx.migration describes the migration being run, up and down", function()
      h.write(dir .. "/migrations/002_about_me.lua", [[
local function note(ctx)
  local m = ctx.migration
  ctx.db:query("INSERT INTO about VALUES ($1, $2, $3, $4, $5)", m.version, m.name, m.file, m.path, m.direction)
end
return {
  up = function(ctx)
    ctx.db:exec("CREATE TABLE IF NOT EXISTS about (version text, name text, file text, path text, direction text)")
    note(ctx)
  end,
  down = function(ctx) note(ctx) end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      out, err, code = lumi("down")
      assert.are.equal(0, code, out .. err)
      local rows = h.query(url, "SELECT * FROM about ORDER BY direction DESC")
      assert.are.equal(2, #rows)
      assert.are.equal("002", rows[1].version)
      assert.are.equal("about_me", rows[1].name)
      assert.are.equal("002_about_me.lua", rows[1].file)
      assert.truthy(rows[1].path:find("002_about_me.lua$"), rows[1].path)
      assert.are.equal("up", rows[1].direction)
      assert.are.equal("down", rows[2].direction)
    end)

    it("ctx.placeholders are migrate.lua's placeholders", function()
      h.write(dir .. "/migrate.lua", "return { placeholders = { app_role = 'app_rw', tbl = 'from_placeholders' } }\n")
      h.write(dir .. "/migrations/002_x.lua", [[
return {
  up = function(ctx)
    local p = ctx.placeholders
    ctx.db:exec("CREATE TABLE " .. ctx.db:quote_ident(p.tbl) .. " (role text)")
    ctx.db:query("INSERT INTO " .. ctx.db:quote_ident(p.tbl) .. " VALUES ($1)", p.app_role)
  end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      assert.are.equal("app_rw", h.value(url, "SELECT role FROM from_placeholders"))
    end)

    it("ctx.log prints a line in the output, with the migration's file", function()
      h.write(dir .. "/migrations/002_x.lua", [[
return {
  up = function(ctx)
    ctx.db:exec("INSERT INTO users (email) VALUES ('a'), ('b')")
    ctx.log("backfilled %d users", ctx.db:value("SELECT count(*)::int FROM users"))
    ctx.log("plain text, 100% literal")
  end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      assert.truthy(h.has(out, "002_x.lua: backfilled 2 users"), out)
      assert.truthy(h.has(out, "002_x.lua: plain text, 100% literal"), out)
      -- the logged line comes before the line that says it was applied (the order of the
      -- lines is the human output's: --json has the applied list only, at the end)
      assert.truthy(out:find("backfilled 2 users", 1, true) < out:find("applied  002_x.lua", 1, true), out)
    end)

    it("the logged lines of a failed migration are still shown", function()
      h.write(dir .. "/migrations/002_x.lua", [[
return {
  up = function(ctx)
    ctx.log("step one done")
    error("step two failed")
  end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(1, code, out .. err)
      assert.truthy(h.has(out .. err, "step one done"), out .. err)
    end)
  end)

  it("lumi new --lua creates a Lua migration that applies as it is", function()
    local out, err, code = lumi("new --lua 'Backfill emails'")
    assert.are.equal(0, code, out .. err)
    assert.truthy(h.has(out, "002_backfill_emails.lua"), out)
    local text = h.read(dir .. "/migrations/002_backfill_emails.lua")
    assert.truthy(h.has(text, "up = function(ctx)"), text)
    out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.are.same({ "001", "002" }, h.versions(url))
    out, err, code = lumi("down")
    assert.are.equal(0, code, out .. err)
    assert.are.same({ "001" }, h.versions(url))
  end)
end)
