-- lumi verify-down: each case of tests/fixtures/verify-down/ is a project
-- whose last migration's down is right or wrong in one way; the
-- classification is asserted exactly, and the target is never touched.
local h = require "support.helper"

local root = h.root .. "/tests/fixtures/verify-down"

local CASES = {
  correct_pair = { status = "ok", problems = {} },
  forgets_drop_type = { status = "FAIL", problems = { "down leaves a trace", "  left behind: enum public.mood ('sad', 'ok')",
    "down breaks the next up: " } },
  readds_column = { status = "warn", warnings = { "down changes the order of columns: column order public.users id, "
    .. "email, name -> public.users id, name, email" } },
  renamed_constraint = { status = "FAIL", problems = { "down leaves a trace",
    "  left behind: constraint public.users.id_positive CHECK (id > 0)" } },
  cic_pair = { status = "ok", problems = {} },
  lossy = { status = "FAIL", args = "--data", problems = { "lossy: public.users had 3 rows before up, 0 after down" } },
}

describe("lumi verify-down", function()
  for case, want in pairs(CASES) do
    it(case .. ": " .. want.status, function()
      h.with_project(h.tree(root .. "/" .. case), function(p)
        local doc, code, err = p:json("verify-down " .. (want.args or ""))
        assert.are.equal(want.status == "FAIL" and 3 or 0, code, err)
        assert.are.equal("ok", doc.migrations[1].status)
        local last = doc.migrations[2]
        assert.are.equal("002", last.version)
        assert.are.equal(want.status, last.status)
        for i, prob in ipairs(want.problems or {}) do
          local got = last.problems[i] or ""
          assert.are.equal(prob, got:sub(1, #prob), "problem " .. i)
        end
        if want.warnings then assert.are.same(want.warnings, last.warnings) end
        -- the target: nothing applied, nothing created
        assert.is_false(h.table_exists(p.url, "users"))
        assert.is_false(h.table_exists(p.url, "schema_migrations"))
      end)
    end)
  end

  it("--column-order error makes the re-added column a failure; a range checks only its migrations", function()
    h.with_project(h.tree(root .. "/readds_column"), function(p)
      local doc, code = p:json("verify-down --column-order error")
      assert.are.equal(3, code)
      assert.are.equal("FAIL", doc.migrations[2].status)
      doc, code = p:json("verify-down 001..001")
      assert.are.equal(0, code)
      assert.are.equal(1, #doc.migrations)
    end)
  end)
end)
