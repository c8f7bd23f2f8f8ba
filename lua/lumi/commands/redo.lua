--- lumi redo: revert the newest applied migration and apply it again.
return {
  summary = "revert the newest applied migration and apply it again",
  usage = "lumi redo",
  description = [[
Runs the down part of the newest applied migration, then its up part: the
way to try an edited migration again while developing it. A target marked
`protected = true` refuses.]],
  options = {},
  destructive = true,
  run = function(project)
    local runner = require "lumi.runner"
    local down = runner.down(project, { count = 1 })
    if down.error or #down.reverted == 0 then return down end
    local up = runner.up(project, { count = 1, to = down.reverted[1].migration.version })
    up.reverted = down.reverted
    return up
  end,
}
