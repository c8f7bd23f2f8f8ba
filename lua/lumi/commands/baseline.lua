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
    local runner = require "lumi.runner"
    local scheme = project.scheme
    return runner.locked(project, function(db, st)
      local p, scan = project:plan((st:applied()))
      local to = opts.args[1]
      local found = false
      for _, m in ipairs(scan.migrations) do found = found or m.key == scheme.key(to) end
      if not found then errors.raise("usage", string.format("baseline %s: no migration file has that version", to)) end
      local todo = {}
      for _, m in ipairs(p.pending) do
        if not scheme.compare(to, m.version) then todo[#todo + 1] = m end
      end
      local sums = project:checksums(todo)
      local list = { { "BEGIN" } }
      for _, m in ipairs(todo) do
        list[#list + 1] = st:record_statement(m, sums[m.path], 0)
        local log = st:log_statement({ target = project.target, event = "baselined", version = m.version,
          file = m.file, checksum = sums[m.path] })
        if log then list[#list + 1] = log end
      end
      list[#list + 1] = { "COMMIT" }
      if #todo > 0 then db:pipeline(list) end
      local out = {}
      for i, m in ipairs(todo) do out[i] = { version = m.version, file = m.file } end
      return { baselined = out, version = to }
    end)
  end,
}
