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
--   discover(dir, scheme) -> {
--     migrations = { migration ... } in version order,
--     ignored    = { {file=, reason=, misnamed=?} ... },
--   }
--
-- A migration is a plain table, the public contract between discovery, a
-- naming scheme, hooks and the runner:
--   version, name   from the naming scheme (parse may add fields: they are
--                   copied, so a scheme can say transaction = false)
--   stem            the name without what the layout adds
--   file, path      the up part, relative to dir and joined to it
--   down_path       the down part's file, if any
--   down_file       where a down part would go, for messages (optional:
--                   the layout says it otherwise)
--   repeatable      true: run again whenever the file changes, after the
--                   versioned ones (Flyway's R__ files); never reverted
--   layout          "file", "pair", "directory" or "lua"
--   transaction     false: the up part runs without a transaction (nil:
--                   its directives decide); down_transaction: the same for
--                   the down part
-- lumi adds key, id and duplicates itself (see M.finish), and applies the
-- `ignore` setting to whatever a discovery returns.
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
function M.default(dir, scheme)
  local names, err = fs.list(dir)
  local subdirs = err                -- fs.list's second result: the subdirectories
  if not names then
    local kind = fs.kind(dir)
    local why = kind == nil and "no such directory" or kind ~= "directory" and "not a directory" or err
    errors.raise("config", string.format("cannot read the migrations directory %s: %s", dir, why),
      { hint = "create it, or set `dir` in migrate.lua / --dir" })
  end
  local prefix = dir .. "/"
  local out = { migrations = {}, ignored = {} }
  local migrations, ignored = out.migrations, out.ignored
  local ups = {}           -- stem -> migration (to attach .down.sql files)
  local downs = {}         -- stem -> file, for downs seen before their up
  local parse = scheme.parse

  for i = 1, #names do
    local file = names[i]
    if byte(file, 1) == 46 then goto continue end    -- hidden: .gitkeep, editor files
    local dir_entry = subdirs[file]
    local path = dir_entry and (prefix .. file .. "/up.sql") or (prefix .. file)
    local stem, role
    if dir_entry then
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
      ignored[#ignored + 1] = { file = file, reason = dir_entry and ("a directory: " .. why) or why }
      goto continue
    end
    if role == "down" then
      local m = ups[stem]
      if m and m.layout == "pair" then m.down_path = path
      else downs[stem] = file end
      goto continue
    end
    local mfile, mlayout, down_path = file, "file", nil
    if role == "dir" then
      if fs.kind(path) ~= "file" then
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
    local m = { version = parsed.version, name = parsed.name, stem = stem, path = path, file = mfile,
                layout = mlayout, down_path = down_path, key = false, id = false }
    -- what else the scheme says about it (transaction = false, ...)
    for field, v in pairs(parsed) do if m[field] == nil then m[field] = v end end
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
--- mistake in its name? A .sql file or a directory is; a README is not;
--- an entry the `ignore` setting names never is.
function M.misnamed(ig)
  if ig.misnamed ~= nil then return ig.misnamed end
  return (ig.file:match("%.sql$") or ig.file:match("/$") or ig.reason:match("^a directory")) ~= nil
end

-- A glob (* within a name, ? one character, ** across directories) as a
-- Lua pattern anchored at both ends.
local function glob_pattern(glob)
  local out = glob:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0")
  out = out:gsub("%*%*", "\0"):gsub("%*", "[^/]*"):gsub("%?", "[^/]"):gsub("\0", ".*")
  return "^" .. out .. "$"
end

--- The `ignore` setting as a function(file) -> true when the file (a path
--- relative to the migrations directory) is not a migration; nil without
--- a setting.
function M.ignorer(setting)
  if setting == nil then return nil end
  if type(setting) == "function" then return function(file) return setting(file) and true or false end end
  local patterns = {}
  for i, glob in ipairs(setting) do patterns[i] = glob_pattern(glob) end
  return function(file)
    local bare = file:gsub("/$", "")
    for _, p in ipairs(patterns) do
      if file:match(p) or bare:match(p) then return true end
    end
    return false
  end
end

--- Complete what a discovery returned: the `ignore` setting applied (as a
--- function, see M.ignorer), keys, identities, version order, and the
--- migrations that share an identity.
---@param identity string "version" (default), "file" or "stem"
function M.finish(found, scheme, identity, ignore)
  found.ignored = found.ignored or {}
  local ms = found.migrations
  if ignore then
    ms = {}
    for _, m in ipairs(found.migrations) do
      if ignore(m.file) or ignore(m.stem) then
        found.ignored[#found.ignored + 1] = { file = m.file, reason = "matched by `ignore`", misnamed = false }
      else
        ms[#ms + 1] = m
      end
    end
    found.migrations = ms
    for _, ig in ipairs(found.ignored) do
      if ignore(ig.file) then ig.misnamed, ig.reason = false, "matched by `ignore`" end
    end
  end
  -- a name PostgreSQL cannot store (the tracking table's columns are text)
  -- is reported like a misnamed file, not run
  local named = {}
  for _, m in ipairs(ms) do
    if utf8.len(m.file) then named[#named + 1] = m
    else
      found.ignored[#found.ignored + 1] = { file = m.file, misnamed = true,
        reason = "its name is not valid UTF-8, which the tracking table cannot hold: rename it" }
    end
  end
  if #named < #ms then ms = named; found.migrations = ms end
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
  return found
end

return M
