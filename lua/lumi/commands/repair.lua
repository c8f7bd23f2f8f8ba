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
    local plan = require "lumi.plan"
    local done = require("lumi.runner").record_only(project, function(p)
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
      local changes = {}
      for i, e in ipairs(targets) do
        changes[i] = { migration = e.migration, record = e.record, event = "repaired", old = e.record.checksum,
                       fields = { checksum = e.checksum }, note = "was " .. tostring(e.record.checksum) }
      end
      return changes
    end)
    local out = {}
    for i, c in ipairs(done) do
      out[i] = { version = c.migration.version, file = c.migration.file, old = c.old, new = c.fields.checksum }
    end
    return { repaired = out }
  end,
}
