--- lumi repair: accept the current checksums of changed files.
local errors = require "lumi.errors"

return {
  summary = "accept the current contents of changed applied files",
  usage = "lumi repair [VERSION ...]",
  description = [[
After reviewing why an applied migration's file changed (a comment fixed, a
line ending converted), records the file's current SHA-256 as the applied
one, so `status` and `validate` stop reporting it. Runs no migration SQL.
Without VERSION, repairs every changed file. Logged as "repaired".]],
  args = { { name = "VERSION", rest = true } },
  options = {},
  run = function(project, opts)
    local runner = require "lumi.runner"
    local plan = require "lumi.plan"
    return runner.locked(project, function(db, st)
      local p = project:plan((st:applied()))
      local targets = p.changed
      if #opts.args > 0 then
        targets = {}
        for _, what in ipairs(opts.args) do
          local e, why = plan.find(p, project.scheme, what)
          if not e then errors.raise("usage", "repair: " .. why) end
          if e.state ~= "changed" then
            errors.raise("usage", string.format("repair: %s has not changed", e.migration and e.migration.file or what))
          end
          targets[#targets + 1] = e
        end
      end
      local out = {}
      if #targets > 0 then
        local list = { { "BEGIN" } }
        for _, e in ipairs(targets) do
          local m = e.migration
          list[#list + 1] = st:update_statement({ [st.identity] = e.record[st.identity] or m[st.identity] },
            { checksum = e.checksum })
          local log = st:log_statement({ target = project.target, event = "repaired", version = m.version,
            file = m.file, checksum = e.checksum, error = "was " .. tostring(e.record.checksum) })
          if log then list[#list + 1] = log end
          out[#out + 1] = { version = m.version, file = m.file, old = e.record.checksum, new = e.checksum }
        end
        list[#list + 1] = { "COMMIT" }
        db:pipeline(list)
      end
      return { repaired = out }
    end)
  end,
}
