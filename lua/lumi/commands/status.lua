--- lumi status: applied, pending, changed and missing migrations.

-- Has migration m a down part? A down file says so; a one-file migration
-- is read for a down section; a Lua one is not run to find out (nil).
local function reversible(m)
  if m.down_path then return true end
  if m.layout ~= "file" then return m.layout == "lua" and nil or false end
  local text = require("lumi.fs").read(m.path)
  local s = text and require("lumi.prepare").sections(text)
  return (s and s.down ~= nil) or false
end

-- what the text shows of a record (--json shows every field)
local shown = { version = true, file = true, stem = true, checksum = true, applied_at = true, execution_ms = true,
                state = true, error = true }

return {
  summary = "show applied, pending, changed and missing migrations",
  usage = "lumi status [--json]",
  description = [[
Compares the migration files with the tracking table: applied (with when and
how long), pending, changed (the file's SHA-256 differs from the one recorded
when it was applied), unfinished (begun without a transaction and not
finished), in progress (the same, while a run holding the migration lock is
applying it) and missing (recorded, but the file is gone).]],
  options = {},
  run = function(project, opts)
    local found = project:discover()
    local st = project:store()
    local json = opts and opts.json
    local records, exists = st:read(not json and shown or nil)
    local p = project:plan(found, records)
    -- an unfinished record is another run's work in progress while that
    -- run holds the migration lock
    local holder = #p.unfinished > 0 and require("lumi.lock").who(project:connect(), st)
    local totals = { total = 0, applied = 0, pending = 0, changed = 0, missing = 0, unfinished = 0, in_progress = 0 }
    local entries = {}
    for _, e in ipairs(p.entries) do
      local m, r = e.migration, e.record
      local state = e.state
      if state == "unfinished" and holder then state = "in_progress" end
      entries[#entries + 1] = {
        state = state,
        version = e.version,
        name = m and m.name or r.name,
        file = m and m.file or r.file or r.stem or r.version or "?",
        applied_at = r and r.applied_at,
        execution_ms = r and r.execution_ms,
        applied_by = r and r.applied_by,
        checksum = r and r.checksum,
        file_checksum = e.checksum,
        out_of_order = m and m.out_of_order or nil,
        error = r and r.error or nil,
        holder = state == "in_progress" and holder or nil,
        reversible = json and m and reversible(m),
      }
      totals[state] = totals[state] + 1
      totals.total = totals.total + 1
    end
    return {
      entries = entries,
      totals = totals,
      table = project.config.tracking.table,
      target = project.target,
      table_exists = exists,
      dir = project.config.migrations_dir,
      ignored = found.ignored,
      duplicates = found.duplicates,
    }
  end,
}
