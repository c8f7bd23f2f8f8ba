--- Discover migrations on disk through a naming scheme.
--
-- source.scan(dir, scheme) -> {
--   migrations = { {version=, name=, file=, path=, key=} ... } in version order,
--   ignored    = { {file=, reason=} ... },
--   duplicates = { {key=, files={...}} ... },   -- two files, one version
-- } or raises a config error when dir cannot be read.
local errors = require "lumi.errors"
local fs = require "lumi.fs"

local M = {}

---@param prefetch function? called with the paths of every listed entry
---   before they are parsed (the project starts hashing them meanwhile)
function M.scan(dir, scheme, prefetch)
  local names, err = fs.list(dir)
  if not names then
    errors.raise("config", string.format("cannot read the migrations directory %s: %s", dir, err),
      { hint = "create it, or set `dir` in migrate.lua / --dir" })
  end
  local out = { migrations = {}, ignored = {}, duplicates = {}, dir = dir }
  local by_key = {}
  local subdirs = fs.subdirs(dir)
  if prefetch then
    local paths = {}
    for _, file in ipairs(names) do
      if not subdirs[file] and file:byte(1) ~= 46 then paths[#paths + 1] = dir .. "/" .. file end
    end
    prefetch(paths)
  end
  for _, file in ipairs(names) do
    local path = dir .. "/" .. file
    if file:byte(1) == 46 then   -- "."
      -- hidden files (editor swap files, .gitkeep) are not listed at all
    elseif subdirs[file] then
      out.ignored[#out.ignored + 1] = { file = file, reason = "not a regular file" }
    else
      local m, why = scheme.parse(file)
      if m then
        m.file, m.path = file, path
        m.key = scheme.key(m.version)
        if by_key[m.key] then
          by_key[m.key][#by_key[m.key] + 1] = m
        else
          by_key[m.key] = { m }
          out.migrations[#out.migrations + 1] = m
        end
      else
        out.ignored[#out.ignored + 1] = { file = file, reason = why or "not recognised by the naming scheme" }
      end
    end
  end
  for key, ms in pairs(by_key) do
    if #ms > 1 then
      local files = {}
      for i, m in ipairs(ms) do files[i] = m.file end
      out.duplicates[#out.duplicates + 1] = { key = key, files = files }
    end
  end
  table.sort(out.duplicates, function(a, b) return a.files[1] < b.files[1] end)
  -- names are listed in byte order, which is version order for most schemes
  -- (zero-padded numbers, ISO dates): check in one pass, sort only if not
  local ms = out.migrations
  for i = 2, #ms do
    if scheme.compare(ms[i].version, ms[i - 1].version) then
      table.sort(ms, function(a, b) return scheme.compare(a.version, b.version) end)
      break
    end
  end
  return out
end

return M
