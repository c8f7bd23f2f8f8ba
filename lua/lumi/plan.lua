--- What is applied, pending, changed and missing: migrations on disk ×
--- records in the tracking table. Pure: touches neither disk nor database
--- (checksums of files are given to it).
--
-- plan.build(migrations, records, scheme, checksums) -> {
--   entries = { {migration=, record=, state=} ... } in version order, where
--             state is "applied", "changed" (recorded checksum differs from
--             the file's), "pending", or "missing" (recorded, file gone);
--   pending = migrations not yet applied, in order;
--   changed, missing = lists of entries;
--   out_of_order = pending migrations older than the newest applied one;
-- }
local M = {}

function M.build(migrations, records, scheme, checksums)
  local by_key = {}
  for _, r in ipairs(records) do by_key[scheme.key(r.version)] = r end
  local p = { entries = {}, pending = {}, changed = {}, missing = {}, applied = {}, out_of_order = {} }
  local seen = {}
  local newest_applied
  for _, m in ipairs(migrations) do
    local r = by_key[m.key]
    local e = { migration = m, record = r, version = m.version }
    if r then
      seen[m.key] = true
      local sum = checksums and checksums[m.path]
      if sum and sum ~= r.checksum then
        e.state = "changed"
        e.checksum = sum
        p.changed[#p.changed + 1] = e
      else
        e.state = "applied"
      end
      p.applied[#p.applied + 1] = e
      newest_applied = m.version        -- migrations come in version order
    else
      e.state = "pending"
      p.pending[#p.pending + 1] = m
    end
    p.entries[#p.entries + 1] = e
  end
  for _, r in ipairs(records) do
    local k = scheme.key(r.version)
    if not seen[k] then
      local e = { record = r, state = "missing", version = r.version }
      p.missing[#p.missing + 1] = e
      p.entries[#p.entries + 1] = e
      if not newest_applied or scheme.compare(newest_applied, r.version) then newest_applied = r.version end
    end
  end
  if #p.missing > 0 then    -- entries are in version order but for the missing ones
    table.sort(p.entries, function(a, b)
      if scheme.key(a.version) == scheme.key(b.version) then return false end
      return scheme.compare(a.version, b.version)
    end)
  end
  if newest_applied then
    for _, m in ipairs(p.pending) do
      if scheme.compare(m.version, newest_applied) then
        m.out_of_order = true
        p.out_of_order[#p.out_of_order + 1] = m
      end
    end
  end
  p.newest_applied = newest_applied
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

return M
