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

  it("--format github: one annotation per finding; --format sarif: a SARIF 2.1.0 log", function()
    h.with_project(FILES, function(p)
      local out, _, code = p:lumi("lint 002 --format github")
      assert.are.equal(3, code)
      assert.truthy(out:find("::error file=migrations/002_index.sql,line=1,col=26,title=lumi lint index-not-concurrent::"
        .. "CREATE INDEX without CONCURRENTLY blocks writes to users while it builds", 1, true), out)
      out = p:lumi("lint 002 --format sarif")
      local doc = require("cjson").decode(out)
      assert.are.equal("2.1.0", doc.version)
      local r = doc.runs[1].results[1]
      assert.are.equal("index-not-concurrent", r.ruleId)
      assert.are.equal("error", r.level)
      assert.are.same({ startLine = 1, startColumn = 26 }, r.locations[1].physicalLocation.region)
      local _, err, c2 = p:lumi("lint --format xml")
      assert.are.equal(2, c2)
      assert.truthy(err:find("the formats are text, sarif and github", 1, true), err)
    end)
  end)

  it("lint.on_up = \"error\" refuses to apply anything; \"warn\" applies and warns", function()
    h.with_project(FILES, 'return { lint = { on_up = "error" } }\n', function(p)
      local out, err, code = p:lumi("up")
      assert.are.equal(3, code, out .. err)
      assert.truthy(err:find("lint found 1 error in the migrations to apply", 1, true), err)
      assert.truthy(err:find("002_index.sql:1:26: error[index-not-concurrent]", 1, true), err)
      assert.is_false(h.table_exists(p.url, "users"))
      assert.is_false(h.table_exists(p.url, "schema_migrations"))
    end)
    -- a function decides per target: here, the protected one refuses
    h.with_project(FILES, 'return { protected = true, lint = { on_up = function(t) return t.protected and "error" '
      .. 'or "off" end } }\n', function(p)
      local _, err, code = p:lumi("up --yes")
      assert.are.equal(3, code, err)
      assert.truthy(err:find("lint found 1 error", 1, true), err)
    end)
    h.with_project(FILES, 'return { lint = { on_up = "warn" } }\n', function(p)
      local doc, code = p:json("up")
      assert.are.equal(0, code)
      assert.are.equal(2, #doc.applied)
      local warnings = table.concat(doc.warnings, "\n")
      assert.truthy(warnings:find("002_index.sql:1:26: error[index-not-concurrent]", 1, true), warnings)
    end)
  end)

  it("knows the target's version: the safe recipe for SET NOT NULL before PostgreSQL 12", function()
    local files = { ["migrations/001_nn.sql"] = "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n" }
    h.with_project(files, 'return { lint = { pg_version = 11 } }\n', function(p)
      local doc = p:json("lint --all")
      assert.truthy(doc.findings[1].hint:find("before PostgreSQL 12", 1, true), doc.findings[1].hint)
    end)
    h.with_project(files, function(p)
      local doc = p:json("lint")         -- pending: connected, the server's version (15)
      assert.truthy(doc.findings[1].hint:find("CHECK (email IS NOT NULL) NOT VALID", 1, true), doc.findings[1].hint)
    end)
  end)

  it("passes over a statement too large for a parse tree, and lints the others of the file", function()
    local files = { ["migrations/001_data.sql"] = "INSERT INTO users VALUES " .. string.rep("(1, 'a'), ", 3000)
      .. "(1, 'a');\nCREATE INDEX users_email ON users (email);\n" }
    h.with_project(files, function(p)
      local doc, code = p:json("lint --all")
      assert.are.equal(3, code)
      assert.are.same({ "index-not-concurrent 2:29" }, findings_of(doc))
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
