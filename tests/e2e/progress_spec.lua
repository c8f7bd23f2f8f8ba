-- ctx.progress(done, total) in a long Lua migration: periodic plain lines
-- on stderr when it is not a terminal, a redrawn bar with a rate and an ETA
-- on a terminal.
local h = require "support.helper"

local loop = [[
return {
  up = function(ctx)
    ctx.db:exec("CREATE TABLE ticks (n int)")
    local total = 10000
    for i = 1, total do
      if i % 500 == 0 then ctx.db:query("INSERT INTO ticks VALUES ($1)", i) end
      ctx.progress(i, total)
    end
  end,
}
]]

describe("progress (end to end)", function()
  local url, dir
  before_each(function()
    url = h.fresh_db()
    dir = h.project({
      ["migrations/001_create_users.sql"] = "CREATE TABLE users (id int);\n",
      ["migrations/002_backfill.lua"] = loop,
    })
  end)

  it("on a pipe, stderr has a line every 10% ending with the 100% line; stdout has none", function()
    local out, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(0, code, out .. err)
    assert.are.equal(20, h.count(url, "ticks"))
    local lines = h.lines_with(err, "002_backfill.lua: ")
    assert.truthy(#lines >= 10, err)
    for pct = 1, 10 do
      local want = string.format("  002_backfill.lua: %s/10,000 (%d%%, ",
        pct == 10 and "10,000" or string.format("%d,000", pct), pct * 10)
      assert.truthy(h.has(err, want), want .. " in:\n" .. err)
    end
    assert.truthy(h.has(err, "  002_backfill.lua: 5,000/10,000 (50%, "), err)
    -- the last progress line is the 100% one, with a rate
    assert.truthy(lines[#lines]:match("^  002_backfill%.lua: 10,000/10,000 %(100%%, [%d,]+/s%)$"), lines[#lines])
    -- the counts only go up
    local prev = -1
    for _, l in ipairs(lines) do
      local n = tonumber((l:match(": ([%d,]+)/"):gsub(",", "")))
      assert.truthy(n > prev, err)
      prev = n
    end
    assert.is_nil(out:find("10,000/10,000", 1, true), out)
    assert.truthy(h.has(out, "applied  002_backfill.lua"), out)
  end)

  it("on a terminal, a bar with a rate and an ETA, finished with the full bar", function()
    local out, _, code = h.lumi_tty(dir, "up", { DATABASE_URL = url })
    assert.are.equal(0, code, out)
    assert.truthy(h.has(out, "002_backfill.lua ["), out)
    assert.truthy(h.has(out, "[#####"), out)
    assert.truthy(h.has(out, "ETA"), out)
    assert.truthy(h.has(out, "[" .. string.rep("#", 30) .. "] 100% 10,000/10,000"), out)
    -- the bar is redrawn in place, not printed as lines
    assert.truthy(h.has(out, "\r\27[K"), out)
    assert.is_nil(out:find("(50%, ", 1, true), out)
    -- and the migration's line comes after the finished bar
    local bar = out:find("100% 10,000/10,000", 1, true)
    local applied = out:find("applied", bar, true)
    assert.truthy(applied and applied > bar, out)
    assert.are.equal(20, h.count(url, "ticks"))
  end)

  it("db:in_batches reports through ctx.progress up to 100%", function()
    h.write(dir .. "/migrations/002_backfill.lua", [[
return {
  transaction = false,
  up = function(ctx)
    ctx.db:exec("CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, done boolean DEFAULT false)")
    ctx.db:exec("INSERT INTO items (id) SELECT g FROM generate_series(1, 2500) g ON CONFLICT DO NOTHING")
    ctx.db:in_batches({ select = "SELECT id FROM items WHERE NOT done", key = "id", size = 500,
                        total = true, progress = ctx.progress }, function(db, batch)
      db:query("UPDATE items SET done = true WHERE id BETWEEN $1 AND $2", batch.first, batch.last)
    end)
  end,
}
]])
    local out, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(0, code, out .. err)
    assert.truthy(h.has(err, "002_backfill.lua: 2,500/2,500 (100%, "), err)
    assert.are.equal(0, h.count(url, "items WHERE NOT done"))
  end)
end)
