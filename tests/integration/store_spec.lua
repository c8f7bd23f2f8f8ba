local h = require "support.helper"
local dbmod = require "lumi.db"
local store = require "lumi.store"
local hash = require "lumi.hash"

describe("lumi.store", function()
  local url, db
  before_each(function()
    url = h.fresh_db()
    db = dbmod.connect(url)
  end)
  after_each(function() db:close() end)

  it("creates the tracking table once, in its schema", function()
    local st = store.new(db, "system.schema_migrations")
    assert.is_false(st:exists())
    assert.are.same({}, st:applied())
    assert.is_nil(st:count())
    assert.is_true(st:ensure())
    assert.is_false(st:ensure())
    assert.is_true(st:exists())
    assert.are.equal(0, st:count())
    assert.is_true(h.table_exists(url, "system.schema_migrations"))
    assert.is_false(h.table_exists(url, "public.schema_migrations"))
  end)

  it("records migrations and lists them", function()
    local st = store.new(db, "schema_migrations")
    st:ensure()
    st:record({ version = "001", name = "a", file = "001_a.sql" }, hash.sha256("x"), 1.25)
    local rows = st:applied()
    assert.are.equal(1, #rows)
    assert.are.equal("001", rows[1].version)
    assert.are.equal("001_a.sql", rows[1].file)
    assert.are.equal(hash.sha256("x"), rows[1].checksum)
    assert.are.equal(1.25, rows[1].execution_ms)
    assert.are.equal("postgres", rows[1].applied_by)
    assert.truthy(rows[1].applied_at:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"))
  end)

  it("derives a stable 60-bit lock key from the table name", function()
    local k1 = store.new(db, "schema_migrations"):lock_key(hash)
    assert.are.equal("integer", math.type(k1))
    assert.is_true(k1 >= 0 and k1 < 2 ^ 60)
    assert.are.equal(k1, store.new(db, "public.schema_migrations"):lock_key(hash))
    assert.are_not.equal(k1, store.new(db, "system.schema_migrations"):lock_key(hash))
    assert.are.equal(math.tointeger(tonumber(hash.sha256("lumi:public.schema_migrations"):sub(1, 15), 16)), k1)
  end)
end)
