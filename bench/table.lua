-- bench/table.lua DIR N: the benchmark results in DIR as a Markdown table.
local dir, n = arg[1], arg[2] or "1000"
local cjson = require "cjson"

local function load(name)
  local f = io.open(dir .. "/" .. name .. ".json")
  if not f then return nil end
  local t = cjson.decode(f:read("a"))
  f:close()
  for _, r in ipairs(t.results) do
    r.rounds = { table.unpack(r.times) }     -- in round order, for the ratios
    table.sort(r.times)
    local sum = 0
    for _, x in ipairs(r.times) do sum = sum + x end
    r.mean = sum / #r.times
    local var = 0
    for _, x in ipairs(r.times) do var = var + (x - r.mean) ^ 2 end
    r.stddev = #r.times > 1 and math.sqrt(var / (#r.times - 1)) or 0
    local m = #r.times
    r.median = m % 2 == 1 and r.times[(m + 1) // 2] or (r.times[m // 2] + r.times[m // 2 + 1]) / 2
  end
  return t.results
end

-- the commands are named in the results already
local function label(cmd)
  return cmd
end

local function fmt(x)
  if x >= 1 then return string.format("%.2f s", x) end
  return string.format("%.1f ms", x * 1000)
end

-- The median, over the rounds, of each round's time against the baseline's
-- in the same round: every round runs the commands in turn, so a machine
-- whose speed drifts slows both sides of each ratio alike.
local function ratio(r, base)
  local q = {}
  for i, x in ipairs(r.rounds) do q[i] = x / base.rounds[i] end
  table.sort(q)
  local m = #q
  return m % 2 == 1 and q[(m + 1) // 2] or (q[m // 2] + q[m // 2 + 1]) / 2
end

print(string.format("| benchmark (%s migrations) | command | median | mean ± σ | vs baseline (median of rounds) |", n))
print("| --- | --- | ---: | ---: | ---: |")
local groups = {
  { "apply", "apply all", function(c) return c == "psql -1 -f" end },
  { "revert", "revert all", function(c) return c == "psql -1 -f" end },
  { "status", "status, no-op up", function(c) return c == "psql -c 'select 1'" end },
  { "version", "start-up", function(c) return c == "psql --version" end },
}
for _, g in ipairs(groups) do
  local results = load(g[1])
  if results then
    local base
    for _, r in ipairs(results) do if g[3](r.command) then base = r end end
    for _, r in ipairs(results) do
      print(string.format("| %s | `%s` | %s | %s ± %s | %.2fx |", g[2], label(r.command),
        fmt(r.median), fmt(r.mean), fmt(r.stddev), ratio(r, base)))
    end
  end
end
