local timestamp = require "lumi.naming.timestamp"

describe("naming.timestamp", function()
  local s
  before_each(function() s = timestamp.new() end)

  describe("parse", function()
    it("splits a stem YYYYMMDDHHMMSS_name", function()
      assert.are.same({ version = "20251020134501", name = "add_users" }, s.parse("20251020134501_add_users"))
      assert.are.same({ version = "20240229000000", name = "a_b" }, s.parse("20240229000000_a_b"))
    end)

    it("rejects a stem that is not 14 digits, an underscore and a name", function()
      for _, stem in ipairs({ "001_add_users", "2025102013450_x", "202510201345011_x", "20251020134501",
                              "20251020134501_", "add_users", "2025-10-20_0001_x" }) do
        local m, why = s.parse(stem)
        assert.is_nil(m, stem)
        assert.are.equal("not named YYYYMMDDHHMMSS_name", why, stem)
      end
    end)

    it("rejects a time that does not exist", function()
      assert.are.equal("20251320000000 is not a date and time", select(2, s.parse("20251320000000_x")))
      assert.are.equal("20251000000000 is not a date and time", select(2, s.parse("20251000000000_x")))
      assert.are.equal("20251020240000 is not a date and time", select(2, s.parse("20251020240000_x")))
      assert.are.equal("20251020236000 is not a date and time", select(2, s.parse("20251020236000_x")))
    end)

    it("rejects a day the month does not have, as the dated scheme does", function()
      for _, v in ipairs({ "20250230120000", "20250431120000", "20230229120000" }) do
        local m, why = s.parse(v .. "_x")
        assert.is_nil(m, v .. " was accepted as a version")
        assert.are.equal(v .. " is not a date and time", why)
      end
      assert.is_table(s.parse("20240229120000_x"))
    end)
  end)

  describe("compare and key", function()
    it("orders by time", function()
      assert.is_true(s.compare("20251020134501", "20251020134502"))
      assert.is_true(s.compare("20241231235959", "20250101000000"))
      assert.is_false(s.compare("20250101000000", "20241231235959"))
      assert.is_false(s.compare("20250101000000", "20250101000000"))
      assert.are.equal("20250101000000", s.key("20250101000000"))
    end)
  end)

  describe("next", function()
    local t = os.time({ year = 2025, month = 10, day = 20, hour = 12, min = 0, sec = 0, isdst = false })
    -- the scheme writes UTC: what os.time read as local time, seen in UTC
    local utc = os.date("!%Y%m%d%H%M%S", t)

    it("returns a 14-digit UTC stem (no .sql)", function()
      local stem = s.next({}, "add_users", t)
      assert.are.equal(utc .. "_add_users", stem)
      assert.truthy(stem:match("^%d%d%d%d%d%d%d%d%d%d%d%d%d%d_add_users$"), stem)
      assert.are.same({ version = utc, name = "add_users" }, s.parse(stem))
    end)

    it("after the newest, takes the next real second: never a name the scheme rejects", function()
      for _, case in ipairs({
        { "20991231235959", "21000101000000" }, { "20240228235959", "20240229000000" },
        { "20230228235959", "20230301000000" }, { "20250630235959", "20250701000000" },
        { "20991231235960", "21000101000001" },
      }) do
        local stem = s.next({ { version = case[1] } }, "x", 0)   -- a clock behind them all
        assert.are.equal(case[2] .. "_x", stem)
        assert.truthy(s.parse(stem), stem)
      end
    end)

    it("stays after the newest migration when the clock is behind it (or in the same second)", function()
      assert.are.equal("20300101000001_x", s.next({ { version = "20300101000000" } }, "x", t))
      assert.are.equal(string.format("%014d_x", math.tointeger(tonumber(utc)) + 1),
        s.next({ { version = utc } }, "x", t))
    end)
  end)
end)
