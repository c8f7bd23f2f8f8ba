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

describe("lumi.pg connect_start", function()
  local url
  before_each(function() url = h.fresh_db() end)

  it("connects in the background; wait_connected finishes it", function()
    local c <close> = assert(pg.connect_start(url))
    assert.are.equal(c, assert(c:wait_connected()))
    assert.are.equal(1, assert(c:query("SELECT 1 AS x"))[1].x)
    assert.are.equal(c, c:wait_connected())
  end)

  it("cannot be used before it is finished", function()
    local c <close> = assert(pg.connect_start(url))
    assert.has_error(function() c:query("SELECT 1") end,
      "connection is still being established: call conn:wait_connected() first")
    assert(c:wait_connected())
  end)

  it("reports a failure as nil, err from connect_start or wait_connected", function()
    local c, err = pg.connect_start("postgresql:///nodb?host=/nonexistent")
    if c then
      local ok
      ok, err = c:wait_connected()
      assert.is_nil(ok)
      c:close()
    end
    assert.is_true(pg.is_error(err))
    assert.truthy(err.message:find("/nonexistent", 1, true), err.message)
  end)
end)

describe("lumi.pg connect_start with a query queued", function()
  local url, dbname
  before_each(function() url, dbname = h.fresh_db() end)

  -- sessions of this test's database other than `except_pid`, once the
  -- server has seen the closed ones go (it notices a moment later)
  local function other_sessions(except_pid)
    local n
    for _ = 1, 50 do
      n = h.value(h.url, "SELECT count(*)::int FROM pg_stat_activity WHERE datname = $1 AND pid <> $2",
        dbname, except_pid or 0)
      if n == 0 then break end
      os.execute("sleep 0.1")
    end
    return n
  end

  it("conn:send before wait_connected: the query runs once connected, receive gives its rows", function()
    for _ = 1, 10 do
      local c <close> = assert(pg.connect_start(url))
      assert.is_true(c:send("SELECT pg_backend_pid() AS pid, current_database() AS db, 40 + 2 AS n"))
      assert.are.equal(c, assert(c:wait_connected()))
      local rows = assert(c:receive())
      assert.are.equal(1, #rows)
      assert.are.equal(dbname, rows[1].db)
      assert.are.equal(42, rows[1].n)
      assert.are.same({ "pid", "db", "n" }, rows.columns)
      -- it ran on this very session, and the connection is free afterwards
      assert.are.equal(c:info().pid, rows[1].pid)
      assert.are.equal(7, assert(c:query("SELECT 7 AS x"))[1].x)
    end
  end)

  it("conn:receive finishes connecting itself, without wait_connected", function()
    for _ = 1, 10 do
      local c <close> = assert(pg.connect_start(url))
      assert.is_true(c:send("SELECT current_database() AS db"))
      local rows = assert(c:receive())
      assert.are.equal(dbname, rows[1].db)
      assert.are.equal(c, c:wait_connected())
      assert.are.equal(1, assert(c:query("SELECT 1 AS x"))[1].x)
    end
  end)

  it("the queued query is the session's first: its effects are there for the next ones", function()
    local c <close> = assert(pg.connect_start(url))
    assert.is_true(c:send("CREATE TEMP TABLE queued AS SELECT $1::text AS who", "the queue"))
    local r = assert(c:receive())
    assert.are.same({}, r.columns or {})
    assert.are.equal("the queue", assert(c:query("SELECT who FROM queued"))[1].who)
  end)

  it("keeps the parameters, NULLs included, through the queue", function()
    local c <close> = assert(pg.connect_start(url))
    local long = string.rep("é'\"\\", 5000)
    assert.is_true(c:send("SELECT $1::text AS s, $2::int AS i, $3::float8 AS f, $4::bool AS b, $5::text AS n1,"
      .. " $6::text AS n2, $7::text AS empty, $8::text AS long, $9::int AS last",
      "it's", 42, 1.5, true, nil, pg.null, "", long, -7))
    local rows = assert(c:receive())
    local r = rows[1]
    assert.are.equal("it's", r.s)
    assert.are.equal(42, r.i)
    assert.are.equal(1.5, r.f)
    assert.is_true(r.b)
    assert.are.equal(pg.null, r.n1)
    assert.are.equal(pg.null, r.n2)
    assert.are.equal("", r.empty)
    assert.are.equal(long, r.long)
    assert.are.equal(-7, r.last)
  end)

  it("keeps the parameters when the handshake is over before conn:send (nothing left to queue)", function()
    -- the handshake thread is done by then: send finishes connecting itself
    local cases = {
      { "SELECT $1::text AS a", table.pack("it's"), { a = "it's" } },
      { "SELECT $1::int AS a", table.pack(42), { a = 42 } },
      { "SELECT $1::text AS a, $2::text AS b, $3::float8 AS c", table.pack("x", pg.null, 1.5),
        { a = "x", b = pg.null, c = 1.5 } },
      { "SELECT $1::text AS a, $2::text AS b", table.pack(nil, "y"), { a = pg.null, b = "y" } },
    }
    for _, case in ipairs(cases) do
      local c <close> = assert(pg.connect_start(url))
      os.execute("sleep 0.2")
      local ok, err = c:send(case[1], table.unpack(case[2], 1, case[2].n))
      assert.is_true(ok, case[1] .. ": " .. tostring(err))
      assert.are.same(case[3], assert(c:receive())[1])
      assert.are.equal(1, assert(c:query("SELECT 1 AS x"))[1].x)
    end
  end)

  it("is busy while the queued query's result has not been taken", function()
    local c <close> = assert(pg.connect_start(url))
    assert.is_true(c:send("SELECT 1 AS x"))
    assert.has_error(function() c:send("SELECT 2") end,
      "connection is busy: take the result of conn:send with conn:receive first")
    assert(c:wait_connected())
    assert.has_error(function() c:query("SELECT 3") end,
      "connection is busy: take the result of conn:send with conn:receive first")
    assert.are.equal(1, assert(c:receive())[1].x)
    assert.has_error(function() c:receive() end, "conn:receive: nothing was sent with conn:send")
  end)

  it("a queued query that fails is reported by receive as the query's error; the connection goes on", function()
    local c <close> = assert(pg.connect_start(url))
    assert.is_true(c:send("SELECT * FROM no_such_table"))
    local rows, err = c:receive()
    assert.is_nil(rows)
    assert.is_true(pg.is_error(err))
    assert.are.equal("42P01", err.sqlstate)
    assert.truthy(err.message:find("no_such_table", 1, true), err.message)
    assert.are.equal(1, assert(c:query("SELECT 1 AS x"))[1].x)
  end)

  describe("a connection that cannot be made (no such database)", function()
    local bad
    before_each(function() bad = h.url_for("no_such_db_" .. math.random(1, 1e9)) end)

    local function check(err)
      assert.is_true(pg.is_error(err), tostring(err))
      assert.truthy(err.message:find("does not exist", 1, true), err.message)
    end

    it("is reported as nil, err by wait_connected", function()
      local c = assert(pg.connect_start(bad))
      local ok, err = c:wait_connected()
      assert.is_nil(ok)
      check(err)
      assert.has_error(function() c:query("SELECT 1") end, CLOSED)
      assert.has_no.errors(function() c:close() end)
    end)

    it("with a query queued, is reported as nil, err by receive (or by send, when it already knew)", function()
      for _ = 1, 5 do
        local c <close> = assert(pg.connect_start(bad))
        local ok, err = c:send("SELECT 1 AS x", "unused")
        if ok then
          local rows
          rows, err = c:receive()
          assert.is_nil(rows)
        end
        check(err)
        assert.is_true(c:is_closed())
      end
    end)

    it("with a query queued, is reported as nil, err by wait_connected", function()
      local c <close> = assert(pg.connect_start(bad))
      local ok, err = c:send("SELECT 1 AS x")
      if ok then
        ok, err = c:wait_connected()
        assert.is_nil(ok)
      end
      check(err)
      assert.has_error(function() c:receive() end, CLOSED)
    end)
  end)

  it("can be closed while still connecting, with or without a query queued, leaving no session", function()
    for i = 1, 10 do
      local c = assert(pg.connect_start(url))
      if i % 2 == 0 then assert.is_true(c:send("SELECT pg_sleep(0)", "x") ~= nil) end
      c:close()
      assert.is_true(c:is_closed())
      assert.has_error(function() c:receive() end, CLOSED)
      assert.has_error(function() c:wait_connected() end, CLOSED)
      assert.has_no.errors(function() c:close() end)
    end
    -- dropped without close: collected
    for _ = 1, 5 do
      local c = assert(pg.connect_start(url))
      c:send("SELECT 1")
    end
    collectgarbage()
    collectgarbage()
    assert.are.equal(0, other_sessions())
  end)

  it("a process that exits with connections still connecting exits cleanly", function()
    local out, err, code = h.lua54(string.format([[
local pg = require "lumi.pg"
local keep = {}
for i = 1, 5 do
  keep[i] = assert(pg.connect_start(%q))
  if i %% 2 == 0 then keep[i]:send("SELECT $1::int", i) end
end
print("started")
os.exit(0, true)
]], url))
    assert.are.equal(0, code, err)
    assert.are.equal("started\n", out)
    assert.are.equal("", err)
    assert.are.equal(0, other_sessions())
  end)

  describe("conn:receive{skip_nulls = true}", function()
    it("leaves NULL columns out of the rows; plain receive gives pg.null", function()
      local c <close> = h.connect(url)
      local sql = "SELECT * FROM (VALUES (1, NULL::text, 'a'), (2, 'b', NULL), (NULL, NULL, NULL)) v(n, s, t) ORDER BY n"
      assert.is_true(c:send(sql))
      local plain = assert(c:receive())
      assert.is_true(c:send(sql))
      local skipped = assert(c:receive({ skip_nulls = true }))
      assert.are.same({ "n", "s", "t" }, plain.columns)
      assert.are.same({ "n", "s", "t" }, skipped.columns)
      assert.are.equal(3, #plain)
      assert.are.equal(3, #skipped)
      assert.are.same({ n = 1, s = pg.null, t = "a" }, plain[1])
      assert.are.same({ n = 2, s = "b", t = pg.null }, plain[2])
      assert.are.same({ n = pg.null, s = pg.null, t = pg.null }, plain[3])
      assert.are.same({ n = 1, t = "a" }, skipped[1])
      assert.are.same({ n = 2, s = "b" }, skipped[2])
      assert.are.same({}, skipped[3])
    end)

    it("skip_nulls = false is the plain receive; a non-table option is refused", function()
      local c <close> = h.connect(url)
      assert.is_true(c:send("SELECT NULL::int AS x, 1 AS y"))
      assert.are.same({ x = pg.null, y = 1 }, assert(c:receive({ skip_nulls = false }))[1])
      assert.is_true(c:send("SELECT NULL::int AS x"))
      assert.has_error(function() c:receive(true) end)
      assert.are.same({}, assert(c:receive({ skip_nulls = true }))[1])
    end)

    it("works on a query queued while connecting", function()
      local c <close> = assert(pg.connect_start(url))
      assert.is_true(c:send("SELECT NULL::text AS gone, 'here' AS kept"))
      assert.are.same({ kept = "here" }, assert(c:receive({ skip_nulls = true }))[1])
    end)
  end)
end)
