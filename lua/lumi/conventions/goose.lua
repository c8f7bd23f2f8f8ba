--- goose's way: <version>_<name>.sql, the version a sequence (00001) or a
--- timestamp (20240101120000), applied in numeric order; `-- +goose Up` /
--- `-- +goose Down` sections, `-- +goose NO TRANSACTION`, and
--- StatementBegin / StatementEnd around a statement with semicolons inside
--- (lumi reads statements with PostgreSQL's own parser: the markers are
--- comments to it). A Go migration beside them is an error that names it:
--- lumi runs SQL and Lua. goose keeps its history in goose_db_version, so
--- lumi's default table does not meet it.
local discover = require "lumi.discover"
local errors = require "lumi.errors"

return {
  dir = "migrations",
  layout = "sections",
  no_transaction = "put `-- +goose NO TRANSACTION` first in the file",
  naming = require("lumi.naming").sequential { width = 5 },
  discover = function(dir, scheme)
    local found = discover.default(dir, scheme)
    for _, ig in ipairs(found.ignored) do
      if ig.file:match("^%d+_.*%.go$") then
        errors.raise("validation", string.format("%s/%s is a goose migration written in Go: lumi runs SQL and Lua "
          .. "migrations", dir, ig.file), { hint = "write it as a Lua migration (" .. ig.file:gsub("%.go$", ".lua")
          .. ", see README: a migration in Lua), or apply it with goose before switching" })
      end
    end
    return found
  end,
}
