--- ADD FOREIGN KEY / CHECK on an existing table without NOT VALID.
local lint = require "lumi.lint"

return {
  id = "constraint-not-valid",
  severity = "error",
  doc = "Adding a FOREIGN KEY or CHECK constraint scans the whole table to validate it, under a lock that "
    .. "blocks writes (ACCESS EXCLUSIVE for CHECK; SHARE ROW EXCLUSIVE on both tables for a foreign key). "
    .. "Add it NOT VALID (instant: new rows are checked), then VALIDATE CONSTRAINT in a later migration: "
    .. "validating takes only a SHARE UPDATE EXCLUSIVE lock, which lets reads and writes go on.",
  nodes = { "AlterTableStmt" },
  check = function(node, ctx)
    if ctx:is_new(node.relation) then return nil end
    local out = {}
    for _, c in ipairs(node.cmds or {}) do
      local def = c.def
      if c.subtype == "AT_AddConstraint" and def and (def.contype == "CONSTR_FOREIGN" or def.contype == "CONSTR_CHECK")
         and not def.skip_validation then
        local kind = def.contype == "CONSTR_FOREIGN" and "FOREIGN KEY" or "CHECK"
        out[#out + 1] = { message = string.format("ADD %s on %s validates every row while it blocks writes", kind,
          lint.relname(node.relation)), hint = string.format("ADD CONSTRAINT ... %s ... NOT VALID, then "
          .. "ALTER TABLE %s VALIDATE CONSTRAINT ... in a later migration", kind, lint.relname(node.relation)),
          at = def }
      end
    end
    return out
  end,
}
