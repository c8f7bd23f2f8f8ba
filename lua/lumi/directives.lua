--- The built-in directive reader: what a migration file says about how it
--- runs, in the comment lines at its top.
--
--   -- lumi: no-transaction
--   -- lumi: lock-timeout 5s           (PostgreSQL's lock_timeout for this file)
--   -- lumi: statement-timeout 10min   (its statement_timeout)
--   CREATE INDEX CONCURRENTLY users_email ON users (email);
--
-- Only the leading comments count: the lines before the first statement
-- (blank lines, `--` comments and `/* */` comments). A line there that is
-- exactly a directive sets a field; text below the first statement is
-- never read, so a directive-looking line inside a string, a function body
-- or a comment further down changes nothing. A leading comment that starts
-- like a lumi directive but is not exactly one (`-- lumi no-transaction`,
-- `/* lumi: no-transaction */`, `-- lumi: no_transaction`) is reported as
-- a problem, so that a typo is not silently a transaction.
--
-- The forms of other tools that mean the same are understood too, where
-- those tools put them: dbmate's `-- migrate:up transaction:false`, goose's
-- `-- +goose NO TRANSACTION` and sql-migrate's `-- +migrate Up
-- notransaction`.
--
-- read(text) -> fields, problems
--   fields:   {transaction = false, lock_timeout = s, statement_timeout = s}
--             as directives say (seconds), else {}
--   problems: { {line = n, message = "..."} ... } (near misses)
-- A migrate.lua replaces it with `directives = function(text, part) ... end`
-- returning the same.
local timeouts = require "lumi.timeouts"

local M = {}

-- the directive most files need, named in the message about a near miss
local DIRECTIVE = "-- lumi: no-transaction"

-- What a `--` comment says: fields, or nil and (for a near miss) a problem
-- message (true: the usual one).
local function line_comment(comment)
  local body = comment:match("^%-%-%s*(.-)%s*$")
  local word = body:match("^lumi%s*:%s*(.*)$")
  if word == "no-transaction" then return { transaction = false } end
  local setting, value = (word or ""):match("^(%a+%-timeout)%s+(%S+)$")
  local field = setting == "lock-timeout" and "lock_timeout" or setting == "statement-timeout" and "statement_timeout"
  if field then
    local seconds, why = timeouts.seconds(value)
    if seconds then return { [field] = seconds } end
    return nil, string.format("%q: %s", comment, why)
  end
  -- the same in other tools' words
  if body:match("^migrate:%a+%s") then
    for opt in body:gmatch("%s(%S+)") do
      if opt == "transaction:false" then return { transaction = false } end
    end
    return nil
  end
  if body:match("^%+goose%s+NO%s+TRANSACTION$") then return { transaction = false } end
  if body:match("^%+migrate%s+%a+%s+notransaction$") then return { transaction = false } end
  -- near misses: it starts like a lumi directive but is not one
  if body:lower():match("^lumi%f[%W]") then return nil, true end
  return nil
end

--- Read the directives of `text` (see above).
function M.read(text)
  local fields, problems = {}, {}
  local function near_miss(line, comment, message)
    problems[#problems + 1] = { line = line, message = type(message) == "string" and message
      or string.format("%q is not a lumi directive (did you mean %q?)", comment, DIRECTIVE) }
  end
  local i, len, line = 1, #text, 1
  if text:sub(1, 3) == "\239\187\191" then i = 4 end       -- a UTF-8 byte order mark
  while i <= len do
    local two = text:sub(i, i + 1)
    if two == "--" then
      local eol = text:find("\n", i, true) or len + 1
      local comment = text:sub(i, eol - 1):gsub("%s+$", "")
      local f, problem = line_comment(comment)
      if f then for k, v in pairs(f) do fields[k] = v end end
      if problem then near_miss(line, comment, problem) end
      i = eol
    elseif two == "/*" then
      -- block comments nest in PostgreSQL
      local first, depth, j = line, 1, i + 2
      while depth > 0 and j <= len do
        local t = text:sub(j, j + 1)
        if t == "/*" then depth, j = depth + 1, j + 2
        elseif t == "*/" then depth, j = depth - 1, j + 2
        else
          if t:sub(1, 1) == "\n" then line = line + 1 end
          j = j + 1
        end
      end
      local comment = text:sub(i, j - 1)
      if comment:match("^/%*%s*[Ll][Uu][Mm][Ii]%f[%W]") then
        near_miss(first, (comment:match("^[^\n]*"):gsub("%s+$", "")))
      end
      i = j
    else
      local c = text:sub(i, i)
      if c == "\n" then line = line + 1
      elseif not c:match("%s") then break          -- the first statement
      end
      i = i + 1
    end
  end
  return fields, problems
end

return M
