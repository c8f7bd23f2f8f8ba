local h = require "support.helper"
local pg = require "lumi.pg"

describe("lumi.pg copy_from", function()
  local url, c
  before_each(function()
    url = h.fresh_db()
    c = h.connect(url)
    assert(c:exec("CREATE TABLE items (id int PRIMARY KEY, name text)"))
  end)
  after_each(function() c:close() end)

  local function count() return assert(c:query("SELECT count(*)::int AS n FROM items"))[1].n end

  it("loads rows from an array of chunks", function()
    local r = assert(c:copy_from("COPY items (id, name) FROM STDIN", { "1\tone\n", "2\ttwo\n3\tthree\n" }))
    assert.are.equal(3, r.affected)
    assert.are.equal("COPY 3", r.command)
    local rows = assert(c:query("SELECT id, name FROM items ORDER BY id"))
    assert.are.same({ { id = 1, name = "one" }, { id = 2, name = "two" }, { id = 3, name = "three" } },
      { rows[1], rows[2], rows[3] })
  end)

  it("loads rows from a function until it returns nil", function()
    local i = 0
    local r = assert(c:copy_from("COPY items FROM STDIN", function()
      i = i + 1
      if i <= 5000 then return string.format("%d\tname %d\n", i, i) end
    end))
    assert.are.equal(5000, r.affected)
    assert.are.equal(5000, count())
    assert.are.equal("name 4321", assert(c:query("SELECT name FROM items WHERE id = 4321"))[1].name)
  end)

  it("loads NULLs and CSV", function()
    assert(c:copy_from("COPY items FROM STDIN", { "1\t\\N\n" }))
    assert(c:copy_from("COPY items FROM STDIN (FORMAT csv)", { '2,"a, b"\n' }))
    local rows = assert(c:query("SELECT id, name FROM items ORDER BY id"))
    assert.are.equal(pg.null, rows[1].name)
    assert.are.equal("a, b", rows[2].name)
  end)

  it("inserts nothing when the function raises, and re-raises its error", function()
    local i = 0
    local ok, e = pcall(c.copy_from, c, "COPY items FROM STDIN", function()
      i = i + 1
      if i <= 3 then return i .. "\tx\n" end
      error("the source broke", 0)
    end)
    assert.is_false(ok)
    assert.are.equal("the source broke", e)
    assert.are.equal(0, count())
    assert(c:exec("INSERT INTO items VALUES (99, 'after')"))
    assert.are.equal(1, count())
  end)

  it("raises for a chunk that is not a string, inserting nothing", function()
    local ok, e = pcall(c.copy_from, c, "COPY items FROM STDIN", { "1\tx\n", {} })
    assert.is_false(ok)
    assert.are.equal("conn:copy_from: chunk 2 is a table, not a string", e)
    assert.are.equal(0, count())
  end)

  it("returns nil, err for bad data and inserts nothing", function()
    local r, err = c:copy_from("COPY items FROM STDIN", { "1\tok\n", "two\tbad\n" })
    assert.is_nil(r)
    assert.are.equal("22P02", err.sqlstate)
    assert.are.equal(0, count())
    assert.are.equal(1, assert(c:query("SELECT 1 AS x"))[1].x)
  end)

  it("returns nil, err when the statement fails", function()
    local r, err = c:copy_from("COPY nosuch FROM STDIN", {})
    assert.is_nil(r)
    assert.are.equal("42P01", err.sqlstate)
  end)

  it("refuses a statement that is not COPY FROM STDIN", function()
    assert.has_error(function() c:copy_from("SELECT 1", {}) end, "conn:copy_from needs a COPY ... FROM STDIN statement")
    assert.are.equal(1, assert(c:query("SELECT 1 AS x"))[1].x)
  end)
end)
