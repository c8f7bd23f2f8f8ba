local h = require "support.helper"
local cjson = require "cjson"

describe("lumi list (end to end)", function()
  local dir
  before_each(function()
    dir = h.project({
      ["migrations/10_c.sql"] = "SELECT 1;\n",
      ["migrations/9_b.sql"] = "SELECT 1;\n",
      ["migrations/001_a.sql"] = "SELECT 1;\n",
      ["migrations/notes.txt"] = "notes\n",
      ["migrations/003.sql"] = "SELECT 1;\n",
      ["migrations/add_things.sql"] = "SELECT 1;\n",
      ["migrations/subdir/x.sql"] = "SELECT 1;\n",
      ["migrations/.hidden.sql"] = "SELECT 1;\n",
    })
  end)

  it("lists files in version order, without a database", function()
    local out, err, code = h.lumi(dir, "list", { DATABASE_URL = "postgresql:///nodb?host=/nonexistent" })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("Migrations in migrations (naming: sequential)", 1, true), out)
    local a = out:find("001_a.sql", 1, true)
    local b = out:find("9_b.sql", 1, true)
    local c = out:find("10_c.sql", 1, true)
    assert.truthy(a and b and c, out)
    assert.is_true(a < b and b < c, out)
  end)

  it("shows ignored files with the reason", function()
    local out = h.lumi(dir, "list")
    assert.truthy(out:find("Ignored:", 1, true), out)
    assert.truthy(out:find("notes.txt  — not a .sql or .lua file", 1, true), out)
    assert.truthy(out:find("003.sql  — no name after the version (expected NNN_name)", 1, true), out)
    assert.truthy(out:find("add_things.sql  — does not start with a version number (expected NNN_name)", 1, true), out)
    -- a directory may be a migration (NNN_name/up.sql): this one's name is not a stem
    assert.truthy(out:find("subdir  — a directory: does not start with a version number (expected NNN_name)", 1, true), out)
    assert.is_nil(out:find(".hidden.sql", 1, true), out)
  end)

  it("marks duplicate versions", function()
    h.write(dir .. "/migrations/1_again.sql", "SELECT 1;\n")
    local out, _, code = h.lumi(dir, "list")
    assert.are.equal(0, code)
    assert.truthy(out:find("001_a.sql  (duplicate version)", 1, true), out)
    assert.truthy(out:find("1_again.sql  (duplicate version)", 1, true), out)
  end)

  it("--json has the same facts", function()
    local out, _, code = h.lumi(dir, "list --json")
    assert.are.equal(0, code)
    local doc = cjson.decode(out)
    assert.are.equal("sequential", doc.scheme)
    local files = {}
    for i, m in ipairs(doc.migrations) do files[i] = m.file end
    assert.are.same({ "001_a.sql", "9_b.sql", "10_c.sql" }, files)
    local reasons = {}
    for _, ig in ipairs(doc.ignored) do reasons[ig.file] = ig.reason end
    assert.are.equal("not a .sql or .lua file", reasons["notes.txt"])
    assert.are.equal("no name after the version (expected NNN_name)", reasons["003.sql"])
    assert.are.equal("does not start with a version number (expected NNN_name)", reasons["add_things.sql"])
    assert.are.equal("a directory: does not start with a version number (expected NNN_name)", reasons["subdir"])
  end)

  it("says so when the directory does not exist", function()
    local out, _, code = h.lumi(h.project({}), "list")
    assert.are.equal(0, code)
    assert.truthy(out:find("migrations does not exist yet (lumi new NAME creates it).", 1, true), out)
  end)
end)
