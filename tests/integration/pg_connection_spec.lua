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
