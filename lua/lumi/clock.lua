--- Wall-clock and monotonic time.
local M = {}

-- posix.time is a shared library: loaded when a clock is first read, not
-- by every command that only formats durations
local ptime = setmetatable({}, { __index = function(t, k)
  local real = require "posix.time"
  setmetatable(t, { __index = real })
  return real[k]
end })

--- Seconds from a monotonic clock, as a float (for durations).
function M.now()
  local t = ptime.clock_gettime(ptime.CLOCK_MONOTONIC)
  return t.tv_sec + t.tv_nsec / 1e9
end

--- Sleep for s seconds (a float).
function M.sleep(s)
  local sec = math.floor(s)
  ptime.nanosleep({ tv_sec = sec, tv_nsec = math.floor((s - sec) * 1e9) })
end

--- Human duration: "12 ms", "1.4 s", "2 min 3 s".
function M.format(seconds)
  if seconds == nil then return "" end
  if seconds < 1 then return string.format("%d ms", math.floor(seconds * 1000 + 0.5)) end
  if seconds < 60 then return string.format("%.1f s", seconds) end
  return string.format("%d min %d s", seconds // 60, math.floor(seconds % 60))
end

return M
