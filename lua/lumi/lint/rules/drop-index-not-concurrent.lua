--- DROP INDEX without CONCURRENTLY.
return {
  id = "drop-index-not-concurrent",
  severity = "warning",
  doc = "DROP INDEX takes an ACCESS EXCLUSIVE lock on the index's table: every read and write of it waits, "
    .. "and so does every query queued behind. DROP INDEX CONCURRENTLY waits for the queries using the index "
    .. "instead (outside a transaction: `-- lumi: no-transaction`).",
  nodes = { "DropStmt" },
  check = function(node)
    if node.remove_type ~= "OBJECT_INDEX" or node.concurrent then return nil end
    return { message = "DROP INDEX without CONCURRENTLY locks the table against reads and writes",
      hint = "DROP INDEX CONCURRENTLY, in a file marked `-- lumi: no-transaction`" }
  end,
}
