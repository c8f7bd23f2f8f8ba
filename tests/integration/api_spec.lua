-- lumi as a library (README "Lua API"): a program run by stock lua5.4
-- requires "lumi", opens a project and runs commands, getting results as
-- values — failures included — with nothing printed.
local h = require "support.helper"
local cjson = require "cjson"

-- What every program starts with: lumi, and emit(t) to hand a result back
-- through the file $RESULT (stdout must stay the library's: empty).
local prelude = [[
local lumi = require "lumi"
local cjson = require "cjson"
local URL, DIR = os.getenv("URL"), os.getenv("DIR")
local function emit(t)
  local f = assert(io.open(os.getenv("RESULT"), "w"))
  f:write(cjson.encode(t))
  f:close()
end
local function files(list, field)
  local out = {}
  for i, x in ipairs(list) do out[i] = x.migration and x.migration.file or x.file end
  return out
end
]]

describe("the Lua API (require \"lumi\" from stock lua5.4)", function()
  local url, dir, result_path

  before_each(function()
    url = h.fresh_db()
    dir = h.project(h.three_files())
    result_path = h.tmpdir() .. "/result.json"
  end)

  -- Run `body` after the prelude; returns the emitted table, stdout, stderr.
  local function run(body, env, cwd)
    env = env or {}
    env.URL, env.DIR, env.RESULT = url, dir, result_path
    local out, err, code = h.lua54(prelude .. body, env, cwd)
    assert.are.equal(0, code, out .. err)
    local f = io.open(result_path, "rb")
    local data = f and f:read("a")
    if f then f:close() end
    assert.truthy(data, "the program emitted nothing: " .. out .. err)
    return cjson.decode(data), out, err
  end

  it("open, status, up { to = }, up, list and validate, with nothing printed", function()
    local r, out, err = run([[
local project <close> = lumi.open { dir = DIR .. "/migrations", database = URL }
local res = {}
local st = project:status()
res.before = { pending = st.totals.pending, applied = st.totals.applied, table_exists = st.table_exists }
local up1 = project:up { to = "002" }
res.up1 = { applied = files(up1.applied), error = up1.error ~= nil }
st = project:status()
res.middle = { pending = st.totals.pending, applied = st.totals.applied, first_state = st.entries[1].state }
local up2 = project:up()
res.up2 = { applied = files(up2.applied), error = up2.error ~= nil }
local up3 = project:up()
res.up3 = #up3.applied
local l = project:list()
res.list = files(l.migrations)
local v = project:validate()
res.validate = { ok = v.ok, problems = #v.problems }
emit(res)
]])
    assert.are.equal("", out)
    assert.are.equal("", err)
    assert.are.same({ pending = 3, applied = 0, table_exists = false }, r.before)
    assert.are.same({ applied = { "001_create_users.sql", "002_create_posts.sql" }, error = false }, r.up1)
    assert.are.same({ pending = 1, applied = 2, first_state = "applied" }, r.middle)
    assert.are.same({ applied = { "003_add_name.sql" }, error = false }, r.up2)
    assert.are.equal(0, r.up3)
    assert.are.same({ "001_create_users.sql", "002_create_posts.sql", "003_add_name.sql" }, r.list)
    assert.are.same({ ok = true, problems = 0 }, r.validate)
    assert.are.same({ "001", "002", "003" }, h.versions(url))
    assert.is_true(h.column_exists(url, "users", "name"))
  end)

  it("every command of the command line is a method: lint, snapshot, drift and verify_down too", function()
    local r, out, err = run([[
local project <close> = lumi.open { dir = DIR .. "/migrations", database = URL }
local res = {}
res.lint = #project:lint({ all = true }).findings
project:up()
local snap = project:snapshot()
res.snapshot = #snap.hash
res.drift = project:drift().drift
local proof = project:verify_down()
res.verify = #proof.migrations
emit(res)
]])
    assert.are.equal("", out)
    assert.are.equal("", err)
    assert.are.same({ lint = 0, snapshot = 64, drift = false, verify = 3 }, r)
  end)

  it("a failed migration is a value: result.error with the file, line and SQLSTATE; nothing raised or printed", function()
    h.write(dir .. "/migrations/002_create_posts.sql", "CREATE TABLE posts (id int);\nINSERT INTO nosuch VALUES (1);\n")
    local r, out, err = run([[
local project <close> = lumi.open { dir = DIR .. "/migrations", database = URL }
local ok, res = pcall(project.up, project)
local e = ok and res.error
emit({ raised = not ok, applied = ok and files(res.applied), failed = ok and res.failed and res.failed.migration.file,
       error = e and { kind = e.kind, file = e.file, line = e.line, sqlstate = e.sqlstate, message = e.message,
                       is_lumi_error = lumi.errors.is(e) } })
]])
    assert.are.equal("", out)
    assert.are.equal("", err)
    assert.is_false(r.raised)
    assert.are.same({ "001_create_users.sql" }, r.applied)
    assert.are.equal("002_create_posts.sql", r.failed)
    assert.are.equal("migration", r.error.kind)
    assert.truthy(r.error.file:find("migrations/002_create_posts.sql$"), r.error.file)
    assert.are.equal(2, r.error.line)
    assert.are.equal("42P01", r.error.sqlstate)
    assert.truthy(r.error.message:find('relation "nosuch" does not exist', 1, true), r.error.message)
    assert.is_true(r.error.is_lumi_error)
    assert.are.same({ "001" }, h.versions(url))
    assert.is_false(h.table_exists(url, "posts"))
  end)

  it("a failed Lua migration is a value too, located in the user's file", function()
    h.write(dir .. "/migrations/004_backfill.lua", [[
return {
  up = function(ctx)
    ctx.db:exec("UPDATE users SET name = 'x'")
    ctx.db:exec("SELECT 1 / 0")
  end,
}
]])
    local r, out = run([[
local project <close> = lumi.open { dir = DIR .. "/migrations", database = URL }
local res = project:up()
emit({ applied = #res.applied, file = res.error.file, line = res.error.line, sqlstate = res.error.sqlstate })
]])
    assert.are.equal("", out)
    assert.are.equal(3, r.applied)
    assert.truthy(r.file:find("migrations/004_backfill.lua$"), r.file)
    assert.are.equal(4, r.line)
    assert.are.equal("22012", r.sqlstate)
    assert.are.same({ "001", "002", "003" }, h.versions(url))
  end)

  it("on_event receives the events as values: plan, start, applied (with seconds), log, progress, notice", function()
    h.write(dir .. "/migrations/004_talk.lua", [[
return {
  up = function(ctx)
    ctx.log("hello from %s", ctx.migration.file)
    for i = 1, 4 do ctx.progress(i, 4) end
    ctx.db:exec("DO $$BEGIN RAISE NOTICE 'a notice'; END$$")
  end,
}
]])
    local r, out, err = run([[
local events = {}
local project <close> = lumi.open { dir = DIR .. "/migrations", database = URL, on_event = function(ev)
  local e = { type = ev.type }
  if ev.migration then e.file = ev.migration.file; e.version = ev.migration.version end
  if ev.type == "applied" then e.seconds_is_number = type(ev.seconds) == "number" end
  if ev.type == "log" then e.message = ev.message end
  if ev.type == "progress" then e.progress = ev.done .. "/" .. ev.total end
  if ev.type == "notice" then e.message = ev.notice.message end
  events[#events + 1] = e
end }
project:up()
emit(events)
]])
    assert.are.equal("", out)
    assert.are.equal("", err)
    local applied, logs, progress, notices, types = {}, {}, {}, {}, {}
    for _, e in ipairs(r) do
      types[e.type] = true
      if e.type == "applied" then
        applied[#applied + 1] = e.file
        assert.is_true(e.seconds_is_number)
      elseif e.type == "log" then logs[#logs + 1] = e.message
      elseif e.type == "progress" then progress[#progress + 1] = e.progress
      elseif e.type == "notice" then notices[#notices + 1] = e.message end
    end
    assert.are.same({ "001_create_users.sql", "002_create_posts.sql", "003_add_name.sql", "004_talk.lua" }, applied)
    assert.are.same({ "hello from 004_talk.lua" }, logs)
    assert.are.same({ "1/4", "2/4", "3/4", "4/4" }, progress)
    assert.are.same({ "a notice" }, notices)
    assert.is_true(types.plan)
    assert.is_true(types.start)
    -- a "start" comes before each "applied" of the same migration
    assert.are.equal("plan", r[1].type)
    assert.are.equal("start", r[2].type)
    assert.are.equal("001_create_users.sql", r[2].file)
    assert.are.equal("applied", r[3].type)
  end)

  it("up { dry_run = true } says what would run and changes nothing", function()
    local r, out = run([[
local project <close> = lumi.open { dir = DIR .. "/migrations", database = URL }
local res = project:up { dry_run = true }
emit({ would = files(res.applied), dry_run = res.dry_run })
]])
    assert.are.equal("", out)
    assert.is_true(r.dry_run)
    assert.are.same({ "001_create_users.sql", "002_create_posts.sql", "003_add_name.sql" }, r.would)
    assert.is_false(h.table_exists(url, "users"))
  end)

  it("reads migrate.lua from cwd, and open's settings override it", function()
    h.write(dir .. "/migrate.lua", string.format("return { database = %q, table = 'app_migrations' }\n", url))
    local r = run([[
local project <close> = lumi.open { cwd = DIR }
local res = project:up()
emit({ applied = #res.applied })
]])
    assert.are.equal(3, r.applied)
    assert.are.same({ "001", "002", "003" }, h.versions(url, "app_migrations"))
    local url2 = url
    url = h.fresh_db()
    r = run([[
local project <close> = lumi.open { cwd = DIR, database = URL, table = "other_migrations" }
emit({ applied = #project:up().applied })
]])
    assert.are.equal(3, r.applied)
    assert.are.same({ "001", "002", "003" }, h.versions(url, "other_migrations"))
    assert.are.same({ "001", "002", "003" }, h.versions(url2, "app_migrations"))
  end)

  it("hooks can be given to open like any setting of migrate.lua", function()
    local r = run([[
local seen = {}
local project <close> = lumi.open { dir = DIR .. "/migrations", database = URL,
  after_each = function(ctx) seen[#seen + 1] = ctx.migration.file .. " " .. tostring(ctx.db:in_transaction()) end,
  after_all = function(ctx) seen[#seen + 1] = "after_all " .. #ctx.result.applied end }
project:up()
emit(seen)
]])
    assert.are.same({ "001_create_users.sql true", "002_create_posts.sql true", "003_add_name.sql true",
      "after_all 3" }, r)
  end)

  it("closing the project (<close>) closes its connection", function()
    local _, dbname = url:match("(.*/)([^?]+)")
    local r = run([[
do
  local project <close> = lumi.open { dir = DIR .. "/migrations", database = URL }
  project:status()
end
local pg = require "lumi.pg"
local c <close> = assert(pg.connect(URL))
-- a backend leaves pg_stat_activity a moment after its client hangs up
local n
for _ = 1, 100 do
  n = assert(c:query("SELECT count(*)::int AS n FROM pg_stat_activity "
    .. "WHERE datname = current_database() AND pid <> pg_backend_pid()"))[1].n
  if n == 0 then break end
  os.execute("sleep 0.05")
end
emit({ others = n })
]])
    assert.truthy(dbname)
    assert.are.equal(0, r.others)
  end)

  it("every command is a method: down, mark, unmark and log too", function()
    h.write(dir .. "/migrations/003_add_name.sql", "-- migrate:up\nALTER TABLE users ADD COLUMN name text;\n"
      .. "-- migrate:down\nALTER TABLE users DROP COLUMN name;\n")
    local r, out, err = run([[
local project <close> = lumi.open { dir = DIR .. "/migrations", database = URL }
local res = {}
res.up = #project:up().applied
local d = project:down()
res.down = { reverted = files(d.reverted), error = d.error ~= nil }
res.mark = #project:mark({ version = "003" }).marked
res.unmark = #project:unmark({ version = "003" }).unmarked
local log = project:log()
res.log = {}
for i, ev in ipairs(log.events) do res.log[i] = ev.event end
emit(res)
]])
    assert.are.equal("", out)
    assert.are.equal("", err)
    assert.are.equal(3, r.up)
    assert.are.same({ reverted = { "003_add_name.sql" }, error = false }, r.down)
    assert.are.equal(1, r.mark)
    assert.are.equal(1, r.unmark)
    -- newest first
    assert.are.same({ "unmarked", "marked", "reverted", "applied", "applied", "applied" }, r.log)
    assert.is_false(h.column_exists(url, "users", "name"))
    assert.are.same({ "001", "002" }, h.versions(url))
  end)

  describe("choosing an environment or a target", function()
    local other_url
    before_each(function()
      other_url = h.fresh_db()
      h.write(dir .. "/staging/001_staging_only.sql", "CREATE TABLE staging_only (id int);\n")
      h.write(dir .. "/migrate.lua", string.format([[
return {
  database = %q,
  environments = { staging = { database = %q, dir = "staging" } },
}
]], url, other_url))
    end)

    it("open { env = NAME } applies the environment's overrides, as --env does", function()
      local r = run([[
local project <close> = lumi.open { cwd = DIR, env = "staging" }
local res = project:up()
emit({ applied = files(res.applied), env = project.config.env })
]])
      assert.are.same({ "001_staging_only.sql" }, r.applied)
      assert.are.equal("staging", r.env)
      assert.is_true(h.table_exists(other_url, "staging_only"))
      assert.is_false(h.table_exists(url, "schema_migrations"))
    end)

    it("LUMI_ENV applies to open as it does to the command line", function()
      local r = run([[
local project <close> = lumi.open { cwd = DIR }
emit({ applied = files(project:up().applied) })
]], { LUMI_ENV = "staging" })
      assert.are.same({ "001_staging_only.sql" }, r.applied)
      assert.is_true(h.table_exists(other_url, "staging_only"))
    end)

    it("an unknown environment raises a usage error naming the known ones", function()
      local r = run([[
local ok, e = pcall(lumi.open, { cwd = DIR, env = "prod" })
emit({ ok = ok, kind = type(e) == "table" and e.kind, message = tostring(type(e) == "table" and e.message or e) })
]])
      assert.is_false(r.ok)
      assert.are.equal("usage", r.kind)
      assert.truthy(r.message:find('no environment named "prod"', 1, true), r.message)
      assert.truthy(r.message:find("staging", 1, true), r.message)
    end)

    it("open { target = NAME } opens that target of migrate.lua", function()
      h.write(dir .. "/migrate.lua", string.format([[
return {
  database = %q,
  targets = {
    { name = "main", dir = "migrations" },
    { name = "side", dir = "staging", table = "side_migrations" },
  },
}
]], url))
      local r = run([[
local project <close> = lumi.open { cwd = DIR, target = "side" }
emit({ target = project.target, applied = files(project:up().applied) })
]])
      assert.are.equal("side", r.target)
      assert.are.same({ "001_staging_only.sql" }, r.applied)
      assert.are.same({ "001" }, h.versions(url, "side_migrations"))
      assert.is_false(h.table_exists(url, "schema_migrations"))
    end)
    it("a protected environment refuses down through the API too, and nothing changes", function()
      h.write(dir .. "/migrate.lua", string.format([[
return { database = %q, environments = { production = { protected = true } } }
]], url))
      local out, err, code = h.lumi(dir, "up")
      assert.are.equal(0, code, out .. err)
      local r = run([[
local project <close> = lumi.open { cwd = DIR, env = "production" }
local ok, res = pcall(project.down, project)
local e = ok and res.error or (not ok and res)
emit({ refused = (not ok) or (res.error ~= nil), reverted = ok and #res.reverted or 0,
       message = e and tostring(e.message or e) or "" })
]])
      assert.is_true(r.refused)
      assert.are.equal(0, r.reverted)
      assert.truthy(r.message:find("protected", 1, true), r.message)
      assert.are.same({ "001", "002", "003" }, h.versions(url))
    end)

    it("lumi.targets opens every target, in order", function()
      h.write(dir .. "/migrate.lua", string.format([[
return {
  database = %q,
  targets = {
    { name = "main", dir = "migrations" },
    { name = "side", dir = "staging", table = "side_migrations" },
  },
}
]], url))
      local r = run([[
local out = {}
for i, p in ipairs(lumi.targets { cwd = DIR }) do
  out[i] = { target = p.target, applied = #p:up().applied }
  p:close()
end
emit(out)
]])
      assert.are.same({ { target = "main", applied = 3 }, { target = "side", applied = 1 } }, r)
      assert.are.same({ "001", "002", "003" }, h.versions(url))
      assert.are.same({ "001" }, h.versions(url, "side_migrations"))
    end)
  end)
end)
