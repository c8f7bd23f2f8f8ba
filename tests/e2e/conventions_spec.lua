-- convention = "<tool>": another tool's directory read as that tool reads
-- it, and run by lumi: what `lumi list --json` finds and `lumi validate`
-- says (valid and invalid fixture projects), and a round trip up / down
-- --all that leaves the schema as it was.
local h = require "support.helper"

-- The fixtures: tests/fixtures/conventions/<tool>/valid/ and
-- invalid/<case>/, each a project (its migrate.lua names the convention)
-- with an expected.txt beside migrate.lua: what `lumi list --json` finds
-- ("migration VERSION FILE", "ignored FILE: REASON") and what `lumi
-- validate` says (its exit code, then its stderr, indented).
local root = h.root .. "/tests/fixtures/conventions"

-- what lumi says of a project, in expected.txt's form
local function observed(p)
  local lines = {}
  local doc, code, err = p:json("list")
  if code == 0 then
    for _, m in ipairs(doc.migrations) do lines[#lines + 1] = "migration " .. m.version .. " " .. m.file end
    for _, ig in ipairs(doc.ignored) do lines[#lines + 1] = "ignored " .. ig.file .. ": " .. ig.reason end
  else
    lines[#lines + 1] = "list exit " .. code
    assert.are.equal("", (err:gsub("^error:.*", "")), "list names the same error as validate")
  end
  local _, verr, vcode = p:lumi("validate")
  lines[#lines + 1] = "validate exit " .. vcode
  for l in verr:gsub(p.dir:gsub("%p", "%%%0") .. "/", ""):gmatch("[^\n]+") do lines[#lines + 1] = "  " .. l end
  return table.concat(lines, "\n") .. "\n"
end

local tools = {}
for t in h.sh("ls " .. h.q(root)):gmatch("[^\n]+") do tools[#tools + 1] = t end

-- what `lumi new` creates in each convention (nil: the tool's own command
-- adds migrations, as sqitch add)
local new_file = {
  dbmate = { "db/migrations", "^%d%d%d%d%d%d%d%d%d%d%d%d%d%d_add_tags%.sql$" },
  diesel = { "migrations", "^%d%d%d%d%-%d%d%-%d%d%-%d%d%d%d%d%d_add_tags$" },
  flyway = { "sql", "^V2__add_tags%.sql$" },
  ["golang-migrate"] = { "migrations", "^000011_add_tags%.up%.sql$" },
  goose = { "migrations", "^00004_add_tags%.sql$" },
  ["node-pg-migrate"] = { "migrations", "^%d%d%d%d%d%d%d%d%d%d%d%d%d_add_tags%.sql$" },
  ["sql-migrate"] = { "migrations", "^011_add_tags%.sql$" },
  sqlx = { "migrations", "^%d%d%d%d%d%d%d%d%d%d%d%d%d%d_add_tags%.sql$" },
}

local function no_expected(rel) return rel == "expected.txt" end

for _, tool in ipairs(tools) do
  describe("convention = \"" .. tool .. "\"", function()
    local cases = { "valid" }
    for c in h.sh("ls " .. h.q(root .. "/" .. tool .. "/invalid") .. " 2>/dev/null"):gmatch("[^\n]+") do
      cases[#cases + 1] = "invalid/" .. c
    end
    for _, case in ipairs(cases) do
      it(case .. ": lumi list and lumi validate say what expected.txt says", function()
        local dir = root .. "/" .. tool .. "/" .. case
        h.with_project(h.tree(dir, no_expected), function(p)
          assert.are.equal(h.read(dir .. "/expected.txt"), observed(p))
        end)
      end)
    end

    it("valid: applies, reverts everything back to the schema it found, and creates the next file its way", function()
      h.with_project(h.tree(root .. "/" .. tool .. "/valid", no_expected), function(p)
        local doc, code = p:json("list")
        assert.are.equal(0, code)
        local n = #doc.migrations
        local before = h.schema_dump(p.url, { "schema_migrations", "schema_migrations_log", "lumi_migrations",
          "lumi_migrations_log" })
        local up, ucode = p:json("up")
        assert.are.equal(0, ucode)
        assert.are.equal(n, #up.applied)
        assert.is_true(p:value("SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email'::regclass"))
        if tool == "prisma" then return end        -- Prisma has no down migrations
        local _, dcode = p:json("down --all")
        assert.are.equal(0, dcode)
        assert.are.equal(before, h.schema_dump(p.url, { "schema_migrations", "schema_migrations_log",
          "lumi_migrations", "lumi_migrations_log" }))
        -- verify-down, on a scratch database, gives the same verdict as pg_dump
        local proof, vcode, verr = p:json("verify-down")
        assert.are.equal(0, vcode, verr)
        for _, m in ipairs(proof.migrations) do assert.are.equal("ok", m.status, m.file) end
        local want = new_file[tool]
        if not want then return end
        local out, err, ncode = p:lumi("new add_tags")
        assert.are.equal(0, ncode, out .. err)
        local made
        for f in h.sh("ls " .. h.q(p.dir .. "/" .. want[1])):gmatch("[^\n]+") do
          if f:find("add_tags", 1, true) and not f:find("down", 1, true) then made = f end
        end
        assert.truthy(made and made:match(want[2]), tostring(made))
      end)
    end)
  end)
end

describe("convention", function()
  it("an unknown one is a config error naming the known ones", function()
    h.with_project({}, 'return { convention = "dbmat" }\n', function(p)
      local out, err, code = p:lumi("list")
      assert.are.equal(2, code, out .. err)
      assert.truthy(err:find('key "convention" is not a convention lumi knows (known: dbmate, diesel, flyway, '
        .. 'golang-migrate, goose, node-pg-migrate, prisma, sql-migrate, sqitch, sqlx), got "dbmat"',
        1, true), err)
    end)
  end)

  it("flyway: a repeatable migration runs after the versioned ones, again when it changes, and is not reverted",
    function()
      h.with_project({
        ["sql/V1__users.sql"] = "CREATE TABLE users (id int, email text);\n",
        ["sql/U1__users.sql"] = "DROP TABLE users;\n",
        ["sql/R__emails.sql"] = "CREATE OR REPLACE VIEW emails AS SELECT email FROM users;\n",
      }, 'return { convention = "flyway" }\n', function(p)
        local up = p:json("up")
        assert.are.same({ "V1__users.sql", "R__emails.sql" }, h.files(up.applied))
        assert.are.same({}, p:json("up").applied)
        p:write("sql/R__emails.sql", "CREATE OR REPLACE VIEW emails AS SELECT email, id FROM users;\n")
        p:write("sql/V2__posts.sql", "CREATE TABLE posts (id int);\n")
        local status = p:json("status")
        assert.are.same({ ["V1__users.sql"] = "applied", ["V2__posts.sql"] = "pending", ["R__emails.sql"] = "pending" },
          h.states(status))
        local vout, verr, vcode = p:lumi("validate")
        assert.are.equal(0, vcode, vout .. verr)
        up = p:json("up")
        assert.are.same({ "V2__posts.sql", "R__emails.sql" }, h.files(up.applied))
        assert.are.equal(1, tonumber(p:value("SELECT count(*) FROM lumi_migrations WHERE version = 'R__emails'")))
        assert.are.equal(2, tonumber(p:value("SELECT count(*) FROM information_schema.columns "
          .. "WHERE table_name = 'emails'")))
        -- down reverts the newest version, not the repeatable one
        local out, err, dcode = p:lumi("down")
        assert.are.equal(3, dcode, out .. err)
        assert.truthy(err:find("cannot revert V2__posts.sql: it has no down migration", 1, true), err)
        assert.truthy(err:find("HINT: add U2__posts.sql", 1, true), err)
      end)
    end)

  it("validate and up advise each tool's own way to run a file without a transaction", function()
    local cases = {
      { "dbmate", "db/migrations/20240101000000_idx.sql", "-- migrate:up\n",
        "end the section's marker line with `transaction:false` (-- migrate:up transaction:false)" },
      { "goose", "migrations/00001_idx.sql", "-- +goose Up\n", "put `-- +goose NO TRANSACTION` first in the file" },
      { "flyway", "sql/V1__idx.sql", "", "put `executeInTransaction=false` in a <file>.conf beside it" },
      { "golang-migrate", "migrations/1_idx.up.sql", "", "put `-- lumi: no-transaction` first in the file" },
    }
    for _, c in ipairs(cases) do
      h.with_project({ [c[2]] = c[3] .. "CREATE TABLE t (x int);\nCREATE INDEX CONCURRENTLY t_x ON t (x);\n" },
        string.format("return { convention = %q }\n", c[1]), function(p)
          local _, err, code = p:lumi("validate")
          assert.are.equal(3, code, err)
          local line = select(2, c[3]:gsub("\n", "")) + 2
          assert.truthy(err:find(c[2] .. ":" .. line .. ":1: CREATE INDEX CONCURRENTLY cannot run inside a transaction, "
            .. "and this migration runs in one: " .. c[4], 1, true), err)
          local out, uerr, ucode = p:lumi("up")
          assert.are.equal(1, ucode, out .. uerr)
          assert.truthy(uerr:find("HINT: " .. c[4], 1, true), uerr)
        end)
    end
  end)

  it("flyway: a repeatable migration whose file is gone does not make a new version out of order", function()
    h.with_project({
      ["sql/V1__users.sql"] = "CREATE TABLE users (id int);\n",
      ["sql/R__view.sql"] = "CREATE OR REPLACE VIEW v AS SELECT 1 AS x;\n",
    }, 'return { convention = "flyway" }\n', function(p)
      p:lumi("up")
      os.remove(p:path("sql/R__view.sql"))
      p:write("sql/V2__posts.sql", "CREATE TABLE posts (id int);\n")
      local doc, code = p:json("up")
      assert.are.equal(0, code)
      assert.are.same({ "V2__posts.sql" }, h.files(doc.applied))
    end)
  end)

  it("goose: a Go migration in the directory is an error naming it, before anything runs", function()
    h.with_project({
      ["migrations/00001_users.sql"] = "-- +goose Up\nCREATE TABLE users (id int);\n",
      ["migrations/00002_backfill.go"] = "package migrations\n",
    }, 'return { convention = "goose" }\n', function(p)
      local out, err, code = p:lumi("up")
      assert.are.equal(3, code, out .. err)
      assert.truthy(err:find("migrations/00002_backfill.go is a goose migration written in Go", 1, true), err)
      assert.truthy(err:find("00002_backfill.lua", 1, true), err)
      assert.is_false(h.table_exists(p.url, "users"))
    end)
  end)

  it("is the defaults: migrate.lua's own settings win", function()
    h.with_project({ ["sql/20240101120000_a.sql"] = "-- migrate:up\nSELECT 1;\n" },
      'return { convention = "dbmate", dir = "sql", table = "history" }\n', function(p)
        local doc, code = p:json("up")
        assert.are.equal(0, code)
        assert.are.equal(1, #doc.applied)
        assert.are.equal(1, tonumber(p:value("SELECT count(*) FROM history")))
      end)
  end)
end)
