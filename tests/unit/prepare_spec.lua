-- Reading a migration: sections of a one-file migration, placeholders.
local migration = require "lumi.prepare"
local errors = require "lumi.errors"

describe("migration.sections", function()
  it("returns nil for a file without markers", function()
    assert.is_nil(migration.sections("CREATE TABLE t (id int);\n"))
  end)

  it("splits dbmate's -- migrate:up / -- migrate:down", function()
    local text = "-- header\n-- migrate:up\nCREATE TABLE t (id int);\n-- migrate:down\nDROP TABLE t;\n"
    local s = migration.sections(text)
    assert.are.equal("-- migrate:up\nCREATE TABLE t (id int);\n", s.up.text)
    assert.are.equal("-- migrate:down\nDROP TABLE t;\n", s.down.text)
    assert.are.equal(#"-- header\n" + 1, s.up.start)
    assert.are.equal(text:find("-- migrate:down", 1, true), s.down.start)
  end)

  it("understands goose's and sql-migrate's markers", function()
    local g = migration.sections("-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 2;\n")
    assert.truthy(g.up.text:find("SELECT 1;", 1, true))
    assert.truthy(g.down.text:find("SELECT 2;", 1, true))
    local m = migration.sections("-- +migrate Up\nSELECT 1;\n-- +migrate Down\nSELECT 2;\n")
    assert.truthy(m.up.text:find("SELECT 1;", 1, true))
    assert.truthy(m.down.text:find("SELECT 2;", 1, true))
  end)

  it("an up section alone has no down", function()
    local s = migration.sections("-- migrate:up\nSELECT 1;\n")
    assert.is_nil(s.down)
  end)

  it("refuses two sections of one direction", function()
    local ok, e = pcall(migration.sections, "-- migrate:up\nSELECT 1;\n-- migrate:up\nSELECT 2;\n")
    assert.is_false(ok)
    assert.is_true(errors.is(e, "config"))
    assert.are.equal("two up sections in one file", e.message)
  end)
end)

describe("migration.fill", function()
  it("leaves the text alone when there are no placeholders", function()
    assert.are.equal("SELECT '${x}', '$${y}';", migration.fill("SELECT '${x}', '$${y}';", nil, "f.sql"))
  end)

  it("replaces ${name} with its value", function()
    assert.are.equal("CREATE SCHEMA app; GRANT USAGE ON SCHEMA app TO app_rw;",
      migration.fill("CREATE SCHEMA ${schema}; GRANT USAGE ON SCHEMA ${schema} TO ${role};", { schema = "app", role = "app_rw" }, "f.sql"))
  end)

  it("$${name} stands for a literal ${name}", function()
    assert.are.equal("SELECT '${schema}', 'app';", migration.fill("SELECT '$${schema}', '${schema}';", { schema = "app" }, "f.sql"))
  end)

  it("leaves dollar quoting alone", function()
    local body = "CREATE FUNCTION f() RETURNS int AS $$ SELECT ${x} $$ LANGUAGE sql; SELECT $body$ b $body$;"
    assert.are.equal("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql; SELECT $body$ b $body$;",
      migration.fill(body, { x = "1" }, "f.sql"))
  end)

  it("names a placeholder without a value, with file and line", function()
    local ok, e = pcall(migration.fill, "SELECT 1;\n\nSELECT '${other}';\n", { schema = "app" }, "migrations/001_a.sql")
    assert.is_false(ok)
    assert.is_true(errors.is(e, "config"))
    assert.are.equal(2, e.exit_code)
    assert.are.equal("migrations/001_a.sql:3: placeholder ${other} has no value", e.message)
  end)
end)

describe("prepare.first_keyword (of a statement as lumi.sql.split gives it)", function()
  it("upper-cases the first word", function()
    assert.are.equal("BEGIN", migration.first_keyword("begin"))
    assert.are.equal("COMMIT", migration.first_keyword("COMMIT"))
    assert.are.equal("START", migration.first_keyword("start transaction"))
    assert.are.equal("CREATE", migration.first_keyword("Create index concurrently i on t (a)"))
    assert.are.equal("END", migration.first_keyword("end"))
    assert.are.equal("SET_CONFIG", migration.first_keyword("set_config"))
  end)

  it("is nil when the text starts with no keyword", function()
    assert.is_nil(migration.first_keyword(""))
    assert.is_nil(migration.first_keyword("(SELECT 1)"))
    assert.is_nil(migration.first_keyword('"select" 1'))
    assert.is_nil(migration.first_keyword("select1"))
    assert.is_nil(migration.first_keyword("sélect 1"))
    assert.is_nil(migration.first_keyword("1"))
  end)

  it("knows the statements that begin or end a transaction", function()
    for _, s in ipairs({ "BEGIN", "begin isolation level serializable", "START TRANSACTION", "COMMIT", "END",
                         "ROLLBACK", "abort" }) do
      assert.truthy(migration.controls_transaction(s), s)
    end
    for _, s in ipairs({ "ROLLBACK TO SAVEPOINT a", "COMMIT PREPARED 'x'", "ROLLBACK PREPARED 'x'", "SAVEPOINT a",
                         "CREATE TABLE begin_log (a int)", "endless" }) do
      assert.is_nil(migration.controls_transaction(s), s)
    end
  end)
end)
