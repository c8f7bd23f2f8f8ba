--- Discovery: files and directories on disk -> migrations.
--
-- The built-in discovery recognises, for every stem the naming scheme
-- accepts (001_create_users, 2025-10-20_0001_add_x, ...):
--
--   <stem>.sql                          one file: the up migration, or up and
--                                       down sections marked by comments
--   <stem>.up.sql + <stem>.down.sql     a pair
--   <stem>/up.sql (+ <stem>/down.sql)   a directory per migration
--   <stem>.lua                          a Lua migration: returns {up=, down=}
--
-- and a project can mix them. It returns what every discovery returns, so a
-- `discover` function in migrate.lua has the same contract:
--
--   discover(dir, scheme, opts) -> {
--     migrations = { {version=, name=, stem=, file=, path=, down_path=?} ... }
--                  in version order (file: path of the up file relative to dir,
--                  path: the same joined to dir),
--     ignored    = { {file=, reason=} ... },
--   }
-- lumi adds key, id and duplicates itself (see M.finish).
local errors = require "lumi.errors"
local fs = require "lumi.fs"

local M = {}

local find, sub, byte = string.find, string.sub, string.byte

--- The parts of a file name: stem and role ("single", "up", "down"), or
--- nil and why the file is not a migration.
function M.classify(file)
  -- plain finds anchored at the end: no pattern, no throwaway strings
  if find(file, ".sql", -4, true) and #file > 4 then
    if #file > 7 and find(file, ".up.sql", -7, true) then return sub(file, 1, -8), "up" end
    if #file > 9 and find(file, ".down.sql", -9, true) then return sub(file, 1, -10), "down" end
    return sub(file, 1, -5), "single"
  end
  if #file > 4 and find(file, ".lua", -4, true) then return sub(file, 1, -5), "lua" end
  return nil, "not a .sql or .lua file"
end

--- The built-in discovery (see above).
---@param opts table? {prefetch = function(paths)}: called with the path of
---   every up file as soon as the directory is listed, before the names are
---   parsed (the project starts hashing them meanwhile)
function M.discover(dir, scheme, opts)
  opts = opts or {}
  local names, err = fs.list(dir)
  if not names then
    errors.raise("config", string.format("cannot read the migrations directory %s: %s", dir, err),
      { hint = "create it, or set `dir` in migrate.lua / --dir" })
  end
  local subdirs = err                -- fs.list's second result: the subdirectories
  local prefix = dir .. "/"
  local out = { migrations = {}, ignored = {} }
  local migrations, ignored = out.migrations, out.ignored
  local ups = {}           -- stem -> migration (to attach .down.sql files)
  local downs = {}         -- stem -> file, for downs seen before their up
  local parse = scheme.parse

  -- the path of every entry's up file, listed at once for the prefetch
  local paths = {}
  for i = 1, #names do
    local file = names[i]
    if byte(file, 1) ~= 46 then
      paths[#paths + 1] = subdirs[file] and (prefix .. file .. "/up.sql") or (prefix .. file)
    end
  end
  if opts.prefetch then opts.prefetch(paths) end

  local k = 0              -- index into paths
  for i = 1, #names do
    local file = names[i]
    if byte(file, 1) == 46 then goto continue end    -- hidden: .gitkeep, editor files
    k = k + 1
    local stem, role
    if subdirs[file] then
      stem, role = file, "dir"
    else
      stem, role = M.classify(file)
      if not stem then
        ignored[#ignored + 1] = { file = file, reason = role }
        goto continue
      end
    end
    local parsed, why = parse(stem)
    if not parsed then
      ignored[#ignored + 1] = { file = file, reason = subdirs[file] and ("a directory: " .. why) or why }
      goto continue
    end
    if role == "down" then
      local m = ups[stem]
      if m and m.layout == "pair" then m.down_path = paths[k]
      else downs[stem] = file end
      goto continue
    end
    local mfile, mlayout, down_path = file, "file", nil
    if role == "dir" then
      if fs.kind(paths[k]) ~= "file" then
        ignored[#ignored + 1] = { file = file .. "/", reason = "a directory without up.sql" }
        goto continue
      end
      mfile, mlayout = file .. "/up.sql", "directory"
      if fs.kind(prefix .. file .. "/down.sql") == "file" then down_path = prefix .. file .. "/down.sql" end
    elseif role == "lua" then
      mlayout = "lua"
    elseif role == "up" then
      mlayout = "pair"
      if downs[stem] then down_path = prefix .. downs[stem]; downs[stem] = nil end
    end
    -- one constructor with every field (and room for key and id): no rehash
    local m = { version = parsed.version, name = parsed.name, stem = stem, path = paths[k], file = mfile,
                layout = mlayout, down_path = down_path, key = false, id = false }
    migrations[#migrations + 1] = m
    if not ups[stem] then ups[stem] = m end
    ::continue::
  end
  for stem, file in pairs(downs) do
    local m = ups[stem]
    if m and m.layout == "pair" then
      m.down_path = prefix .. file
    else
      ignored[#ignored + 1] = { file = file, reason = "a down migration without " .. stem .. ".up.sql" }
    end
  end
  table.sort(ignored, function(a, b) return a.file < b.file end)
  return out
end

--- Is an ignored entry {file=, reason=} most likely a migration with a
--- mistake in its name? A .sql file or a directory is; a README is not.
function M.misnamed(ig)
  return (ig.file:match("%.sql$") or ig.file:match("/$") or ig.reason:match("^a directory")) ~= nil
end

--- Complete what a discovery returned: keys, identities, version order,
--- and the migrations that share an identity.
---@param identity string "version" (default), "file" or "stem"
function M.finish(found, scheme, identity)
  local ms = found.migrations
  for _, m in ipairs(ms) do
    m.key = scheme.key(m.version)
    if identity == "file" then m.id = m.file
    elseif identity == "stem" then m.id = m.stem
    else m.id = m.key end
  end
  -- names are listed in byte order, which is version order for most schemes
  -- (zero-padded numbers, ISO dates): check in one pass, sort only if not
  for i = 2, #ms do
    if scheme.compare(ms[i].version, ms[i - 1].version) then
      table.sort(ms, function(a, b)
        if a.key == b.key then return a.file < b.file end
        return scheme.compare(a.version, b.version)
      end)
      break
    end
  end
  local seen, dups = {}, {}
  for _, m in ipairs(ms) do
    if seen[m.id] then
      dups[m.id] = dups[m.id] or { key = m.id, files = { seen[m.id].file } }
      table.insert(dups[m.id].files, m.file)
    else
      seen[m.id] = m
    end
  end
  found.duplicates = {}
  for _, d in pairs(dups) do found.duplicates[#found.duplicates + 1] = d end
  table.sort(found.duplicates, function(a, b) return a.files[1] < b.files[1] end)
  if #found.duplicates > 0 then
    -- keep the first of each identity; the others are reported, not run
    local kept = {}
    for _, m in ipairs(ms) do
      if seen[m.id] == m then kept[#kept + 1] = m end
    end
    found.migrations = kept
  end
  found.ignored = found.ignored or {}
  return found
end

return M
