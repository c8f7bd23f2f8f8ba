--- Drift: the live schema against the fingerprint recorded after the last
--- applied migration (lumi.fingerprint).
--
-- `up` records, inside the transaction of the last migration it applies,
-- the fingerprint of the schema on that migration's tracking row (and the
-- canonical lines with drift.keep_snapshots, which PostgreSQL compresses
-- as it stores a long text); `down` records it on the row that becomes the
-- newest. `lumi drift` compares; without stored lines it rebuilds the
-- expected schema by replaying the applied migrations on a scratch
-- database, and lists what differs.
local fingerprint = require "lumi.fingerprint"

local M = {}

--- The fingerprint options of a project: its snapshot policy (the schemas:
--- snapshot.schemas, else the `schemas` lumi manages, else every schema
--- that is not the system's), less lumi's own tables.
function M.options(project)
  local cfg = project.config
  local settings = cfg.snapshot or {}
  return { schemas = settings.schemas or cfg.schemas, ignore = settings.ignore,
           exclude = project:store():own_tables() }
end

--- The drift settings: {on_up =, keep_snapshots =}, on_up decided for the
--- target ("error" by default when it is protected, else "off").
function M.settings(cfg)
  local d = cfg.drift or {}
  local on_up = d.on_up
  if type(on_up) == "function" then
    on_up = on_up({ name = cfg.name, env = cfg.env, protected = cfg.protected == true })
  end
  if on_up == nil then on_up = cfg.protected and "error" or "off" end
  return { on_up = on_up, keep_snapshots = d.keep_snapshots == true, record = d.record ~= false }
end

-- the kinds of lines, longest first: what names an object in a line
local KINDS = { "materialized view", "foreign table", "domain constraint", "row level security", "column order",
                "procedure", "aggregate", "composite", "extension", "constraint", "sequence", "function", "trigger",
                "schema", "column", "domain", "policy", "index", "range", "table", "view", "enum" }

--- The object a canonical line is about: "index public.users_email",
--- "column public.users.email", "comment on table public.users", ...
function M.identity(line)
  local comment = line:match("^(comment on .-) is '")
  if comment then return comment end
  for _, k in ipairs(KINDS) do
    if line:sub(1, #k + 1) == k .. " " then
      local name = line:sub(#k + 2):match("^(%S+)")
      if k == "function" or k == "procedure" or k == "aggregate" then
        name = line:sub(#k + 2):match("^(.-%b())") or name
      end
      return k .. " " .. (name or "")
    end
  end
  return line
end

--- What differs between the expected lines and the live ones:
--- {added = {{object=, line=}...}, removed = {...}, changed = {{object=,
--- expected=, live=}...}}, each in order.
function M.diff(expected, live)
  local function by_object(lines)
    local out = {}
    for _, l in ipairs(lines) do
      local text = type(l) == "table" and l.line or l
      local id = M.identity(text)
      out[id] = out[id] or {}
      table.insert(out[id], text)
    end
    for _, v in pairs(out) do table.sort(v) end
    return out
  end
  local e, l = by_object(expected), by_object(live)
  local d = { added = {}, removed = {}, changed = {} }
  for id, lines in pairs(l) do
    if not e[id] then
      for _, text in ipairs(lines) do d.added[#d.added + 1] = { object = id, line = text } end
    elseif table.concat(lines, "\n") ~= table.concat(e[id], "\n") then
      d.changed[#d.changed + 1] = { object = id, expected = table.concat(e[id], "\n"), live = table.concat(lines, "\n") }
    end
  end
  for id, lines in pairs(e) do
    if not l[id] then
      for _, text in ipairs(lines) do d.removed[#d.removed + 1] = { object = id, line = text } end
    end
  end
  for _, list in pairs(d) do table.sort(list, function(a, b) return a.object < b.object end) end
  return d
end

-- The newest applied entry of plan p (not a repeatable one), or nil.
local function newest(p)
  local last
  for _, e in ipairs(p.applied) do
    if not e.migration.repeatable then last = e end
  end
  return last
end
M.newest = newest

--- Before `up` applies anything: with drift.on_up "error" (the default in
--- a protected environment) or "warn", the live schema is compared with
--- the fingerprint recorded after the newest applied migration; a
--- difference refuses the run, or warns. Nothing recorded: nothing to
--- compare here (`lumi drift` replays the migrations to know).
function M.before_up(project, db, st, p)
  local settings = M.settings(project.config)
  if settings.on_up == "off" then return end
  if settings.on_up ~= "error" and settings.on_up ~= "warn" then
    require("lumi.errors").raise("config", string.format("drift.on_up is %s: the answers are \"error\", \"warn\" "
      .. "and \"off\"", tostring(settings.on_up)))
  end
  local e = newest(p)
  if not e then return end
  local recorded = st:recorded_fingerprint(e.record)
  if not recorded then return end
  local live = fingerprint.hash(fingerprint.lines(db, M.options(project)))
  if live == recorded then return end
  local msg = string.format("the schema has drifted since %s was applied: it is not what the migrations made",
    e.migration.file)
  if settings.on_up == "error" then
    require("lumi.errors").raise("validation", msg .. " (drift.on_up = \"error\")",
      { hint = "`lumi drift` lists what differs; put it back, or write the change as a migration" })
  end
  project:warn(msg .. " (`lumi drift` lists what differs)")
end

--- The built-in judgement of a difference: every added, removed or
--- changed object is drift. migrate.lua's drift.judge(diff, ctx) returns
--- the differences that count, in the same shape (say, without the
--- indexes a DBA adds by hand).
function M.judge(d)
  return d
end

--- Is the diff empty?
function M.none(d)
  return #d.added == 0 and #d.removed == 0 and #d.changed == 0
end

return M
