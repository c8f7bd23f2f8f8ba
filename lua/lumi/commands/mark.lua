--- lumi mark VERSION: record a migration as applied without running it.
local errors = require "lumi.errors"

return {
  summary = "record a migration as applied without running it",
  usage = "lumi mark VERSION",
  description = [[
Writes the tracking row of one migration, with its file's checksum, without
running any of its SQL; for a migration recorded as unfinished, marks it
applied. Use it after applying a change by hand, or to resolve an unfinished
migration whose remaining statements you ran yourself. Logged as "marked".]],
  args = { { name = "VERSION", required = true } },
  options = {},
  run = function(project, opts)
    local plan = require "lumi.plan"
    local done = require("lumi.runner").record_only(project, function(p)
      local e, why = plan.find(p, project.scheme, opts.args[1])
      if not e then errors.raise("usage", "mark: " .. why) end
      if e.state == "applied" or e.state == "changed" then
        errors.raise("usage", string.format("mark: %s is already applied", e.migration.file))
      end
      if e.state == "missing" then
        errors.raise("usage", string.format("mark: %s is recorded but its file is gone", e.record.file or e.version))
      end
      local m = e.migration
      local sum = project:checksums({ m })[m.path]
      return { { migration = m, record = e.record, event = "marked", was = e.state,
                 fields = { checksum = sum, execution_ms = e.record == nil and 0 or nil } } }
    end)
    local c = done[1]
    return { marked = { { version = c.migration.version, file = c.migration.file, was = c.was } } }
  end,
}
