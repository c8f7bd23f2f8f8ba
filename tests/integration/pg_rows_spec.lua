local h = require "support.helper"

local BUSY = "connection is busy: a row iterator over it is still open (finish the loop or close the iterator first)"

describe("lumi.pg rows (streaming)", function()
  local url, c
  before_each(function()
    url = h.fresh_db()
    c = h.connect(url)
  end)
  after_each(function() c:close() end)

  it("iterates over every row, typed, with parameters", function()
    local n, sum = 0, 0
    for row in c:rows("SELECT g, g % 2 = 0 AS even FROM generate_series(1, $1) g", 100000) do
      n = n + 1
      sum = sum + row.g
      assert.are.equal(row.g % 2 == 0, row.even)
    end
    assert.are.equal(100000, n)
    assert.are.equal(100000 * 100001 // 2, sum)
  end)

  it("yields nothing for an empty result", function()
    local n = 0
    for _ in c:rows("SELECT 1 WHERE false") do n = n + 1 end
    assert.are.equal(0, n)
  end)

  it("can be left early, and the connection is usable again", function()
    local seen = 0
    for row in c:rows("SELECT g FROM generate_series(1, 1000000) g") do
      seen = row.g
      if row.g == 10 then break end
    end
    assert.are.equal(10, seen)
    local r = assert(c:query("SELECT 41 + 1 AS x"))
    assert.are.equal(42, r[1].x)
    assert(c:exec("CREATE TABLE after_break (id int)"))
  end)

  it("is closed when the loop body raises", function()
    local ok, e = pcall(function()
      for row in c:rows("SELECT g FROM generate_series(1, 1000) g") do
        if row.g == 3 then error("stop here", 0) end
      end
    end)
    assert.is_false(ok)
    assert.are.equal("stop here", e)
    assert.are.equal(1, assert(c:query("SELECT 1 AS x"))[1].x)
  end)

  it("makes the connection busy while it is open", function()
    do
      local it, state, _, closing <close> = c:rows("SELECT g FROM generate_series(1, 100) g") -- luacheck: ignore closing
      assert.are.equal(1, it(state).g)
      assert.has_error(function() c:query("SELECT 1") end, BUSY)
      assert.has_error(function() c:exec("SELECT 1") end, BUSY)
      assert.has_error(function() c:rows("SELECT 1") end, BUSY)
      assert.has_error(function() c:copy_from("COPY x FROM STDIN", {}) end, BUSY)
      assert.are.equal(2, it(state).g)
    end
    assert.are.equal(7, assert(c:query("SELECT 7 AS x"))[1].x)
  end)

  it("frees the connection once the last row has been read", function()
    local it, state = c:rows("SELECT g FROM generate_series(1, 2) g")
    assert.are.equal(1, it(state).g)
    assert.are.equal(2, it(state).g)
    assert.is_nil(it(state))
    assert.are.equal(1, assert(c:query("SELECT 1 AS x"))[1].x)
  end)

  it("raises a server error met while streaming, and the connection survives", function()
    local got = {}
    local ok, err = pcall(function()
      for row in c:rows("SELECT 10 / (3 - g) AS x FROM generate_series(1, 5) g") do got[#got + 1] = row.x end
    end)
    assert.is_false(ok)
    assert.are.equal("22012", err.sqlstate)
    assert.are.equal("division by zero", err.message)
    assert.are.same({ 5, 10 }, got)
    assert.are.equal(1, assert(c:query("SELECT 1 AS x"))[1].x)
  end)

  it("raises an error of the statement itself", function()
    local ok, err = pcall(function() for _ in c:rows("SELECT * FROM nosuch") do end end)
    assert.is_false(ok)
    assert.are.equal("42P01", err.sqlstate)
    assert.are.equal(1, assert(c:query("SELECT 1 AS x"))[1].x)
  end)
end)
