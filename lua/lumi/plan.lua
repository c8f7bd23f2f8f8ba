--- What is applied, pending, changed, unfinished and missing: migrations on
--- disk × records in the tracking table. Pure: touches neither disk nor
--- database (checksums of files are given to it).
--
-- plan.build(migrations, records, scheme, identity) -> {
--   entries  = { {migration=, record=, state=, version=} ... } in version order,
--              state: "applied", "unfinished" (begun without a transaction
--              and not finished), "pending", or "missing" (recorded, file gone);
--   pending  = migrations not yet applied, in order;
--   applied, unfinished, missing = lists of entries;
--   out_of_order = pending migrations older than the newest applied one;
-- }
-- plan.compare(p, checksums, scheme) then marks the applied entries whose file's
-- checksum differs from the recorded one "changed" (p.changed).
-- migrations come in version order (as discovery returns them); identity
-- is "version" (default), "file" or "stem": what matches a file to a record.
-- A repeatable migration (m.repeatable, as Flyway's R__ files) is never
-- out of order and never reverted: it is pending again whenever its file
-- differs from the checksum recorded when it last ran (m.reapply).
local M = {}

--- The identity of a tracking record, comparable with a migration's id.
function M.record_id(r, scheme, identity)
  if identity == "file" then return r.file end
  if identity == "stem" then
    return r.stem or (r.file and r.file:gsub("/up%.sql$", ""):gsub("%.up%.sql$", ""):gsub("%.sql$", ""))
  end
  if r.version then return scheme.key(r.version) end
  local stem = r.stem or (r.file and r.file:gsub("/up%.sql$", ""):gsub("%.up%.sql$", ""):gsub("%.sql$", ""))
  local parsed = stem and scheme.parse(stem)
  return parsed and scheme.key(parsed.version) or stem
end

--- Was record r (whose file is gone) a repeatable migration, as its
--- scheme reads the file's name? Such a record never makes a pending
--- migration out of order.
function M.repeatable_record(r, scheme)
  local name = r.stem or (r.file and r.file:match("([^/]+)$"):gsub("%.up%.sql$", ""):gsub("%.sql$", ""))
  if not name then return false end
  local ok, parsed = pcall(scheme.parse, name)
  return ok and type(parsed) == "table" and parsed.repeatable == true
end

function M.build(migrations, records, scheme, identity)
  local by_id, ids = {}, {}
  for i, r in ipairs(records) do
    local id = M.record_id(r, scheme, identity)
    ids[i] = id
    by_id[id] = r
  end
  local p = { entries = {}, pending = {}, changed = {}, missing = {}, applied = {}, unfinished = {},
              out_of_order = {} }
  local seen = {}
  local newest_applied
  for _, m in ipairs(migrations) do
    local r = by_id[m.id]
    local e = { migration = m, record = r, version = m.version }
    if r then
      seen[m.id] = true
      if r.state == "unfinished" then
        e.state = "unfinished"
        p.unfinished[#p.unfinished + 1] = e
      else
        e.state = "applied"
      end
      p.applied[#p.applied + 1] = e
      if not m.repeatable then newest_applied = m.version end  -- migrations come in version order
    else
      e.state = "pending"
      p.pending[#p.pending + 1] = m
    end
    p.entries[#p.entries + 1] = e
  end
  for i, r in ipairs(records) do
    local id = ids[i]
    if not seen[id] then
      local v = r.version or id
      local e = { record = r, state = "missing", version = v }
      p.missing[#p.missing + 1] = e
      p.entries[#p.entries + 1] = e
      if r.version and not M.repeatable_record(r, scheme)
         and (not newest_applied or scheme.compare(newest_applied, r.version)) then
        newest_applied = r.version
      end
    end
  end
  if #p.missing > 0 then    -- entries are in version order but for the missing ones
    table.sort(p.entries, function(a, b)
      if scheme.key(a.version) == scheme.key(b.version) then
        return (a.migration and a.migration.file or a.record.file or "") < (b.migration and b.migration.file or b.record.file or "")
      end
      return scheme.compare(a.version, b.version)
    end)
  end
  if newest_applied then
    for _, m in ipairs(p.pending) do
      if not m.repeatable and scheme.compare(m.version, newest_applied) then
        m.out_of_order = true
        p.out_of_order[#p.out_of_order + 1] = m
      end
    end
  end
  p.newest_applied = newest_applied
  return p
end

--- The applied migrations whose checksum matters: those recorded with one.
function M.checked(p)
  local out = {}
  for _, e in ipairs(p.applied) do
    if e.state == "applied" and e.record.checksum then out[#out + 1] = e.migration end
  end
  return out
end

--- Mark the applied entries whose file differs from what was recorded:
--- checksums is {path = sha256 hex} (a path missing from it is not judged).
--- A repeatable one is pending again instead (in version order, so after
--- the versioned ones when its scheme sorts it there).
function M.compare(p, checksums, scheme)
  local again = false
  for _, e in ipairs(p.applied) do
    local sum = checksums[e.migration.path]
    if e.state == "applied" and sum and e.record.checksum and sum ~= e.record.checksum then
      e.checksum = sum
      if e.migration.repeatable then
        e.state = "pending"
        e.migration.reapply = true
        p.pending[#p.pending + 1] = e.migration
        again = true
      else
        e.state = "changed"
        p.changed[#p.changed + 1] = e
      end
    end
  end
  if again then
    table.sort(p.pending, function(a, b)
      if a.key == b.key then return a.file < b.file end
      return scheme.compare(a.version, b.version)
    end)
  end
  return p
end

--- The pending migrations up to and including version `to` (all if nil).
function M.up_to(p, scheme, to)
  if not to then return p.pending end
  local out = {}
  for _, m in ipairs(p.pending) do
    if not scheme.compare(to, m.version) then out[#out + 1] = m end
  end
  return out
end

--- The applied entries to revert, newest version first: the last `count`
--- (default 1), or all above version `to`, or all. Repeatable migrations
--- are not reverted (they have no down; their next change re-applies them).
function M.down_from(p, scheme, opts)
  -- applied entries and missing ones (recorded, file gone), in version
  -- order: a missing one among those to revert stops `down` with a clear error
  local applied = {}
  for _, e in ipairs(p.entries) do
    if e.record and e.state ~= "pending" and not (e.migration and e.migration.repeatable) then
      applied[#applied + 1] = e
    end
  end
  local out = {}
  for i = #applied, 1, -1 do
    local e = applied[i]
    if opts.all then
      out[#out + 1] = e
    elseif opts.to then
      if scheme.compare(opts.to, e.version) then out[#out + 1] = e end
    elseif #out < (opts.count or 1) then
      out[#out + 1] = e
    end
  end
  return out
end

--- The entry that `what` (a version, a file name or a stem) names.
--- Returns the entry, or nil and why.
function M.find(p, scheme, what)
  local hits = {}
  local key = scheme.key(what)
  for _, e in ipairs(p.entries) do
    local m, r = e.migration, e.record
    if (e.version and scheme.key(e.version) == key)
      or (m and (m.file == what or m.stem == what))
      or (r and (r.file == what or r.stem == what)) then
      hits[#hits + 1] = e
    end
  end
  if #hits == 1 then return hits[1] end
  if #hits == 0 then return nil, string.format("no migration has version or file %q", what) end
  local files = {}
  for i, e in ipairs(hits) do files[i] = e.migration and e.migration.file or e.record.file end
  return nil, string.format("%q names %d migrations (%s): give the file name", what, #hits, table.concat(files, ", "))
end

return M
