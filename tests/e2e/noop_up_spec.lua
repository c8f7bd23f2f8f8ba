-- `lumi up` with nothing to apply answers from a read of the tracking
-- table, without the migration lock; with anything pending (or a
-- before_all/after_all hook to run) it still takes the lock first.
local h = require "support.helper"
local dbmod = require "lumi.db"
local store = require "lumi.store"
local hash = require "lumi.hash"
local ptime = require "posix.time"

local function now()
  local t = ptime.clock_gettime(ptime.CLOCK_MONOTONIC)
  return t.tv_sec + t.tv_nsec / 1e9
end

describe("a no-op `lumi up` and the migration lock (end to end)", function()
  local url, dir, holder, key
  before_each(function()
    url = h.fresh_db()
    dir = h.project(h.three_files())
    local _, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    holder = dbmod.connect(url)
    key = store.new(holder, "schema_migrations"):lock_key(hash)
    assert.is_true(holder:value("SELECT pg_try_advisory_lock($1)", key))
  end)
  after_each(function() holder:close() end)

  local function lumi(args) return h.lumi(dir, args, { DATABASE_URL = url }) end

  it("with everything applied, returns 0 at once with \"Nothing to apply\" while another session holds the lock", function()
    local t0 = now()
    local out, err, code = lumi("up --lock-wait 5")
    local elapsed = now() - t0
    assert.are.equal(0, code, out .. err)
    assert.truthy(h.has(out, "Nothing to apply: the database is up to date."), out)
    assert.is_nil(err:find("lock", 1, true), err)
    assert.is_true(elapsed < 4, "took " .. elapsed .. " s: it waited for the lock")
    assert.are.same({ "001", "002", "003" }, h.versions(url))
    -- the lock is still the holder's, and the holder's alone
    local other <close> = h.connect(url)
    assert.is_false(assert(other:query("SELECT pg_try_advisory_lock($1) AS got", key))[1].got)
  end)

  it("with a migration pending, waits for the lock and gives up: exit 4, nothing applied", function()
    h.write(dir .. "/migrations/004_add_age.sql", "ALTER TABLE users ADD COLUMN age int;\n")
    local t0 = now()
    local out, err, code = lumi("up --lock-wait 1")
    local elapsed = now() - t0
    assert.are.equal(4, code, out .. err)
    assert.truthy(h.has(err, "another lumi run holds the migration lock"), err)
    assert.truthy(h.has(err, "process " .. holder:info().pid), err)
    assert.is_true(elapsed >= 0.9, "gave up after " .. elapsed .. " s, before --lock-wait")
    assert.is_nil(out:find("Nothing to apply", 1, true), out)
    assert.is_false(h.column_exists(url, "users", "age"))
    assert.are.same({ "001", "002", "003" }, h.versions(url))
    -- and once the lock is free, the same command applies it
    assert.is_true(holder:value("SELECT pg_advisory_unlock($1)", key))
    out, err, code = lumi("up --lock-wait 1")
    assert.are.equal(0, code, out .. err)
    assert.are.same({ "001", "002", "003", "004" }, h.versions(url))
    assert.is_true(h.column_exists(url, "users", "age"))
  end)

  it("with nothing pending up to --to, returns 0 without the lock though later files are pending", function()
    h.write(dir .. "/migrations/004_add_age.sql", "ALTER TABLE users ADD COLUMN age int;\n")
    local out, err, code = lumi("up --to 003 --lock-wait 5")
    assert.are.equal(0, code, out .. err)
    assert.truthy(h.has(out, "Nothing to apply"), out)
    assert.are.same({ "001", "002", "003" }, h.versions(url))
    out, err, code = lumi("up --to 004 --lock-wait 0")
    assert.are.equal(4, code, out .. err)
    assert.is_false(h.column_exists(url, "users", "age"))
  end)

  it("with nothing pending but an applied file changed, reports the change (exit 3), not the lock", function()
    h.write(dir .. "/migrations/002_create_posts.sql", "CREATE TABLE posts (id int);\n")
    local out, err, code = lumi("up --lock-wait 5")
    assert.are.equal(3, code, out .. err)
    assert.truthy(h.has(err, "002_create_posts.sql"), err)
    assert.is_nil(err:find("holds the migration lock", 1, true), err)
  end)

  it("on a database without the tracking table (nothing applied yet), takes the lock", function()
    url = h.fresh_db()
    holder:close()
    holder = dbmod.connect(url)
    assert.is_true(holder:value("SELECT pg_try_advisory_lock($1)", key))
    local empty = h.project({ ["migrations/.gitkeep"] = "" })
    local out, err, code = h.lumi(empty, "up --lock-wait 0", { DATABASE_URL = url })
    assert.are.equal(4, code, out .. err)
    assert.truthy(h.has(err, "another lumi run holds the migration lock"), err)
  end)
end)

describe("a no-op `lumi up` with before_all/after_all hooks (end to end)", function()
  local url, dir
  before_each(function()
    url = h.fresh_db()
    local _, err, code = h.psql(url, "CREATE TABLE hook_log (id serial PRIMARY KEY, what text)")
    assert.are.equal(0, code, err)
    dir = h.project(h.three_files())
  end)

  local function lumi(args) return h.lumi(dir, args, { DATABASE_URL = url }) end
  local function log_rows()
    local out = {}
    for _, r in ipairs(h.query(url, "SELECT what FROM hook_log ORDER BY id")) do out[#out + 1] = r.what end
    return out
  end

  it("still runs before_all and after_all, with nothing pending and nothing applied", function()
    h.write(dir .. "/migrate.lua", [[
return {
  before_all = function(ctx)
    ctx.db:query("INSERT INTO hook_log (what) VALUES ($1)", "before_all " .. #ctx.pending)
    ctx.log("before_all ran")
  end,
  after_all = function(ctx)
    ctx.db:query("INSERT INTO hook_log (what) VALUES ($1)", "after_all " .. #ctx.result.applied)
    ctx.log("after_all ran")
  end,
}
]])
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.truthy(h.has(out, "before_all ran"), out)
    assert.truthy(h.has(out, "after_all ran"), out)
    assert.truthy(h.has(out, "Nothing to apply"), out)
    assert.are.same({ "before_all 3", "after_all 3", "before_all 0", "after_all 0" }, log_rows())
  end)

  it("runs an after_all alone on a no-op up", function()
    h.write(dir .. "/migrate.lua", [[
return {
  after_all = function(ctx)
    ctx.db:query("INSERT INTO hook_log (what) VALUES ($1)", "after_all " .. #ctx.result.applied)
  end,
}
]])
    assert.are.equal(0, select(3, lumi("up")))
    assert.are.equal(0, select(3, lumi("up")))
    assert.are.equal(0, select(3, lumi("up")))
    assert.are.same({ "after_all 3", "after_all 0", "after_all 0" }, log_rows())
  end)

  it("runs a before_all alone on a no-op up", function()
    h.write(dir .. "/migrate.lua", [[
return {
  before_all = function(ctx)
    ctx.db:query("INSERT INTO hook_log (what) VALUES ($1)", "before_all " .. #ctx.pending)
  end,
}
]])
    assert.are.equal(0, select(3, lumi("up")))
    assert.are.equal(0, select(3, lumi("up")))
    assert.are.same({ "before_all 3", "before_all 0" }, log_rows())
  end)

  it("runs the hooks under the lock: a no-op up with hooks waits for another session's lock", function()
    h.write(dir .. "/migrate.lua", [[
return {
  after_all = function(ctx)
    ctx.db:query("INSERT INTO hook_log (what) VALUES ($1)", "after_all " .. #ctx.result.applied)
  end,
}
]])
    assert.are.equal(0, select(3, lumi("up")))
    local holder = dbmod.connect(url)
    local key = store.new(holder, "schema_migrations"):lock_key(hash)
    assert.is_true(holder:value("SELECT pg_try_advisory_lock($1)", key))
    local out, err, code = lumi("up --lock-wait 0")
    holder:close()
    assert.are.equal(4, code, out .. err)
    assert.truthy(h.has(err, "another lumi run holds the migration lock"), err)
    assert.are.same({ "after_all 3" }, log_rows())
  end)
end)
