--- dbmate's way: db/migrations/<version>_<name>.sql, the version the
--- digits the name starts with (a UTC timestamp when dbmate creates it),
--- applied in the order of the file names; `-- migrate:up` and
--- `-- migrate:down` sections, `transaction:false` on a section's marker
--- line for a part that runs without a transaction (lumi's directive
--- reader knows both). dbmate keeps its history in schema_migrations:
--- lumi keeps its own beside it, in lumi_migrations.
local timestamp = require("lumi.naming").timestamp()

return {
  dir = "db/migrations",
  layout = "sections",
  no_transaction = "end the section's marker line with `transaction:false` (-- migrate:up transaction:false)",
  table = "lumi_migrations",
  naming = {
    name = "dbmate",
    pattern = "<version>_name",
    parse = function(stem)
      local v, rest = stem:match("^(%d+)(.*)$")
      if not v then return nil, "does not start with a version (digits)" end
      return { version = v, name = (rest:gsub("^_", "")) }
    end,
    -- dbmate sorts its files by name: by the version's text
    compare = function(a, b) return a < b end,
    next = timestamp.next,
  },
}
