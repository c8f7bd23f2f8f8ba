local h = require "support.helper"
local dbmod = require "lumi.db"
local store = require "lumi.store"
local hash = require "lumi.hash"

-- Ctrl-C (SIGINT) or SIGTERM during a run: lumi cancels the statement the
-- server is running, rolls the migration back, releases the lock, and exits
-- as the signal would have it (130, 143). Without the cancel, the server
-- would run the statement to its end, holding its locks and lumi's, after
-- lumi had gone.
describe("an interrupted run (end to end)", function()
  local url, dir

  -- Start `lumi args` in the background, wait until `ready_sql` (a count)
  -- is not 0, send `sig`; returns lumi's exit status, stdout, stderr.
  -- (A background job of a shell without job control starts with SIGINT
  -- ignored, and lumi leaves an ignored signal ignored: env puts it back.)
  local function run_and_signal(args, sig, ready_sql)
    local script = table.concat({
      "{",      -- one group: the shell's own "Killed" goes where its stderr goes
      "cd " .. h.q(dir),
      "env --default-signal=INT DATABASE_URL=" .. h.q(url) .. " " .. h.q(h.bin) .. " " .. args .. " >out.txt 2>err.txt & pid=$!",
      "for i in $(seq 1 400); do",
      "  n=$(psql -X -At -d " .. h.q(url) .. " -c " .. h.q(ready_sql) .. ")",
      "  [ \"$n\" != 0 ] && break",
      "  sleep 0.05",
      "done",
      "kill -" .. sig .. " $pid; wait $pid; echo \"exit=$?\"",
      "}",
    }, "\n")
    local out, err = h.sh(script)
    local code = tonumber(out:match("exit=(%d+)"))
    assert(code, out .. err)
    return code, h.read(dir .. "/out.txt"), h.read(dir .. "/err.txt")
  end

  local running_sleep = [[SELECT count(*) FROM pg_stat_activity
    WHERE state = 'active' AND query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()]]

  local function still_running()
    return h.value(url, [[SELECT count(*) FROM pg_stat_activity
      WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()]])
  end

  local function lock_is_free()
    local c = dbmod.connect(url)
    local key = store.new(c, "schema_migrations"):lock_key(hash)
    local free = c:value("SELECT pg_try_advisory_lock($1)", key)
    c:close()
    return free
  end

  before_each(function()
    url = h.fresh_db()
    dir = h.project({
      ["migrations/001_a.sql"] = "CREATE TABLE a (id int);\n",
      ["migrations/002_slow.sql"] = "CREATE TABLE b (id int);\nSELECT pg_sleep(60);\n",
      ["migrations/003_c.sql"] = "CREATE TABLE c (id int);\n",
    })
  end)

  it("SIGINT cancels the running migration, rolls it back, releases the lock and exits 130", function()
    local code, out, err = run_and_signal("up", "INT", running_sleep)
    assert.are.equal(130, code, out .. err)
    assert.truthy(out:find("FAILED   002_slow.sql", 1, true), out)
    assert.truthy(err:find("ERROR 57014: canceling statement due to user request", 1, true), err)
    assert.truthy(err:find("interrupted by SIGINT: lumi cancelled the statement that was running", 1, true), err)
    assert.truthy(err:find("The migration was rolled back", 1, true), err)
    assert.is_nil(err:find("Fix the file", 1, true), err)
    assert.are.equal(0, still_running())
    assert.are.same({ "001" }, h.versions(url))
    assert.is_true(h.table_exists(url, "a"))
    assert.is_false(h.table_exists(url, "b"))
    assert.is_false(h.table_exists(url, "c"))
    assert.is_true(lock_is_free())
    assert.are.same({ "applied", "failed" }, h.events(url))
  end)

  it("SIGTERM does the same and exits 143", function()
    local code, out, err = run_and_signal("up", "TERM", running_sleep)
    assert.are.equal(143, code, out .. err)
    assert.truthy(err:find("interrupted by SIGTERM", 1, true), err)
    assert.are.equal(0, still_running())
    assert.are.same({ "001" }, h.versions(url))
    assert.is_true(lock_is_free())
  end)

  it("a Lua migration between statements stops at its next one", function()
    os.remove(dir .. "/migrations/002_slow.sql")
    h.write(dir .. "/migrations/002_loop.lua", [[
return { up = function(ctx)
  ctx.db:exec("CREATE TABLE looped (id int)")
  for i = 1, 100000 do
    ctx.db:query("SELECT pg_sleep(0.01), 'lumi-loop'")
    ctx.db:exec("INSERT INTO looped VALUES (" .. i .. ")")
  end
end }
]])
    local code, out, err = run_and_signal("up --json", "TERM", [[SELECT count(*) FROM pg_stat_activity
      WHERE query LIKE '%lumi-loop%' AND pid <> pg_backend_pid()]])
    assert.are.equal(143, code, out .. err)
    local doc = require("cjson").decode(out)
    assert.are.same({ file = "002_loop.lua", version = "002" }, doc.failed)
    assert.are.same({ "001_a.sql" }, h.files(doc.applied))
    -- stopped at its next statement ("interrupted by SIGTERM"), or its
    -- running statement cancelled (57014, with the signal in the hint)
    local said = doc.error.message .. " " .. tostring(doc.error.hint)
    assert.truthy(h.has(said, "SIGTERM"), said)
    assert.are.same({ "001" }, h.versions(url))
    assert.is_false(h.table_exists(url, "looped"))
    assert.is_true(lock_is_free())
  end)

  it("a no-transaction migration is left recorded as unfinished", function()
    h.write(dir .. "/migrations/002_slow.sql", "-- lumi: no-transaction\nCREATE TABLE b (id int);\nSELECT pg_sleep(60);\n")
    local code, out, err = run_and_signal("up", "INT", running_sleep)
    assert.are.equal(130, code, out .. err)
    assert.are.equal(0, still_running())
    assert.are.equal("unfinished", h.value(url, "SELECT state FROM schema_migrations WHERE version = '002'"))
    assert.is_true(h.table_exists(url, "b"))
    assert.is_true(lock_is_free())
  end)

  it("a no-transaction down interrupted midway is recorded unfinished", function()
    os.remove(dir .. "/migrations/002_slow.sql")
    h.write(dir .. "/migrations/002_x.up.sql", "CREATE TABLE x (id int);\n")
    h.write(dir .. "/migrations/002_x.down.sql", "-- lumi: no-transaction\nDROP TABLE x;\nSELECT pg_sleep(60);\nSELECT 1;\n")
    os.remove(dir .. "/migrations/003_c.sql")
    local _, _, up = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(0, up)
    local code, out, err = run_and_signal("down", "INT", running_sleep)
    assert.are.equal(130, code, out .. err)
    assert.are.equal("unfinished", h.value(url, "SELECT state FROM schema_migrations WHERE version = '002'"))
    assert.is_false(h.table_exists(url, "x"))
    assert.is_true(lock_is_free())
  end)

  it("an after_each hook interrupted after a no-transaction file ran: unfinished, logged, exit 130", function()
    h.write(dir .. "/migrate.lua", [[return { after_each = function(ctx)
  if ctx.migration.version == "002" then ctx.db:query("SELECT pg_sleep(60), 'hook'") end
end }
]])
    h.write(dir .. "/migrations/002_slow.sql", "-- lumi: no-transaction\nCREATE TABLE b (id int);\n")
    local code, out, err = run_and_signal("up", "INT", running_sleep)
    assert.are.equal(130, code, out .. err)
    assert.truthy(err:find("hook after_each failed", 1, true), err)
    assert.are.equal("unfinished", h.value(url, "SELECT state FROM schema_migrations WHERE version = '002'"))
    assert.are.same({ "applied", "unfinished" }, h.events(url))
    assert.is_true(lock_is_free())
  end)

  it("a Lua migration reading rows (a fetch in flight) is rolled back, and its failure logged", function()
    os.remove(dir .. "/migrations/002_slow.sql")
    h.write(dir .. "/migrations/002_rows.lua", [[
return { up = function(ctx)
  ctx.db:exec("CREATE TABLE r (id int)")
  for row in ctx.db:rows("SELECT g, pg_sleep(0.0005) FROM generate_series(1, 200000) g") do
    if row.g % 1000 == 0 then ctx.db:query("SELECT 'lumi-rows'") end
  end
end }
]])
    local code, out, err = run_and_signal("up", "TERM", [[SELECT count(*) FROM pg_stat_activity
      WHERE query LIKE '%lumi-rows%' AND pid <> pg_backend_pid()]])
    assert.are.equal(143, code, out .. err)
    assert.are.same({ "001" }, h.versions(url))
    assert.is_false(h.table_exists(url, "r"))
    assert.are.same({ "applied", "failed" }, h.events(url))
    assert.is_true(lock_is_free())
  end)

  it("SIGKILL: the server notices lumi is gone and stops the statement (client_connection_check_interval)", function()
    local code = run_and_signal("up", "KILL", running_sleep)
    assert.are.equal(137, code)
    -- checked every second by the server: gone long before pg_sleep(60) ends
    local gone = false
    for _ = 1, 100 do
      if still_running() == 0 then gone = true; break end
      os.execute("sleep 0.1")
    end
    assert.is_true(gone)
    assert.are.same({ "001" }, h.versions(url))
    assert.is_false(h.table_exists(url, "b"))
    assert.is_true(lock_is_free())
  end)

  it("while waiting for the lock, it stops and runs nothing", function()
    local holder = dbmod.connect(url)
    local key = store.new(holder, "schema_migrations"):lock_key(hash)
    assert.is_true(holder:value("SELECT pg_try_advisory_lock($1)", key))
    local code, out, err = run_and_signal("up --lock-wait 60", "INT",
      [[SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lumi' AND pid <> pg_backend_pid()]])
    holder:close()
    assert.are.equal(130, code, out .. err)
    assert.is_false(h.table_exists(url, "a"))
  end)
end)
