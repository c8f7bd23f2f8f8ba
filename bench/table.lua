-- bench/table.lua DIR: summarise hyperfine JSON exports as a Markdown table.
local dir = arg[1]
local cjson = require "cjson"

local function load(name)
  local f = io.open(dir .. "/" .. name .. ".json")
  if not f then return nil end
  local t = cjson.decode(f:read("a"))
  f:close()
  return t.results
end

local function label(cmd)
  if cmd:find("lumi", 1, true) then
    return "lumi " .. (cmd:match("lumi (%S+)") or "")
  elseif cmd:find("dbmate", 1, true) then
    return "dbmate up"
  else
    return "psql " .. (cmd:match("psql (.*)$") or ""):gsub("'[^']*'", "URL"):gsub("%-d URL ", "")
  end
end

print("| benchmark | command | mean | ± σ | ratio to baseline |")
print("| --- | --- | ---: | ---: | ---: |")
local groups = {
  { "apply", "apply 1,000 migrations", function(c) return c:find("psql", 1, true) end },
  { "status", "status / no-op up (1,000 applied)", function(c) return c:find("select 1", 1, true) end },
  { "version", "start-up", function(c) return c:find("psql", 1, true) end },
}
for _, g in ipairs(groups) do
  local results = load(g[1])
  if results then
    local base
    for _, r in ipairs(results) do if g[3](r.command) then base = r.mean end end
    for _, r in ipairs(results) do
      local fmt = r.mean >= 1 and "%.2f s" or "%.1f ms"
      local scale = r.mean >= 1 and 1 or 1000
      print(string.format("| %s | `%s` | " .. fmt .. " | " .. fmt .. " | %.2fx |", g[2], label(r.command),
        r.mean * scale, r.stddev * scale, r.mean / base))
    end
  end
end
