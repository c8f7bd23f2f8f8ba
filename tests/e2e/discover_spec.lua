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
    local out, err, code = h.lumi(dir, "list", env)
    assert.are.equal(0, code, err)
    assert.truthy(out:find("2024/001_users.up.sql", 1, true), out)
    assert.truthy(out:find("2025/notes.txt  — not a .sql or .lua file", 1, true), out)
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
    local out, err, code = h.lumi(dir, "up", env)
    assert.are.equal(0, code, err)
    assert.truthy(out:find("V2__b.sql", 1, true) < out:find("V10__c.sql", 1, true), out)
    assert.are.same({ "1", "10", "2" }, h.versions(url))
    out, err, code = h.lumi(dir, "new add d", env)
    assert.are.equal(0, code, err)
    assert.truthy(out:find("migrations/V11__add_d.sql", 1, true), out)
  end)
end)
