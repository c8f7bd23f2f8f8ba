--- ADD COLUMN of a serial, identity or stored generated column to an existing table.
local lint = require "lumi.lint"

local serials = { serial = true, bigserial = true, smallserial = true, serial4 = true, serial8 = true, serial2 = true }

return {
  id = "add-column-rewrite",
  severity = "error",
  doc = "A serial or identity column needs a value for every existing row, and a stored generated column "
    .. "must be computed for each: adding one rewrites the table under an ACCESS EXCLUSIVE lock. Add a plain "
    .. "nullable column, backfill it in batches, then attach the sequence default or the constraint.",
  nodes = { "AlterTableStmt" },
  check = function(node, ctx)
    if ctx:is_new(node.relation) then return nil end
    local out = {}
    for _, c in ipairs(lint.commands(node, "AT_AddColumn")) do
      local col, what = c.def, nil
      if col and serials[lint.type_name(col.type_name) or ""] then what = lint.type_name(col.type_name) end
      for _, con in ipairs(col and col.constraints or {}) do
        if con.contype == "CONSTR_IDENTITY" then what = "identity" end
        if con.contype == "CONSTR_GENERATED" then what = "stored generated" end
      end
      if what then
        out[#out + 1] = { message = string.format("adding the %s column %s rewrites %s under an ACCESS EXCLUSIVE "
          .. "lock", what, col.colname, lint.relname(node.relation)), at = col,
          hint = "add a plain nullable column, backfill it in batches, then set its default or constraint" }
      end
    end
    return out
  end,
}
