--- Connection strings in output: passwords never shown.
--
-- A connection string (a postgresql:// URL or a "key=value ..." conninfo)
-- is read the way libpq reads it: by libpq itself (pg.conninfo_parse,
-- PQconninfoParse) for its values, and, for a URL, by libpq's rules for
-- where the password stands as written (the user part ends at the first
-- @ or /; parameters are split on &, their names percent-decoded).
local pg = require "lumi.pg"

local M = {}

-- the keywords whose values are secrets: the password, and the one that
-- unlocks the client's SSL key
local secret_keys = { password = true, sslpassword = true }

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- The URL's secrets as written: the password of its user part and the
-- values of its password parameters, each {first, last} in `rest`.
local function url_secrets(rest)
  local found = {}
  local stop = rest:find("[@/]")
  if stop and rest:sub(stop, stop) == "@" then
    local colon = rest:sub(1, stop - 1):find(":", 1, true)
    if colon then found[#found + 1] = { colon + 1, stop - 1 } end
  end
  local q = rest:find("?", 1, true)
  if q then
    local at = q + 1
    for kv in (rest:sub(q + 1) .. "&"):gmatch("([^&]*)&") do
      local key = kv:match("^([^=]*)=")
      if key and secret_keys[unescape(key)] then found[#found + 1] = { at + #key + 1, at + #kv - 1 } end
      at = at + #kv + 1
    end
  end
  return found
end

-- A conninfo value as written, quoted when it must be.
local function quote(v)
  if v ~= "" and not v:find("[%s'\\]") then return v end
  return "'" .. v:gsub("[\\']", "\\%0") .. "'"
end

-- Text that is not one connection string (a message quoting one, or a
-- string libpq cannot parse): passwords found by their usual shapes.
local function redact_text(s)
  s = s:gsub("(%a[%w+.-]*://[^/@:%s\"']*):[^@/%s\"']*@", "%1:***@")
  s = s:gsub("([?&]s?s?l?password=)[^&#%s\"']*", "%1***")
  s = s:gsub("(%f[%w_]s?s?l?password%s*=%s*)'[^']*'", "%1***")
  s = s:gsub("(%f[%w_]s?s?l?password%s*=%s*)([^%s'*][^%s]*)", "%1***")
  return s
end

--- The connection string s with its secrets replaced by ***: a URL as
--- written; a conninfo string rebuilt from what libpq parses (keywords in
--- alphabetical order); anything else by the usual shapes of a password.
function M.redact(s)
  if s == nil then return nil end
  local scheme, rest = s:match("^(postgres%w*://)(.*)$")
  if scheme then
    local out, i = {}, 1
    for _, f in ipairs(url_secrets(rest)) do
      out[#out + 1] = rest:sub(i, f[1] - 1) .. "***"
      i = f[2] + 1
    end
    return scheme .. table.concat(out) .. rest:sub(i)
  end
  local opts = pg.conninfo_parse(s)
  if not opts then return redact_text(s) end
  if not (opts.password or opts.sslpassword) then return s end
  local keys = {}
  for k in pairs(opts) do keys[#keys + 1] = k end
  table.sort(keys)
  for i, k in ipairs(keys) do keys[i] = k .. "=" .. (secret_keys[k] and "***" or quote(opts[k])) end
  return table.concat(keys, " ")
end

--- The secrets of connection string s, as libpq decodes them and as
--- written, longest first (for scrubbing messages that quote them).
function M.secrets(s)
  local out = {}
  if type(s) ~= "string" then return out end
  local function add(v) if v and v ~= "" then out[#out + 1] = v end end
  local opts = pg.conninfo_parse(s)
  if opts then
    for k in pairs(secret_keys) do add(opts[k]) end
  end
  local rest = s:match("^postgres%w*://(.*)$")
  if rest then
    for _, f in ipairs(url_secrets(rest)) do add(rest:sub(f[1], f[2])) end
  end
  table.sort(out, function(a, b) return #a > #b end)
  return out
end

--- message with every secret of connection string s replaced by ***, and
--- any connection string it quotes redacted.
function M.scrub(message, s)
  message = tostring(message)
  for _, secret in ipairs(M.secrets(s)) do
    local i = 1
    while true do
      local a, b = message:find(secret, i, true)
      if not a then break end
      message = message:sub(1, a - 1) .. "***" .. message:sub(b + 1)
      i = a + 3
    end
  end
  return redact_text(message)
end

return M
