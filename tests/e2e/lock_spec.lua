local h = require "support.helper"
local dbmod = require "lumi.db"
local store = require "lumi.store"
local hash = require "lumi.hash"

describe("the migration lock (end to end)", function()
  local url, dir, holder, key
  before_each(function()
    url = h.fresh_db()
    dir = h.project(h.three_files())
    holder = dbmod.connect(url)
    key = store.new(holder, "schema_migrations"):lock_key(hash)
  end)
  after_each(function() holder:close() end)

  it("a second runner gives up after --lock-wait, exit 4, naming the holder's pid", function()
    assert.is_true(holder:value("SELECT pg_try_advisory_lock($1)", key))
    local pid = holder:info().pid
    local _, err, code = h.lumi(dir, "up --lock-wait 1", { DATABASE_URL = url })
    assert.are.equal(4, code, err)
    assert.truthy(err:find("another lumi run holds the migration lock", 1, true), err)
    assert.truthy(err:find("process " .. pid, 1, true), err)
    assert.is_false(h.table_exists(url, "users"))
    assert.is_false(h.table_exists(url, "schema_migrations"))
  end)

  it("verify names the holder", function()
    assert.is_true(holder:value("SELECT pg_try_advisory_lock($1)", key))
    local doc, code, err = h.json(dir, "verify", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    assert.are.same({ holder:info().pid, "postgres" }, { doc.lock_holder.pid, doc.lock_holder.user })
    -- and in its human output
    local out
    out, err, code = h.lumi(dir, "verify", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("\n  lock        held by process " .. holder:info().pid .. " (user postgres)\n", 1, true), out)
  end)

  it("names only a holder in this database", function()
    -- advisory locks belong to one database: the same key taken in another
    -- database (another tenant, app_test beside app_dev) is no holder here
    local other = dbmod.connect((h.fresh_db()))
    assert.is_true(other:value("SELECT pg_try_advisory_lock($1)", key))
    local doc, code, err = h.json(dir, "verify", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    assert.is_nil(doc.lock_holder)     -- the lock is free here
    assert.is_true(holder:value("SELECT pg_try_advisory_lock($1)", key))
    local _
    _, err, code = h.lumi(dir, "up --lock-wait 0", { DATABASE_URL = url })
    assert.are.equal(4, code, err)
    assert.truthy(err:find("process " .. holder:info().pid, 1, true), err)
    assert.is_nil(err:find("process " .. other:info().pid, 1, true), err)
    other:close()
  end)

  it("a lock on another tracking table does not block", function()
    local other = store.new(holder, "other.migrations"):lock_key(hash)
    assert.is_true(holder:value("SELECT pg_try_advisory_lock($1)", other))
    local _, err, code = h.lumi(dir, "up --lock-wait 0", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    assert.are.same({ "001", "002", "003" }, h.versions(url))
  end)

  it("runs once the holder lets go, and releases the lock itself", function()
    assert.is_true(holder:value("SELECT pg_try_advisory_lock($1)", key))
    assert.is_true(holder:value("SELECT pg_advisory_unlock($1)", key))
    local _, err, code = h.lumi(dir, "up --lock-wait 1", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    assert.are.same({ "001", "002", "003" }, h.versions(url))
    assert.is_true(holder:value("SELECT pg_try_advisory_lock($1)", key))
  end)

  it("a dry run does not need the lock", function()
    assert.is_true(holder:value("SELECT pg_try_advisory_lock($1)", key))
    local doc, code, err = h.json(dir, "up --dry-run --lock-wait 0", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    assert.is_true(doc.dry_run)
    assert.are.same({ "001_create_users.sql", "002_create_posts.sql", "003_add_name.sql" }, h.files(doc.applied))
  end)
end)
