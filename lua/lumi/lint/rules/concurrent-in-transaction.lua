--- A CONCURRENTLY statement in a migration lumi runs in a transaction.
return {
  id = "concurrent-in-transaction",
  severity = "error",
  doc = "CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY and REINDEX CONCURRENTLY cannot run inside a "
    .. "transaction block: PostgreSQL refuses them (25001) and the migration fails. Mark the file "
    .. "`-- lumi: no-transaction` (or the tool's own marker): lumi then runs its statements one at a time.",
  nodes = { "IndexStmt", "DropStmt", "ReindexStmt" },
  check = function(node, ctx)
    local concurrent = node.concurrent
    if node.node == "ReindexStmt" then
      for _, p in ipairs(node.params or {}) do
        if p.defname == "concurrently" then concurrent = true end
      end
    end
    if not concurrent or not ctx.in_transaction then return nil end
    return { message = "CONCURRENTLY cannot run inside a transaction, and lumi runs this migration in one",
      hint = "put `-- lumi: no-transaction` first in the file" }
  end,
}
