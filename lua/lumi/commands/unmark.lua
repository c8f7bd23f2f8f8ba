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
    local plan = require "lumi.plan"
    local done = require("lumi.runner").record_only(project, function(p)
      local e, why = plan.find(p, project.scheme, opts.args[1])
      if not e then errors.raise("usage", "unmark: " .. why) end
      if not e.record then
        errors.raise("usage", string.format("unmark: %s is not recorded (it is pending)", e.migration.file))
      end
      local m = e.migration or { version = e.version, file = e.record.file, stem = e.record.stem, name = e.record.name }
      return { { migration = m, record = e.record, event = "unmarked", was = e.state,
                 fields = { checksum = e.record.checksum } } }
    end)
    local c = done[1]
    return { unmarked = { { version = c.migration.version, file = c.migration.file, was = c.was } } }
  end,
}
