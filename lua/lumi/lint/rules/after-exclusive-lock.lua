--- Statements after an ACCESS EXCLUSIVE lock in the same transaction.
return {
  id = "after-exclusive-lock",
  severity = "warning",
  doc = "A lock is held until the transaction ends: once a statement has taken an ACCESS EXCLUSIVE lock on "
    .. "a table, every statement after it in the same transaction keeps that table blocked for reads and "
    .. "writes while it runs. Put the statement that takes the lock last, or in a migration of its own.",
  nodes = { "statement" },
  check = function(tree, ctx)
    if not ctx.in_transaction or tree.node == "TransactionStmt" then return nil end
    -- said once per lock, at the first statement that runs under it
    ctx.said_after_lock = ctx.said_after_lock or {}
    for rel, at in pairs(ctx.exclusive) do
      if at < ctx.index and not ctx.said_after_lock[rel] then
        ctx.said_after_lock[rel] = true
        return { message = string.format("runs while %s stays locked against reads and writes (ACCESS EXCLUSIVE "
          .. "since statement %d, held until COMMIT)", rel, at),
          hint = "move the statement that locks " .. rel .. " last, or into a migration of its own" }
      end
    end
    return nil
  end,
}
