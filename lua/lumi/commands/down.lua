--- lumi down: revert applied migrations, newest version first.
local errors = require "lumi.errors"

return {
  summary = "revert the last applied migration (or N, or down to a version)",
  usage = "lumi down [N | --to VERSION | --all] [--dry-run]",
  description = [[
Runs the down migration of the newest applied migration (or of the N newest,
or of every one above VERSION, or of all) and removes its tracking row, in
one transaction per migration. Every down part is read before the first
runs; a migration without one stops the command before anything changes.
A target marked `protected = true` refuses.]],
  args = { { name = "N" } },
  options = {
    { "--to", arg = "VERSION", help = "revert every applied migration above VERSION" },
    { "--all", help = "revert every applied migration" },
    { "--dry-run", help = "change nothing; show what would be reverted" },
  },
  destructive = true,
  run = function(project, opts)
    local given = {}
    if opts.args[1] then given[#given + 1] = "N (" .. opts.args[1] .. ")" end
    if opts.to then given[#given + 1] = "--to " .. opts.to end
    if opts.all then given[#given + 1] = "--all" end
    if #given > 1 then
      errors.raise("usage", string.format("down takes one of N, --to VERSION or --all, not %s (usage: %s)",
        table.concat(given, " and "), "lumi down [N | --to VERSION | --all] [--dry-run]"))
    end
    local count = 1
    if opts.args[1] then
      count = math.tointeger(tonumber(opts.args[1]))
      if not count or count < 1 then errors.raise("usage", "down N: N must be a whole number of migrations, 1 or more") end
    end
    return require("lumi.runner").down(project, { count = count, to = opts.to, all = opts.all, dry_run = opts.dry_run })
  end,
}
