--- node-pg-migrate's way: migrations/<timestamp>_<name>.sql, the version
--- the digits before the first `_` (milliseconds since 1970 when
--- node-pg-migrate creates it; or its utc format), applied in numeric
--- order; `-- Up Migration` and `-- Down Migration` lines split a file.
--- A migration in JavaScript or TypeScript beside them is an error that
--- names it: lumi runs SQL and Lua. node-pg-migrate keeps its history in
--- pgmigrations, by file name without its extension.
local discover = require "lumi.discover"
local errors = require "lumi.errors"

local seq = require("lumi.naming").sequential()

return {
  dir = "migrations",
  layout = "sections",
  naming = {
    name = "node-pg-migrate",
    pattern = "<timestamp>_name",
    parse = seq.parse,
    key = seq.key,
    compare = seq.compare,
    -- as `node-pg-migrate create`: the time in milliseconds
    next = function(_, name, now)
      return string.format("%d_%s", math.floor((now or os.time()) * 1000), name)
    end,
  },
  discover = function(dir, scheme)
    local found = discover.default(dir, scheme)
    for _, ig in ipairs(found.ignored) do
      if ig.file:match("^%d+_.*%.[jt]s$") or ig.file:match("^%d+_.*%.[cm]js$") then
        errors.raise("validation", string.format("%s/%s is a node-pg-migrate migration written in JavaScript: lumi "
          .. "runs SQL and Lua migrations", dir, ig.file), { hint = "write it as SQL (node-pg-migrate's `-- Up "
          .. "Migration` form) or as a Lua migration, or apply it with node-pg-migrate before switching" })
      end
    end
    return found
  end,
}
