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
    local runner = require "lumi.runner"
    local plan = require "lumi.plan"
    return runner.locked(project, function(db, st)
      local p = project:plan((st:applied()))
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
      local stmt
      if e.state == "unfinished" then
        stmt = st:update_statement({ [st.identity] = e.record[st.identity] or m[st.identity] },
          { state = "applied", error = require("lumi.pg").null, checksum = sum })
      else
        stmt = st:record_statement(m, sum, 0)
      end
      local list = { { "BEGIN" }, stmt }
      local log = st:log_statement({ target = project.target, event = "marked", version = m.version, file = m.file, checksum = sum })
      if log then list[#list + 1] = log end
      list[#list + 1] = { "COMMIT" }
      db:pipeline(list)
      return { marked = { { version = m.version, file = m.file, was = e.state } } }
    end)
  end,
}
