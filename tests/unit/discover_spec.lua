-- Discovery: files and directories on disk -> migrations, for every layout.
local h = require "support.helper"
local discover = require "lumi.discover"
local naming = require "lumi.naming"

local scheme = naming.sequential()

-- discover + finish on a fresh directory holding `files`
local function scan(files, identity, s)
  local dir = h.project(files)
  local found = discover.finish(discover.default(dir .. "/migrations", s or scheme), s or scheme, identity)
  return found, dir .. "/migrations"
end

local function by_file(list)
  local t = {}
  for _, x in ipairs(list) do t[x.file] = x end
  return t
end

describe("discover.classify", function()
  it("splits a file name into stem and role", function()
    assert.are.same({ "001_a", "single" }, { discover.classify("001_a.sql") })
    assert.are.same({ "001_a", "up" }, { discover.classify("001_a.up.sql") })
    assert.are.same({ "001_a", "down" }, { discover.classify("001_a.down.sql") })
    assert.are.same({ "2025-10-20_0001_x", "single" }, { discover.classify("2025-10-20_0001_x.sql") })
  end)

  it("says 'not a .sql or .lua file' for anything else (this reason moved here from the schemes)", function()
    assert.are.same({ nil, "not a .sql or .lua file" }, { discover.classify("001_create_users.txt") })
    assert.are.same({ nil, "not a .sql or .lua file" }, { discover.classify("README") })
    assert.are.same({ "003_backfill", "lua" }, { discover.classify("003_backfill.lua") })
  end)
end)

describe("discover.default", function()
  it("finds one-file migrations (with or without sections)", function()
    local found, dir = scan({
      ["migrations/001_a.sql"] = "SELECT 1;\n",
      ["migrations/002_b.sql"] = "-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 2;\n",
    })
    assert.are.equal(2, #found.migrations)
    local a, b = found.migrations[1], found.migrations[2]
    assert.are.same({ "001", "a", "001_a", "001_a.sql", dir .. "/001_a.sql", "file" },
      { a.version, a.name, a.stem, a.file, a.path, a.layout })
    assert.is_nil(a.down_path)
    assert.are.equal("file", b.layout)
    assert.are.same({}, found.ignored)
    assert.are.same({}, found.duplicates)
  end)

  it("pairs NNN_x.up.sql with NNN_x.down.sql", function()
    local found, dir = scan({
      ["migrations/001_a.up.sql"] = "CREATE TABLE a (id int);\n",
      ["migrations/001_a.down.sql"] = "DROP TABLE a;\n",
      ["migrations/002_b.up.sql"] = "CREATE TABLE b (id int);\n",
    })
    assert.are.equal(2, #found.migrations)
    local a, b = found.migrations[1], found.migrations[2]
    assert.are.same({ "001", "a", "001_a", "001_a.up.sql", "pair" }, { a.version, a.name, a.stem, a.file, a.layout })
    assert.are.equal(dir .. "/001_a.down.sql", a.down_path)
    assert.are.equal("002_b.up.sql", b.file)
    assert.is_nil(b.down_path)
    assert.are.same({}, found.ignored)
  end)

  it("finds directories NNN_x/up.sql (+ down.sql)", function()
    local found, dir = scan({
      ["migrations/001_a/up.sql"] = "CREATE TABLE a (id int);\n",
      ["migrations/001_a/down.sql"] = "DROP TABLE a;\n",
      ["migrations/002_b/up.sql"] = "CREATE TABLE b (id int);\n",
      ["migrations/003_c/notes.txt"] = "no up.sql here\n",
    })
    assert.are.equal(2, #found.migrations)
    local a, b = found.migrations[1], found.migrations[2]
    assert.are.same({ "001", "a", "001_a", "001_a/up.sql", dir .. "/001_a/up.sql", "directory" },
      { a.version, a.name, a.stem, a.file, a.path, a.layout })
    assert.are.equal(dir .. "/001_a/down.sql", a.down_path)
    assert.is_nil(b.down_path)
    assert.are.same({ { file = "003_c/", reason = "a directory without up.sql" } }, found.ignored)
  end)

  it("mixes layouts in one directory, in version order", function()
    local found = scan({
      ["migrations/001_a.sql"] = "SELECT 1;\n",
      ["migrations/002_b.up.sql"] = "SELECT 1;\n",
      ["migrations/002_b.down.sql"] = "SELECT 1;\n",
      ["migrations/003_c/up.sql"] = "SELECT 1;\n",
      ["migrations/10_d.sql"] = "-- migrate:up\nSELECT 1;\n",
      ["migrations/9_e.up.sql"] = "SELECT 1;\n",
    })
    local files, layouts = {}, {}
    for i, m in ipairs(found.migrations) do files[i], layouts[i] = m.file, m.layout end
    assert.are.same({ "001_a.sql", "002_b.up.sql", "003_c/up.sql", "9_e.up.sql", "10_d.sql" }, files)
    assert.are.same({ "file", "pair", "directory", "pair", "file" }, layouts)
  end)

  it("ignores a .down.sql without its .up.sql, with a reason", function()
    local found = scan({
      ["migrations/001_a.sql"] = "SELECT 1;\n",
      ["migrations/002_b.down.sql"] = "DROP TABLE b;\n",
    })
    assert.are.equal(1, #found.migrations)
    assert.are.same({ { file = "002_b.down.sql", reason = "a down migration without 002_b.up.sql" } }, found.ignored)
  end)

  it("gives the reasons of the layout and of the scheme for what it ignores", function()
    local found = scan({
      ["migrations/001_a.sql"] = "SELECT 1;\n",
      ["migrations/notes.txt"] = "x\n",
      ["migrations/003.sql"] = "SELECT 1;\n",
      ["migrations/004_.up.sql"] = "SELECT 1;\n",
      ["migrations/add_x.sql"] = "SELECT 1;\n",
      ["migrations/misc/readme.md"] = "x\n",
      ["migrations/.hidden.sql"] = "SELECT 1;\n",
    })
    local r = {}
    for _, ig in ipairs(found.ignored) do r[ig.file] = ig.reason end
    assert.are.same({
      ["notes.txt"] = "not a .sql or .lua file",
      ["003.sql"] = "no name after the version (expected NNN_name)",
      ["004_.up.sql"] = "no name after the version (expected NNN_name)",
      ["add_x.sql"] = "does not start with a version number (expected NNN_name)",
      ["misc"] = "a directory: does not start with a version number (expected NNN_name)",
    }, r)
  end)

  it("hands the scheme stems, so a dated or timestamp stem works in every layout", function()
    local found = scan({
      ["migrations/2025-10-20_0001_a.sql"] = "SELECT 1;\n",
      ["migrations/2025-10-20_0002_b.up.sql"] = "SELECT 1;\n",
      ["migrations/2025-10-20_0002_b.down.sql"] = "SELECT 1;\n",
      ["migrations/2025-10-21_0001_c/up.sql"] = "SELECT 1;\n",
    }, nil, naming.dated())
    local got = {}
    for i, m in ipairs(found.migrations) do got[i] = m.version .. " " .. m.name end
    assert.are.same({ "2025-10-20_0001 a", "2025-10-20_0002 b", "2025-10-21_0001 c" }, got)
    assert.are.same({}, found.ignored)
  end)

  it("raises a config error when the directory does not exist", function()
    local ok, e = pcall(discover.default, h.tmpdir() .. "/nope", scheme)
    assert.is_false(ok)
    assert.are.equal("config", e.kind)
    assert.truthy(e.message:find("cannot read the migrations directory", 1, true), e.message)
  end)
end)

describe("discover.finish", function()
  it("sets key and id: for identity \"version\" the id is scheme.key(version)", function()
    local found = scan({ ["migrations/007_a.sql"] = "SELECT 1;\n", ["migrations/10_b.up.sql"] = "SELECT 1;\n" })
    local m = by_file(found.migrations)
    assert.are.equal("7", m["007_a.sql"].key)
    assert.are.equal("7", m["007_a.sql"].id)
    assert.are.equal("10", m["10_b.up.sql"].id)
  end)

  it("for identity \"file\" the id is the file, for \"stem\" the stem", function()
    local files = { ["migrations/001_a.sql"] = "SELECT 1;\n", ["migrations/002_b/up.sql"] = "SELECT 1;\n" }
    local m = by_file(scan(files, "file").migrations)
    assert.are.equal("001_a.sql", m["001_a.sql"].id)
    assert.are.equal("002_b/up.sql", m["002_b/up.sql"].id)
    m = by_file(scan(files, "stem").migrations)
    assert.are.equal("001_a", m["001_a.sql"].id)
    assert.are.equal("002_b", m["002_b/up.sql"].id)
  end)

  it("reports files sharing a version as duplicates (identity \"version\"), keeping the first", function()
    local found = scan({ ["migrations/001_a.sql"] = "SELECT 1;\n", ["migrations/1_b.up.sql"] = "SELECT 1;\n" })
    assert.are.equal(1, #found.duplicates)
    assert.are.equal("1", found.duplicates[1].key)
    assert.are.same({ "001_a.sql", "1_b.up.sql" }, found.duplicates[1].files)
    assert.are.equal(1, #found.migrations)
  end)

  it("the same stem as a file and as a directory is a duplicate, not two migrations", function()
    local found = scan({ ["migrations/001_a.sql"] = "SELECT 1;\n", ["migrations/001_a/up.sql"] = "SELECT 1;\n" }, "stem")
    assert.are.equal(1, #found.duplicates)
    assert.are.equal(1, #found.migrations)
  end)

  it("with identity \"file\", two files sharing a number are two migrations", function()
    local found = scan({ ["migrations/001_a.sql"] = "SELECT 1;\n", ["migrations/001_b.sql"] = "SELECT 1;\n" }, "file")
    assert.are.same({}, found.duplicates)
    assert.are.equal(2, #found.migrations)
    assert.are.same({ "001_a.sql", "001_b.sql" }, { found.migrations[1].file, found.migrations[2].file })
  end)
end)

describe("discover.ignorer and the ignore setting", function()
  it("patterns: * within a name, ? one character, ** across directories; other characters as they are", function()
    local ignore = discover.ignorer({ "README.md", "*.txt", "seed_??.sql", "data/**" })
    assert.is_true(ignore("README.md"))
    assert.is_true(ignore("notes.txt"))
    assert.is_true(ignore("seed_01.sql"))
    assert.is_true(ignore("data/x/y.sql"))
    assert.is_true(ignore("data/"))
    assert.is_false(ignore("README_md"))
    assert.is_false(ignore("seed_001.sql"))
    assert.is_false(ignore("001_a.sql"))
    assert.is_false(ignore("sub/notes.txt"))
  end)

  it("a function says itself; without a setting nothing is ignored", function()
    assert.is_true(discover.ignorer(function(f) return f:match("^x") end)("x.sql"))
    assert.is_false(discover.ignorer(function(f) return f:match("^x") end)("y.sql"))
    assert.is_nil(discover.ignorer(nil))
  end)

  it("finish: a file the setting names is neither a migration nor misnamed", function()
    local dir = h.project({ ["migrations/001_a.sql"] = "SELECT 1;\n", ["migrations/seed_data.sql"] = "SELECT 1;\n",
                            ["migrations/000_fixture.sql"] = "SELECT 1;\n" })
    local found = discover.finish(discover.default(dir .. "/migrations", scheme), scheme, "version",
      discover.ignorer({ "seed_data.sql", "000_*" }))
    assert.are.same({ "001_a.sql" }, { found.migrations[1].file, found.migrations[2] and found.migrations[2].file })
    local why = {}
    for _, ig in ipairs(found.ignored) do why[ig.file] = discover.misnamed(ig) end
    assert.are.same({ ["seed_data.sql"] = false, ["000_fixture.sql"] = false }, why)
    -- without the setting, the data file is a misnamed migration
    local plain = discover.finish(discover.default(dir .. "/migrations", scheme), scheme, "version")
    assert.is_true(discover.misnamed(plain.ignored[1]))
  end)
end)

describe("discover.default and the naming scheme's fields", function()
  it("copies what parse returns besides version and name onto the migration", function()
    local custom = require("lumi.naming").resolve({
      parse = function(stem)
        local v, name = stem:match("^(%d+)_(.+)$")
        if not v then return nil, "no" end
        local m = { version = v, name = name }
        if name:match("_concurrently$") then m.transaction = false end
        return m
      end,
      compare = function(a, b) return tonumber(a) < tonumber(b) end,
      next = function() return "x" end,
    })
    local dir = h.project({ ["migrations/001_a.sql"] = "SELECT 1;\n", ["migrations/002_b_concurrently.sql"] = "SELECT 1;\n" })
    local found = discover.default(dir .. "/migrations", custom)
    assert.is_nil(found.migrations[1].transaction)
    assert.is_false(found.migrations[2].transaction)
  end)
end)
