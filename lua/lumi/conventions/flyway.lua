--- Flyway's way: V<version>__<description>.sql, the version digits split
--- by dots or underscores (V1_2__x is version 1.2), compared part by part
--- as numbers (1.10 after 1.9; 1.0 is 1); U<version>__<description>.sql
--- undoes that version (lumi's down); R__<description>.sql is repeatable:
--- it runs after the versioned ones, again whenever its file changes, in
--- the order of the descriptions, and is never reverted. A
--- <file>.sql.conf with executeInTransaction=false runs that file without
--- a transaction. Subdirectories are searched, as Flyway does. Flyway's SQL
--- callbacks (beforeMigrate.sql, afterEachMigrate.sql, ...) are not
--- migrations: lumi names them (its hooks do that job). Flyway keeps its
--- history in flyway_schema_history.
local errors = require "lumi.errors"
local fs = require "lumi.fs"

-- "1.02.0" -> "1.2": leading zeros and trailing zero parts dropped (as
-- Flyway compares them), or nil when it is not a version
local function normal(v)
  if not v:match("^%d+$") and not v:match("^%d+[%.%d]*%d$") then return nil end
  local parts = {}
  for p in v:gmatch("[^.]+") do
    if p == "" then return nil end
    parts[#parts + 1] = p:gsub("^0+(%d)", "%1")
  end
  while #parts > 1 and parts[#parts] == "0" do parts[#parts] = nil end
  return table.concat(parts, ".")
end

-- a < b for two digit strings without leading zeros (no overflow: a
-- part may be a 14-digit timestamp or longer)
local function less(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end

-- the parts of a version, each once: a sort compares them often
local parts = {}
local function parts_of(v)
  local p = parts[v]
  if not p then
    p = {}
    for part in (normal(v) or v):gmatch("[^.]+") do p[#p + 1] = part end
    parts[v] = p
  end
  return p
end

local scheme = {
  name = "flyway",
  pattern = "V<version>__description",
  parse = function(stem)
    local kind, v, desc = stem:match("^([VUR])(.-)__(.+)$")
    if not kind then return nil, "not named V<version>__<description>, U<version>__ or R__<description>" end
    if kind == "R" then
      if v ~= "" then return nil, "a repeatable migration has no version: R__<description>" end
      return { version = "R__" .. desc, name = desc:gsub("_", " "), repeatable = true }
    end
    local version = v:gsub("_", ".")
    if not normal(version) then return nil, string.format("%q is not a version (digits split by . or _)", v) end
    return { version = version, name = desc:gsub("_", " "), undo = kind == "U" or nil }
  end,
  key = function(v)
    if v:sub(1, 3) == "R__" then return v end
    return normal(v) or v
  end,
  -- versions part by part, then the repeatable ones by description
  compare = function(a, b)
    local ra, rb = a:sub(1, 3) == "R__", b:sub(1, 3) == "R__"
    if ra or rb then
      if ra and rb then return a < b end
      return rb
    end
    local pa, pb = parts_of(a), parts_of(b)
    for i = 1, math.max(#pa, #pb) do
      local x, y = pa[i] or "0", pb[i] or "0"
      if x ~= y then return less(x, y) end
    end
    return false
  end,
  -- the next major version
  next = function(migrations, name)
    local top = "0"
    for _, m in ipairs(migrations) do
      local major = not m.repeatable and (normal(m.version) or ""):match("^%d+")
      if major and less(top, major) then top = major end
    end
    local n = math.tointeger(tonumber(top))
    if not n or n >= math.maxinteger then
      errors.raise("usage", "the newest version " .. top .. " is too large to count on from")
    end
    return "V" .. (n + 1) .. "__" .. name
  end,
}

-- Does <path>.conf (when the directory has one: `has`) say
-- executeInTransaction=false?
local function outside_transaction(path, has)
  if not has then return false end
  local conf = fs.read(path .. ".conf")
  return conf ~= nil and conf:match("executeInTransaction%s*=%s*false") ~= nil
end

local function discover(dir)
  local found, undo = { migrations = {}, ignored = {} }, {}
  local function walk(rel)
    local here = rel == "" and dir or (dir .. "/" .. rel)
    local names, subdirs = fs.list(here)
    if not names then
      errors.raise("config", string.format("cannot read the migrations directory %s: %s", here, subdirs),
        { hint = "create it, or set `dir` in migrate.lua / --dir" })
    end
    local present = {}
    for _, name in ipairs(names) do present[name] = true end
    for _, name in ipairs(names) do
      local file = rel == "" and name or (rel .. "/" .. name)
      local path = dir .. "/" .. file
      -- hidden files (.gitkeep, editor files) are passed over, and a
      -- .sql.conf is read with its migration
      if name:sub(1, 1) == "." or name:match("%.sql%.conf$") then
        goto continue
      end
      if subdirs[name] then
        walk(file)
      elseif not name:match("%.sql$") then
        found.ignored[#found.ignored + 1] = { file = file, reason = "not a .sql file", misnamed = false }
      elseif name:match("^before%u") or name:match("^after%u") then
        found.ignored[#found.ignored + 1] = { file = file, misnamed = true, reason = "a Flyway callback (write it as "
          .. "a hook in migrate.lua, or list it in `ignore`)" }
      else
        local parsed, why = scheme.parse(name:sub(1, -5))
        if not parsed then
          found.ignored[#found.ignored + 1] = { file = file, reason = why }
        elseif parsed.undo then
          undo[scheme.key(parsed.version)] = { path = path, file = file, conf = present[name .. ".conf"] }
        else
          local m = { version = parsed.version, name = parsed.name, stem = name:sub(1, -5), file = file, path = path,
                      layout = "file", repeatable = parsed.repeatable,
                      down_file = not parsed.repeatable and ((file:match("^(.*/)") or "") .. "U" .. name:sub(2)) or nil }
          if outside_transaction(path, present[name .. ".conf"]) then m.transaction = false end
          found.migrations[#found.migrations + 1] = m
        end
      end
      ::continue::
    end
  end
  walk("")
  for _, m in ipairs(found.migrations) do
    local u = undo[scheme.key(m.version)]
    if u then
      m.down_path, m.layout, undo[scheme.key(m.version)] = u.path, "pair", nil
      if outside_transaction(u.path, u.conf) then m.down_transaction = false end
    end
  end
  for _, u in pairs(undo) do
    found.ignored[#found.ignored + 1] = { file = u.file, reason = "an undo migration without its V file" }
  end
  table.sort(found.ignored, function(a, b) return a.file < b.file end)
  return found
end

return {
  dir = "sql",
  layout = "file",
  no_transaction = "put `executeInTransaction=false` in a <file>.conf beside it",
  table = "lumi_migrations",
  naming = scheme,
  discover = function(dir, _) return discover(dir) end,
}
