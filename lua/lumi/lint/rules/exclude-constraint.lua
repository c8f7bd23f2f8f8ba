--- ADD CONSTRAINT ... EXCLUDE on an existing table.
local lint = require "lumi.lint"

return {
  id = "exclude-constraint",
  severity = "error",
  doc = "An EXCLUDE constraint builds its index and checks every row under an ACCESS EXCLUSIVE lock, and "
    .. "unlike UNIQUE it cannot be attached from an index built CONCURRENTLY. Add it while the table is "
    .. "small or quiet, or enforce the rule otherwise (a trigger) until then.",
  nodes = { "AlterTableStmt" },
  check = function(node, ctx)
    if ctx:is_new(node.relation) then return nil end
    local out = {}
    for _, c in ipairs(lint.commands(node, "AT_AddConstraint")) do
      if c.def and c.def.contype == "CONSTR_EXCLUSION" then
        out[#out + 1] = { message = string.format("ADD EXCLUDE on %s builds an index and checks every row under "
          .. "an ACCESS EXCLUSIVE lock", lint.relname(node.relation)), at = c.def,
          hint = "add it when the table is quiet (there is no CONCURRENTLY way)" }
      end
    end
    return out
  end,
}
