--- ALTER COLUMN ... SET NOT NULL on an existing table.
local lint = require "lumi.lint"

return {
  id = "set-not-null",
  severity = "warning",
  doc = "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock: no reads or writes until it "
    .. "ends. From PostgreSQL 12 on, a validated CHECK (col IS NOT NULL) lets SET NOT NULL skip the scan: "
    .. "add the check NOT VALID, VALIDATE it (a lock that lets reads and writes go on), then SET NOT NULL "
    .. "and drop the check.",
  nodes = { "AlterTableStmt" },
  check = function(node, ctx)
    if ctx:is_new(node.relation) then return nil end
    local out = {}
    for _, c in ipairs(node.cmds or {}) do
      if c.subtype == "AT_SetNotNull" then
        local t = lint.relname(node.relation)
        local hint = (ctx.pg_version or 15) >= 12 and string.format(
          "ALTER TABLE %s ADD CONSTRAINT %s_not_null CHECK (%s IS NOT NULL) NOT VALID; then VALIDATE CONSTRAINT; "
          .. "then SET NOT NULL (no scan) and DROP CONSTRAINT", t, c.name, c.name)
          or "before PostgreSQL 12 there is no way around the scan: run it when the table is quiet"
        out[#out + 1] = { message = string.format("SET NOT NULL on %s.%s scans the table under an ACCESS EXCLUSIVE lock",
          t, c.name), hint = hint, at = node.relation }
      end
    end
    return out
  end,
}
