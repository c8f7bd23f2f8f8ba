local h = require "support.helper"
local pg = require "lumi.pg"

local CLOSED = "attempt to use a closed connection"

describe("lumi.pg connection", function()
  local url
  before_each(function() url = h.fresh_db() end)

  it("reports who and where it is connected, never a password", function()
    local c <close> = h.connect(url)
    local info = c:info()
    assert.are.equal("postgres", info.user)
    assert.are.equal(url:match("^postgresql:///([^?]+)"), info.database)
    assert.are.equal("idle", info.transaction)
    assert.are.equal("integer", math.type(info.pid))
    assert.is_true(info.server_version_num >= 100000)
    assert(c:exec("BEGIN"))
    assert.are.equal("intrans", c:info().transaction)
    c:exec("SELECT 1/0")
    assert.are.equal("inerror", c:info().transaction)
    assert(c:exec("ROLLBACK"))
  end)

  it("sets application_name to lumi", function()
    local c <close> = h.connect(url)
    assert.are.equal("lumi", assert(c:query("SHOW application_name"))[1].application_name)
  end)

  it("raises when used after close", function()
    local c = h.connect(url)
    c:close()
    assert.is_true(c:is_closed())
    assert.has_error(function() c:query("SELECT 1") end, CLOSED)
    assert.has_error(function() c:exec("SELECT 1") end, CLOSED)
    assert.has_error(function() c:rows("SELECT 1") end, CLOSED)
    assert.has_error(function() c:copy_from("COPY t FROM STDIN", {}) end, CLOSED)
    assert.has_error(function() c:info() end, CLOSED)
    assert.has_error(function() c:escape_identifier("x") end, CLOSED)
    assert.are.equal("pg connection (closed)", tostring(c))
  end)

  it("can be closed twice", function()
    local c = h.connect(url)
    c:close()
    assert.has_no.errors(function() c:close() end)
  end)

  it("is closed at the end of a <close> block", function()
    local held
    do
      local c <close> = h.connect(url)
      held = c
      assert.is_false(c:is_closed())
      assert.are.equal(1, assert(c:query("SELECT 1 AS x"))[1].x)
    end
    assert.is_true(held:is_closed())
    assert.has_error(function() held:query("SELECT 1") end, CLOSED)
  end)

  it("is closed by <close> when the block raises", function()
    local held
    local ok = pcall(function()
      local c <close> = h.connect(url)
      held = c
      error("boom")
    end)
    assert.is_false(ok)
    assert.is_true(held:is_closed())
  end)

  it("closes an open row iterator with it", function()
    local c = h.connect(url)
    local it, state = c:rows("SELECT g FROM generate_series(1, 1000) g")
    assert.are.equal(1, it(state).g)
    c:close()
    assert.is_nil(it(state))
  end)

  it("accepts a conninfo string", function()
    local host = h.url:match("host=([^&]+)")
    local dbname = url:match("^postgresql:///([^?]+)")
    local c <close> = assert(pg.connect(string.format("host=%s dbname=%s user=postgres", host, dbname)))
    assert.are.equal(dbname, c:info().database)
  end)
end)

describe("lumi.pg connect failures", function()
  it("a database that does not exist is nil, err with the server's message", function()
    local c, err = pg.connect(h.url_for("no_such_database_here"))
    assert.is_nil(c)
    assert.is_true(pg.is_error(err))
    assert.truthy(h.has(err.message, 'database "no_such_database_here" does not exist'), err.message)
    assert.are.equal("08006", err.sqlstate)
  end)

  it("a bad connection string is nil, err, never a raise", function()
    local c, err = pg.connect("postgresql://[::1")
    assert.is_nil(c)
    assert.truthy(err.message and #err.message > 0)
  end)
end)

describe("lumi.pg send and receive", function()
  local url
  before_each(function() url = h.fresh_db() end)

  it("send returns at once; receive gives the rows; the connection goes on", function()
    local c <close> = h.connect(url)
    assert.is_true(c:send("SELECT $1::int + 1 AS n, NULL::text AS gone", 41))
    local rows = assert(c:receive())
    assert.are.same({ n = 42, gone = pg.null }, rows[1])
    assert.are.equal(1, assert(c:query("SELECT 1 AS x"))[1].x)
  end)

  it("is busy until the result is taken, and receive without send raises", function()
    local c <close> = h.connect(url)
    assert.has_error(function() c:receive() end, "conn:receive: nothing was sent with conn:send")
    assert.is_true(c:send("SELECT 1"))
    assert.has_error(function() c:query("SELECT 2") end,
      "connection is busy: take the result of conn:send with conn:receive first")
    assert(c:receive())
  end)

  it("without parameters sends a script; receive gives its last rows, or its first error", function()
    local c <close> = h.connect(url)
    assert.is_true(c:send("CREATE TABLE t (a int); INSERT INTO t VALUES (1), (2); SELECT a FROM t ORDER BY a"))
    local rows = assert(c:receive())
    assert.are.same({ { a = 1 }, { a = 2 } }, { rows[1], rows[2] })
    assert.is_true(c:send("SELECT 1; SELECT 1/0; SELECT nosuch"))
    local r, err = c:receive()
    assert.is_nil(r)
    assert.are.equal("22012", err.sqlstate)
  end)

  it("wait says false while the query runs and true once its result is in", function()
    local c <close> = h.connect(url)
    assert.has_error(function() c:wait(1) end, "conn:wait: nothing was sent with conn:send")
    assert.is_true(c:send("SELECT pg_sleep(0.4), 7 AS n"))
    local t0 = os.clock()
    assert.is_false(c:wait(0.05))
    assert.is_true(c:wait(10))
    assert.are.equal(7, assert(c:receive())[1].n)
    assert.is_true(os.clock() - t0 < 0.3)        -- it waited on the socket, not on the CPU
  end)

  it("a failing query is receive's nil, err; the connection goes on", function()
    local c <close> = h.connect(url)
    assert.is_true(c:send("SELECT 1/0"))
    local rows, err = c:receive()
    assert.is_nil(rows)
    assert.are.equal("22012", err.sqlstate)
    assert.are.equal(1, assert(c:query("SELECT 1 AS x"))[1].x)
  end)
end)

describe("lumi.pg conninfo_parse", function()
  it("reads a URL as libpq does, percent-decoding its values", function()
    local t = assert(pg.conninfo_parse("postgresql://u:p%40ss@db.example.com:5433/app?sslmode=require"))
    assert.are.same({ user = "u", password = "p@ss", host = "db.example.com", port = "5433", dbname = "app",
                      sslmode = "require" }, t)
  end)

  it("reads a conninfo string with quotes and escapes", function()
    local t = assert(pg.conninfo_parse([[host=/tmp dbname='my app' password='a b\'c' user=u]]))
    assert.are.same({ host = "/tmp", dbname = "my app", password = "a b'c", user = "u" }, t)
  end)

  it("a string libpq cannot parse is nil and libpq's message", function()
    local t, err = pg.conninfo_parse("host=h nosuchkeyword=1")
    assert.is_nil(t)
    assert.truthy(h.has(err, 'invalid connection option "nosuchkeyword"'), err)
  end)
end)
