--- A statement that fails when run twice, in a file that runs without a transaction.
return {
  id = "not-idempotent",
  severity = "warning",
  doc = "A file that runs without a transaction can stop halfway (a lock timeout, a lost connection): what "
    .. "ran stays, and running the file again fails on the first statement that already took effect. Write "
    .. "each statement so that it can run twice: CREATE ... IF NOT EXISTS, DROP ... IF EXISTS, ADD COLUMN "
    .. "IF NOT EXISTS (and drop an INVALID index left by a failed CREATE INDEX CONCURRENTLY first).",
  nodes = { "IndexStmt", "CreateStmt", "DropStmt", "AlterTableStmt" },
  check = function(node, ctx)
    if ctx.in_transaction then return nil end
    local bad
    if node.node == "IndexStmt" and not node.if_not_exists then bad = "CREATE INDEX without IF NOT EXISTS"
    elseif node.node == "CreateStmt" and not node.if_not_exists then bad = "CREATE TABLE without IF NOT EXISTS"
    elseif node.node == "DropStmt" and not node.missing_ok then bad = "DROP without IF EXISTS"
    elseif node.node == "AlterTableStmt" then
      for _, c in ipairs(node.cmds or {}) do
        if (c.subtype == "AT_AddColumn" or c.subtype == "AT_DropColumn") and not c.missing_ok then
          bad = c.subtype == "AT_AddColumn" and "ADD COLUMN without IF NOT EXISTS" or "DROP COLUMN without IF EXISTS"
        end
      end
    end
    if not bad then return nil end
    return { message = bad .. " fails if this file runs again after stopping halfway (it runs without a transaction)",
      hint = "add IF NOT EXISTS / IF EXISTS so that a second run goes through" }
  end,
}
