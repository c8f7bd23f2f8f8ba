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
  s.key = value.key or function(v) return v end
  return s
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
