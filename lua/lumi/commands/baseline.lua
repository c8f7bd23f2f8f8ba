--- lumi baseline VERSION: adopt a database that already has its schema.
local errors = require "lumi.errors"

return {
  summary = "record every migration up to VERSION as applied, without running them",
  usage = "lumi baseline VERSION",
  description = [[
For a database whose schema already exists (created by hand, by another tool,
or restored from a dump): records every migration up to and including VERSION
as applied, with its file's checksum, and runs none of them. Migrations after
VERSION stay pending. Logged as "baselined".]],
  args = { { name = "VERSION", required = true } },
  options = {},
  run = function(project, opts)
    local scheme, to = project.scheme, opts.args[1]
    local done = require("lumi.runner").record_only(project, function(p, found)
      local known = false
      for _, m in ipairs(found.migrations) do known = known or m.key == scheme.key(to) end
      if not known then errors.raise("usage", string.format("baseline %s: no migration file has that version", to)) end
      local todo = {}
      for _, m in ipairs(p.pending) do
        if not scheme.compare(to, m.version) then todo[#todo + 1] = m end
      end
      local sums = project:checksums(todo)
      local changes = {}
      for i, m in ipairs(todo) do
        changes[i] = { migration = m, event = "baselined", fields = { checksum = sums[m.path], execution_ms = 0 } }
      end
      return changes
    end)
    local out = {}
    for i, c in ipairs(done) do out[i] = { version = c.migration.version, file = c.migration.file } end
    return { baselined = out, version = to }
  end,
}
