-- The runner's modes, through the Lua API in this process: a part in lumi's
-- transaction, in its own, and statement by statement without one; Lua
-- migrations in and out of a transaction; the record-only changes. What is
-- checked is what a user finds afterwards: the database, the tracking rows,
-- the event log, and the result value.
local h = require "support.helper"
local lumi = require "lumi"

-- Open a project on files and a fresh database; returns project, url.
local function open(files, settings)
  local dir = h.project(files)
  local url = h.fresh_db()
  settings = settings or {}
  settings.cwd, settings.database = dir, url
  return lumi.open(settings), url
end

local function events(url)
  return table.concat(h.events(url), " ")
end

describe("runner (through the Lua API)", function()
  describe("in lumi's transaction", function()
    it("applies the file and its record together", function()
      local p <close>, url = open({ ["migrations/001_a.sql"] = "CREATE TABLE a (i int);\n" })
      local r = p:up()
      assert.is_nil(r.error)
      assert.are.equal(1, #r.applied)
      assert.are.equal("001_a.sql", r.applied[1].file)
      assert.is_true(h.table_exists(url, "a"))
      assert.are.same({ "001" }, h.versions(url))
      assert.are.equal("applied", events(url))
    end)

    it("a failure leaves neither the file's changes nor a record, and is a value with its position", function()
      local p <close>, url = open({ ["migrations/001_a.sql"] = "CREATE TABLE a (i int);\nSELECT nosuch;\n" })
      local r = p:up()
      assert.are.equal("migration", r.error.kind)
      assert.are.same({ 2, 8, "42703" }, { r.error.line, r.error.column, r.error.sqlstate })
      assert.is_false(h.table_exists(url, "a"))
      assert.are.same({}, h.versions(url))
      assert.are.equal("failed", events(url))
    end)
  end)

  describe("in the file's own transaction", function()
    it("records inside the file's BEGIN ... COMMIT", function()
      local p <close>, url = open({ ["migrations/001_a.sql"] = "BEGIN;\nCREATE TABLE a (i int);\nCOMMIT;\n" })
      assert.is_nil(p:up().error)
      assert.is_true(h.table_exists(url, "a"))
      assert.are.same({ "001" }, h.versions(url))
    end)
  end)

  describe("statement by statement, without a transaction", function()
    it("runs CREATE INDEX CONCURRENTLY and records the migration applied", function()
      local p <close>, url = open({
        ["migrations/001_a.sql"] = "CREATE TABLE a (i int);\n",
        ["migrations/002_i.sql"] = "-- lumi: no-transaction\nCREATE INDEX CONCURRENTLY a_i ON a (i);\n",
      })
      assert.is_nil(p:up().error)
      assert.is_true(h.value(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'a_i'::regclass"))
      assert.are.equal("applied", h.value(url, "SELECT state FROM schema_migrations WHERE version = '002'"))
    end)

    it("a failure midway keeps what ran and leaves the record unfinished with the statement's error", function()
      local p <close>, url = open({ ["migrations/001_a.sql"] =
        "-- lumi: no-transaction\nCREATE TABLE a (i int);\nINSERT INTO nosuch VALUES (1);\nCREATE TABLE b (i int);\n" })
      local r = p:up()
      assert.is_true(r.error.no_transaction)
      assert.is_true(r.error.unfinished)
      assert.are.same({ 2, 3 }, { r.error.statement, r.error.statements })
      assert.is_true(h.table_exists(url, "a"))
      assert.is_false(h.table_exists(url, "b"))
      local row = h.query(url, "SELECT state, error FROM schema_migrations")[1]
      assert.are.equal("unfinished", row.state)
      assert.are.equal('statement 2 of 3 failed: relation "nosuch" does not exist', row.error)
      assert.are.equal("unfinished", events(url))
    end)

    it("a failure of its first statement leaves nothing: no record, pending again", function()
      local p <close>, url = open({ ["migrations/001_a.sql"] =
        "-- lumi: no-transaction\nINSERT INTO nosuch VALUES (1);\nCREATE TABLE b (i int);\n" })
      local r = p:up()
      assert.is_true(r.error.nothing_done)
      assert.is_falsy(r.error.unfinished)
      assert.are.equal(0, h.count(url, "schema_migrations"))
      assert.are.equal("failed", events(url))
      assert.are.equal(1, p:status().totals.pending)
    end)

    it("a first statement that is CONCURRENTLY leaves the record unfinished (it may leave an invalid index)", function()
      local p <close>, url = open({
        ["migrations/001_a.sql"] = "CREATE TABLE a (i int);\nINSERT INTO a VALUES (1), (1);\n",
        ["migrations/002_u.sql"] = "-- lumi: no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY a_u ON a (i);\n",
      })
      local r = p:up()
      assert.are.equal("23505", r.error.sqlstate)
      assert.is_true(r.error.unfinished)
      assert.are.equal("unfinished", h.value(url, "SELECT state FROM schema_migrations WHERE version = '002'"))
      assert.is_false(h.value(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'a_u'::regclass"))
    end)
  end)

  describe("Lua migrations", function()
    it("in a transaction: a raise rolls back everything, at the migration's own line", function()
      local p <close>, url = open({ ["migrations/001_a.lua"] = [[
return { up = function(ctx)
  ctx.db:exec("CREATE TABLE a (i int)")
  error("boom")
end }
]] })
      local r = p:up()
      assert.truthy(r.error.message:find("001_a.lua:3: boom", 1, true), r.error.message)
      assert.is_false(h.table_exists(url, "a"))
    end)

    it("without one: each statement commits as it runs", function()
      local p <close>, url = open({ ["migrations/001_a.lua"] = [[
return { transaction = false, up = function(ctx)
  ctx.db:exec("CREATE TABLE a (i int)")
  error("boom")
end }
]] })
      local r = p:up()
      assert.is_true(r.error.unfinished)
      assert.is_true(h.table_exists(url, "a"))
    end)
  end)

  describe("down", function()
    it("reverts in lumi's transaction, naming the down part", function()
      local p <close>, url = open({ ["migrations/001_a.up.sql"] = "CREATE TABLE a (i int);\n",
                                    ["migrations/001_a.down.sql"] = "DROP TABLE a;\n" })
      assert.is_nil(p:up().error)
      local r = p:down()
      assert.is_nil(r.error)
      assert.are.equal("001_a.down.sql", r.reverted[1].file)
      assert.is_false(h.table_exists(url, "a"))
      assert.are.same({}, h.versions(url))
    end)
  end)

  describe("record-only changes", function()
    it("mark, unmark and baseline write their rows and log entries, and run no SQL of the files", function()
      local p <close>, url = open({ ["migrations/001_a.sql"] = "CREATE TABLE a (i int);\n",
                                    ["migrations/002_b.sql"] = "CREATE TABLE b (i int);\n" })
      p:mark { version = "002" }
      assert.are.same({ "002" }, h.versions(url))
      p:unmark { version = "002" }
      p:baseline { version = "002" }
      assert.are.same({ "001", "002" }, h.versions(url))
      assert.is_false(h.table_exists(url, "a"))
      assert.are.equal("marked unmarked baselined baselined", events(url))
    end)
  end)
end)
