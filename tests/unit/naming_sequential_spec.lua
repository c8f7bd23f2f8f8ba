local sequential = require "lumi.naming.sequential"

describe("naming.sequential", function()
  local s
  before_each(function() s = sequential.new() end)

  describe("parse", function()
    it("splits a stem NNN_name into version and name", function()
      assert.are.same({ version = "001", name = "create_users" }, s.parse("001_create_users"))
      assert.are.same({ version = "42", name = "x" }, s.parse("42_x"))
      assert.are.same({ version = "0100", name = "a_b_c" }, s.parse("0100_a_b_c"))
    end)

    it("sees stems, not file names: what follows the first underscore is the name", function()
      -- the layout strips ".sql", ".up.sql" and "/up.sql" before the scheme sees the stem
      assert.are.same({ version = "001", name = "create_users.sql" }, s.parse("001_create_users.sql"))
    end)

    it("rejects a name without a version number", function()
      local m, why = s.parse("create_users")
      assert.is_nil(m)
      assert.are.equal("does not start with a version number (expected NNN_name)", why)
      assert.are.equal("does not start with a version number (expected NNN_name)", select(2, s.parse("")))
      assert.are.equal("does not start with a version number (expected NNN_name)", select(2, s.parse("v1_x")))
    end)

    it("rejects a version with no name", function()
      local m, why = s.parse("001")
      assert.is_nil(m)
      assert.are.equal("no name after the version (expected NNN_name)", why)
    end)

    it("says 'no name after the version' for NNN_ too", function()
      local m, why = s.parse("001_")
      assert.is_nil(m)
      assert.are.equal("no name after the version (expected NNN_name)", why)
    end)

    it("has no extension option any more: the layout decides what a file is", function()
      local other = sequential.new({ extension = ".lua" })
      assert.are.same({ version = "003", name = "backfill" }, other.parse("003_backfill"))
      assert.are.equal("NNN_name", other.pattern)
    end)
  end)

  describe("compare and key", function()
    it("orders versions as numbers: 9 < 10 < 100", function()
      assert.is_true(s.compare("9", "10"))
      assert.is_true(s.compare("10", "100"))
      assert.is_true(s.compare("9", "100"))
      assert.is_false(s.compare("100", "9"))
      assert.is_false(s.compare("10", "9"))
      assert.is_true(s.compare("009", "10"))
      assert.is_true(s.compare("099", "0100"))
    end)

    it("treats zero padding as the same version", function()
      assert.are.equal(s.key("7"), s.key("007"))
      assert.are.equal("7", s.key("007"))
      assert.are.equal("0", s.key("000"))
      assert.is_false(s.compare("007", "7"))
      assert.is_false(s.compare("7", "007"))
    end)

    it("sorts a shuffled list into numeric order", function()
      local vs = { "100", "10", "9", "002", "1" }
      table.sort(vs, s.compare)
      assert.are.same({ "1", "002", "9", "10", "100" }, vs)
    end)
  end)

  describe("next", function()
    it("returns a stem (no .sql): starts at 001 with the default width of 3", function()
      assert.are.equal("001_add_users", s.next({}, "add_users"))
    end)

    it("continues after the last migration", function()
      assert.are.equal("003_x", s.next({ { version = "001" }, { version = "002" } }, "x"))
      assert.are.equal("010_x", s.next({ { version = "009" } }, "x"))
    end)

    it("keeps at least the configured width", function()
      assert.are.equal("010_x", s.next({ { version = "9" } }, "x"))
      assert.are.equal("0001_x", sequential.new({ width = 4 }).next({}, "x"))
      assert.are.equal("0008_x", sequential.new({ width = 4 }).next({ { version = "7" } }, "x"))
    end)

    it("keeps the width of the existing files", function()
      assert.are.equal("00043_x", s.next({ { version = "00042" } }, "x"))
    end)

    it("grows past the width instead of wrapping", function()
      assert.are.equal("1000_x", s.next({ { version = "999" } }, "x"))
    end)

    it("counts on past what a Lua integer holds", function()
      assert.are.equal("9223372036854775808_x", s.next({ { version = "9223372036854775807" } }, "x"))
      assert.are.equal("100000000000000000000_x", s.next({ { version = "99999999999999999999" } }, "x"))
      assert.are.equal("0000000000000000000000010_x", s.next({ { version = "0000000000000000000000009" } }, "x"))
    end)
  end)
end)
