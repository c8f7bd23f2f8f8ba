--- Prisma's way: one directory per migration, <timestamp>_<name>/ with
--- its migration.sql (no down: Prisma has none), applied in the order of
--- the names; migration_lock.toml beside them is not a migration. Prisma
--- keeps its history in _prisma_migrations.
local fs = require "lumi.fs"

return {
  dir = "prisma/migrations",
  naming = {
    name = "prisma",
    pattern = "YYYYMMDDHHMMSS_name",
    parse = function(stem)
      local v, name = stem:match("^(%d+)_(.+)$")
      if not v then return nil, "not named <timestamp>_<name>" end
      return { version = v, name = name }
    end,
    compare = function(a, b) return a < b end,
    next = function(_, name) return os.date("!%Y%m%d%H%M%S_") .. name end,
  },
  ignore = { "migration_lock.toml" },
  discover = function(dir, scheme)
    local found = { migrations = {}, ignored = {} }
    local names, dirs = fs.list(dir)
    for _, name in ipairs(names or {}) do
      local parsed = dirs[name] and scheme.parse(name)
      if parsed and fs.kind(dir .. "/" .. name .. "/migration.sql") == "file" then
        local m = { stem = name, file = name .. "/migration.sql", path = dir .. "/" .. name .. "/migration.sql",
                    layout = "directory" }
        for k, v in pairs(parsed) do m[k] = v end
        found.migrations[#found.migrations + 1] = m
      else
        found.ignored[#found.ignored + 1] = { file = name, misnamed = dirs[name] and true or nil,
          reason = dirs[name] and "not a <timestamp>_<name> directory with a migration.sql" or "not a migration directory" }
      end
    end
    table.sort(found.migrations, function(a, b) return scheme.compare(a.version, b.version) end)
    return found
  end,
}
