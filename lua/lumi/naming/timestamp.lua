--- The `timestamp` naming scheme: YYYYMMDDHHMMSS_name (UTC), as goose,
--- dbmate and Rails name their migrations.
-- See naming/sequential.lua for the contract every scheme follows.
local M = {}

function M.new(opts)
  opts = opts or {}
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
      -- keep order with the next number after it
      v = string.format("%014d", math.tointeger(tonumber(last.version)) + 1)
    end
    return v .. "_" .. name
  end

  return s
end

return M
