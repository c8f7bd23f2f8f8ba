-- Environments: named overrides in migrate.lua chosen with --env NAME or
-- LUMI_ENV; `protected` refuses destructive commands; `confirm` makes `up`
-- ask for the environment's name on a terminal (or need --yes elsewhere).
local h = require "support.helper"

describe("environments (end to end)", function()
  local url, other_url, dir

  -- the database comes from migrate.lua (DATABASE_URL would override it)
  local function config(extra)
    return string.format([[
return {
  database = %q,
  placeholders = { greeting = "hello from the top" },
  environments = {
    staging = { database = %q, dir = "staging_migrations", placeholders = { greeting = "hello from staging" } },
    production = { protected = true, confirm = true },
    development = { placeholders = { greeting = "hello from development" } },
  },
%s
}
]], url, other_url, extra or "")
  end

  before_each(function()
    url = h.fresh_db()
    other_url = h.fresh_db()
    dir = h.project({
      ["migrations/001_create_users.sql"] = "-- migrate:up\nCREATE TABLE users (id bigserial PRIMARY KEY, email text);\n"
        .. "-- migrate:down\nDROP TABLE users;\n",
      ["migrations/002_greetings.sql"] = "-- migrate:up\nCREATE TABLE greetings (g text);\nINSERT INTO greetings VALUES ('${greeting}');\n"
        .. "-- migrate:down\nDROP TABLE greetings;\n",
      ["staging_migrations/001_staging_only.sql"] = "CREATE TABLE staging_only (id int);\n",
    })
    h.write(dir .. "/migrate.lua", config())
  end)

  local function lumi(args, env) return h.lumi(dir, args, env) end
  local function json(args, env) return h.json(dir, args, env) end

  describe("--env and LUMI_ENV", function()
    it("without an environment the top-level settings apply", function()
      local out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      assert.are.equal("hello from the top", h.value(url, "SELECT g FROM greetings"))
      assert.is_false(h.table_exists(other_url, "schema_migrations"))
    end)

    it("--env NAME applies the environment's database and directory", function()
      local doc, code, err = json("up --env staging")
      assert.are.equal(0, code, err)
      assert.are.same({ "001_staging_only.sql" }, h.files(doc.applied))
      assert.is_true(h.table_exists(other_url, "staging_only"))
      assert.are.same({ "001" }, h.versions(other_url))
      -- the top-level database was not touched
      assert.is_false(h.table_exists(url, "schema_migrations"))
      assert.is_false(h.table_exists(url, "staging_only"))
    end)

    it("-e NAME is --env NAME", function()
      local doc, code, err = json("-e staging status")
      assert.are.equal(0, code, err)
      assert.are.equal("staging_migrations", doc.dir)
      assert.are.same({ "001_staging_only.sql" }, h.files(doc.entries))
    end)

    it("LUMI_ENV selects the environment the same way", function()
      local out, err, code = lumi("up", { LUMI_ENV = "staging" })
      assert.are.equal(0, code, out .. err)
      assert.is_true(h.table_exists(other_url, "staging_only"))
      assert.is_false(h.table_exists(url, "schema_migrations"))
    end)

    it("an environment's placeholders replace the top-level ones", function()
      local out, err, code = lumi("up --env development")
      assert.are.equal(0, code, out .. err)
      assert.are.equal("hello from development", h.value(url, "SELECT g FROM greetings"))
    end)

    it("--env wins over LUMI_ENV", function()
      local out, err, code = lumi("up --env development", { LUMI_ENV = "staging" })
      assert.are.equal(0, code, out .. err)
      assert.are.equal("hello from development", h.value(url, "SELECT g FROM greetings"))
      assert.is_false(h.table_exists(other_url, "schema_migrations"))
    end)

    it("an empty LUMI_ENV means no environment", function()
      local out, err, code = lumi("up", { LUMI_ENV = "" })
      assert.are.equal(0, code, out .. err)
      assert.are.equal("hello from the top", h.value(url, "SELECT g FROM greetings"))
    end)

    it("ctx.env is the environment's name in hooks and Lua migrations", function()
      h.write(dir .. "/migrate.lua", config([[
  after_all = function(ctx) ctx.log("after_all in %s", tostring(ctx.env)) end,
]]))
      h.write(dir .. "/migrations/003_env.lua", [[
return { up = function(ctx) ctx.log("migrating %s", tostring(ctx.env)) end }
]])
      local out, err, code = lumi("up --env development")
      assert.are.equal(0, code, out .. err)
      assert.truthy(h.has(out, "003_env.lua: migrating development"), out)
      assert.truthy(h.has(out, "after_all in development"), out)
    end)

    it("an environment's hooks replace the top-level ones", function()
      h.write(dir .. "/migrate.lua", config([[
  after_all = function(ctx) ctx.log("top-level after_all") end,
]]):gsub("development = {", 'development = { after_all = function(ctx) ctx.log("development after_all") end,'))
      local out, err, code = lumi("up --env development")
      assert.are.equal(0, code, out .. err)
      assert.truthy(h.has(out, "development after_all"), out)
      assert.is_nil(out:find("top-level after_all", 1, true), out)
    end)

    it("an environment's targets = { name = {...} } override that target only", function()
      h.write(dir .. "/migrate.lua", string.format([[
return {
  database = %q,
  targets = {
    { name = "main", dir = "migrations", placeholders = { greeting = "main" } },
    { name = "side", dir = "staging_migrations", table = "side_migrations" },
  },
  environments = {
    staging = { targets = { side = { database = %q } } },
  },
}
]], url, other_url))
      local out, err, code = lumi("up --env staging")
      assert.are.equal(0, code, out .. err)
      assert.are.equal("main", h.value(url, "SELECT g FROM greetings"))
      assert.are.same({ "001" }, h.versions(other_url, "side_migrations"))
      assert.is_false(h.table_exists(url, "side_migrations"))
    end)

    it("an unknown environment exits 2 naming the known ones, and nothing runs", function()
      local out, err, code = lumi("up --env prodution")
      assert.are.equal(2, code, out .. err)
      assert.truthy(h.has(err, 'no environment named "prodution"'), err)
      assert.truthy(h.has(err, "development, production, staging"), err)
      assert.truthy(h.has(err, 'did you mean "production"?'), err)
      assert.is_false(h.table_exists(url, "schema_migrations"))
      out, err, code = lumi("up", { LUMI_ENV = "qa" })
      assert.are.equal(2, code, out .. err)
      assert.truthy(h.has(err, 'no environment named "qa"'), err)
      assert.truthy(h.has(err, "development, production, staging"), err)
    end)

    it("--env with a migrate.lua that has no environments exits 2", function()
      h.write(dir .. "/migrate.lua", string.format("return { database = %q }\n", url))
      local out, err, code = lumi("up --env staging")
      assert.are.equal(2, code, out .. err)
      assert.truthy(h.has(err, 'no environment named "staging"'), err)
      assert.is_false(h.table_exists(url, "schema_migrations"))
    end)

    it("an unknown key inside an environment is an error that names it", function()
      h.write(dir .. "/migrate.lua", string.format(
        "return { database = %q, environments = { staging = { protectd = true } } }\n", url))
      local out, err, code = lumi("up --env staging")
      assert.are.equal(2, code, out .. err)
      assert.truthy(h.has(err, "protectd"), err)
      assert.truthy(h.has(err, 'did you mean "environments.staging.protected"?'), err)
      assert.is_false(h.table_exists(url, "schema_migrations"))
    end)
  end)

  describe("protected", function()
    before_each(function()
      local out, err, code = lumi("up --env production --yes")
      assert.are.equal(0, code, out .. err)
      assert.are.same({ "001", "002" }, h.versions(url))
    end)

    it("refuses `down`: exit 2, nothing changes", function()
      local out, err, code = lumi("down --env production")
      assert.are.equal(2, code, out .. err)
      assert.truthy(h.has(err, "environment production is protected"), err)
      assert.truthy(h.has(err, "lumi down"), err)
      assert.are.same({ "001", "002" }, h.versions(url))
      assert.is_true(h.table_exists(url, "greetings"))
    end)

    it("refuses `fresh` even with --force: exit 2, nothing changes", function()
      local out, err, code = lumi("fresh --force --env production")
      assert.are.equal(2, code, out .. err)
      assert.truthy(h.has(err, "environment production is protected"), err)
      assert.truthy(h.has(err, "lumi fresh"), err)
      assert.are.same({ "001", "002" }, h.versions(url))
      assert.are.equal(1, h.count(url, "greetings"))
    end)

    it("refuses `redo`, also when chosen through LUMI_ENV", function()
      local out, err, code = lumi("redo", { LUMI_ENV = "production" })
      assert.are.equal(2, code, out .. err)
      assert.truthy(h.has(err, "environment production is protected"), err)
      out, err, code = lumi("down --all", { LUMI_ENV = "production" })
      assert.are.equal(2, code, out .. err)
      assert.are.same({ "001", "002" }, h.versions(url))
      assert.are.same({ "applied", "applied" }, h.events(url))
    end)

    it("the same database without the environment is not protected", function()
      local out, err, code = lumi("down")
      assert.are.equal(0, code, out .. err)
      assert.are.same({ "001" }, h.versions(url))
    end)
  end)

  describe("confirm", function()
    it("`up` without a terminal exits 2 and applies nothing unless --yes", function()
      local out, err, code = lumi("up --env production")
      assert.are.equal(2, code, out .. err)
      assert.truthy(h.has(err, "environment production asks for confirmation"), err)
      assert.truthy(h.has(err, "--yes"), err)
      assert.is_false(h.table_exists(url, "users"))
      assert.is_false(h.table_exists(url, "schema_migrations") and h.count(url, "schema_migrations") > 0)
      out, err, code = lumi("up --env production --yes")
      assert.are.equal(0, code, out .. err)
      assert.are.same({ "001", "002" }, h.versions(url))
    end)

    it("--dry-run needs no confirmation and changes nothing", function()
      local doc, code, err = json("up --dry-run --env production")
      assert.are.equal(0, code, err)
      assert.is_true(doc.dry_run)
      assert.are.same({ "001_create_users.sql", "002_greetings.sql" }, h.files(doc.applied))
      assert.is_false(h.table_exists(url, "users"))
    end)

    it("`status` needs no confirmation", function()
      local out, err, code = lumi("status --env production")
      assert.are.equal(0, code, out .. err)
    end)

    it("on a terminal, typing the environment's name applies", function()
      local out, _, code = h.lumi_tty(dir, "up --env production", nil, "production\n")
      assert.are.equal(0, code, out)
      assert.truthy(h.has(out, "Type production to go on"), out)
      assert.truthy(h.has(out, "applied"), out)
      assert.are.same({ "001", "002" }, h.versions(url))
    end)

    it("on a terminal, typing something else applies nothing and exits 2", function()
      local out, _, code = h.lumi_tty(dir, "up --env production", nil, "yes\n")
      assert.are.equal(2, code, out)
      assert.truthy(h.has(out, "Type production to go on"), out)
      assert.truthy(h.has(out, "not confirmed; nothing was changed"), out)
      assert.is_false(h.table_exists(url, "users"))
      assert.is_false(h.table_exists(url, "schema_migrations") and h.count(url, "schema_migrations") > 0)
    end)

    it("on a terminal, no answer at all (end of input) applies nothing", function()
      local out, _, code = h.lumi_tty(dir, "up --env production", nil, "")
      assert.are_not.equal(0, code, out)
      assert.is_false(h.table_exists(url, "users"))
    end)

    it("on a terminal, --yes applies without asking", function()
      local out, _, code = h.lumi_tty(dir, "up --env production --yes", nil, "")
      assert.are.equal(0, code, out)
      assert.is_nil(out:find("Type production", 1, true), out)
      assert.are.same({ "001", "002" }, h.versions(url))
    end)

    it("an environment without confirm does not ask", function()
      local out, err, code = lumi("up --env development")
      assert.are.equal(0, code, out .. err)
      assert.are.same({ "001", "002" }, h.versions(url))
    end)
  end)
end)
