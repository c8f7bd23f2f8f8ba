--- Drops and renames that break the code still running against the old schema.
local lint = require "lumi.lint"

return {
  id = "breaking-change",
  severity = "warning",
  doc = "During a deploy the old code keeps running against the new schema: a dropped or renamed table or "
    .. "column makes its queries fail. Stop using it in the code first (deploy), then drop it in a later "
    .. "migration; rename by adding the new name, writing both, and dropping the old one later.",
  nodes = { "DropStmt", "AlterTableStmt", "RenameStmt" },
  check = function(node, ctx)
    if node.node == "DropStmt" and (node.remove_type == "OBJECT_TABLE" or node.remove_type == "OBJECT_VIEW") then
      return { message = "dropping a table breaks the code that still reads it during the deploy",
        hint = "remove its use from the code and deploy that first" }
    elseif node.node == "AlterTableStmt" and not ctx:is_new(node.relation) then
      local out = {}
      for _, c in ipairs(lint.commands(node, "AT_DropColumn")) do
        out[#out + 1] = { message = string.format("dropping %s.%s breaks the code that still reads it during the "
          .. "deploy", lint.relname(node.relation), c.name), hint = "remove its use from the code and deploy that first",
          at = node.relation }
      end
      return out
    elseif node.node == "RenameStmt" and (node.rename_type == "OBJECT_TABLE" or node.rename_type == "OBJECT_COLUMN")
           and not ctx:is_new(node.relation) then
      return { message = string.format("renaming %s%s breaks the code that uses the old name during the deploy",
        lint.relname(node.relation), node.subname ~= "" and ("." .. node.subname) or ""),
        hint = "add the new name beside the old one, move the code over, drop the old name later",
        at = node.relation }
    end
    return nil
  end,
}
