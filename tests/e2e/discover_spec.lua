-- A custom `discover` function in migrate.lua: migrations laid out in a way
-- no built-in layout knows (one folder per year), with the built-in
-- naming scheme and everything else unchanged.
local h = require "support.helper"

describe("discover in migrate.lua (end to end)", function()
  it("finds migrations in year folders and applies, tracks and reverts them", function()
    local url = h.fresh_db()
    local dir = h.project({
      ["migrate.lua"] = [[
local fs = require "lumi.fs"
return {
  discover = function(dir, scheme)
    local found = { migrations = {}, ignored = {} }
    for _, year in ipairs(fs.list(dir)) do
      for _, file in ipairs(fs.list(dir .. "/" .. year) or {}) do
        local stem, role = require("lumi.discover").classify(file)
        local parsed, why = stem and scheme.parse(stem)
        if parsed and role == "up" then
          local down = dir .. "/" .. year .. "/" .. stem .. ".down.sql"
          table.insert(found.migrations, { version = parsed.version, name = parsed.name, stem = stem,
            file = year .. "/" .. file, layout = "pair", down_path = fs.kind(down) and down or nil })
        elseif role ~= "down" then
          table.insert(found.ignored, { file = year .. "/" .. file, reason = why or role })
        end
      end
    end
    return found
  end,
}
]],
      ["migrations/2024/001_users.up.sql"] = "CREATE TABLE users (id int);\n",
      ["migrations/2024/001_users.down.sql"] = "DROP TABLE users;\n",
      ["migrations/2025/002_posts.up.sql"] = "CREATE TABLE posts (id int);\n",
      ["migrations/2025/002_posts.down.sql"] = "DROP TABLE posts;\n",
      ["migrations/2025/notes.txt"] = "not a migration\n",
    })
    local env = { DATABASE_URL = url }
    local list, code, err = h.json(dir, "list", env)
    assert.are.equal(0, code, err)
    assert.are.same({ "2024/001_users.up.sql", "2025/002_posts.up.sql" }, h.files(list.migrations))
    assert.are.same({ { file = "2025/notes.txt", reason = "not a .sql or .lua file" } }, list.ignored)
    local out
    out, err, code = h.lumi(dir, "up", env)
    assert.are.equal(0, code, err)
    assert.are.same({ "001", "002" }, h.versions(url))
    assert.is_true(h.table_exists(url, "posts"))
    out, err, code = h.lumi(dir, "down", env)
    assert.are.equal(0, code, err)
    assert.is_false(h.table_exists(url, "posts"))
    assert.are.same({ "001" }, h.versions(url))
  end)
end)

describe("a custom naming scheme in migrate.lua (the README's Flyway example)", function()
  it("lists, applies and numbers V<n>__<name>.sql files exactly as the README shows", function()
    local readme = h.read(h.root .. "/README.md")
    local block = readme:match("```lua\n(%-%- migrate%.lua\nlocal flyway = {.-)```")
    assert.truthy(block, "the Flyway example is no longer in the README")
    local url = h.fresh_db()
    local dir = h.project({
      ["migrate.lua"] = block,
      ["migrations/V1__a.sql"] = "CREATE TABLE a (id int);\n",
      ["migrations/V2__b.sql"] = "CREATE TABLE b (id int);\n",
      ["migrations/V10__c.sql"] = "CREATE TABLE c (id int);\n",
    })
    local env = { DATABASE_URL = url }
    local up, code, err = h.json(dir, "up", env)
    assert.are.equal(0, code, err)
    assert.are.same({ "V1__a.sql", "V2__b.sql", "V10__c.sql" }, h.files(up.applied))
    assert.are.same({ "1", "10", "2" }, h.versions(url))
    local out
    out, err, code = h.lumi(dir, "new add d", env)
    assert.are.equal(0, code, err)
    assert.truthy(out:find("migrations/V11__add_d.sql", 1, true), out)
  end)

  it("honours Diesel's metadata.toml (run_in_transaction = false) in a few lines, reading the files where they are", function()
    -- the README's example, as it stands there
    local settings = [==[
local discover, fs = require "lumi.discover", require "lumi.fs"
local diesel = {                                     -- 2024-01-31-120000_create_users
  name = "diesel",
  parse = function(stem)
    local v, name = stem:match("^([%d%-]+)_(.+)$")
    if not v then return nil, "not named <version>_<name>" end
    return { version = v:gsub("%-", ""), name = name }
  end,
  compare = function(a, b) return a < b end,
  next = function(_, name) return os.date("!%Y-%m-%d-%H%M%S_") .. name end,
}
return {
  naming = diesel,
  ignore = { "*.sql", "*.toml" },                    -- files beside the directories
  discover = function(dir, scheme)
    local found = discover.default(dir, scheme)
    for _, m in ipairs(found.migrations) do
      local meta = fs.read(dir .. "/" .. m.stem .. "/metadata.toml") or ""
      if meta:match("run_in_transaction%s*=%s*false") then
        m.transaction, m.down_transaction = false, false
      end
    end
    return found
  end,
}
]==]
    h.with_project({
      ["migrations/2024-01-31-120000_create_users/up.sql"] = "CREATE TABLE users (id int, email text);\n",
      ["migrations/2024-01-31-120000_create_users/down.sql"] = "DROP TABLE users;\n",
      ["migrations/2024-02-01-090000_index_email/up.sql"] = "CREATE INDEX CONCURRENTLY users_email ON users (email);\n",
      ["migrations/2024-02-01-090000_index_email/down.sql"] = "DROP INDEX CONCURRENTLY users_email;\n",
      ["migrations/2024-02-01-090000_index_email/metadata.toml"] = "run_in_transaction = false\n",
      ["migrations/schema.sql"] = "-- a dump beside the migrations, not one of them\n",
      ["migrations/diesel.toml"] = "[print_schema]\n",
    }, settings, function(p)
      local doc, code, err = p:json("up")
      assert.are.equal(0, code, err)
      assert.are.same({}, doc.warnings)
      assert.are.equal(2, #doc.applied)
      assert.is_true(p:value("SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email'::regclass"))
      -- the checksum recorded is of the file as it is, where it is
      assert.are.equal(h.sha256sum(p:path("migrations/2024-02-01-090000_index_email/up.sql")),
        p:value("SELECT checksum FROM schema_migrations WHERE version = '20240201090000'"))
      doc, code, err = p:json("down")
      assert.are.equal(0, code, err)
      assert.are.equal("2024-02-01-090000_index_email/down.sql", doc.reverted[1].file)
      assert.is_false(h.table_exists(p.url, "users_email"))
      local _, verr, vcode = p:lumi("validate")
      assert.are.equal(0, vcode, verr)
    end)
  end)
end)
