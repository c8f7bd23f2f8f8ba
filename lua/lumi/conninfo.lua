--- Connection strings in output: passwords never shown.
--
-- A connection string (a postgresql:// URL or a "key=value ..." conninfo)
-- is read the way libpq reads it: by libpq itself (pg.conninfo_parse,
-- PQconninfoParse) for its values, and, for a URL, by libpq's rules for
-- where the password stands as written (the user part ends at the first
-- @ or /; parameters are split on &, their names percent-decoded).
local M = {}

-- libpq's own parser (loaded when a connection string is first read: a
-- command that never connects never maps libpq)
local function parse(s) return require("lumi.pg").conninfo_parse(s) end

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

-- password='...' values in text, whose backslash escapes (\' and \\) do
-- not end them, replaced by *** (a guess by their shape, for text that
-- quotes a connection string lumi was never given).
local function redact_quoted(s)
  local out, i = {}, 1
  while true do
    local a, b = s:find("%f[%w_]s?s?l?password%s*=%s*'", i)
    if not a then break end
    local j = b + 1
    while j <= #s do
      local c = s:sub(j, j)
      -- the closing quote is followed by the end, a space or what closes
      -- a quotation around the whole (a value quoted again by %q doubles
      -- its backslashes: \\' there does not end it)
      if c == "\\" then j = j + 2
      elseif c == "'" and s:sub(j + 1, j + 1):find("^[%s\"',);]?$") then break
      else j = j + 1 end
    end
    out[#out + 1] = s:sub(i, b - 1) .. "***"
    i = j + 1
  end
  out[#out + 1] = s:sub(i)
  return table.concat(out)
end

-- Text that is not one connection string (a message quoting one, or a
-- string libpq cannot parse): passwords found by their usual shapes.
local function redact_text(s)
  s = s:gsub("(%a[%w+.-]*://[^/@:%s\"']*):[^@/%s\"']*@", "%1:***@")
  s = s:gsub("([?&]s?s?l?password=)[^&#%s\"']*", "%1***")
  s = redact_quoted(s)
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
  local opts = parse(s)
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
  -- each also as Lua's %q writes it (a message may quote s that way)
  local function add(v)
    if v and v ~= "" then
      out[#out + 1] = v
      local q = string.format("%q", v):sub(2, -2)
      if q ~= v then out[#out + 1] = q end
    end
  end
  local opts = parse(s)
  if opts then
    -- and as a conninfo string writes them: escaped, quoted
    for k in pairs(secret_keys) do
      add(opts[k])
      if opts[k] then add(quote(opts[k])); add((opts[k]:gsub("[\\']", "\\%0"))) end
    end
  end
  local rest = s:match("^postgres%w*://(.*)$")
  if rest then
    for _, f in ipairs(url_secrets(rest)) do add(rest:sub(f[1], f[2])) end
  end
  table.sort(out, function(a, b) return #a > #b end)
  return out
end

-- the secrets this process was given: those of every connection string
-- lumi connects with or was configured with, and PGPASSWORD
local known, known_list = {}, {}

local function remember_secret(v)
  if type(v) ~= "string" or v == "" or known[v] then return end
  known[v] = true
  known_list[#known_list + 1] = v
  table.sort(known_list, function(a, b) return #a > #b end)
end

remember_secret(os.getenv("PGPASSWORD"))

--- Remember the secrets of connection string s: every message scrubbed
--- after this hides them, wherever it came from.
function M.remember(s)
  for _, v in ipairs(M.secrets(s)) do remember_secret(v) end
end

-- message with `secret` replaced by *** (a short one only where it stands
-- alone, not inside a longer word: "pw" must not mangle every "pwd")
local function hide(message, secret)
  if #secret < 4 then
    local esc = secret:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")
    return (message:gsub("%f[%w]" .. esc .. "%f[%W]", "***"))
  end
  local i = 1
  while true do
    local a, b = message:find(secret, i, true)
    if not a then return message end
    message = message:sub(1, a - 1) .. "***" .. message:sub(b + 1)
    i = a + 3
  end
end

--- message with every secret of connection string s, and every secret
--- remembered, replaced by ***, and any connection string it quotes
--- redacted.
function M.scrub(message, s)
  message = tostring(message)
  for _, secret in ipairs(M.secrets(s)) do message = hide(message, secret) end
  for _, secret in ipairs(known_list) do
    if message:find(secret, 1, true) then message = hide(message, secret) end
  end
  if message:find("://", 1, true) or message:find("password", 1, true) then return redact_text(message) end
  return message
end

--- Connection string s leading to database `name` instead (a URL's path
--- replaced, or dbname= added to a key=value string: libpq takes the last).
function M.with_dbname(s, name)
  local scheme_host, rest = s:match("^(postgres[q]?[l]?://[^/?]*)(.*)$")
  if scheme_host then
    local query = rest:match("(%?.*)$") or ""
    return scheme_host .. "/" .. name .. query
  end
  return s .. " dbname='" .. name:gsub("\\", "\\\\"):gsub("'", "\\'") .. "'"
end

--- Why connection string s cannot be passed to libpq safely, or nil: a URL
--- whose user name or password holds an @ or / that is not percent-encoded
--- ("postgres://u:p@ss@host"), which libpq would split in the wrong place
--- and then quote — the password with it — in its error messages.
function M.misencoded(s)
  local rest = type(s) == "string" and s:match("^postgres%w*://(.*)$")
  if not rest then return nil end
  local head = rest:match("^[^?]*")
  local first = head:find("[@/]")
  if not first then return nil end
  if head:find("@", first + 1, true) then
    return "the database URL holds an @ or / in its user name or password that is not percent-encoded: "
      .. "write @ as %40 and / as %2F (the URL is not shown: it holds a password)"
  end
  return nil
end

--- What makes s no connection string libpq takes (another database's
--- URL, an unknown keyword, a syntax error), or nil: said before any
--- connection is tried, without s itself (it may hold a password).
function M.invalid(s)
  if type(s) ~= "string" or s == "" then return nil end
  local scheme = s:match("^(%a[%w+.-]*)://")
  if scheme and scheme ~= "postgresql" and scheme ~= "postgres" then
    return string.format("the database URL is a %s:// URL: lumi connects to PostgreSQL (postgresql://...)", scheme)
  end
  local ok, err = parse(s)
  if not ok then return "the database connection string is not valid: " .. M.scrub(tostring(err), s) end
  return nil
end

return M
