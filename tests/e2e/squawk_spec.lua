-- lumi lint and Squawk (squawk-cli from npm, installed by scripts/peers) on
-- the same fixtures: for each of lumi's rules, the Squawk rules that fire on
-- its bad.sql and not on its good.sql (rules that fire on both, such as
-- require-statement-timeout, say nothing about the case). The README's
-- table "lumi lint and Squawk" says why they differ where they do.
local h = require "support.helper"

local root = h.root .. "/tests/fixtures/lint"
local squawk = h.root .. "/peers/node_modules/.bin/squawk"

local SQUAWK = {
  ["add-column-rewrite"] = {},                       -- Squawk's prefer-identity fires on good.sql too
  ["after-exclusive-lock"] = {},                     -- no Squawk rule follows a lock to COMMIT
  ["breaking-change"] = { "renaming-column" },
  ["column-type-rewrite"] = { "changing-column-type" },
  ["concurrent-in-transaction"] = { "prefer-robust-stmts" },  -- Squawk cannot know lumi's transaction
  ["constraint-builds-index"] = { "constraint-missing-not-valid", "disallowed-unique-constraint" },
  ["constraint-not-valid"] = { "adding-foreign-key-constraint", "constraint-missing-not-valid" },
  ["drop-index-not-concurrent"] = { "prefer-robust-stmts", "require-concurrent-index-deletion" },
  ["exclude-constraint"] = { "constraint-missing-not-valid", "require-lock-timeout", "require-statement-timeout" },
  ["index-not-concurrent"] = { "prefer-robust-stmts", "require-concurrent-index-creation" },
  ["lock-timeout-missing"] = { "require-lock-timeout" },
  ["not-idempotent"] = { "prefer-robust-stmts" },
  ["set-not-null"] = { "adding-not-nullable-field" },
  ["transaction-control"] = { "transaction-nesting" },
  ["volatile-default"] = { "adding-field-with-default" },
}

local function squawk_rules(file)
  local out, err, code = h.sh(h.q(squawk) .. " --pg-version=15 --reporter json " .. h.q(file))
  assert(code == 0 or code == 1, "squawk failed: " .. err)
  local set, list = {}, {}
  for _, v in ipairs(require("cjson").decode(out)) do set[v.rule_name] = true end
  for k in pairs(set) do list[#list + 1] = k end
  return set, list
end

describe("lumi lint and Squawk on the same fixtures", function()
  it("squawk-cli is installed (scripts/peers)", function()
    local _, _, code = h.sh("test -x " .. h.q(squawk))
    assert.are.equal(0, code, "squawk is not installed: run scripts/peers")
  end)

  for rule in h.sh("ls " .. h.q(root)):gmatch("[^\n]+") do
    it(rule .. ": Squawk fires what the table says", function()
      local want = assert(SQUAWK[rule], rule .. " is missing from the table")
      local bad = squawk_rules(root .. "/" .. rule .. "/bad.sql")
      local good = squawk_rules(root .. "/" .. rule .. "/good.sql")
      local only = {}
      for r in pairs(bad) do if not good[r] then only[#only + 1] = r end end
      table.sort(only)
      assert.are.same(want, only)
    end)
  end
end)
