local h = require "support.helper"
local sql = require "lumi.sql"

--- Split `text`, check every statement against the text it came from, and
--- return the statements' texts.
local function split(text)
  local stmts, err = sql.split(text)
  assert(stmts, err and tostring(err))
  local texts = {}
  for i, s in ipairs(stmts) do
    assert.are.equal(text:sub(s.start, s.stop), s.text, "statement " .. i)
    assert.is_truthy(s.start >= 1 and s.stop <= #text and s.start <= s.stop)
    assert.is_nil(s.text:match("^%s"), "statement " .. i .. " starts with a blank")
    assert.is_nil(s.text:match("%s$"), "statement " .. i .. " ends with a blank")
    assert.are_not.equal(";", s.text:sub(-1), "statement " .. i .. " keeps its ';'")
    texts[i] = s.text
  end
  return texts, stmts
end

describe("lumi.sql.split", function()
  it("splits statements with comments between them, each starting at its first keyword", function()
    local text = "-- header\nCREATE TABLE a (id int);\n\n/* block\n   comment */\n"
      .. "-- line one\n-- line two\nINSERT INTO a VALUES (1); /* a /* nested */ comment */ UPDATE a SET id = 2;\n"
    local texts, stmts = split(text)
    assert.are.same({ "CREATE TABLE a (id int)", "INSERT INTO a VALUES (1)", "UPDATE a SET id = 2" }, texts)
    assert.are.equal(11, stmts[1].start)
    assert.are.equal(33, stmts[1].stop)
    assert.are.equal(";", text:sub(stmts[1].stop + 1, stmts[1].stop + 1))
  end)

  it("keeps semicolons inside $$ and $tag$ function bodies", function()
    local f1 = [[CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1; PERFORM 2;
  RETURN 3;
END;
$$]]
    local f2 = [[CREATE FUNCTION g() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  EXECUTE $q$SELECT 1; SELECT 2$q$;
  RAISE NOTICE '%', $$not the end; $$;
  RETURN NEW;
END;
$body$]]
    local texts = split(f1 .. ";\n\n" .. f2 .. ";\nSELECT f();\n")
    assert.are.same({ f1, f2, "SELECT f()" }, texts)
  end)

  it("keeps semicolons inside strings, escaped quotes and quoted identifiers", function()
    local s1 = "INSERT INTO t VALUES ('a;b', 'it''s; fine', '')"
    local s2 = [[INSERT INTO t VALUES (E'it\'s; escaped', E'back\\slash;', E'\\')]]
    local s3 = [[SELECT 1 AS "odd;name", 'no escape \' AS x]]
    local texts = split(s1 .. ";" .. s2 .. ";\n" .. s3 .. "; SELECT 2;")
    assert.are.same({ s1, s2, s3, "SELECT 2" }, texts)
  end)

  it("gives a file's own BEGIN and COMMIT as statements of their own", function()
    local text = "BEGIN;\nCREATE TABLE a (id int);\nALTER TABLE a ADD COLUMN b text;\nCOMMIT;\n"
    local texts, stmts = split(text)
    assert.are.same({ "BEGIN", "CREATE TABLE a (id int)", "ALTER TABLE a ADD COLUMN b text", "COMMIT" }, texts)
    local kw = {}
    for i, s in ipairs(stmts) do kw[i] = require("lumi.prepare").first_keyword(s.text) end
    assert.are.same({ "BEGIN", "CREATE", "ALTER", "COMMIT" }, kw)
  end)

  it("gives CREATE INDEX CONCURRENTLY as one statement", function()
    local texts = split("-- lumi: no transaction\nCREATE INDEX CONCURRENTLY a_b ON a (b) WHERE b <> ';';\n"
      .. "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS a_c ON a (c);\n")
    assert.are.same({
      "CREATE INDEX CONCURRENTLY a_b ON a (b) WHERE b <> ';'",
      "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS a_c ON a (c)",
    }, texts)
  end)

  it("takes a last statement without a semicolon, without its trailing blanks", function()
    assert.are.same({ "SELECT 1", "SELECT 2" }, (split("SELECT 1;\nSELECT 2\n\n")))
    assert.are.same({ "SELECT 1" }, (split("SELECT 1")))
    assert.are.same({ "SELECT 1 -- trailing comment" }, (split("SELECT 1 -- trailing comment")))
  end)

  it("returns no statements for an empty text, blanks, lone semicolons or only comments", function()
    assert.are.same({}, sql.split(""))
    assert.are.same({}, sql.split(" \n\t\r\n"))
    assert.are.same({}, sql.split(";"))
    assert.are.same({}, sql.split(" ; ;;\n;"))
    assert.are.same({}, sql.split("-- just a comment\n/* and /* a nested */ one */\n-- last, no newline"))
    assert.are.same({}, sql.split("-- a\n;\n/* b */;"))
  end)

  it("counts byte offsets across UTF-8 text before a statement", function()
    local text = "-- café ☕ naïve — 日本語\nINSERT INTO t VALUES ('über; ñ'); /* ü */ SELECT 'ok';"
    local texts, stmts = split(text)
    assert.are.same({ "INSERT INTO t VALUES ('über; ñ')", "SELECT 'ok'" }, texts)
    assert.are.equal(#"-- café ☕ naïve — 日本語\n" + 1, stmts[1].start)
    assert.are_not.equal(utf8.len("-- café ☕ naïve — 日本語\n") + 1, stmts[1].start)
    assert.are.equal(#text - 1, stmts[2].stop)
  end)

  it("handles CRLF line ends", function()
    assert.are.same({ "SELECT 1", "SELECT\r\n  2" }, (split("SELECT 1;\r\n-- x\r\nSELECT\r\n  2;\r\n")))
  end)

  it("reports an unterminated dollar quote as nil, err with a byte position", function()
    local text = "SELECT 1;\nCREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $$;\n"
    local stmts, err = sql.split(text)
    assert.is_nil(stmts)
    assert.are.equal(sql.Error, getmetatable(err))
    assert.is_truthy(err.message:find("unterminated dollar-quoted string", 1, true))
    assert.are.equal(text:find("$body$", 1, true), err.position)
    assert.are.equal(err.message .. " (at byte " .. err.position .. ")", tostring(err))
  end)

  it("reports unterminated strings and comments, positions in bytes after UTF-8", function()
    local text = "SELECT 'é'; SELECT 'ü"
    local _, err = sql.split(text)
    assert.is_truthy(err.message:find("unterminated quoted string", 1, true))
    assert.are.equal(#"SELECT 'é'; SELECT " + 1, err.position)
    _, err = sql.split("SELECT 1; /* never closed")
    assert.is_truthy(err.message:find("unterminated /* comment", 1, true))
    assert.are.equal(11, err.position)
  end)

  it("does not split text the parser rejects: nil and the parse error, never a guess", function()
    for _, text in ipairs({ "garbage; SELECT 1;", "'a;b'; SELECT 1;", "SELECT 1; SELECT (2; SELECT 3;\n",
                            "SELECT 1); SELECT 2;", "SELECT 1; oops",
                            "CREATE FUNCTION h() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\nEND;\nSELEC 3;" }) do
      local stmts, err = sql.split(text)
      assert.is_nil(stmts, text)
      assert.truthy(err.message:find("syntax error", 1, true), text .. ": " .. tostring(err.message))
    end
  end)

  it("splits a BEGIN ATOMIC body as one statement", function()
    assert.are.same({ "CREATE TABLE x (a int)",
      "CREATE FUNCTION h() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\nEND", "SELECT 3" },
      (split("CREATE TABLE x (a int);\nCREATE FUNCTION h() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\nEND;\nSELECT 3;")))
  end)

  it("refuses text with a NUL byte", function()
    local stmts, err = sql.split("SELECT 1;\0SELECT 2")
    assert.is_nil(stmts)
    assert.are.equal("SQL text contains a NUL byte", err.message)
    assert.are.equal(10, err.position)
  end)

  it("raises on a wrong argument", function()
    assert.has_error(function() sql.split() end)
    assert.has_error(function() sql.split({}) end)
  end)

  it("gives statements the server runs one by one", function()
    local url = h.fresh_db()
    local text = [[
-- a migration that needs no transaction
CREATE TABLE items (id int PRIMARY KEY, note text);
CREATE FUNCTION add_item(n int) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO items VALUES (n, 'item; ' || n || E' it\'s');
END;
$fn$;
SELECT add_item(1); SELECT add_item(2);
CREATE INDEX CONCURRENTLY items_note ON items (note)
]]
    local _, stmts = split(text)
    assert.are.equal(5, #stmts)
    h.with_conn(url, function(c)
      for _, s in ipairs(stmts) do assert(c:exec(s.text)) end
    end)
    assert.are.equal("item; 2 it's", h.value(url, "SELECT note FROM items WHERE id = 2"))
    assert.is_true(h.table_exists(url, "items_note"))
  end)
end)

describe("lumi.sql in the lumi binary", function()
  it("is preloaded", function()
    -- a stand-in checkout whose cli reports what the binary preloaded
    local home = h.project({
      ["lua/lumi/cli.lua"] = [[
return { main = function()
  local sql = assert(package.preload["lumi.sql"], "lumi.sql is not preloaded")()
  io.write(sql.split("-- x\n begin; commit")[1].text, "\n")
  return 0
end }
]],
    })
    -- no LUA_CPATH: the executable finds the module in its own build
    -- although LUMI_HOME names a tree of Lua sources only
    local out, err, code = h.sh("env -u LUA_CPATH LUMI_HOME=" .. h.q(home) .. " " .. h.q(h.bin))
    assert.are.equal(0, code, err)
    assert.are.equal("begin\n", out)
  end)
end)

describe("lumi.sql.parse_ok", function()
  it("accepts valid SQL, several statements, and empty text", function()
    assert.is_true(sql.parse_ok("SELECT 1"))
    assert.is_true(sql.parse_ok("BEGIN; CREATE TABLE a (id int); CREATE INDEX CONCURRENTLY i ON a (id); COMMIT;"))
    assert.is_true(sql.parse_ok("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$"))
    assert.is_true(sql.parse_ok(""))
    assert.is_true(sql.parse_ok("-- nothing"))
    -- the grammar only: unknown tables are the server's business
    assert.is_true(sql.parse_ok("SELECT * FROM no_such_table"))
  end)

  it("rejects invalid SQL with the error's byte position", function()
    local ok, err = sql.parse_ok("SELECT 1;\nSELEC 2;")
    assert.is_false(ok)
    assert.are.equal(sql.Error, getmetatable(err))
    assert.are.equal('syntax error at or near "SELEC"', err.message)
    assert.are.equal(11, err.position)
    assert.are.equal('syntax error at or near "SELEC" (at byte 11)', tostring(err))
  end)

  it("gives byte positions after UTF-8 text, and the end of input", function()
    local text = "SELECT 'é☕' FRO t"
    local ok, err = sql.parse_ok(text)
    assert.is_false(ok)
    assert.are.equal('syntax error at or near "t"', err.message)
    assert.are.equal(#text, err.position)
    ok, err = sql.parse_ok("SELECT 1 +")
    assert.is_false(ok)
    assert.are.equal("syntax error at end of input", err.message)
    assert.are.equal(11, err.position)
  end)

  it("rejects text with a NUL byte", function()
    local ok, err = sql.parse_ok("SELECT\0 1")
    assert.is_false(ok)
    assert.are.equal(7, err.position)
  end)
end)

describe("lumi.sql.parse", function()
  it("gives each statement's parse tree as tables, with the split's start and stop", function()
    local text = "-- héllo\nCREATE INDEX CONCURRENTLY i ON t (x);\nALTER TABLE t ALTER COLUMN é SET NOT NULL;"
    local stmts = assert(sql.parse(text))
    local split_stmts = assert(sql.split(text))
    assert.are.equal(2, #stmts)
    for i, s in ipairs(stmts) do
      assert.are.equal(split_stmts[i].start, s.start)
      assert.are.equal(split_stmts[i].stop, s.stop)
      assert.are.equal(split_stmts[i].text, s.text)
    end
    local idx = stmts[1].tree
    assert.are.equal("IndexStmt", idx.node)
    assert.is_true(idx.concurrent)
    assert.is_false(idx.unique)             -- a field at its default is there too
    assert.are.equal("t", idx.relation.relname)
    assert.are.equal("RangeVar", idx.relation.node)
    local alter = stmts[2].tree
    assert.are.equal("AlterTableStmt", alter.node)
    assert.are.equal("OBJECT_TABLE", alter.objtype)        -- enums by name
    assert.are.equal("AT_SetNotNull", alter.cmds[1].subtype)
    assert.are.equal("é", alter.cmds[1].name)
    -- locations: 1-based byte offsets into the whole text, after UTF-8
    assert.are.equal("t ALTER", text:sub(alter.relation.location, alter.relation.location + 6))
  end)

  it("unwraps the parser's Node union, and leaves an unknown location out", function()
    local stmts = assert(sql.parse("SELECT a + 1 FROM t"))
    local sel = stmts[1].tree
    assert.are.equal("SelectStmt", sel.node)
    local expr = sel.target_list[1].val
    assert.are.equal("AExpr", expr.node)             -- the names of pg_query.proto
    assert.are.equal("ColumnRef", expr.lexpr.node)
    assert.are.equal("a", expr.lexpr.fields[1].sval)
    assert.are.equal(1, expr.rexpr.ival.ival)
    assert.is_nil(sel.from_clause[1].alias)
  end)

  it("refuses what the grammar refuses, with the error's byte position", function()
    local stmts, err = sql.parse("SELECT 1; SELEC 2")
    assert.is_nil(stmts)
    assert.are.equal(11, err.position)
    assert.truthy(err.message:find("syntax error", 1, true))
  end)

  it("refuses a statement longer than 16 KB, at its position, before writing any tree", function()
    local big = "SELECT " .. string.rep("1 + ", 5000) .. "1"
    local stmts, err = sql.parse("SELECT 1;\n" .. big)
    assert.is_nil(stmts)
    assert.is_true(err.too_large)
    assert.are.equal(11, err.position)
    assert.truthy(err.message:find("too large for a parse tree", 1, true))
    -- within the bound, a chain 4,000 operators deep parses
    stmts = assert(sql.parse("SELECT " .. string.rep("1 + ", 4000) .. "1"))
    assert.are.equal("SelectStmt", stmts[1].tree.node)
  end)

  it("adds base to every offset, for a statement cut from a larger text", function()
    local stmts = assert(sql.parse("ALTER TABLE t ADD c int", 100))
    assert.are.equal(101, stmts[1].start)
    assert.are.equal(123, stmts[1].stop)
    assert.are.equal(113, stmts[1].tree.relation.location)
  end)
end)

