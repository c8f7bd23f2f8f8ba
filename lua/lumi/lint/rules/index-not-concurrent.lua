--- CREATE INDEX without CONCURRENTLY on an existing table.
local lint = require "lumi.lint"

return {
  id = "index-not-concurrent",
  severity = "error",
  doc = "CREATE INDEX takes a SHARE lock: no INSERT, UPDATE or DELETE on the table until the whole index is "
    .. "built, minutes on a big table. CREATE INDEX CONCURRENTLY builds it while writes go on (it runs outside "
    .. "a transaction: mark the file `-- lumi: no-transaction`, one index per file, and check for an INVALID "
    .. "index if it fails). A table created in the same file is exempt.",
  nodes = { "IndexStmt" },
  check = function(node, ctx)
    if node.concurrent or ctx:is_new(node.relation) then return nil end
    return { message = string.format("CREATE INDEX without CONCURRENTLY blocks writes to %s while it builds",
      lint.relname(node.relation)), hint = "CREATE INDEX CONCURRENTLY, in a file marked `-- lumi: no-transaction`",
      at = node.relation }
  end,
}
