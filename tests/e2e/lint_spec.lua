-- lumi lint: every rule's fixtures (tests/fixtures/lint/<rule>/): bad.sql
-- fires exactly the findings of expected.txt ("rule line:col" each), good.sql
-- fires nothing; a migrate.lua beside them is the project's. Then what a
-- team does in migrate.lua: a rule of its own, a built-in rule off, a
-- severity changed, one finding acknowledged inline.
local h = require "support.helper"

local root = h.root .. "/tests/fixtures/lint"

local function findings_of(doc)
  local out = {}
  for _, f in ipairs(doc.findings) do out[#out + 1] = string.format("%s %d:%d", f.rule, f.line, f.column) end
  table.sort(out)
  return out
end

local function project_of(dir, sql)
  local files = { ["migrations/001_case.sql"] = h.read(dir .. "/" .. sql) }
  local ok, settings = pcall(h.read, dir .. "/migrate.lua")
  return files, ok and settings or nil
end

describe("lumi lint: the built-in rules", function()
  for rule in h.sh("ls " .. h.q(root)):gmatch("[^\n]+") do
    local dir = root .. "/" .. rule
    it(rule .. ": bad.sql fires it where expected.txt says, good.sql fires nothing", function()
      local files, settings = project_of(dir, "bad.sql")
      h.with_project(files, settings, function(p)
        local doc, code = p:json("lint --all")
        local want = {}
        for line in h.read(dir .. "/expected.txt"):gmatch("[^\n]+") do want[#want + 1] = line end
        table.sort(want)
        assert.are.same(want, findings_of(doc))
        local errors = 0
        for _, f in ipairs(doc.findings) do if f.severity == "error" then errors = errors + 1 end end
        assert.are.equal(errors > 0 and 3 or 0, code)
      end)
      files, settings = project_of(dir, "good.sql")
      h.with_project(files, settings, function(p)
        local doc, code = p:json("lint --all")
        assert.are.same({}, findings_of(doc))
        assert.are.equal(0, code)
      end)
    end)
  end
end)

describe("lumi lint", function()
  local FILES = {
    ["migrations/001_users.sql"] = "CREATE TABLE users (id int, email text);\nCREATE INDEX users_email ON users (email);\n",
    ["migrations/002_index.sql"] = "CREATE INDEX users_id ON users (id);\n"
      .. "-- lumi:ignore drop-index-not-concurrent the table has ten rows\nDROP INDEX users_email;\n"
      .. "ALTER TABLE users ADD COLUMN total float;\n",
  }
  local SETTINGS = [[
local lint = require "lumi.lint"
return {
  lint = {
    off = { "index-not-concurrent" },
    severity = { ["breaking-change"] = "error" },
    rules = {
      { id = "no-float", severity = "error", doc = "money is numeric", nodes = { "ColumnDef" },
        check = function(node)
          local t = lint.type_name(node.type_name)
          if t == "float8" or t == "float4" then
            return { message = "column " .. node.colname .. " is a float", hint = "use numeric" }
          end
        end },
    },
  },
}
]]

  it("runs a team's rule, leaves out a rule turned off, and an acknowledged finding", function()
    h.with_project(FILES, SETTINGS, function(p)
      local doc, code = p:json("lint --all")
      assert.are.equal(3, code)
      assert.are.same({ "no-float 4:30" }, findings_of(doc))
      assert.are.equal("002_index.sql", doc.findings[1].file)
      assert.are.equal("use numeric", doc.findings[1].hint)
      local out, _, c2 = p:lumi("lint 002")
      assert.are.equal(3, c2)
      assert.truthy(out:find("002_index.sql:4:30: error[no-float]: column total is a float\n"
        .. "  ALTER TABLE users ADD COLUMN total float;\n                               ^\n  = hint: use numeric", 1, true),
        out)
    end)
  end)

  it("lints the pending migrations by default: an applied one is left alone", function()
    h.with_project(FILES, function(p)
      local _, _, code = p:lumi("up --to 1")
      assert.are.equal(0, code)
      local doc, c2 = p:json("lint")
      assert.are.equal(3, c2)
      local files = {}
      for _, f in ipairs(doc.findings) do files[f.file] = true end
      assert.are.same({ ["002_index.sql"] = true }, files)
      -- a table created in the same file is exempt: 001's index is not reported even with --all
      doc = p:json("lint --all")
      for _, f in ipairs(doc.findings) do assert.are_not.equal("001_users.sql", f.file) end
    end)
  end)

  it("a lint setting that is not one is a config error", function()
    h.with_project(FILES, 'return { lint = { of = { "x" } } }\n', function(p)
      local _, err, code = p:lumi("lint --all")
      assert.are.equal(2, code)
      assert.truthy(err:find('has no key "of"', 1, true), err)
    end)
  end)
end)
