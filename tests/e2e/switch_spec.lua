-- Switching a project from another tool, with that tool itself: it applies
-- a small project, then `convention` + `lumi adopt --apply` take it over;
-- `lumi status` shows everything applied and no file changed, the tool's
-- table is left as it was, and `lumi up` applies only a new file.
-- The tools come from scripts/peers (make test runs it): dbmate,
-- node-pg-migrate and knex from npm (./peers/node_modules), sql-migrate,
-- sqitch and alembic from Debian. Knex and Alembic migrations are code
-- (JavaScript, Python): a team switching writes them as SQL files under
-- the same names, and lumi adopts what the tool applied.
local h = require "support.helper"

local host = assert(h.url:match("host=([^&]+)"), "the test URL names its socket directory")
local peers = h.root .. "/peers/node_modules"

-- the path of a tool, or a failure saying how to get it
local function tool(cmd, what)
  local out = h.sh(cmd)
  local path = out:match("[^\n]+")
  assert(path, what .. " is not installed: run scripts/peers")
  return path
end

-- run the tool in the project; it must succeed
local function run(p, cmd, env)
  local parts = {}
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. h.q(v) end
  local out, err, code = h.sh("cd " .. h.q(p.dir) .. " && env " .. table.concat(parts, " ") .. " " .. cmd)
  assert.are.equal(0, code, cmd .. "\n" .. out .. err)
  return out
end

-- what every switch shows: adopt, then status, then up with a new file
local function switch(p, c)
  local before = p:query("SELECT * FROM " .. c.table)
  local shown, code = p:json("adopt")
  assert.are.equal(0, code)
  assert.are.equal(c.tool, shown.tool)
  assert.is_false(shown.written)
  local doc, c2, err = p:json("adopt --apply")
  assert.are.equal(0, c2, err)
  assert.are.same(c.applied, h.files(doc.adopted))
  assert.are.same({}, doc.warnings or {}, "no file edited since the tool applied it")
  local status = p:json("status")
  local want = {}
  for _, f in ipairs(c.applied) do want[f] = "applied" end
  assert.are.same(want, h.states(status))
  local again = p:json("adopt --apply")
  assert.are.same({}, again.adopted)
  p:write(c.new_file, c.new_text)
  if c.add then c.add() end
  local up, c3 = p:json("up")
  assert.are.equal(0, c3)
  assert.are.same({ c.new_name or c.new_file:match("[^/]+$") }, h.files(up.applied))
  assert.are.same(before, p:query("SELECT * FROM " .. c.table), c.tool .. "'s table is as it was")
end

describe("switching with the tool itself", function()
  it("dbmate", function()
    local bin = tool("ls " .. h.q(peers) .. "/@dbmate/*/bin/dbmate 2>/dev/null", "dbmate")
    h.with_project({
      ["db/migrations/20240101120000_create_users.sql"] =
        "-- migrate:up\nCREATE TABLE users (id int PRIMARY KEY, email text);\n-- migrate:down\nDROP TABLE users;\n",
      ["db/migrations/20240102120000_index_email.sql"] = "-- migrate:up transaction:false\n"
        .. "CREATE INDEX CONCURRENTLY users_email ON users (email);\n-- migrate:down\nDROP INDEX users_email;\n",
    }, 'return { convention = "dbmate" }\n', function(p)
      run(p, h.q(bin) .. " --no-dump-schema up", {
        DATABASE_URL = "postgres://postgres@/" .. p.name .. "?host=" .. host .. "&sslmode=disable" })
      switch(p, { tool = "dbmate", table = "schema_migrations",
        applied = { "20240101120000_create_users.sql", "20240102120000_index_email.sql" },
        new_file = "db/migrations/20240103120000_posts.sql", new_text = "-- migrate:up\nCREATE TABLE posts (id int);\n" })
      assert.are.equal(2, tonumber(p:value("SELECT count(*) FROM lumi_migrations_log WHERE event = 'adopted' "
        .. "AND error = 'from dbmate'")))
    end)
  end)

  it("node-pg-migrate", function()
    local bin = tool("ls " .. h.q(peers) .. "/.bin/node-pg-migrate 2>/dev/null", "node-pg-migrate")
    h.with_project({
      ["migrations/1700000000000_create-users.sql"] =
        "-- Up Migration\nCREATE TABLE users (id int PRIMARY KEY, email text);\n-- Down Migration\nDROP TABLE users;\n",
      ["migrations/1700000000001_posts.sql"] =
        "-- Up Migration\nCREATE TABLE posts (id int, user_id int REFERENCES users);\n"
        .. "-- Down Migration\nDROP TABLE posts;\n",
    }, 'return { convention = "node-pg-migrate" }\n', function(p)
      run(p, h.q(bin) .. " up", { DATABASE_URL = "postgres://postgres@localhost/" .. p.name .. "?host=" .. host })
      switch(p, { tool = "node-pg-migrate", table = "pgmigrations",
        applied = { "1700000000000_create-users.sql", "1700000000001_posts.sql" },
        new_file = "migrations/1700000000002_tags.sql",
        new_text = "-- Up Migration\nCREATE TABLE tags (id int);\n-- Down Migration\nDROP TABLE tags;\n" })
      -- lumi reverts with node-pg-migrate's down sections
      local down, code = p:json("down --all")
      assert.are.equal(0, code)
      assert.are.equal(3, #down.reverted)
      assert.is_false(h.table_exists(p.url, "users"))
    end)
  end)

  it("sql-migrate", function()
    local bin = tool("command -v sql-migrate", "sql-migrate")
    h.with_project({
      ["migrations/1_users.sql"] =
        "-- +migrate Up\nCREATE TABLE users (id int PRIMARY KEY, email text);\n-- +migrate Down\nDROP TABLE users;\n",
      ["migrations/2_index.sql"] = "-- +migrate Up notransaction\n"
        .. "CREATE INDEX CONCURRENTLY users_email ON users (email);\n-- +migrate Down\nDROP INDEX users_email;\n",
      ["migrations/10_touch.sql"] = "-- +migrate Up\n-- +migrate StatementBegin\n"
        .. "CREATE FUNCTION touch() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END; $$;\n"
        .. "-- +migrate StatementEnd\n-- +migrate Down\nDROP FUNCTION touch();\n",
    }, 'return { convention = "sql-migrate" }\n', function(p)
      p:write("dbconfig.yml", "development:\n  dialect: postgres\n  datasource: host=" .. host
        .. " user=postgres dbname=" .. p.name .. " sslmode=disable\n  dir: migrations\n")
      run(p, h.q(bin) .. " up")
      switch(p, { tool = "sql-migrate", table = "gorp_migrations",
        applied = { "1_users.sql", "2_index.sql", "10_touch.sql" },
        new_file = "migrations/11_tags.sql", new_text = "-- +migrate Up\nCREATE TABLE tags (id int);\n" })
    end)
  end)

  it("sqitch", function()
    local bin = tool("command -v sqitch", "sqitch")
    h.with_project({
      ["sqitch.conf"] = "[core]\n\tengine = pg\n",
      ["sqitch.plan"] = "%syntax-version=1.0.0\n%project=demo\n\n"
        .. "users 2024-01-01T00:00:00Z Ann <ann@example.com> # the users\n"
        .. "@v1.0 2024-01-02T00:00:00Z Ann <ann@example.com> # a tag\n"
        .. "posts [users] 2024-01-03T00:00:00Z Ann <ann@example.com> # their posts\n",
      -- sqitch's own templates: each script its own transaction
      ["deploy/users.sql"] = "BEGIN;\nCREATE TABLE users (id int PRIMARY KEY, email text);\nCOMMIT;\n",
      ["revert/users.sql"] = "BEGIN;\nDROP TABLE users;\nCOMMIT;\n",
      ["verify/users.sql"] = "SELECT id FROM users WHERE false;\n",
      ["deploy/posts.sql"] = "BEGIN;\nCREATE TABLE posts (id int, user_id int REFERENCES users);\nCOMMIT;\n",
      ["revert/posts.sql"] = "BEGIN;\nDROP TABLE posts;\nCOMMIT;\n",
    }, 'return { convention = "sqitch" }\n', function(p)
      local env = { PGHOST = host, SQITCH_FULLNAME = "Ann", SQITCH_EMAIL = "ann@example.com", HOME = p.dir }
      run(p, h.q(bin) .. " deploy db:pg://postgres@/" .. p.name, env)
      switch(p, { tool = "sqitch", table = "sqitch.changes",
        applied = { "deploy/users.sql", "deploy/posts.sql" },
        new_file = "deploy/tags.sql", new_name = "deploy/tags.sql", new_text = "CREATE TABLE tags (id int);\n",
        -- a change added to the plan: lumi's up runs it
        add = function()
          p:write("sqitch.plan", h.read(p.dir .. "/sqitch.plan")
            .. "tags [users] 2024-01-04T00:00:00Z Ann <ann@example.com> # tags\n")
        end })
      assert.are.equal("Ann", p:value("SELECT applied_by FROM schema_migrations WHERE file = 'deploy/users.sql'"))
    end)
  end)

  it("knex: its JavaScript migrations rewritten as SQL under the same names", function()
    tool("ls " .. h.q(peers) .. "/.bin/knex 2>/dev/null", "knex")
    h.with_project({
      ["knexfile.js"] = "module.exports = { client: 'pg', connection: process.env.DATABASE_URL, "
        .. "migrations: { directory: './knex' } };\n",
      ["knex/001_users.js"] = "exports.up = (knex) => knex.raw('CREATE TABLE users (id int PRIMARY KEY)');\n"
        .. "exports.down = (knex) => knex.raw('DROP TABLE users');\n",
      ["knex/002_posts.js"] = "exports.up = (knex) => knex.raw('CREATE TABLE posts (id int)');\n"
        .. "exports.down = (knex) => knex.raw('DROP TABLE posts');\n",
      ["migrations/001_users.sql"] = "CREATE TABLE users (id int PRIMARY KEY);\n",
      ["migrations/002_posts.sql"] = "CREATE TABLE posts (id int);\n",
    }, function(p)
      -- knex's CLI wants its module beside the knexfile
      h.sh("ln -s " .. h.q(peers) .. " " .. h.q(p.dir .. "/node_modules"))
      run(p, "./node_modules/.bin/knex migrate:latest",
        { DATABASE_URL = "postgres://postgres@localhost/" .. p.name .. "?host=" .. host })
      switch(p, { tool = "knex", table = "knex_migrations", applied = { "001_users.sql", "002_posts.sql" },
        new_file = "migrations/003_tags.sql", new_text = "CREATE TABLE tags (id int);\n" })
    end)
  end)

  it("alembic: every ancestor of its head, read from the version files (never run)", function()
    local bin = tool("command -v alembic", "alembic")
    local function revision(rev, down, sql)
      return string.format('"""%s"""\nfrom alembic import op\n\nrevision = %q\ndown_revision = %s\n'
        .. 'branch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    op.execute(%q)\n\n\n'
        .. 'def downgrade():\n    pass\n', rev, rev, down, sql)
    end
    h.with_project({
      ["alembic.ini"] = "[alembic]\nscript_location = alembic\n",
      ["alembic/script.py.mako"] = "",
      ["alembic/env.py"] = "from alembic import context\nfrom sqlalchemy import create_engine\n"
        .. "import os\nengine = create_engine(os.environ['ALEMBIC_URL'])\n"
        .. "with engine.connect() as connection:\n    context.configure(connection=connection)\n"
        .. "    with context.begin_transaction():\n        context.run_migrations()\n",
      ["alembic/versions/ae10_users.py"] = revision("ae10", "None", "CREATE TABLE users (id int)"),
      ["alembic/versions/b7f2_posts.py"] = revision("b7f2", "'ae10'", "CREATE TABLE posts (id int)"),
      ["migrations/0001_ae10_users.sql"] = "CREATE TABLE users (id int);\n",
      ["migrations/0002_b7f2_posts.sql"] = "CREATE TABLE posts (id int);\n",
    }, function(p)
      run(p, h.q(bin) .. " upgrade head", { ALEMBIC_URL = "postgresql://postgres@/" .. p.name .. "?host=" .. host })
      switch(p, { tool = "alembic", table = "alembic_version",
        applied = { "0001_ae10_users.sql", "0002_b7f2_posts.sql" },
        new_file = "migrations/0003_c9d1_tags.sql", new_text = "CREATE TABLE tags (id int);\n" })
    end)
  end)

  it("sqitch: a deploy script edited since sqitch deployed it is named (its SHA-1); a last failed deploy is refused",
    function()
      local bin = tool("command -v sqitch", "sqitch")
      h.with_project({
        ["sqitch.conf"] = "[core]\n\tengine = pg\n",
        ["sqitch.plan"] = "%syntax-version=1.0.0\n%project=demo\n\n"
          .. "users 2024-01-01T00:00:00Z Ann <ann@example.com> # the users\n"
          .. "broken 2024-01-02T00:00:00Z Ann <ann@example.com> # fails\n",
        ["deploy/users.sql"] = "CREATE TABLE users (id int);\n",
        ["deploy/broken.sql"] = "CREATE TABLE nowhere.t (id int);\n",
      }, 'return { convention = "sqitch" }\n', function(p)
        local env = { PGHOST = host, SQITCH_FULLNAME = "Ann", SQITCH_EMAIL = "ann@example.com", HOME = p.dir }
        local _, _, code = h.sh("cd " .. h.q(p.dir) .. " && env PGHOST=" .. h.q(host) .. " SQITCH_FULLNAME=Ann "
          .. "SQITCH_EMAIL=ann@example.com HOME=" .. h.q(p.dir) .. " " .. h.q(bin) .. " deploy db:pg://postgres@/"
          .. p.name)
        assert.are_not.equal(0, code)
        local out, err, c2 = p:lumi("adopt --apply")
        assert.are.equal(3, c2, out .. err)
        assert.truthy(err:find("sqitch's last event is a failed deploy of broken", 1, true), err)
        -- fixed and deployed, then edited
        p:write("deploy/broken.sql", "CREATE TABLE t (id int);\n")
        run(p, h.q(bin) .. " deploy db:pg://postgres@/" .. p.name, env)
        p:write("deploy/users.sql", "CREATE TABLE users (id bigint);\n")
        local doc, c3 = p:json("adopt --apply")
        assert.are.equal(0, c3)
        assert.truthy(table.concat(doc.warnings, "\n"):find("sqitch recorded another checksum for deploy/users.sql: "
          .. "edited since sqitch applied it", 1, true), table.concat(doc.warnings, "\n"))
      end)
    end)
end)
