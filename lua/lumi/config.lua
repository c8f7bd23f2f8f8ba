--- Configuration: defaults ⊕ migrate.lua ⊕ environment ⊕ flags.
--
-- migrate.lua is plain Lua with the whole standard library (and luaposix,
-- and lumi's own modules through require). It returns a table; every key
-- is checked against the schema below, so a typo is an error that names
-- the key and suggests the nearest known one, not a silently ignored line.
local errors = require "lumi.errors"
local fs = require "lumi.fs"

local M = {}

M.defaults = {
  dir = "migrations",
  naming = "sequential",
  table = "schema_migrations",
  lock_timeout = 60,
  out_of_order = "stop",
  on_changed = "stop",
}

local function is_name(v) return type(v) == "string" and v:match("^[%a_][%w_$]*$") ~= nil end

--- The keys migrate.lua may set: type(s) accepted and a check.
M.schema = {
  database = {
    types = { string = true, ["function"] = true },
    doc = "connection URL or conninfo string (or a function returning one)",
  },
  dir = { types = { string = true }, doc = "directory of migration files, relative to migrate.lua" },
  naming = {
    types = { string = true, table = true },
    doc = "naming scheme: \"sequential\", \"dated\", or a table of functions",
  },
  table = {
    types = { string = true },
    doc = "tracking table, \"name\" or \"schema.name\"",
    check = function(v)
      local schema, name = v:match("^([^.]+)%.([^.]+)$")
      if schema then
        if is_name(schema) and is_name(name) then return true end
      elseif is_name(v) then
        return true
      end
      return false, "must be \"name\" or \"schema.name\" made of letters, digits and underscores"
    end,
  },
  lock_timeout = {
    types = { number = true },
    doc = "seconds to wait for another runner's lock before giving up",
    check = function(v) return v >= 0, "must be zero or more seconds" end,
  },
  out_of_order = {
    types = { string = true },
    doc = "\"stop\" or \"apply\": what `up` does with a pending migration older than the newest applied one",
    check = function(v) return v == "stop" or v == "apply", "must be \"stop\" or \"apply\"" end,
  },
  on_changed = {
    types = { string = true },
    doc = "\"stop\" or \"warn\": what `up` does when an applied file has changed",
    check = function(v) return v == "stop" or v == "warn", "must be \"stop\" or \"warn\"" end,
  },
}

-- Levenshtein distance, for "did you mean".
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

--- The known key nearest to `key`, if it is near enough to be a typo.
function M.suggest(key, known)
  local best, bestd
  for k in pairs(known) do
    local d = distance(key:lower(), k:lower())
    if not bestd or d < bestd or (d == bestd and k < best) then best, bestd = k, d end
  end
  if best and bestd <= math.max(2, #key // 3) then return best end
end

--- Check a config table against a schema; raise a config error at the
--- first problem, naming the key path (prefix .. key).
function M.check(t, schema, prefix, source)
  prefix = prefix or ""
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local v = t[k]
    local path = prefix .. tostring(k)
    local spec = type(k) == "string" and schema[k]
    if not spec then
      local hint = type(k) == "string" and M.suggest(k, schema)
      errors.raise("config", string.format("%s: unknown key %q%s", source, path,
        hint and string.format(" (did you mean %q?)", prefix .. hint) or ""),
        { key = path, suggestion = hint and prefix .. hint })
    end
    if not spec.types[type(v)] then
      local want = {}
      for ty in pairs(spec.types) do want[#want + 1] = ty end
      table.sort(want)
      errors.raise("config", string.format("%s: key %q must be a %s (%s), got %s",
        source, path, table.concat(want, " or "), spec.doc, type(v)), { key = path })
    end
    if spec.check then
      local ok, why = spec.check(v)
      if not ok then
        errors.raise("config", string.format("%s: key %q %s, got %s", source, path, why,
          type(v) == "string" and string.format("%q", v) or tostring(v)), { key = path })
      end
    end
  end
end

--- Load migrate.lua (or another file) and return its table, or raise.
function M.load_file(path)
  local env = setmetatable({}, { __index = _G })
  local chunk, err = loadfile(path, "t", env)
  if not chunk then
    errors.raise("config", "cannot load " .. err, { file = path })
  end
  local ok, result = pcall(chunk)
  if not ok then
    if errors.is(result) then error(result, 0) end
    errors.raise("config", string.format("%s raised an error: %s", path, tostring(result)), { file = path })
  end
  if type(result) ~= "table" then
    errors.raise("config", string.format("%s must return a table of settings, returned %s", path, type(result)),
      { file = path })
  end
  return result
end

--- Build the configuration.
---@param opts table {config=path?, cwd=dir?, env=table|function?, flags=table?}
---   flags: values from the command line (database, dir, ...) — they win.
---@return table config with .root (directory of migrate.lua or cwd) and .file
function M.load(opts)
  opts = opts or {}
  local getenv = opts.getenv or os.getenv
  local cwd = opts.cwd or "."
  local cfg = {}
  for k, v in pairs(M.defaults) do cfg[k] = v end

  local file = opts.config
  if file then
    if not fs.kind(file) then
      errors.raise("config", string.format("config file %s does not exist", file), { file = file })
    end
  else
    local candidate = fs.join(cwd, "migrate.lua")
    if fs.exists(candidate) then file = candidate end
  end
  cfg.root = cwd
  if file then
    local t = M.load_file(file)
    M.check(t, M.schema, "", file)
    for k, v in pairs(t) do cfg[k] = v end
    cfg.file = file
    cfg.root = fs.dirname(file)
  end

  local url = getenv("DATABASE_URL")
  if url and url ~= "" then cfg.database = url end

  local flags = opts.flags or {}
  for k, v in pairs(flags) do
    if v ~= nil then
      if not M.schema[k] then
        errors.raise("usage", string.format("unknown setting %q", k))
      end
      cfg[k] = v
    end
  end
  M.check(flags, M.schema, "", "command line")

  if type(cfg.database) == "function" then
    local ok, v = pcall(cfg.database, cfg)
    if not ok or type(v) ~= "string" then
      errors.raise("config", string.format("%s: the `database` function %s", cfg.file or "migrate.lua",
        ok and ("returned " .. type(v) .. ", not a string") or ("raised: " .. tostring(v))))
    end
    cfg.database = v
  end
  cfg.migrations_dir = fs.join(cfg.root, cfg.dir)
  return cfg
end

--- Text (a connection string, or a message quoting one) with every
--- password replaced by ***, for output: URL user:password@, URL
--- ?password=, and conninfo password=value or password='quoted value'.
function M.redact(s)
  if s == nil then return nil end
  s = s:gsub("(%a[%w+.-]*://[^/@:%s\"']*):[^@/%s\"']*@", "%1:***@")   -- URL user:password@
  s = s:gsub("([?&]password=)[^&#%s\"']*", "%1***")                  -- URL ?password=
  -- conninfo: password = value | 'value with \' escapes'
  local out, i = {}, 1
  while true do
    local a, b = s:find("%f[%w_]password%s*=%s*", i)
    if not a then break end
    out[#out + 1] = s:sub(i, b)
    local j = b + 1
    if s:sub(j, j) == "'" then
      j = j + 1
      while j <= #s do
        local c = s:sub(j, j)
        if c == "\\" then j = j + 2
        elseif c == "'" then j = j + 1; break
        else j = j + 1 end
      end
    elseif s:sub(j, j + 2) == "***" then
      j = j + 3
    else
      while j <= #s and not s:sub(j, j):match("[%s&]") do j = j + 1 end
    end
    out[#out + 1] = "***"
    i = j
  end
  out[#out + 1] = s:sub(i)
  return table.concat(out)
end

return M
