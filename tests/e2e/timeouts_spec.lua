-- Timeouts and retry: every migration runs with PostgreSQL's lock_timeout,
-- a lock timeout is retried with back-off, the sessions that block it are
-- named, and other sessions are never stalled for longer than a timeout.
local h = require "support.helper"
local clock = require "lumi.clock"

-- A session holding ACCESS SHARE on `tbl` in an open transaction (a
-- long-running reader), on a connection of its own.
local function reader(url, tbl)
  local c = h.connect(url)
  assert(c:exec("SET application_name = 'report-worker'; BEGIN; SELECT count(*) FROM " .. tbl))
  return c
end

local function lock_timeouts(url)
  local n = 0
  for _, e in ipairs(h.events(url)) do if e == "lock timeout" then n = n + 1 end end
  return n
end

local base_files = {
  ["migrations/001_users.sql"] = "CREATE TABLE users (id int, email text);\nINSERT INTO users VALUES (1, 'a');\n",
}

describe("timeouts (end to end)", function()
  it("behind a long-running reader: never stalls other sessions longer than the lock timeout, names the reader, "
    .. "gives up after its retries with nothing changed (exit 4)", function()
    h.with_project(base_files, [[
return { timeouts = { lock = "200ms", retries = 3, backoff = { base = "100ms", max = "200ms" } } }
]], function(p)
      assert.are.equal(0, select(3, p:lumi("up")))
      p:write("migrations/002_email.sql", "ALTER TABLE users ADD COLUMN email_lower text;\n")
      local r = reader(p.url, "users")
      local pid = r:info().pid
      local job = p:background("up")
      -- another session reads the table all along: how long does it wait?
      local other = h.connect(p.url)
      local worst, t_end = 0, clock.now() + 1.5
      while clock.now() < t_end do
        local t0 = clock.now()
        assert(other:query("SELECT count(*) FROM users"))
        worst = math.max(worst, clock.now() - t0)
        clock.sleep(0.02)
      end
      local code, out, err = job:wait()
      other:close()
      r:close()
      assert.are.equal(4, code, out .. err)
      assert.is_true(worst < 0.2 + 0.25, "a reader waited " .. worst .. " s")
      assert.truthy(h.has(err, "002_email.sql could not get its locks: 4 attempts timed out (lock_timeout 200 ms)"), err)
      assert.truthy(h.has(err, "blocked by pid " .. pid .. " (report-worker"), err)
      assert.truthy(h.has(err, "idle in transaction"), err)
      assert.truthy(h.has(err, "wait for those sessions to finish"), err)
      assert.is_nil(err:find("Fix the file", 1, true), err)
      assert.are.equal(4, lock_timeouts(p.url))
      assert.is_false(h.column_exists(p.url, "users", "email_lower"))
      assert.are.same({ "001" }, h.versions(p.url))
      -- every attempt is logged with its blockers (the lock waited for, once
      -- the second connection has seen the wait: on a slow machine, the
      -- first attempt may end before)
      local log = p:value("SELECT string_agg(error, E'\\n' ORDER BY id) FROM schema_migrations_log "
        .. "WHERE event = 'lock timeout'")
      assert.truthy(h.has(log, "attempt 1: "), log)
      assert.truthy(log:find("attempt %d: waiting for AccessExclusiveLock on users, blocked by pid " .. pid), log)
    end)
  end)

  it("applies once the reader is gone: retried, recorded once", function()
    h.with_project(base_files, [[
return { timeouts = { lock = "200ms", backoff = { base = "100ms", max = "300ms" } } }
]], function(p)
      assert.are.equal(0, select(3, p:lumi("up")))
      p:write("migrations/002_email.sql", "ALTER TABLE users ADD COLUMN email_lower text;\n")
      local r = reader(p.url, "users")
      local job = p:background("up --json")
      clock.sleep(0.8)
      r:close()
      local code, out, err = job:wait()
      assert.are.equal(0, code, out .. err)
      local doc = require("cjson").decode(out)
      assert.are.same({ "002_email.sql" }, h.files(doc.applied))
      assert.is_true(lock_timeouts(p.url) >= 1)
      assert.is_true(h.column_exists(p.url, "users", "email_lower"))
      assert.are.equal(1, p:value("SELECT count(*)::int FROM schema_migrations WHERE version = '002'"))
    end)
  end)

  it("without a transaction, retries only the statement that timed out: the ones before stay done", function()
    h.with_project(base_files, [[
return { timeouts = { lock = "200ms", backoff = { base = "100ms", max = "300ms" } } }
]], function(p)
      assert.are.equal(0, select(3, p:lumi("up")))
      p:write("migrations/002_two.sql", "-- lumi: no-transaction\nCREATE TABLE made_once (i int);\n"
        .. "ALTER TABLE users ADD COLUMN email_lower text;\n")
      local r = reader(p.url, "users")
      local job = p:background("up")
      clock.sleep(0.8)
      r:close()
      local code, out, err = job:wait()
      assert.are.equal(0, code, out .. err)        -- a second CREATE TABLE made_once would have failed
      assert.is_true(h.table_exists(p.url, "made_once"))
      assert.is_true(h.column_exists(p.url, "users", "email_lower"))
      local log = p:value("SELECT error FROM schema_migrations_log WHERE event = 'lock timeout' ORDER BY id LIMIT 1")
      assert.truthy(h.has(log, "attempt 1 at statement 2:"), log)
      assert.are.equal("applied", p:value("SELECT state FROM schema_migrations WHERE version = '002'"))
    end)
  end)

  it("on_lock_timeout decides: failing at attempt 2 makes exactly 2 attempts", function()
    h.with_project(base_files, [[
return {
  timeouts = { lock = "100ms", backoff = { base = "10ms", max = "20ms" } },
  on_lock_timeout = function(ctx)
    assert(#ctx.blockers == 1 and ctx.blockers[1].application == "report-worker", "the blocker is named")
    if ctx.attempt >= 2 then return "fail" end
    return "retry"
  end,
}
]], function(p)
      assert.are.equal(0, select(3, p:lumi("up")))
      p:write("migrations/002_email.sql", "ALTER TABLE users ADD COLUMN email_lower text;\n")
      local r = reader(p.url, "users")
      local out, err, code = p:lumi("up")
      r:close()
      assert.are.equal(4, code, out .. err)
      assert.truthy(h.has(err, "2 attempts timed out"), err)
      assert.are.equal(2, lock_timeouts(p.url))
    end)
  end)

  it("on_lock_timeout may end an idle-in-transaction blocker itself (the README's example); then it applies", function()
    h.with_project(base_files, [[
return {
  timeouts = { lock = "300ms", backoff = { base = "10ms", max = "20ms" } },
  on_lock_timeout = function(ctx)
    for _, b in ipairs(ctx.blockers) do
      if b.state == "idle in transaction" and b.application == "report-worker" then
        ctx.db:value("SELECT pg_terminate_backend($1)", b.pid)
        return 0
      end
    end
    return "retry"
  end,
}
]], function(p)
      assert.are.equal(0, select(3, p:lumi("up")))
      p:write("migrations/002_email.sql", "ALTER TABLE users ADD COLUMN email_lower text;\n")
      local r = reader(p.url, "users")
      local pid = r:info().pid
      local out, err, code = p:lumi("up")
      assert.are.equal(0, code, out .. err)
      assert.is_true(h.column_exists(p.url, "users", "email_lower"))
      assert.are.equal(0, p:value("SELECT count(*)::int FROM pg_stat_activity WHERE pid = $1", pid))
      pcall(r.close, r)
    end)
  end)

  it("shows the blocker's query only when show_queries says so", function()
    h.with_project(base_files, [[
return { timeouts = { lock = "1s", retries = 0, show_queries = true } }
]], function(p)
      assert.are.equal(0, select(3, p:lumi("up")))
      p:write("migrations/002_email.sql", "ALTER TABLE users ADD COLUMN email_lower text;\n")
      local r = reader(p.url, "users")
      local _, err, code = p:lumi("up")
      r:close()
      assert.are.equal(4, code, err)
      assert.truthy(h.has(err, "BEGIN; SELECT count(*) FROM users)"), err)
    end)
  end)

  it("a file's own lock-timeout and statement-timeout directives win; a statement timeout is not retried", function()
    h.with_project(base_files, [[
return { timeouts = { lock = "10s", retries = 0 } }
]], function(p)
      assert.are.equal(0, select(3, p:lumi("up")))
      p:write("migrations/002_email.sql", "-- lumi: lock-timeout 100ms\nALTER TABLE users ADD COLUMN email_lower text;\n")
      local r = reader(p.url, "users")
      local t0 = clock.now()
      local _, err, code = p:lumi("up")
      r:close()
      assert.are.equal(4, code, err)
      assert.is_true(clock.now() - t0 < 8, "the file's 100 ms was used, not the project's 10 s")
      os.remove(p:path("migrations/002_email.sql"))
      p:write("migrations/002_slow.sql", "-- lumi: statement-timeout 200ms\nSELECT pg_sleep(5);\n")
      local before = lock_timeouts(p.url)
      local out
      out, err, code = p:lumi("up")
      assert.are.equal(1, code, out .. err)
      assert.truthy(h.has(err, "57014"), err)
      assert.truthy(h.has(err, "canceling statement due to statement timeout"), err)
      assert.are.equal(before, lock_timeouts(p.url))
    end)
  end)

  it("shows which migration runs in pg_stat_activity: lumi, its version and the file", function()
    h.with_project(base_files, function(p)
      p:write("migrations/002_slow.sql", "SELECT pg_sleep(1.5);\n")
      local job = p:background("up")
      local seen, deadline = nil, clock.now() + 5
      while not seen and clock.now() < deadline do
        seen = h.value(p.url, "SELECT application_name FROM pg_stat_activity WHERE query LIKE '%pg_sleep(1.5)%' "
          .. "AND pid <> pg_backend_pid()")
        clock.sleep(0.05)
      end
      local code, out, err = job:wait()
      assert.are.equal(0, code, out .. err)
      assert.are.equal("lumi " .. require("lumi.version") .. " 002_slow.sql", seen)
    end)
  end)

  it("a timeouts setting that is not one is a config error naming it", function()
    h.with_project(base_files, "return { timeouts = { lock = \"soon\" } }\n", function(p)
      local _, err, code = p:lumi("status")
      assert.are.equal(2, code, err)
      assert.truthy(h.has(err, 'key "timeouts" lock "soon" is not a duration'), err)
    end)
  end)
end)
