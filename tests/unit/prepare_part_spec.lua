-- prepare.part: one direction of a migration read once, with its checksum,
-- its text and how it runs (mode), decided by policy: the migration's own
-- field, then the directives, then a transaction; a text the parser rejects
-- never changes mode.
local prepare = require "lumi.prepare"
local h = require "support.helper"

local function part(files, file, direction, m, settings)
  local dir = h.project(files)
  m = m or {}
  m.path = m.path or (dir .. "/migrations/" .. file)
  m.file = m.file or file
  m.layout = m.layout or "file"
  settings = settings or {}
  settings.migrations_dir = dir .. "/migrations"
  return prepare.part(m, direction or "up", settings), dir
end

describe("prepare.part", function()
  it("reads the file once: its bytes, their sha256sum, the text to run", function()
    local text = "\239\187\191CREATE TABLE t (a int);\n"
    local p, dir = part({ ["migrations/001_a.sql"] = text }, "001_a.sql")
    assert.are.equal(text, p.bytes)
    assert.are.equal(h.sha256sum(dir .. "/migrations/001_a.sql"), p.checksum)
    assert.are.equal("CREATE TABLE t (a int);\n", p.text)        -- without the BOM
    assert.are.equal("001_a.sql", p.file)
    assert.is_true(p.transaction)
    assert.are.equal("transaction", p.mode)
  end)

  it("a file with its own BEGIN and COMMIT runs in its own transaction", function()
    local p = part({ ["migrations/001_a.sql"] = "BEGIN;\nCREATE TABLE t (a int);\nCOMMIT;\n" }, "001_a.sql")
    assert.are.equal("own", p.mode)
    assert.are.equal(3, #p.statements)
  end)

  it("transaction control in the middle runs statement by statement", function()
    local p = part({ ["migrations/001_a.sql"] = "CREATE TABLE t (a int);\nCOMMIT;\nCREATE TABLE u (a int);\n" },
      "001_a.sql")
    assert.are.equal("statements", p.mode)
  end)

  it("the directive makes it run without a transaction, one statement at a time", function()
    local p = part({ ["migrations/001_a.sql"] = "-- lumi: no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);\n"
      .. "CREATE INDEX CONCURRENTLY j ON t (b);\n" }, "001_a.sql")
    assert.is_false(p.transaction)
    assert.are.equal("statements", p.mode)
    assert.are.same({ "CREATE INDEX CONCURRENTLY i ON t (a)", "CREATE INDEX CONCURRENTLY j ON t (b)" },
      { p.statements[1].text, p.statements[2].text })
  end)

  it("the migration's own field wins over the directives, both ways", function()
    local files = { ["migrations/001_a.sql"] = "CREATE INDEX CONCURRENTLY i ON t (a);\n" }
    assert.are.equal("statements", part(files, "001_a.sql", "up", { transaction = false }).mode)
    files = { ["migrations/001_a.sql"] = "-- lumi: no-transaction\nCREATE TABLE t (a int);\n" }
    assert.are.equal("transaction", part(files, "001_a.sql", "up", { transaction = true }).mode)
  end)

  it("down_transaction governs the down part", function()
    local files = { ["migrations/001_a.sql"] = "-- migrate:up\nCREATE TABLE t (a int);\n-- migrate:down\nDROP TABLE t;\n" }
    local p = part(files, "001_a.sql", "down", { down_transaction = false })
    assert.are.equal("statements", p.mode)
    assert.are.equal("-- migrate:down\nDROP TABLE t;\n", p.text)
    assert.is_true(part(files, "001_a.sql", "up", { down_transaction = false }).transaction)
  end)

  it("a text the parser rejects keeps its mode and is sent whole", function()
    local bad = "CREATE TABLE x (a int);\nCREATE FUNCTION h() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\nEND;\nSELEC 3;\n"
    local p = part({ ["migrations/001_a.sql"] = bad }, "001_a.sql")
    assert.are.equal("transaction", p.mode)
    assert.is_nil(p.statements)
    p = part({ ["migrations/001_a.sql"] = "-- lumi: no-transaction\n" .. bad }, "001_a.sql")
    assert.are.equal("statements", p.mode)
    assert.are.equal(1, #p.statements)
    assert.are.equal(p.text, p.statements[1].text)
  end)

  it("a directives function of migrate.lua replaces the built-in reader", function()
    local p = part({ ["migrations/001_a.sql"] = "-- @nontransactional\nCREATE INDEX CONCURRENTLY i ON t (a);\n" },
      "001_a.sql", "up", nil, { directives = function(text)
        return { transaction = not text:find("@nontransactional", 1, true) }, {}
      end })
    assert.are.equal("statements", p.mode)
  end)

  it("reports directive near misses with their line in the file", function()
    local p = part({ ["migrations/001_a.sql"] = "-- header\n-- lumi no-transaction\nSELECT 1;\n" }, "001_a.sql")
    assert.are.same({ { line = 2, message = '"-- lumi no-transaction" is not a lumi directive (did you mean '
      .. '"-- lumi: no-transaction"?)' } }, p.problems)
    assert.is_true(p.transaction)
  end)

  it("a one-file migration without a down section has no down part; a missing file is a validation error", function()
    assert.is_nil((part({ ["migrations/001_a.sql"] = "SELECT 1;\n" }, "001_a.sql", "down")))
    local ok, e = pcall(part, {}, "001_gone.sql")
    assert.is_false(ok)
    assert.are.equal("validation", e.kind)
    assert.truthy(e.message:find("cannot read migration", 1, true), e.message)
  end)

  it("a Lua migration: its function, and its own transaction field", function()
    local files = { ["migrations/001_a.lua"] = "return { transaction = false, up = function() end }\n" }
    local p = part(files, "001_a.lua", "up", { layout = "lua" })
    assert.are.equal("function", type(p.fn))
    assert.are.equal("statements", p.mode)
    assert.is_nil((part(files, "001_a.lua", "down", { layout = "lua" })))
  end)
end)
