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

  -- "version file" of each migration of a list document, in its order.
  local function listed(doc)
    local out = {}
    for i, m in ipairs(doc.migrations) do out[i] = m.version .. " " .. m.file end
    return out
  end

  it("lists files in version order, without a database", function()
    local doc, code, err = h.json(dir, "list", { DATABASE_URL = "postgresql:///nodb?host=/nonexistent" })
    assert.are.equal(0, code, err)
    assert.are.same({ "migrations", "sequential", true }, { doc.dir, doc.scheme, doc.exists })
    assert.are.same({ "001 001_a.sql", "9 9_b.sql", "10 10_c.sql" }, listed(doc))
  end)

  it("shows ignored files with the reason", function()
    local doc, code, err = h.json(dir, "list")
    assert.are.equal(0, code, err)
    -- a directory may be a migration (NNN_name/up.sql): this one's name is not a stem;
    -- a hidden file is not even ignored
    assert.are.same({
      { file = "003.sql", reason = "no name after the version (expected NNN_name)" },
      { file = "add_things.sql", reason = "does not start with a version number (expected NNN_name)" },
      { file = "notes.txt", reason = "not a .sql or .lua file" },
      { file = "subdir", reason = "a directory: does not start with a version number (expected NNN_name)" },
    }, doc.ignored)
  end)

  it("marks duplicate versions", function()
    h.write(dir .. "/migrations/1_again.sql", "SELECT 1;\n")
    local doc, code, err = h.json(dir, "list")
    assert.are.equal(0, code, err)
    local dup = {}
    for i, m in ipairs(doc.migrations) do dup[i] = m.file .. (m.duplicate and " duplicate" or "") end
    assert.are.same({ "001_a.sql duplicate", "1_again.sql duplicate", "9_b.sql", "10_c.sql" }, dup)
  end)

  it("prints a line per migration with its version, then the ignored files with why (the human output)", function()
    h.write(dir .. "/migrations/1_again.sql", "SELECT 1;\n")
    local out, err, code = h.lumi(dir, "list")
    assert.are.equal(0, code, err)
    assert.are.equal(table.concat({
      "Migrations in migrations (naming: sequential)",
      "  001                  001_a.sql  (duplicate version)",
      "  1                    1_again.sql  (duplicate version)",
      "  9                    9_b.sql",
      "  10                   10_c.sql",
      "Ignored:",
      "  003.sql  — no name after the version (expected NNN_name)",
      "  add_things.sql  — does not start with a version number (expected NNN_name)",
      "  notes.txt  — not a .sql or .lua file",
      "  subdir  — a directory: does not start with a version number (expected NNN_name)",
      "" }, "\n"), out)
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
