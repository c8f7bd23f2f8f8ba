-- convention = "<tool>": another tool's directory read as that tool reads
-- it, and run by lumi: what `lumi list --json` finds (valid and invalid
-- names), and a round trip up / down --all that leaves the schema as it was.
local h = require "support.helper"

local cases = {
  dbmate = {
    files = {
      ["db/migrations/20240101120000_create_users.sql"] =
        "-- migrate:up\nCREATE TABLE users (id int PRIMARY KEY, email text);\n-- migrate:down\nDROP TABLE users;\n",
      ["db/migrations/20240102120000_index_email.sql"] =
        "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n"
        .. "-- migrate:down\nDROP INDEX users_email;\n",
      ["db/migrations/20240103120000_posts.sql"] =
        "-- migrate:up\nCREATE TABLE posts (id int, user_id int REFERENCES users);\n-- migrate:down\nDROP TABLE posts;\n",
      ["db/migrations/notes.sql"] = "-- not a migration: no version\n",
    },
    versions = { "20240101120000", "20240102120000", "20240103120000" },
    misnamed = { "notes.sql" },
    scheme = "dbmate",
    table = "lumi_migrations",
    new = "^%d%d%d%d%d%d%d%d%d%d%d%d%d%d_add_tags%.sql$",
    new_dir = "db/migrations",
  },
  ["golang-migrate"] = {
    files = {
      ["migrations/1_create_users.up.sql"] = "CREATE TABLE users (id int PRIMARY KEY, email text);\n",
      ["migrations/1_create_users.down.sql"] = "DROP TABLE users;\n",
      ["migrations/2_index_email.up.sql"] =
        "-- lumi: no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n",
      ["migrations/2_index_email.down.sql"] = "DROP INDEX users_email;\n",
      ["migrations/10_posts.up.sql"] = "CREATE TABLE posts (id int, user_id int REFERENCES users);\n",
      ["migrations/10_posts.down.sql"] = "DROP TABLE posts;\n",
      ["migrations/atlas.sum"] = "h1:whatever=\n",
      ["migrations/x_bad.up.sql"] = "SELECT 1;\n",
    },
    -- numeric order: 10 after 2
    versions = { "1", "2", "10" },
    misnamed = { "x_bad.up.sql" },
    scheme = "sequential",
    table = "lumi_migrations",
    new = "^000011_add_tags%.up%.sql$",
    new_dir = "migrations",
  },
}

cases.goose = {
  files = {
    ["migrations/00001_create_users.sql"] =
      "-- +goose Up\nCREATE TABLE users (id int PRIMARY KEY, email text);\n-- +goose Down\nDROP TABLE users;\n",
    ["migrations/00002_index_email.sql"] = "-- +goose NO TRANSACTION\n-- +goose Up\n"
      .. "CREATE INDEX CONCURRENTLY users_email ON users (email);\n-- +goose Down\nDROP INDEX users_email;\n",
    ["migrations/00003_touch.sql"] = "-- +goose Up\n-- +goose StatementBegin\n"
      .. "CREATE FUNCTION touch() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END; $$;\n"
      .. "-- +goose StatementEnd\n-- +goose Down\nDROP FUNCTION touch();\n",
    ["migrations/abc_bad.sql"] = "SELECT 1;\n",
  },
  versions = { "00001", "00002", "00003" },
  misnamed = { "abc_bad.sql" },
  scheme = "sequential",
  new = "^00004_add_tags%.sql$",
  new_dir = "migrations",
}
cases["sql-migrate"] = {
  files = {
    ["migrations/1_create_users.sql"] =
      "-- +migrate Up\nCREATE TABLE users (id int PRIMARY KEY, email text);\n-- +migrate Down\nDROP TABLE users;\n",
    ["migrations/2_index_email.sql"] = "-- +migrate Up notransaction\n"
      .. "CREATE INDEX CONCURRENTLY users_email ON users (email);\n-- +migrate Down\nDROP INDEX users_email;\n",
    ["migrations/10_posts.sql"] = "-- +migrate Up\n-- +migrate StatementBegin\nCREATE TABLE posts (id int);\n"
      .. "-- +migrate StatementEnd\n-- +migrate Down\nDROP TABLE posts;\n",
    ["migrations/init_bad.sql"] = "SELECT 1;\n",
  },
  versions = { "1", "2", "10" },
  misnamed = { "init_bad.sql" },
  scheme = "sequential",
  new = "^011_add_tags%.sql$",
  new_dir = "migrations",
}
cases.diesel = {
  files = {
    ["migrations/2024-01-31-120000_create_users/up.sql"] = "CREATE TABLE users (id int PRIMARY KEY, email text);\n",
    ["migrations/2024-01-31-120000_create_users/down.sql"] = "DROP TABLE users;\n",
    ["migrations/2024-02-01-090000_index_email/up.sql"] = "CREATE INDEX CONCURRENTLY users_email ON users (email);\n",
    ["migrations/2024-02-01-090000_index_email/down.sql"] = "DROP INDEX users_email;\n",
    ["migrations/2024-02-01-090000_index_email/metadata.toml"] = "run_in_transaction = false\n",
    ["migrations/2024-03-01-000000_posts/up.sql"] = "CREATE TABLE posts (id int);\n",
    ["migrations/2024-03-01-000000_posts/down.sql"] = "DROP TABLE posts;\n",
    ["migrations/schema.sql"] = "-- a dump beside the migrations\n",
    ["migrations/diesel.toml"] = "[print_schema]\n",
    ["migrations/bad/up.sql"] = "SELECT 1;\n",
  },
  versions = { "20240131120000", "20240201090000", "20240301000000" },
  misnamed = { "bad" },
  scheme = "diesel",
  new = "^%d%d%d%d%-%d%d%-%d%d%-%d%d%d%d%d%d_add_tags$",
  new_dir = "migrations",
}

cases.sqlx = {
  files = {
    ["migrations/20240101120000_create_users.up.sql"] = "CREATE TABLE users (id int PRIMARY KEY, email text);\n",
    ["migrations/20240101120000_create_users.down.sql"] = "DROP TABLE users;\n",
    ["migrations/20240102120000_index_email.up.sql"] =
      "-- no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n",
    ["migrations/20240102120000_index_email.down.sql"] = "DROP INDEX users_email;\n",
    ["migrations/20240103120000_posts.up.sql"] = "CREATE TABLE posts (id int);\n",
    ["migrations/20240103120000_posts.down.sql"] = "DROP TABLE posts;\n",
    ["migrations/readme_bad.sql"] = "SELECT 1;\n",
  },
  versions = { "20240101120000", "20240102120000", "20240103120000" },
  misnamed = { "readme_bad.sql" },
  scheme = "sqlx",
  new = "^%d%d%d%d%d%d%d%d%d%d%d%d%d%d_add_tags%.sql$",
  new_dir = "migrations",
}
cases.prisma = {
  files = {
    ["prisma/migrations/20240101120000_create_users/migration.sql"] = "CREATE TABLE users (id int PRIMARY KEY, email text);\n",
    ["prisma/migrations/20240102120000_posts/migration.sql"] = "CREATE TABLE posts (id int);\n",
    ["prisma/migrations/20240103120000_index_email/migration.sql"] = "CREATE INDEX users_email ON users (email);\n",
    ["prisma/migrations/migration_lock.toml"] = "provider = \"postgresql\"\n",
    ["prisma/migrations/bad_dir/migration.sql"] = "SELECT 1;\n",
  },
  versions = { "20240101120000", "20240102120000", "20240103120000" },
  misnamed = { "bad_dir" },
  scheme = "prisma",
  no_down = true,
}

cases.sqitch = {
  files = {
    ["sqitch.plan"] = "%syntax-version=1.0.0\n%project=demo\n\n"
      .. "users 2024-01-01T00:00:00Z Ann <ann@example.com> # the users\n"
      .. "posts [users] 2024-01-02T00:00:00Z Ann <ann@example.com> # their posts\n"
      .. "@v1.0 2024-01-03T00:00:00Z Ann <ann@example.com> # a tag\n"
      .. "index_email [users] 2024-01-04T00:00:00Z Ann <ann@example.com> # an index\n",
    ["deploy/users.sql"] = "CREATE TABLE users (id int PRIMARY KEY, email text);\n",
    ["revert/users.sql"] = "DROP TABLE users;\n",
    ["verify/users.sql"] = "SELECT id FROM users WHERE false;\n",
    ["deploy/posts.sql"] = "CREATE TABLE posts (id int, user_id int REFERENCES users);\n",
    ["revert/posts.sql"] = "DROP TABLE posts;\n",
    ["deploy/index_email.sql"] = "-- lumi: no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n",
    ["revert/index_email.sql"] = "DROP INDEX users_email;\n",
  },
  -- the plan's order, not the names'
  versions = { "0001", "0002", "0003" },
  misnamed = {},
  scheme = "sqitch",
}

for tool, c in pairs(cases) do
  describe("convention = \"" .. tool .. "\"", function()
    it("finds the migrations as " .. tool .. " does, in its order, and names what is misnamed", function()
      h.with_project(c.files, string.format("return { convention = %q }\n", tool), function(p)
        local doc, code = p:json("list")
        assert.are.equal(0, code)
        assert.are.equal(c.scheme, doc.scheme)
        local versions = {}
        for i, m in ipairs(doc.migrations) do versions[i] = m.version end
        assert.are.same(c.versions, versions)
        local ignored = {}
        for _, ig in ipairs(doc.ignored) do ignored[ig.file] = true end
        for _, f in ipairs(c.misnamed) do assert.is_true(ignored[f], f .. " is not among the ignored") end
        local out, err, vcode = p:lumi("validate")
        assert.are.equal(#c.misnamed > 0 and 3 or 0, vcode, out .. err)
        if c.misnamed[1] then assert.truthy(err:find(c.misnamed[1], 1, true), err) end
      end)
    end)

    it("applies, reverts everything back to the schema it found, and creates the next file the tool's way", function()
      local files = {}
      for k, v in pairs(c.files) do if not k:find("bad") and not k:find("notes") then files[k] = v end end
      h.with_project(files, string.format("return { convention = %q }\n", tool), function(p)
        local tbl = c.table or "schema_migrations"
        local tables = { tbl, tbl .. "_log" }
        local before = h.schema_dump(p.url, tables)
        local doc, code = p:json("up")
        assert.are.equal(0, code)
        assert.are.equal(#c.versions, #doc.applied)
        assert.is_true(p:value("SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email'::regclass"))
        assert.are.equal(#c.versions, tonumber(p:value("SELECT count(*) FROM " .. tbl)))
        if c.no_down then return end          -- the tool has no down migrations
        local _, dcode = p:json("down --all")
        assert.are.equal(0, dcode)
        assert.are.equal(before, h.schema_dump(p.url, tables))
        if not c.new then return end         -- the tool's own command adds migrations
        local out, err, ncode = p:lumi("new add_tags")
        assert.are.equal(0, ncode, out .. err)
        local made
        for f in h.sh("ls " .. h.q(p.dir .. "/" .. c.new_dir)):gmatch("[^\n]+") do
          if f:find("add_tags", 1, true) and not f:find("down", 1, true) then made = f end
        end
        assert.truthy(made and made:match(c.new), tostring(made))
      end)
    end)
  end)
end

describe("convention", function()
  it("an unknown one is a config error naming the known ones", function()
    h.with_project({}, 'return { convention = "dbmat" }\n', function(p)
      local out, err, code = p:lumi("list")
      assert.are.equal(2, code, out .. err)
      assert.truthy(err:find('key "convention" is not a convention lumi knows (known: dbmate, diesel, flyway, golang-migrate, goose, node-pg-migrate, prisma, sql-migrate, sqitch, sqlx), got "dbmat"',
        1, true), err)
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
