local sqlerror = require "lumi.sqlerror"

-- PostgreSQL's error position of the first occurrence of `needle` in `text`
-- (1-based, counted in characters).
local function pos_of(text, needle)
  local b = assert(text:find(needle, 1, true), needle)
  return utf8.len(text:sub(1, b - 1)) + 1
end

describe("sqlerror.locate", function()
  it("finds line and column in a one-line text", function()
    local line, col, src = sqlerror.locate("SELECT nosuch;", 8)
    assert.are.equal(1, line)
    assert.are.equal(8, col)
    assert.are.equal("SELECT nosuch;", src)
  end)

  it("finds line and column in a multi-line text", function()
    local text = "-- header\nCREATE TABLE c (id int);\n\nSELECT\n  id,\n  missing_column\nFROM c;\n"
    local line, col, src = sqlerror.locate(text, pos_of(text, "missing_column"))
    assert.are.equal(6, line)
    assert.are.equal(3, col)
    assert.are.equal("  missing_column", src)
  end)

  it("counts characters, not bytes, before the error", function()
    local text = "-- café ☕ naïve\nSELECT 'ü', '日本語', nosuch;\n"
    local line, col, src = sqlerror.locate(text, pos_of(text, "nosuch"))
    assert.are.equal(2, line)
    assert.are.equal(20, col)
    assert.are.equal("SELECT 'ü', '日本語', nosuch;", src)
  end)

  it("drops the carriage return of a CRLF line", function()
    local text = "SELECT 1;\r\nSELECT nosuch;\r\n"
    local line, col, src = sqlerror.locate(text, pos_of(text, "nosuch"))
    assert.are.equal(2, line)
    assert.are.equal(8, col)
    assert.are.equal("SELECT nosuch;", src)
  end)

  it("points at the first character of a line", function()
    local text = "SELECT 1;\nnosuch;\n"
    local line, col = sqlerror.locate(text, pos_of(text, "nosuch"))
    assert.are.equal(2, line)
    assert.are.equal(1, col)
  end)
end)

describe("sqlerror.position", function()
  it("gives line, column, the line and a caret under the spot", function()
    local text = "CREATE TABLE a (id int);\nSELECT\n  missing_column\nFROM a;\n"
    local p = sqlerror.position(text, { position = pos_of(text, "missing_column") })
    assert.are.same({ line = 3, column = 3, source_line = "  missing_column", caret = "  ^" }, p)
  end)

  it("lines the caret up under UTF-8 text with one space per character", function()
    local text = "SELECT 'ü☕𝄞', nosuch;"
    local p = sqlerror.position(text, { position = pos_of(text, "nosuch") })
    assert.are.equal(15, p.column)
    assert.are.equal(string.rep(" ", 14) .. "^", p.caret)
  end)

  it("keeps tabs in the caret line", function()
    local text = "SELECT\n\tid,\t\tnosuch\nFROM t;"
    local p = sqlerror.position(text, { position = pos_of(text, "nosuch") })
    assert.are.equal(2, p.line)
    assert.are.equal(7, p.column)
    assert.are.equal("\tid,\t\tnosuch", p.source_line)
    assert.are.equal("\t   \t\t^", p.caret)
  end)

  it("subtracts an offset the runner prepended", function()
    local text = "SELECT nosuch;"
    local p = sqlerror.position(text, { position = 8 + 20 }, 20)
    assert.are.equal(1, p.line)
    assert.are.equal(8, p.column)
  end)

  it("is nil without a position, or one inside the prefix", function()
    assert.is_nil(sqlerror.position("SELECT 1", {}))
    assert.is_nil(sqlerror.position("SELECT 1", { position = 5 }, 10))
  end)
end)
