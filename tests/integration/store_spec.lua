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
    local records, exists = st:read()
    assert.are.same({}, records)
    assert.is_false(exists)
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
    db:pipeline(st:applied({ version = "001", name = "a", file = "001_a.sql", checksum = hash.sha256("x"),
                             execution_ms = 1.25 }))
    local rows = st:read()
    assert.are.equal(1, #rows)
    assert.are.equal("001", rows[1].version)
    assert.are.equal("001_a.sql", rows[1].file)
    assert.are.equal(hash.sha256("x"), rows[1].checksum)
    assert.are.equal(1.25, rows[1].execution_ms)
    assert.are.equal("postgres", rows[1].applied_by)
    assert.truthy(rows[1].applied_at:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"))
  end)

  it("derives a stable 60-bit lock key from the table name", function()
    local k1 = store.new(db, "schema_migrations"):lock_key()
    assert.are.equal("integer", math.type(k1))
    assert.is_true(k1 >= 0 and k1 < 2 ^ 60)
    assert.are.equal(k1, store.new(db, "public.schema_migrations"):lock_key())
    assert.are_not.equal(k1, store.new(db, "system.schema_migrations"):lock_key())
    assert.are.equal(math.tointeger(tonumber(hash.sha256("lumi:public.schema_migrations"):sub(1, 15), 16)), k1)
  end)

  describe("the built-in policy's statements", function()
    local st
    before_each(function()
      st = store.new(db, { table = "t.migs", where = { db_type = "pg" } })
      st:resolve()
    end)

    it("read: this target's rows, columns named as lumi's fields", function()
      local stmt = store.read(st)
      assert.truthy(stmt[1]:find('FROM "t"."migs" WHERE "db_type" = $1', 1, true), stmt[1])
      assert.truthy(stmt[1]:find('"version"::text AS version', 1, true), stmt[1])
      assert.are.equal("pg", stmt[2])
    end)

    it("applied: an INSERT of the fields with a column, or, for a row that exists, an UPDATE", function()
      local ins = store.applied(st, { version = "001", name = "a", file = "001_a.sql", checksum = "c",
                                      execution_ms = 2.5, stem = "001_a" })[1]
      assert.are.equal('INSERT INTO "t"."migs" ("db_type", "version", "name", "file", "checksum", "execution_ms") '
        .. 'VALUES ($1, $2, $3, $4, $5, $6::numeric)', ins[1])
      assert.are.same({ "pg", "001", "a", "001_a.sql", "c", 2.5 }, { table.unpack(ins, 2, ins.n) })
      local upd = store.applied(st, { version = "001", checksum = "d", recorded = true })[1]
      assert.are.equal('UPDATE "t"."migs" SET "checksum" = $1, "state" = $2, "error" = $3 '
        .. 'WHERE "db_type" = $4 AND "version" = $5', upd[1])
      assert.are.same({ "d", "applied", require("lumi.pg").null, "pg", "001" }, { table.unpack(upd, 2, upd.n) })
    end)

    it("unfinished: a row in state unfinished; none without a state column", function()
      local ins = store.unfinished(st, { version = "002", checksum = "c" })[1]
      assert.truthy(ins[1]:find('"state"', 1, true), ins[1])
      local plain = store.new(db, { table = "x", columns = { file = "f" }, identity = "file" })
      assert.are.same({}, store.unfinished(plain, { file = "002_b.sql" }))
    end)

    it("reverted: a DELETE of the row; failed: nothing", function()
      local del = store.reverted(st, { version = "001" })[1]
      assert.are.equal('DELETE FROM "t"."migs" WHERE "db_type" = $1 AND "version" = $2', del[1])
      assert.are.same({}, store.failed(st, { version = "001" }))
    end)

    it("a tracking spec's own function replaces the built-in one", function()
      local custom = store.new(db, { table = "m", reverted = function(s, rec)
        return { { "UPDATE " .. s.table .. " SET rolled_back = true WHERE id = $1", rec.stem } }
      end })
      assert.are.same({ { 'UPDATE "m" SET rolled_back = true WHERE id = $1', "001_a" } },
        custom:reverted({ stem = "001_a" }))
      assert.has_error(function()
        store.new(db, { table = "m", applied = function() return "nope" end }):applied({})
      end)
    end)
  end)
end)
