--- BEGIN without COMMIT (or COMMIT without BEGIN) in a file.
return {
  id = "transaction-control",
  severity = "error",
  doc = "lumi runs a file in a transaction of its own, or honours the file's own BEGIN ... COMMIT. A BEGIN "
    .. "left open loses everything after it (lumi rolls it back and says so); a COMMIT or ROLLBACK with no "
    .. "BEGIN ends lumi's own transaction early. Balance them, or leave transactions to lumi.",
  nodes = { "statement" },
  check = function(tree, ctx)
    ctx.open_begin = ctx.open_begin or false
    local out
    if tree.node == "TransactionStmt" then
      local k = tree.kind
      if k == "TRANS_STMT_BEGIN" or k == "TRANS_STMT_START" then
        if ctx.open_begin then out = { message = "BEGIN inside a transaction this file already began" } end
        ctx.open_begin = ctx.statement
      elseif k == "TRANS_STMT_COMMIT" or k == "TRANS_STMT_ROLLBACK" then
        if not ctx.open_begin then
          out = { message = (k == "TRANS_STMT_COMMIT" and "COMMIT" or "ROLLBACK") .. " without a BEGIN in this file",
            hint = "remove it (lumi commits each migration) or add the BEGIN it closes" }
        end
        ctx.open_begin = false
      end
    end
    if not out and ctx.index == ctx.count and ctx.open_begin then
      out = { message = "BEGIN without its COMMIT: the work after it would be rolled back",
        hint = "end the file with COMMIT;", at = ctx.open_begin }
    end
    return out
  end,
}
