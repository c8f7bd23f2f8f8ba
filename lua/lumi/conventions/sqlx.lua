--- sqlx's way: <version>_<description>.sql (or .up.sql / .down.sql), the
--- version an integer (a timestamp when `sqlx migrate add` writes it),
--- applied in numeric order; `-- no-transaction` as the first line runs
--- the file without a transaction. sqlx keeps its history in
--- _sqlx_migrations.
local directives = require "lumi.directives"

return {
  dir = "migrations",
  no_transaction = "make `-- no-transaction` the file's first line",
  naming = (function()
    local seq = require("lumi.naming").sequential { width = 14 }
    return {
      name = "sqlx",
      pattern = "<version>_description",
      parse = seq.parse,
      compare = seq.compare,
      -- as `sqlx migrate add`: the UTC time, or one more than the newest
      -- version when that is later
      next = function(migrations, name, now)
        local v = math.tointeger(tonumber(os.date("!%Y%m%d%H%M%S", now or os.time())))
        local last = migrations[#migrations]
        local after = last and math.tointeger(tonumber(last.version))
        if after and after >= v then v = after + 1 end
        return v .. "_" .. name
      end,
    }
  end)(),
  directives = function(text, part)
    local fields, problems = directives.read(text, part)
    -- sqlx reads the very first line only
    if text:match("^%-%- no%-transaction[ \t]*\r?\n") or text == "-- no-transaction" then
      fields.transaction = false
    end
    return fields, problems
  end,
}
