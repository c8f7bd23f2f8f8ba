--- The `timestamp` naming scheme: YYYYMMDDHHMMSS_name (UTC), as goose,
--- dbmate and Rails name their migrations.
-- See naming/sequential.lua for the contract every scheme follows.
local M = {}

-- Seconds since 1970-01-01 UTC of a civil date and time (proleptic
-- Gregorian; days_from_civil by Howard Hinnant).
local function epoch(y, mo, d, h, mi, se)
  y = mo <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + h * 3600 + mi * 60 + se
end

function M.new()
  local s = { name = "timestamp", pattern = "YYYYMMDDHHMMSS_name" }

  function s.parse(stem)
    local v, name = stem:match("^(%d%d%d%d%d%d%d%d%d%d%d%d%d%d)_(.+)$")
    if not v then return nil, "not named YYYYMMDDHHMMSS_name" end
    local mo, d, h, mi, se = tonumber(v:sub(5, 6)), tonumber(v:sub(7, 8)), tonumber(v:sub(9, 10)),
      tonumber(v:sub(11, 12)), tonumber(v:sub(13, 14))
    local year = tonumber(v:sub(1, 4))
    local leap = year % 4 == 0 and (year % 100 ~= 0 or year % 400 == 0)
    local days = ({ 31, leap and 29 or 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 })[mo]
    if mo < 1 or mo > 12 or d < 1 or d > days or h > 23 or mi > 59 or se > 61 then
      return nil, v .. " is not a date and time"
    end
    return { version = v, name = name }
  end

  function s.key(version) return version end

  function s.compare(a, b) return a < b end   -- same length, digits: text order is time order

  function s.next(migrations, name, now)
    local v = os.date("!%Y%m%d%H%M%S", now or os.time())
    local last = migrations[#migrations]
    if last and last.version >= v then
      -- the clock is behind the newest migration (or two in one second):
      -- keep order with the second after it, a real date and time
      local n = function(i, j) return math.tointeger(tonumber(last.version:sub(i, j))) end
      v = os.date("!%Y%m%d%H%M%S", epoch(n(1, 4), n(5, 6), n(7, 8), n(9, 10), n(11, 12), n(13, 14)) + 1)
    end
    return v .. "_" .. name
  end

  return s
end

return M
