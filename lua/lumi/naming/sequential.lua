--- The `sequential` naming scheme: NNN_name (001_create_users.sql)
--
-- A naming scheme is a plain table of functions; this one is written with
-- the same contract a team uses for its own in migrate.lua. It sees stems:
-- the name of a migration without what the layout adds (".sql",
-- ".up.sql", a directory's "/up.sql").
--
--   scheme.name                        a label for messages
--   scheme.parse(stem)                 -> {version=, name=} | nil, why not
--   scheme.key(version)                -> the identity of a version (string)
--   scheme.compare(a, b)               -> true when version a sorts before b
--   scheme.next(migrations, name, now) -> the stem of a new migration
--   scheme.pattern                     how a stem looks, for messages
--
-- Versions are compared as numbers of any length, so 9 < 10 < 100 and
-- "007" is the same version as "7".
local M = {}

local byte, find, sub = string.byte, string.find, string.sub

-- versions are compared often while sorting: normalise each one once
local normal = {}
local function strip_zeros(v)
  if byte(v, 1) ~= 48 or #v == 1 then return v end   -- no leading zero
  local n = normal[v]
  if not n then
    local i = find(v, "[^0]")
    n = i and sub(v, i) or "0"
    normal[v] = n
  end
  return n
end

--- A sequential scheme. opts.width: digits of new versions (default 3).
function M.new(opts)
  opts = opts or {}
  local width = opts.width or 3
  local s = { name = "sequential", width = width, pattern = "NNN_name" }

  function s.parse(stem)
    local v, n = stem:match("^(%d+)_(.+)$")
    if v then return { version = v, name = n } end
    if stem:match("^%d+_?$") then return nil, "no name after the version (expected NNN_name)" end
    return nil, "does not start with a version number (expected NNN_name)"
  end

  function s.key(version)
    return strip_zeros(version)
  end

  function s.compare(a, b)
    if #a == #b then return a < b end   -- digits of one width: as strings
    a, b = strip_zeros(a), strip_zeros(b)
    if #a ~= #b then return #a < #b end
    return a < b
  end

  function s.next(migrations, name)
    local last = migrations[#migrations]
    local n, w = "1", width
    if last then
      -- one more, in decimal digits: versions may be longer than an integer
      local digits = strip_zeros(last.version)
      local i = #digits
      while i > 0 and digits:sub(i, i) == "9" do i = i - 1 end
      if i == 0 then n = "1" .. string.rep("0", #digits)
      else n = digits:sub(1, i - 1) .. string.char(digits:byte(i) + 1) .. string.rep("0", #digits - i) end
      w = math.max(w, #last.version)
    end
    return string.rep("0", w - #n) .. n .. "_" .. name
  end

  return s
end

return M
