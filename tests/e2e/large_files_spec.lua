-- A SQL file larger than `large_file` is read and run a piece at a time,
-- never whole in memory, with the same guarantees as any file: the bytes
-- recorded are the bytes that ran, errors are placed in the file, a
-- transaction holds it all. Here large_file is 4 KiB, so that pieces of
-- 1 KiB meet every boundary the real 32 MiB / 1 MiB ones would.
local h = require "support.helper"

local SETTINGS = "return { large_file = 4096 }\n"

-- n INSERT lines into `tbl`, each with a string holding a ';' and a quote.
local function inserts(tbl, n, from)
  local out = {}
  for i = from or 1, (from or 1) + n - 1 do
    out[#out + 1] = string.format("INSERT INTO %s VALUES (%d, 'row %d; it''s here');\n", tbl, i, i)
  end
  return table.concat(out)
end

describe("large files (end to end)", function()
  it("applies a file over large_file in pieces: every row, the checksum of its bytes, a BEGIN ATOMIC body and a "
    .. "dollar-quoted string cut nowhere, its own BEGIN and COMMIT standing for lumi's; down reverts its section", function()
    local up = "-- migrate:up\nBEGIN;\nCREATE TABLE big (i int, s text);\n" .. inserts("big", 400)
      .. "CREATE FUNCTION answer() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 41; SELECT 42; END;\n"
      .. "CREATE TABLE note AS SELECT $body$ one; two; three $body$ AS t;\n" .. inserts("big", 400, 401)
      .. "COMMIT;\n"
    h.with_project({ ["migrations/001_big.sql"] = up .. "-- migrate:down\nDROP TABLE big, note;\nDROP FUNCTION answer();\n" },
      SETTINGS, function(p)
      assert.is_true(#up > 4 * 4096)
      local doc, code, err = p:json("up")
      assert.are.equal(0, code, err)
      assert.are.same({ "001_big.sql" }, h.files(doc.applied))
      assert.are.equal(800, p:value("SELECT count(*)::int FROM big"))
      assert.are.equal(800, p:value("SELECT count(DISTINCT i)::int FROM big WHERE s LIKE 'row %; it''s here'"))
      assert.are.equal(42, p:value("SELECT answer()"))
      assert.are.equal(" one; two; three ", p:value("SELECT t FROM note"))
      assert.are.equal(h.sha256sum(p:path("migrations/001_big.sql")),
        p:value("SELECT checksum FROM schema_migrations WHERE version = '001'"))
      local _, dcode, derr = p:json("down")
      assert.are.equal(0, dcode, derr)
      assert.is_false(h.table_exists(p.url, "big"))
      assert.is_false(h.table_exists(p.url, "note"))
    end)
  end)

  it("places an error in the middle of a large file at its line and column, and rolls all of it back", function()
    local text = "CREATE TABLE big (i int, s text);\n" .. inserts("big", 300)
      .. "INSERT INTO big VALUES (1, 'x', nosuchcol);\n" .. inserts("big", 300, 301)
    h.with_project({ ["migrations/001_big.sql"] = text }, SETTINGS, function(p)
      local _, err, code = p:lumi("up")
      assert.are.equal(1, code, err)
      assert.truthy(h.has(err, "migrations/001_big.sql:302:33: ERROR 42703: column \"nosuchcol\" does not exist"), err)
      assert.truthy(h.has(err, "302 | INSERT INTO big VALUES (1, 'x', nosuchcol);"), err)
      assert.is_false(h.table_exists(p.url, "big"))
      assert.is_false(h.table_exists(p.url, "schema_migrations") and
        p:value("SELECT count(*)::int FROM schema_migrations") > 0)
    end)
  end)

  it("without a transaction, runs a statement at a time: those before a failure stay, it is recorded unfinished", function()
    local text = "-- lumi: no-transaction\nCREATE TABLE nt (i int, s text);\n" .. inserts("nt", 300)
      .. "INSERT INTO nt VALUES ('oops', 'x');\n" .. inserts("nt", 300, 301)
    h.with_project({ ["migrations/001_nt.sql"] = text }, SETTINGS, function(p)
      local _, err, code = p:lumi("up")
      assert.are.equal(1, code, err)
      assert.truthy(h.has(err, "migrations/001_nt.sql:303:24: ERROR 22P02"), err)
      assert.truthy(h.has(err, "statement 302 failed, the 301 statements before it took effect"), err)
      assert.are.equal(300, p:value("SELECT count(*)::int FROM nt"))
      assert.are.equal("unfinished", p:value("SELECT state FROM schema_migrations WHERE version = '001'"))
    end)
  end)

  it("refuses transaction control in the middle of a large file run in a transaction, keeping nothing (exit 3)", function()
    local text = "CREATE TABLE big (i int, s text);\n" .. inserts("big", 200) .. "COMMIT;\nBEGIN;\n" .. inserts("big", 200, 201)
    h.with_project({ ["migrations/001_big.sql"] = text }, SETTINGS, function(p)
      local _, err, code = p:lumi("up")
      assert.are.equal(3, code, err)
      assert.truthy(h.has(err, "migrations/001_big.sql: a statement follows the COMMIT that ends its transaction "
        .. "(statement 203)"), err)
      assert.truthy(h.has(err, "-- lumi: no-transaction"), err)
      assert.is_false(h.table_exists(p.url, "big"))
    end)
  end)

  it("rolls back a large file whose bytes change while it runs: what is recorded is what ran", function()
    local text = "CREATE TABLE big (i int, s text);\n" .. inserts("big", 300)
    h.with_project({ ["migrations/001_big.sql"] = text }, [[
return {
  large_file = 4096,
  -- someone edits the file between lumi's reading it to check and its running
  before_each = function(ctx)
    local f = assert(io.open(ctx.migration.path, "ab"))
    f:write("INSERT INTO big VALUES (0, 'sneaked in');\n")
    f:close()
  end,
}
]], function(p)
      local _, err, code = p:lumi("up")
      assert.are.equal(3, code, err)
      assert.truthy(h.has(err, "migrations/001_big.sql changed while it ran"), err)
      assert.is_false(h.table_exists(p.url, "big"))
    end)
  end)

  it("validate parses a large file a piece at a time and places a syntax error", function()
    local text = "CREATE TABLE big (i int, s text);\n" .. inserts("big", 200) .. "INSERT INTO big VALUES (1,, 'x');\n"
      .. inserts("big", 200, 201)
    h.with_project({ ["migrations/001_big.sql"] = text }, SETTINGS, function(p)
      local doc, code = p:json("validate")
      assert.are.equal(3, code)
      assert.are.equal("syntax", doc.problems[1].kind)
      assert.truthy(h.has(doc.problems[1].message, "migrations/001_big.sql:202:27: syntax error at or near \",\""),
        doc.problems[1].message)
    end)
  end)

  it("checks every placeholder of a large file before anything runs (exit 2)", function()
    local text = "CREATE TABLE big (i int, s text);\n" .. inserts("big", 200) .. "INSERT INTO big VALUES (1, '${nope}');\n"
    h.with_project({ ["migrations/000_first.sql"] = "CREATE TABLE first (i int);\n", ["migrations/001_big.sql"] = text },
      "return { large_file = 4096, placeholders = { app = 'x' } }\n", function(p)
      local _, err, code = p:lumi("up")
      assert.are.equal(2, code, err)
      assert.truthy(h.has(err, "migrations/001_big.sql:202: placeholder ${nope} has no value"), err)
      assert.is_false(h.table_exists(p.url, "first"))
    end)
  end)
end)
