--- The `dated` naming scheme: YYYY-MM-DD_####_name
--
-- The version is the date and a sequence number within that date
-- ("2025-10-20_0002"); versions sort by date, then by sequence.
-- See naming/sequential.lua for the contract every scheme follows.
local M = {}

local days_in = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

--- A dated scheme. opts.width: digits of the sequence (default 4).
function M.new(opts)
  opts = opts or {}
  local width = opts.width or 4
  local s = { name = "dated", width = width, pattern = "YYYY-MM-DD_####_name" }

  local dates, seqs = {}, {}
  local function split(version)
    local date = dates[version]
    if date == nil then
      local d, q = version:match("^(%d%d%d%d%-%d%d%-%d%d)_(%d+)$")
      date = d or false
      dates[version], seqs[version] = date, tonumber(q)
    end
    return date or nil, seqs[version]
  end

  function s.parse(stem)
    local y, m, d, seq, name = stem:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)_(%d+)_(.+)$")
    if not y then
      return nil, "not named YYYY-MM-DD_####_name"
    end
    m, d = tonumber(m), tonumber(d)
    local year = tonumber(y)
    local leap = year % 4 == 0 and (year % 100 ~= 0 or year % 400 == 0)
    if m < 1 or m > 12 or d < 1 or d > days_in[m] or (m == 2 and d == 29 and not leap) then
      return nil, string.format("%s-%02d-%02d is not a calendar date", y, m, d)
    end
    return { version = string.format("%s-%02d-%02d_%s", y, m, d, seq), name = name }
  end

  function s.key(version)
    local date, seq = split(version)
    if not date then return version end
    return date .. "_" .. seq
  end

  function s.compare(a, b)
    local da, sa = split(a)
    local db, sb = split(b)
    if not (da and db) then return a < b end
    if da ~= db then return da < db end
    return sa < sb
  end

  function s.next(migrations, name, now)
    local today = os.date("%Y-%m-%d", now or os.time())
    local seq = 0
    for _, m in ipairs(migrations) do
      local date, n = split(m.version)
      if date == today and n > seq then seq = n end
      -- a file dated in the future keeps new ones after it
      if date and date > today then today, seq = date, n end
    end
    return string.format("%s_%0" .. width .. "d_%s", today, seq + 1, name)
  end

  return s
end

return M
