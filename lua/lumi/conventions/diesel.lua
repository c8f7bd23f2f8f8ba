--- Diesel's way: one directory per migration, <version>_<name>/up.sql and
--- down.sql, the version the text before the first `_` without its dashes
--- (2024-01-31-120000 -> 20240131120000), compared as text, as Diesel
--- does; a metadata.toml with `run_in_transaction = false` beside them
--- runs both parts without a transaction; plain files beside the
--- directories (schema.sql, diesel.toml) are not migrations. Diesel keeps
--- its history in __diesel_schema_migrations.
local discover, fs = require "lumi.discover", require "lumi.fs"

return {
  dir = "migrations",
  layout = "directory",
  no_transaction = "put `run_in_transaction = false` in a metadata.toml beside up.sql",
  naming = {
    name = "diesel",
    pattern = "YYYY-MM-DD-HHMMSS_name",
    parse = function(stem)
      local v, name = stem:match("^([^_]+)_(.+)$")
      if not v or not v:find("%d") then return nil, "not named <version>_<name>" end
      return { version = (v:gsub("%-", "")), name = name }
    end,
    compare = function(a, b) return a < b end,
    next = function(_, name) return os.date("!%Y-%m-%d-%H%M%S_") .. name end,
  },
  ignore = { "*.sql", "*.toml" },
  discover = function(dir, scheme)
    local found = discover.default(dir, scheme)
    for _, m in ipairs(found.migrations) do
      local meta = fs.read(dir .. "/" .. m.stem .. "/metadata.toml") or ""
      if meta:match("run_in_transaction%s*=%s*false") then
        m.transaction, m.down_transaction = false, false
      end
    end
    return found
  end,
}
