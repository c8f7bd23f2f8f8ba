--- The `sequential` naming scheme: NNN_name.sql
--
-- A naming scheme is a plain table of functions; this one is written with
-- the same contract a team uses for its own in migrate.lua:
--
--   scheme.name                      a label for messages
--   scheme.parse(filename)           -> {version=, name=} | nil, why-ignored
--   scheme.key(version)              -> the identity of a version (string)
--   scheme.compare(a, b)             -> true when version a sorts before b
--   scheme.next(migrations, name, now) -> file name for a new migration
--
-- Versions are compared as numbers of any length, so 9 < 10 < 100 and
-- "007" is the same version as "7".
local M = {}

-- versions are compared often while sorting: normalise each one once
local normal = setmetatable({}, { __mode = "k" })
local function strip_zeros(v)
  local n = normal[v]
  if not n then
    n = v:gsub("^0+(%d)", "%1")
    normal[v] = n
  end
  return n
end

--- A sequential scheme. opts.width: digits of new versions (default 3).
function M.new(opts)
  opts = opts or {}
  local width = opts.width or 3
  local ext = opts.extension or ".sql"
  local s = { name = "sequential", width = width, extension = ext }

  local quick = "^(%d+)_(.+)" .. ext:gsub("%p", "%%%0") .. "$"

  function s.parse(filename)
    local v, n = filename:match(quick)
    if v then return { version = v, name = n } end
    if filename:sub(-#ext) ~= ext then
      return nil, "not a " .. ext .. " file"
    end
    local stem = filename:sub(1, -#ext - 1)
    local version, name = stem:match("^(%d+)_(.+)$")
    if not version then
      if stem:match("^%d+_?$") then return nil, "no name after the version (expected NNN_name" .. ext .. ")" end
      return nil, "does not start with a version number (expected NNN_name" .. ext .. ")"
    end
    return { version = version, name = name }
  end

  function s.key(version)
    return strip_zeros(version)
  end

  function s.compare(a, b)
    a, b = strip_zeros(a), strip_zeros(b)
    if #a ~= #b then return #a < #b end
    return a < b
  end

  function s.next(migrations, name)
    local last = migrations[#migrations]
    local n, w = 1, width
    if last then
      local digits = strip_zeros(last.version)
      n = math.tointeger(tonumber(digits)) + 1
      w = math.max(w, #last.version)
    end
    return string.format("%0" .. w .. "d_%s%s", n, name, ext)
  end

  return s
end

return M
