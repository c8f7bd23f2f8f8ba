--- lumi list: the migration files the naming scheme recognises, in order,
--- and the files it ignores with why. Needs no database.
local fs = require "lumi.fs"

return {
  summary = "list migration files in order, and ignored files with why",
  usage = "lumi list",
  description = [[
Lists every file of the migrations directory that the naming scheme
recognises, in the order they apply, then every file it ignores with the
reason. Does not connect to the database.]],
  options = {},
  run = function(project)
    if fs.kind(project.config.migrations_dir) == nil then
      return { dir = project.config.migrations_dir, exists = false, migrations = {}, ignored = {} }
    end
    local found = project:discover()
    local dup = {}
    for _, d in ipairs(found.duplicates) do
      for _, f in ipairs(d.files) do dup[f] = d.key end
    end
    local list = {}
    for _, m in ipairs(found.migrations) do
      list[#list + 1] = { version = m.version, name = m.name, file = m.file, duplicate = dup[m.file] ~= nil,
                          down = m.down_path and m.down_path:sub(#project.config.migrations_dir + 2) or nil }
    end
    local discover = require "lumi.discover"
    for _, d in ipairs(found.duplicates) do
      for i = 2, #d.files do
        local stem = discover.classify(d.files[i]) or d.files[i]:gsub("/up%.sql$", "")
        local m = project.scheme.parse(stem)
        list[#list + 1] = { version = m.version, name = m.name, file = d.files[i], duplicate = true }
      end
    end
    -- the scan is in order: only the duplicates added above need placing
    if #found.duplicates > 0 then
      local key, compare = project.scheme.key, project.scheme.compare
      table.sort(list, function(a, b)
        if key(a.version) == key(b.version) then return a.file < b.file end
        return compare(a.version, b.version)
      end)
    end
    return { dir = project.config.migrations_dir, scheme = project.scheme.name,
             migrations = list, ignored = found.ignored, exists = fs.kind(project.config.migrations_dir) ~= nil }
  end,
}
