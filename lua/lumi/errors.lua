--- Errors as values with fields.
--
-- Every error lumi raises or returns is a table with at least `kind` and
-- `message`, and `exit_code` for the command line. Code that must branch on
-- an error branches on `kind` (and, for database errors, on `sqlstate`),
-- never on the text.
local M = {}

--- Exit codes, documented in the README. Distinct per kind of failure.
M.exit_codes = {
  ok = 0,
  migration = 1,    -- a migration failed (and was rolled back)
  usage = 2,        -- bad command line
  config = 2,       -- bad migrate.lua or environment
  validation = 3,   -- changed, missing, duplicate or unparsable files
  lock = 4,         -- another runner holds the migration lock
  connection = 5,   -- the database could not be reached
  interrupted = 130, -- SIGINT (128 + 2) stopped the run; SIGTERM gives 143
  internal = 70,    -- a bug: please report it
}

local Error = {}
Error.__index = Error
Error.__name = "lumi.Error"

function Error.__tostring(e)
  return e.message
end

--- Make an error value.
---@param kind string one of the keys of M.exit_codes
---@param message string what failed and why, in one sentence
---@param fields table? extra fields (file, line, hint, cause, ...)
function M.new(kind, message, fields)
  local e = fields or {}
  e.kind = kind
  e.message = message
  e.exit_code = e.exit_code or M.exit_codes[kind] or M.exit_codes.internal
  return setmetatable(e, Error)
end

--- Raise an error value (level 0: no position prefix on the message).
function M.raise(kind, message, fields)
  error(M.new(kind, message, fields), 0)
end

--- v as text, whatever it is: a __tostring that raises gives a
--- description instead of a second error.
function M.text(v)
  local ok, s = pcall(tostring, v)
  if ok and type(s) == "string" then return s end
  return "(an error value that cannot be shown: " .. type(v) .. ")"
end

--- Is v a lumi error (optionally of the given kind)?
function M.is(v, kind)
  return getmetatable(v) == Error and (kind == nil or v.kind == kind)
end

return M
