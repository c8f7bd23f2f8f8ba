--- lumi unmark VERSION: forget a migration's tracking row, touching nothing else.
local errors = require "lumi.errors"

return {
  summary = "forget that a migration was applied, without running anything",
  usage = "lumi unmark VERSION",
  description = [[
Deletes the tracking row of one migration (applied, unfinished or missing)
without running any SQL: `lumi up` will run it again. Use it to resolve an
unfinished migration after undoing its statements by hand. Logged as
"unmarked".]],
  args = { { name = "VERSION", required = true } },
  options = {},
  run = function(project, opts)
    local runner = require "lumi.runner"
    local plan = require "lumi.plan"
    return runner.locked(project, function(db, st)
      local p = project:plan((st:applied()))
      local e, why = plan.find(p, project.scheme, opts.args[1])
      if not e then errors.raise("usage", "unmark: " .. why) end
      if not e.record then
        errors.raise("usage", string.format("unmark: %s is not recorded (it is pending)", e.migration.file))
      end
      local file = e.migration and e.migration.file or e.record.file
      local list = { { "BEGIN" }, st:remove_statement(e.record) }
      local log = st:log_statement({ target = project.target, event = "unmarked", version = e.version, file = file,
        checksum = e.record.checksum })
      if log then list[#list + 1] = log end
      list[#list + 1] = { "COMMIT" }
      db:pipeline(list)
      return { unmarked = { { version = e.version, file = file, was = e.state } } }
    end)
  end,
}
