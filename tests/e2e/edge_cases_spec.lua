-- Edge cases found in review: each once let a migration's effects and its
-- tracking row disagree, printed a password, or crashed.
local h = require "support.helper"
local pg = require "lumi.pg"

local function setup(files)
  local url = h.fresh_db()
  local dir = h.project(files)
  return dir, url, function(args) return h.lumi(dir, args, { DATABASE_URL = url }) end
end

describe("edge cases (end to end)", function()
  it("a file with BEGIN but no COMMIT fails, and keeps nothing after its BEGIN", function()
    local _, url, lumi = setup({
      ["migrations/001_a.sql"] = "CREATE TABLE a (id int);\n",
      ["migrations/002_b.sql"] = "BEGIN;\nCREATE TABLE b (id int);\n",
    })
    local _, err, code = lumi("up")
    assert.are.equal(1, code, err)
    assert.truthy(err:find("leaves a transaction open", 1, true), err)
    assert.is_false(h.table_exists(url, "b"))
    -- its BEGIN was its first statement: nothing of it persisted, so it
    -- is pending again, not unfinished
    assert.truthy(err:find("its first statement began the transaction that was\n  rolled back: nothing of it took effect", 1, true), err)
    assert.is_nil(h.value(url, "SELECT state FROM schema_migrations WHERE version = '002'"))
  end)

  it("a file with statements before its unclosed BEGIN is recorded unfinished: those took effect", function()
    local _, url, lumi = setup({
      ["migrations/001_c.sql"] = "CREATE TABLE c (id int);\nBEGIN;\nCREATE TABLE d (id int);\n",
    })
    local _, err, code = lumi("up")
    assert.are.equal(1, code, err)
    assert.truthy(err:find("statement 2 of 3 failed, the 1 statement before it took effect", 1, true), err)
    assert.is_true(h.table_exists(url, "c"))
    assert.is_false(h.table_exists(url, "d"))
    assert.are.equal("unfinished", h.value(url, "SELECT state FROM schema_migrations WHERE version = '001'"))
  end)

  it("ROLLBACK TO SAVEPOINT does not take a file out of its transaction", function()
    local _, url, lumi = setup({
      ["migrations/001_sp.sql"] = "CREATE TABLE x (id int);\nSAVEPOINT s;\nINSERT INTO x VALUES (1);\n"
        .. "ROLLBACK TO SAVEPOINT s;\nINSERT INTO x VALUES (2);\n",
    })
    local _, err, code = lumi("up")
    assert.are.equal(0, code, err)
    assert.are.equal("2", tostring(h.value(url, "SELECT string_agg(id::text, ',') FROM x")))
    assert.are.equal("applied", h.value(url, "SELECT state FROM schema_migrations"))
  end)

  it("a migration that empties search_path (as pg_dump output does) is still recorded", function()
    local _, url, lumi = setup({
      ["migrations/001_dump.sql"] = "SELECT pg_catalog.set_config('search_path', '', false);\nCREATE TABLE public.t (id int);\n",
      ["migrations/002_more.sql"] = "CREATE TABLE public.u (id int);\n",
    })
    local _, err, code = lumi("up")
    assert.are.equal(0, code, err)
    assert.are.same({ "001", "002" }, h.versions(url))
  end)

  it("a NUL byte in a file is an error, not a migration cut short", function()
    local dir, url, lumi = setup({})
    h.write(dir .. "/migrations/001_nul.sql", "CREATE TABLE a (id int);\n\0\nCREATE TABLE b (id int);\n")
    local _, err, code = lumi("up")
    assert.are.equal(3, code, err)
    assert.truthy(err:find("001_nul.sql:2:1: holds a NUL byte", 1, true), err)
    assert.is_false(h.table_exists(url, "a"))
    assert.is_false(h.table_exists(url, "schema_migrations"))
  end)

  it("down stops when the newest applied migration's file is missing, reverting nothing", function()
    local dir, url, lumi = setup({
      ["migrations/001_a.up.sql"] = "CREATE TABLE a (id int);\n",
      ["migrations/001_a.down.sql"] = "DROP TABLE a;\n",
      ["migrations/002_b.up.sql"] = "CREATE TABLE b (id int);\n",
      ["migrations/002_b.down.sql"] = "DROP TABLE b;\n",
    })
    assert.are.equal(0, select(3, lumi("up")))
    os.remove(dir .. "/migrations/002_b.up.sql")
    os.remove(dir .. "/migrations/002_b.down.sql")
    local _, err, code = lumi("down")
    assert.are.equal(3, code, err)
    assert.truthy(err:find("its file is missing", 1, true), err)
    assert.is_true(h.table_exists(url, "a"))
    assert.is_true(h.table_exists(url, "b"))
  end)

  it("a no-transaction down part failing midway is recorded unfinished, not reported rolled back", function()
    local _, url, lumi = setup({
      ["migrations/001_a.up.sql"] = "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n",
      ["migrations/001_a.down.sql"] = "-- lumi: no-transaction\nDROP TABLE a;\nDROP TABLE nonexistent;\nDROP TABLE b;\n",
    })
    assert.are.equal(0, select(3, lumi("up")))
    local _, err, code = lumi("down")
    assert.are.equal(1, code, err)
    assert.truthy(err:find("statement 2 of 3 failed", 1, true), err)
    assert.is_nil(err:find("The revert was rolled back", 1, true), err)
    assert.is_false(h.table_exists(url, "a"))
    assert.are.equal("unfinished", h.value(url, "SELECT state FROM schema_migrations"))
    local out
    out, err, code = lumi("unmark 001")
    assert.are.equal(0, code, err)
  end)

  it("fresh with schemas = {\"app\"} also resets the tracking table in public", function()
    local dir, url, lumi = setup({
      ["migrate.lua"] = "return { schemas = { \"app\" } }\n",
      ["migrations/001_app.sql"] = "CREATE SCHEMA IF NOT EXISTS app;\nCREATE TABLE app.t (id int);\n",
    })
    assert.are.equal(0, select(3, lumi("up")))
    h.psql(url, "INSERT INTO app.t VALUES (1)")
    local doc, code, err = h.json(dir, "fresh --force", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    assert.are.same({ "001_app.sql" }, h.files(doc.applied))
    local dropped = {}
    for i, d in ipairs(doc.dropped) do dropped[i] = d.schema end
    assert.are.same({ "app", "public" }, dropped)
    assert.are.equal(0, h.value(url, "SELECT count(*)::int FROM app.t"))
    assert.are.same({ "001" }, h.versions(url))
  end)

  it("no password reaches the output, whatever the URL looks like", function()
    local dir = h.project({ ["migrations/001_a.sql"] = "SELECT 1;\n" })
    for _, u in ipairs({ 'postgresql://u:s3cr"etpw@[::1/db', "postgresql://u:s3cr'etpw@[::1/db",
                         "postgresql://u:s3c%zzretpw@h/db", "host=/nonexistent password=s3cretpw user=x" }) do
      for _, json in ipairs({ "", " --json" }) do
        local out, err, code = h.lumi(dir, "status" .. json .. " -d " .. h.q(u))
        -- 2: not a connection string (the first three); 5: no server there
        assert.are.equal(u:find("^host=") and 5 or 2, code, err)
        assert.is_nil((out .. err):find("s3c", 1, true), out .. err)
        assert.is_nil((out .. err):find("etpw", 1, true), out .. err)
      end
    end
  end)

  it("a Lua migration failing after copy_from{wait = false} exits 1 and leaves nothing", function()
    local _, url, lumi = setup({
      ["migrations/001_t.sql"] = "CREATE TABLE t (id int);\n",
      ["migrations/002_load.lua"] = [[
return { up = function(ctx)
  ctx.db:exec("CREATE TABLE made (id int)")
  ctx.db:copy_from("COPY t (id) FROM STDIN", { "1\n2\n" }, { wait = false })
  error("stop here")
end }
]],
    })
    local _, err, code = lumi("up")
    assert.are.equal(1, code, err)
    assert.truthy(err:find("002_load.lua:4: stop here", 1, true), err)
    assert.is_false(h.table_exists(url, "made"))
    assert.are.equal(0, h.value(url, "SELECT count(*)::int FROM t"))
  end)

  it("conn:pipeline refusing a bad parameter leaves the connection usable", function()
    local url = h.fresh_db()
    local c = assert(pg.connect(url))
    local ok, err = pcall(c.pipeline, c, { { "SELECT 1" }, { "SELECT $1", {} } })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("cannot send a table", 1, true), tostring(err))
    assert.are.equal(1, assert(c:query("SELECT 1 AS x"))[1].x)
    c:close()
  end)
end)
