--- lumi drift: the live schema against what the applied migrations made.
local drift = require "lumi.drift"
local fingerprint = require "lumi.fingerprint"

-- The expected lines, replayed: the applied migrations run on a scratch
-- database, and its fingerprint lines read there.
local function replayed(project, newest_version)
  return (require("lumi.scratch").with(project, function(scratch, db)
    require("lumi.runner").up(scratch, { to = newest_version })
    return fingerprint.lines(db, drift.options(scratch))
  end))
end

local function split_lines(text)
  local out = {}
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do if l ~= "" then out[#out + 1] = { line = l } end end
  return out
end

return {
  summary = "compare the schema with what the applied migrations made, and list what differs",
  usage = "lumi drift [--replay]",
  description = [[
Reads the schema's fingerprint (as lumi snapshot does) and compares it with
the one `up` recorded after the newest applied migration. When they differ
it lists the objects that do — added, removed, changed, each with its
definition — from the lines recorded with it (drift.keep_snapshots), or,
without them, from a scratch database where the applied migrations are
replayed (also with --replay, or when nothing was recorded). Exits 3 on
drift.]],
  options = { { "--replay", help = "replay the applied migrations on a scratch database, whatever was recorded" } },
  run = function(project, opts)
    local db = project:connect()
    local st = project:store()
    local found = project:discover()
    local p = project:plan(found, (st:read()))
    local live = fingerprint.lines(db, drift.options(project))
    local live_hash = fingerprint.hash(live)
    local e = drift.newest(p)
    local out = { hash = live_hash, newest = e and e.migration.file or nil }
    local recorded, recorded_lines
    if e then recorded, recorded_lines = st:recorded_fingerprint(e.record) end
    out.expected_hash = recorded
    if recorded and recorded == live_hash and not opts.replay then
      out.drift, out.source = false, "recorded"
      return out
    end
    local expected
    if recorded_lines and not opts.replay then
      expected, out.source = split_lines(recorded_lines), "recorded"
    else
      expected, out.source = e and replayed(project, e.migration.version) or {}, "replayed"
      out.expected_hash = fingerprint.hash(expected)
    end
    local judge = (project.config.drift or {}).judge or drift.judge
    local d = judge(drift.diff(expected, live), { target = project.config.name })
    if type(d) ~= "table" or type(d.added) ~= "table" or type(d.removed) ~= "table" or type(d.changed) ~= "table" then
      require("lumi.errors").raise("config", "drift.judge must return the differences {added=, removed=, changed=}")
    end
    out.drift = not drift.none(d)
    out.added, out.removed, out.changed = d.added, d.removed, d.changed
    out.exit_code = out.drift and 3 or 0
    return out
  end,
}
