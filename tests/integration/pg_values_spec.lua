local h = require "support.helper"
local pg = require "lumi.pg"

describe("lumi.pg values", function()
  local url, c
  before_each(function()
    url = h.fresh_db()
    c = h.connect(url)
  end)
  after_each(function() c:close() end)

  describe("come back typed", function()
    it("int, int2, oid as Lua integers", function()
      local r = assert(c:query("SELECT 42::int AS i, -3::int2 AS s, 7::oid AS o"))[1]
      assert.are.equal("integer", math.type(r.i))
      assert.are.equal(42, r.i)
      assert.are.equal("integer", math.type(r.s))
      assert.are.equal(-3, r.s)
      assert.are.equal("integer", math.type(r.o))
      assert.are.equal(7, r.o)
    end)

    it("int8 beyond 2^53 and at its limits exactly", function()
      local r = assert(c:query("SELECT 9007199254740993::int8 AS big, 9223372036854775807::int8 AS max, "
        .. "(-9223372036854775807 - 1)::int8 AS min"))[1]
      assert.are.equal("integer", math.type(r.big))
      assert.are.equal(9007199254740993, r.big)
      assert.are.equal(math.maxinteger, r.max)
      assert.are.equal(math.mininteger, r.min)
    end)

    it("float4 and float8 as Lua floats", function()
      local r = assert(c:query("SELECT 1.5::float8 AS f8, 0.25::float4 AS f4, 'Infinity'::float8 AS inf, 'NaN'::float8 AS nan"))[1]
      assert.are.equal("float", math.type(r.f8))
      assert.are.equal(1.5, r.f8)
      assert.are.equal("float", math.type(r.f4))
      assert.are.equal(0.25, r.f4)
      assert.are.equal(math.huge, r.inf)
      assert.is_true(r.nan ~= r.nan)
    end)

    it("booleans as booleans", function()
      local r = assert(c:query("SELECT true AS t, false AS f"))[1]
      assert.are.equal(true, r.t)
      assert.are.equal(false, r.f)
    end)

    it("NULL as the pg.null sentinel, whatever its type", function()
      local r = assert(c:query("SELECT NULL AS n, NULL::int AS ni, NULL::bool AS nb"))[1]
      assert.are.equal(pg.null, r.n)
      assert.are.equal(pg.null, r.ni)
      assert.are.equal(pg.null, r.nb)
      assert.are.equal("pg.null", tostring(pg.null))
    end)

    it("everything else as strings", function()
      local r = assert(c:query("SELECT 'héllo'::text AS t, 1.50::numeric AS n, '2025-10-20'::date AS d, "
        .. "'{1,2}'::int[] AS a, '' AS empty"))[1]
      assert.are.equal("héllo", r.t)
      assert.are.equal("1.50", r.n)
      assert.are.equal("2025-10-20", r.d)
      assert.are.equal("{1,2}", r.a)
      assert.are.equal("", r.empty)
    end)

    it("with the column names in order, the command tag and the row count", function()
      local rows = assert(c:query("SELECT g AS z, g * 2 AS a FROM generate_series(1, 3) g"))
      assert.are.equal(3, #rows)
      assert.are.same({ "z", "a" }, rows.columns)
      assert.are.equal("SELECT 3", rows.command)
      assert.are.equal(3, rows.affected)
      assert.are.equal(6, rows[3].a)
    end)
  end)

  describe("parameters", function()
    it("send nil and pg.null as NULL", function()
      local r = assert(c:query("SELECT $1::int IS NULL AS a, $2::text IS NULL AS b", nil, pg.null))[1]
      assert.is_true(r.a)
      assert.is_true(r.b)
    end)

    it("keep their position after a nil", function()
      local r = assert(c:query("SELECT $1::text AS a, $2::text AS b, $3::int AS c", nil, "x", 3))[1]
      assert.are.equal(pg.null, r.a)
      assert.are.equal("x", r.b)
      assert.are.equal(3, r.c)
    end)

    it("send booleans", function()
      local r = assert(c:query("SELECT $1::bool AS t, $2::bool AS f, pg_typeof($1::bool)::text AS ty", true, false))[1]
      assert.are.equal(true, r.t)
      assert.are.equal(false, r.f)
    end)

    it("send floats without losing precision", function()
      local r = assert(c:query("SELECT $1::float8 AS f, $1::float8 = 0.1::float8 AS same, $2::float8 AS inf", 0.1, math.huge))[1]
      assert.are.equal(0.1, r.f)
      assert.is_true(r.same)
      assert.are.equal(math.huge, r.inf)
    end)

    it("send integers, including the largest", function()
      local r = assert(c:query("SELECT $1::int8 AS max, $2::int AS neg", math.maxinteger, -5))[1]
      assert.are.equal(math.maxinteger, r.max)
      assert.are.equal(-5, r.neg)
    end)

    it("send strings out of band, never pasted into the SQL", function()
      local evil = "x'); DROP TABLE t; --"
      assert(c:exec("CREATE TABLE t (v text)"))
      assert(c:query("INSERT INTO t VALUES ($1)", evil))
      local rows = assert(c:query("SELECT v FROM t"))
      assert.are.equal(evil, rows[1].v)
    end)

    it("refuse a table that is not pg.null", function()
      assert.has_error(function() c:query("SELECT $1::text", {}) end,
        "bad query parameter $1: cannot send a table (send a string, number, boolean, nil or pg.null)")
    end)
  end)

  describe("exec", function()
    it("runs a script of several statements and reports the last", function()
      local r = assert(c:exec("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2); UPDATE t SET id = id + 1"))
      assert.are.equal("UPDATE 2", r.command)
      assert.are.equal(2, r.affected)
    end)

    it("quotes identifiers and literals", function()
      assert.are.equal('"we""ird"', c:escape_identifier('we"ird'))
      assert.are.equal("'it''s'", c:escape_literal("it's"))
    end)
  end)
end)
