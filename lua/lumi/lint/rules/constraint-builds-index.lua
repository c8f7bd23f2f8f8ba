--- ADD UNIQUE / PRIMARY KEY on an existing table, not from an existing index.
local lint = require "lumi.lint"

return {
  id = "constraint-builds-index",
  severity = "error",
  doc = "ADD CONSTRAINT ... UNIQUE or PRIMARY KEY builds its index under an ACCESS EXCLUSIVE lock: no reads "
    .. "or writes for the whole build. Build the index first with CREATE UNIQUE INDEX CONCURRENTLY, then "
    .. "ADD CONSTRAINT ... UNIQUE USING INDEX (or PRIMARY KEY USING INDEX), which is instant.",
  nodes = { "AlterTableStmt" },
  check = function(node, ctx)
    if ctx:is_new(node.relation) then return nil end
    local out = {}
    for _, c in ipairs(lint.commands(node, "AT_AddConstraint")) do
      local def = c.def
      if def and (def.contype == "CONSTR_UNIQUE" or def.contype == "CONSTR_PRIMARY") and def.indexname == "" then
        local kind = def.contype == "CONSTR_UNIQUE" and "UNIQUE" or "PRIMARY KEY"
        out[#out + 1] = { message = string.format("ADD %s on %s builds its index under an ACCESS EXCLUSIVE lock",
          kind, lint.relname(node.relation)), at = def,
          hint = string.format("CREATE UNIQUE INDEX CONCURRENTLY first (its own no-transaction file), then "
            .. "ADD CONSTRAINT ... %s USING INDEX", kind) }
      end
    end
    return out
  end,
}
