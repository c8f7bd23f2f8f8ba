-- The built-in directive reader and section splitter, against golden
-- fixtures: tests/fixtures/<reader>/valid/<case>/input.sql with
-- expected.lua (what it returns), and invalid/<case>/input.sql with
-- expected.txt (the messages, one per line). Adding a case is adding a
-- folder.
local directives = require "lumi.directives"
local prepare = require "lumi.prepare"
local fs = require "lumi.fs"
local h = require "support.helper"

local root = h.root .. "/tests/fixtures"

local function cases(reader, kind)
  local dir = root .. "/" .. reader .. "/" .. kind
  local out = {}
  for _, name in ipairs(assert(fs.list(dir))) do out[#out + 1] = { name = name, dir = dir .. "/" .. name } end
  assert.is_true(#out > 0, "no fixtures in " .. dir)
  return out
end

local function lines(text)
  local out = {}
  for l in text:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

describe("directives.read (golden fixtures)", function()
  for _, c in ipairs(cases("directives", "valid")) do
    it("valid/" .. c.name, function()
      local fields, problems = directives.read(h.read(c.dir .. "/input.sql"))
      assert.are.same(dofile(c.dir .. "/expected.lua"), fields)
      assert.are.same({}, problems)
    end)
  end
  for _, c in ipairs(cases("directives", "invalid")) do
    it("invalid/" .. c.name, function()
      local fields, problems = directives.read(h.read(c.dir .. "/input.sql"))
      local got = {}
      for i, p in ipairs(problems) do got[i] = p.line .. ": " .. p.message end
      assert.are.same(lines(h.read(c.dir .. "/expected.txt")), got)
      -- a near miss is no directive: the file runs in a transaction
      assert.is_nil(fields.transaction)
    end)
  end
end)

describe("prepare.sections (golden fixtures)", function()
  for _, c in ipairs(cases("sections", "valid")) do
    it("valid/" .. c.name, function()
      local s = prepare.sections(h.read(c.dir .. "/input.sql"))
      local expected = dofile(c.dir .. "/expected.lua")
      if expected == nil then assert.is_nil(s) return end
      local got = { up = s.up and s.up.text, down = s.down and s.down.text }
      if s.preamble ~= "" then got.preamble = s.preamble end
      assert.are.same(expected, got)
    end)
  end
  for _, c in ipairs(cases("sections", "invalid")) do
    it("invalid/" .. c.name, function()
      local ok, e = pcall(prepare.sections, h.read(c.dir .. "/input.sql"))
      assert.is_false(ok)
      assert.are.same(lines(h.read(c.dir .. "/expected.txt")), { e.message })
    end)
  end
end)
