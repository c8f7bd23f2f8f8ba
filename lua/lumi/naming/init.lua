--- Naming schemes: the built-in ones by name, and checking of custom ones.
--
--   require("lumi.naming").sequential { width = 4 }
--   require("lumi.naming").dated()
--   require("lumi.naming").timestamp()
--   require("lumi.naming").resolve("dated")      -- what config does
local errors = require "lumi.errors"

local M = {}

M.builtin = { "sequential", "dated", "timestamp" }

for _, name in ipairs(M.builtin) do
  M[name] = function(opts) return require("lumi.naming." .. name).new(opts) end
end

local required = { "parse", "compare", "next" }

--- Turn the config value of `naming` into a scheme table, or raise a
--- config error saying what is wrong.
---@param value string|table
---@param where string the config key path, for messages
function M.resolve(value, where)
  where = where or "naming"
  if type(value) == "string" then
    local known = false
    for _, b in ipairs(M.builtin) do known = known or b == value end
    if not known then
      errors.raise("config", string.format("%s: unknown naming scheme %q (built-in: %s)",
        where, value, table.concat(M.builtin, ", ")))
    end
    return M[value]()
  end
  if type(value) ~= "table" then
    errors.raise("config", string.format("%s: must be a scheme name or a table of functions, got %s", where, type(value)))
  end
  for _, f in ipairs(required) do
    if type(value[f]) ~= "function" then
      errors.raise("config", string.format("%s.%s: a naming scheme needs a function `%s` (see README: naming schemes)", where, f, f))
    end
  end
  local s = setmetatable({}, { __index = value })
  s.name = value.name or "custom"
  -- migrate.lua's functions: what they raise or return wrongly is a
  -- config error naming them, not a crash somewhere in lumi
  for _, f in ipairs({ "parse", "compare", "next", "key" }) do
    if value[f] then s[f] = M.guard(where .. "." .. f, value[f], f == "parse" and M.check_parsed or nil) end
  end
  s.key = s.key or function(v) return v end
  return s
end

--- fn, whose errors become config errors naming `what`, and whose first
--- result check(result) may refuse (it returns what is wrong).
function M.guard(what, fn, check)
  return function(...)
    local ok, a, b = pcall(fn, ...)
    if not ok then
      if errors.is(a) then error(a, 0) end
      errors.raise("config", string.format("%s raised: %s", what, errors.text(a)))
    end
    local bad = check and check(a)
    if bad then errors.raise("config", string.format("%s %s", what, bad)) end
    return a, b
  end
end

--- What is wrong with a result of parse(file), or nil.
function M.check_parsed(r)
  if r == nil or r == false then return nil end
  if type(r) ~= "table" then
    return string.format("returned a %s: it must return a table {version = \"...\", name = \"...\"}, "
      .. "or nil for a file that is not a migration", type(r))
  end
  if type(r.version) ~= "string" or r.version == "" then
    return string.format("returned version = %s (a %s): a version is a non-empty string", tostring(r.version),
      type(r.version))
  end
  if r.name ~= nil and type(r.name) ~= "string" then
    return string.format("returned name = %s (a %s): a name is a string", tostring(r.name), type(r.name))
  end
  return nil
end

--- A file name safe to create from what the user typed after `lumi new`:
--- snake_case (words split at spaces, punctuation and camelCase humps;
--- ASCII letters lowered, other letters kept), never a path.
function M.sanitize(name)
  local s = name
    :gsub("(%u)(%u%l)", "%1_%2")           -- HTTPServer -> HTTP_Server
    :gsub("([%l%d])(%u)", "%1_%2")          -- addUsers -> add_Users
    :lower()                                -- ASCII only: other letters are kept as they are
    :gsub("[^%w\128-\255]+", "_")          -- anything else between words -> _
    :gsub("_+", "_"):gsub("^_", ""):gsub("_$", "")
  if s == "" then return nil end
  return s
end

return M
