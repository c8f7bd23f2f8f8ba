--- ALTER COLUMN ... TYPE on an existing table.
local lint = require "lumi.lint"

-- targets a varchar or text column can often reach without a rewrite
local maybe_free = { text = true, varchar = true, citext = true, numeric = true }

return {
  id = "column-type-rewrite",
  severity = "error",
  doc = "Changing a column's type rewrites the whole table and rebuilds its indexes under an ACCESS "
    .. "EXCLUSIVE lock, unless the old type converts to the new one without work (varchar(n) to text or to "
    .. "a longer varchar, a wider numeric). The safe way: add a column of the new type, backfill it in "
    .. "batches, switch the code, then drop the old one.",
  nodes = { "AlterTableStmt" },
  check = function(node, ctx)
    if ctx:is_new(node.relation) then return nil end
    local out = {}
    for _, c in ipairs(lint.commands(node, "AT_AlterColumnType")) do
      local to = lint.type_display(c.def and c.def.type_name)
      local t = lint.relname(node.relation)
      if maybe_free[to] then
        out[#out + 1] = { message = string.format("changing %s.%s to %s rewrites the table unless the old type "
          .. "converts without work", t, c.name, to), hint = "fine from varchar(n) to text or a longer varchar; "
          .. "otherwise add a new column, backfill it in batches and swap", severity = "warning",
          at = c.def and c.def.type_name }
      else
        out[#out + 1] = { message = string.format("changing %s.%s to %s rewrites the table and its indexes under "
          .. "an ACCESS EXCLUSIVE lock", t, c.name, to),
          hint = "add a column of the new type, backfill it in batches (db:in_batches), switch, then drop the old one",
          at = c.def and c.def.type_name }
      end
    end
    return out
  end,
}
