local dated = require "lumi.naming.dated"

local function day(y, m, d) return os.time({ year = y, month = m, day = d, hour = 12 }) end

describe("naming.dated", function()
  local s
  before_each(function() s = dated.new() end)

  describe("parse", function()
    it("splits a stem YYYY-MM-DD_####_name", function()
      assert.are.same({ version = "2025-10-20_0001", name = "add_users" }, s.parse("2025-10-20_0001_add_users"))
      assert.are.same({ version = "2024-02-29_12", name = "leap" }, s.parse("2024-02-29_12_leap"))
    end)

    it("sees stems, not file names: an extension is part of the name", function()
      assert.are.same({ version = "2025-10-20_0001", name = "add_users.txt" }, s.parse("2025-10-20_0001_add_users.txt"))
    end)

    it("rejects a sequential name", function()
      local m, why = s.parse("001_add_users")
      assert.is_nil(m)
      assert.are.equal("not named YYYY-MM-DD_####_name", why)
    end)

    it("rejects a date without sequence", function()
      assert.are.equal("not named YYYY-MM-DD_####_name", select(2, s.parse("2025-10-20_add_users")))
      assert.are.equal("not named YYYY-MM-DD_####_name", select(2, s.parse("2025-10-20_0001")))
      assert.are.equal("not named YYYY-MM-DD_####_name", select(2, s.parse("2025-10-20_0001_")))
    end)

    it("rejects a month that does not exist", function()
      local m, why = s.parse("2025-13-01_0001_x")
      assert.is_nil(m)
      assert.are.equal("2025-13-01 is not a calendar date", why)
      assert.are.equal("2025-00-10 is not a calendar date", select(2, s.parse("2025-00-10_0001_x")))
    end)

    it("rejects a day that does not exist", function()
      assert.are.equal("2025-04-31 is not a calendar date", select(2, s.parse("2025-04-31_0001_x")))
      assert.are.equal("2025-02-30 is not a calendar date", select(2, s.parse("2025-02-30_0001_x")))
      assert.are.equal("2025-01-00 is not a calendar date", select(2, s.parse("2025-01-00_0001_x")))
    end)

    it("rejects February 29 of a year that is not a leap year", function()
      local m, why = s.parse("2023-02-29_0001_x")
      assert.is_nil(m)
      assert.are.equal("2023-02-29 is not a calendar date", why)
      assert.is_nil((s.parse("1900-02-29_0001_x")))
      assert.is_table(s.parse("2000-02-29_0001_x"))
    end)
  end)

  describe("compare and key", function()
    it("orders by date, then by sequence as a number", function()
      assert.is_true(s.compare("2025-10-19_0009", "2025-10-20_0001"))
      assert.is_true(s.compare("2025-10-20_9", "2025-10-20_10"))
      assert.is_true(s.compare("2025-10-20_10", "2025-10-20_100"))
      assert.is_false(s.compare("2025-10-20_100", "2025-10-20_9"))
      assert.is_true(s.compare("2024-12-31_0100", "2025-01-01_0001"))
    end)

    it("treats zero padding of the sequence as the same version", function()
      assert.are.equal(s.key("2025-10-20_1"), s.key("2025-10-20_0001"))
      assert.are.equal("2025-10-20_7", s.key("2025-10-20_007"))
      assert.is_false(s.compare("2025-10-20_0001", "2025-10-20_1"))
      assert.is_false(s.compare("2025-10-20_1", "2025-10-20_0001"))
    end)
  end)

  describe("next", function()
    it("starts today's sequence at 0001", function()
      assert.are.equal("2025-10-20_0001_add_users", s.next({}, "add_users", day(2025, 10, 20)))
    end)

    it("continues the same day's sequence", function()
      local ms = { { version = "2025-10-20_0001" }, { version = "2025-10-20_0002" } }
      assert.are.equal("2025-10-20_0003_x", s.next(ms, "x", day(2025, 10, 20)))
    end)

    it("starts again at 0001 on a new day", function()
      local ms = { { version = "2025-10-19_0001" }, { version = "2025-10-19_0002" } }
      assert.are.equal("2025-10-20_0001_x", s.next(ms, "x", day(2025, 10, 20)))
    end)

    it("counts numerically past 9", function()
      local ms = { { version = "2025-10-20_0009" }, { version = "2025-10-20_0010" } }
      assert.are.equal("2025-10-20_0011_x", s.next(ms, "x", day(2025, 10, 20)))
    end)

    it("uses the configured width", function()
      assert.are.equal("2025-10-20_01_x", dated.new({ width = 2 }).next({}, "x", day(2025, 10, 20)))
    end)

    it("sorts a new file after one dated in the future", function()
      local ms = { { version = "2030-01-01_0004" } }
      local stem = s.next(ms, "x", day(2025, 10, 20))
      assert.are.equal("2030-01-01_0005_x", stem)
      local v = s.parse(stem).version
      assert.is_true(s.compare("2030-01-01_0004", v))
    end)
  end)
end)
