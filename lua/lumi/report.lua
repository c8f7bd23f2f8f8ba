--- Human and JSON output. Decides nothing: it renders the events and the
--- results that commands hand it.
local json = require "lumi.json"
local clock = require "lumi.clock"
local errors = require "lumi.errors"
local conninfo = require "lumi.conninfo"

local M = {}

local Report = {}
Report.__index = Report

local codes = { red = 31, green = 32, yellow = 33, blue = 34, magenta = 35, cyan = 36, bold = 1, dim = 2 }

-- A file handle's stand-in whose writes have every password scrubbed
-- (conninfo.scrub): whatever produced a message — libpq, the server,
-- migrate.lua's code — nothing lumi prints shows one.
local function scrubbed(handle)
  return {
    write = function(self, ...)
      local n = select("#", ...)
      local s = n == 1 and tostring((...)) or table.concat({ ... })
      handle:write(conninfo.scrub(s))
      return self
    end,
    flush = function() return handle:flush() end,
  }
end

--- A reporter writing to out/err (file handles), in colour or not, human or json.
function M.new(opts)
  opts = opts or {}
  return setmetatable({
    out = scrubbed(opts.out or io.stdout),
    err = scrubbed(opts.err or io.stderr),
    color = opts.color or false,
    json = opts.json or false,
    tty_err = opts.tty_err or false,
  }, Report)
end

function Report:paint(color, s)
  if not self.color then return s end
  return string.format("\27[%dm%s\27[0m", codes[color], s)
end

function Report:say(fmt, ...)
  if self.json then return end
  self.out:write(string.format(fmt, ...), "\n")
end

function Report:warn(fmt, ...)
  self.err:write(self:paint("yellow", "warning: "), string.format(fmt, ...), "\n")
end

-- Display width of a file name: its characters (a UTF-8 name's bytes
-- outnumber them).
local function cols(name)
  return name:find("[\128-\255]") and utf8.len(name) or #name
end
-- The name padded with spaces to `width` columns (string.format's %-Ns
-- counts bytes, and takes no width over 99).
local function padded(name, width)
  return name .. string.rep(" ", width - cols(name))
end

local function plural(n, word)
  return string.format("%d %s%s", n, word, n == 1 and "" or "s")
end
M.plural = plural

local function ms(x)
  if x == nil then return "" end
  return clock.format(x / 1000)
end

---------------------------------------------------------------- events

--- Render one event of a running command (streamed, one line per migration).
function Report:event(ev)
  if ev.type == "progress" then return self:progress(ev) end
  if ev.type == "start" then
    -- rates count from the migration's start, not from its first report
    self.prog = { name = ev.migration.file, start = clock.now(), last_draw = 0, last_line = clock.now(), last_pct = -1 }
  end
  if ev.type == "warning" then
    self.warnings = self.warnings or {}
    self.warnings[#self.warnings + 1] = ev.message
  end
  if self.json then
    if ev.type == "log" then self.err:write(ev.message, "\n") end
    return
  end
  if self.bar_shown then self:clear_bar() end
  self:render_event(ev)
  self.out:flush()
end

---------------------------------------------------------------- progress

local function human_count(n)
  local s = tostring(math.floor(n))
  return (s:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", ""))
end

local function eta_text(seconds)
  if seconds ~= seconds or seconds == math.huge then return "?" end
  if seconds < 60 then return string.format("%ds", math.ceil(seconds)) end
  if seconds < 3600 then return string.format("%dm%02ds", seconds // 60, math.floor(seconds % 60)) end
  return string.format("%dh%02dm", seconds // 3600, math.floor(seconds % 3600) // 60)
end

function Report:clear_bar()
  self.err:write("\r\27[K")
  self.bar_shown = false
end

--- ctx.progress(done, total): a bar with rate and ETA on a terminal (redrawn
--- at most ten times a second), a line every 10% or 10 s elsewhere.
function Report:progress(ev)
  local now = clock.now()
  local p = self.prog
  local name = ev.migration and ev.migration.file or "progress"
  if not p or p.name ~= name then
    p = { name = name, start = now, last_draw = 0, last_line = now, last_pct = -1 }
    self.prog = p
  end
  local done, total = ev.done or 0, ev.total
  local elapsed = now - p.start
  local rate = elapsed > 0 and done / elapsed or 0
  local finished = total and done >= total
  if self.tty_err then
    if now - p.last_draw < 0.1 and not finished then return end
    p.last_draw = now
    local width = 30
    local bar, pct = "", ""
    if total and total > 0 then
      local f = math.min(done / total, 1)
      local fill = math.floor(f * width + 0.5)
      bar = "[" .. string.rep("#", fill) .. string.rep(".", width - fill) .. "] "
      pct = string.format("%3d%% ", math.floor(f * 100))
    end
    local eta = (total and rate > 0) and ("  ETA " .. eta_text((total - done) / rate)) or ""
    self.err:write(string.format("\r\27[K  %s %s%s%s%s  %s/s%s", name, bar, pct, human_count(done),
      total and ("/" .. human_count(total)) or "", human_count(rate), finished and "" or eta))
    self.bar_shown = true
    if finished then self.err:write("\n"); self.bar_shown = false end
    self.err:flush()
    return
  end
  -- not a terminal: a plain line now and then
  local pct = total and total > 0 and math.floor(done / total * 10) or nil
  if finished or (pct and pct > p.last_pct) or now - p.last_line >= 10 then
    if pct then p.last_pct = pct end
    p.last_line = now
    self.err:write(string.format("  %s: %s%s (%s%s/s)\n", name, human_count(done),
      total and ("/" .. human_count(total)) or "",
      total and total > 0 and string.format("%d%%, ", math.floor(done / total * 100)) or "", human_count(rate)))
  end
end

function Report:render_event(ev)
  if ev.type == "plan" then
    self.width = 0
    for _, part in ipairs(ev.parts) do self.width = math.max(self.width, cols(part.file)) end
  elseif ev.type == "applied" then
    self:say("  %s  %s  %s", self:paint("green", "applied"), padded(ev.file, self.width or 0),
      self:paint("dim", clock.format(ev.seconds)))
  elseif ev.type == "would_apply" then
    self:say("  %s  %s", self:paint("cyan", "would apply"), ev.file)
  elseif ev.type == "would_revert" then
    self:say("  %s  %s", self:paint("cyan", "would revert"), ev.file)
  elseif ev.type == "reverted" then
    self:say("  %s  %s  %s", self:paint("yellow", "reverted"), padded(ev.file, self.width or 0),
      self:paint("dim", clock.format(ev.seconds)))
  elseif ev.type == "dropped" then
    self:say("  %s  schema%s %s", self:paint("red", "dropped"), #ev.schemas > 1 and "s" or "", table.concat(ev.schemas, ", "))
  elseif ev.type == "failed" then
    self:say("  %s  %s", self:paint("red", "FAILED "), ev.file)
  elseif ev.type == "lock_wait" then
    local h = ev.holder
    self.err:write(string.format("waiting up to %s for the migration lock, held by %s\n",
      clock.format(ev.wait or 0),
      h and (h.pid and string.format("process %d (user %s, %s)", h.pid, h.user, h.client) or h.description)
        or "another session"))
  elseif ev.type == "blocked" then
    self.err:write(string.format("  %s: %s\n", ev.file, ev.message))
  elseif ev.type == "lock_timeout" then
    self.err:write(string.format("  %s: lock timeout (attempt %d): %s; %s\n", ev.file, ev.attempt, ev.message,
      ev.pause and ("trying again in " .. clock.format(ev.pause)) or "giving up"))
  elseif ev.type == "warning" then
    self:warn("%s", ev.message)
  elseif ev.type == "log" then
    self:say("  %s%s", ev.migration and (ev.migration.file .. ": ") or "", ev.message)
  elseif ev.type == "notice" then
    local n = ev.notice
    self.err:write(self:paint("dim", string.format("  %s: %s\n", n.severity or "NOTICE", n.message or "")))
  end
end

---------------------------------------------------------------- errors

--- Render an error (a lumi error, a database error, or anything else).
function Report:error(e)
  local w = function(s) self.err:write(s, "\n") end
  if self.json then
    local out = { error = { kind = type(e) == "table" and e.kind or "internal", message = errors.text(e) },
                  warnings = json.array(self.warnings or {}) }
    if type(e) == "table" then
      for _, k in ipairs({ "file", "line", "column", "sqlstate", "detail", "hint", "migration" }) do
        out.error[k] = e[k]
      end
    end
    self.out:write(json.encode(out), "\n")
    return
  end
  local message = type(e) == "table" and type(e.message) == "string" and e.message or errors.text(e)
  w(self:paint("red", "error: ") .. message:gsub("\n", "\n  "))
  if type(e) ~= "table" then return end
  if e.source_line then
    local n = tostring(e.line)
    w(string.format("  %s | %s", n, e.source_line))
    w(string.format("  %s | %s", string.rep(" ", #n), self:paint("red", e.caret)))
  end
  if e.detail then w("  DETAIL: " .. e.detail) end
  if e.hint then w("  HINT: " .. e.hint) end
  if e.where and e.kind == "migration" then w("  CONTEXT: " .. e.where:gsub("\n", "\n    ")) end
end

---------------------------------------------------------------- results

local render = {}

-- What a failed migration that ran without a transaction left behind.
local function no_transaction_lines(e, direction)
  local what = direction == "down" and "Its down part ran" or "It ran"
  if e.nothing_done and e.left_open then
    return string.format("  %s without a transaction, and its first statement began the transaction that was\n"
      .. "  rolled back: nothing of it took effect.", what)
  elseif e.nothing_done then
    return string.format("  %s without a transaction: its first statement failed, so nothing of it took effect.", what)
  elseif e.statement then
    return string.format("  %s without a transaction: statement %d%s failed, the %s before it took effect.",
      what, e.statement, e.statements and (" of " .. e.statements) or "", plural(e.statement - 1, "statement"))
  end
  return string.format("  %s without a transaction: what it did before the error took effect.", what)
end

function render.up(self, r)
  if r.error then
    self:error(r.error)
    local e = r.error
    local w = function(s) self.err:write(s, "\n") end
    local fault = M.fault(e)
    if e.no_transaction then
      local v = r.failed.migration.version
      w(no_transaction_lines(e, "up"))
      if e.unfinished then
        w(string.format("  It is recorded as unfinished, and `lumi up` will not go past it. Finish or undo\n"
          .. "  its statements by hand, then run `lumi mark %s` (count it as applied) or\n"
          .. "  `lumi unmark %s` (forget it: `lumi up` runs the whole file again).", v, v))
      elseif e.nothing_done then
        w("  It is not recorded: `lumi up` runs it again.")
      end
    elseif fault == "server" and r.failed then
      w("  The connection to the server was lost while it ran: the server rolls back what did not commit.")
    elseif r.failed then
      w("  The migration was rolled back: none of its changes and no record of it remain.")
    end
    local unsure = #r.applied - (r.durable or #r.applied)
    if fault == "server" and unsure > 0 then
      w(string.format("  %s before it %s committed: %d certain to be on disk, the last %d committed without\n"
        .. "  waiting for the disk (all but the last of a run do), and a server crash may have lost them.\n"
        .. "  Once the server is back, run `lumi status` to see which stand, then `lumi up`.",
        plural(#r.applied, "migration"), #r.applied == 1 and "was" or "were", r.durable or 0, unsure))
      return
    end
    local advice = ""
    if not (e.no_transaction or e.interrupted or e.bookkeeping) and r.failed and fault == "file" then
      advice = " Fix the file, then run `lumi up` again."
    elseif fault == "server" then
      advice = " Once the server is back, run `lumi up` again."
    end
    w(string.format("  %s before it %s applied.%s", plural(#r.applied, "migration"),
      #r.applied == 1 and "was" or "were", advice))
    return
  end
  if r.dry_run then
    if #r.applied == 0 then self:say("Dry run: nothing to apply.")
    else self:say("Dry run: %s would be applied; nothing was changed.", plural(#r.applied, "migration")) end
    return
  end
  if #r.applied == 0 and r.to and (r.pending or 0) > 0 then
    self:say("Nothing to apply up to %s; %s after it.", r.to, plural(r.pending, "migration") .. " pending")
  elseif #r.applied == 0 then
    self:say("Nothing to apply: the database is up to date.")
  else
    local total = 0
    for _, a in ipairs(r.applied) do total = total + a.seconds end
    self:say("Applied %s in %s.", plural(#r.applied, "migration"), clock.format(total))
  end
end

--- Whose fault a failed migration is, for the advice that follows it:
--- "file" (its SQL or Lua), "locks" (it could not get them in time),
--- "server" (the connection was lost or the server shut down).
function M.fault(e)
  if type(e) ~= "table" then return "file" end
  if e.kind == "lock" or e.kind == "connection" then return e.kind == "lock" and "locks" or "server" end
  local code = e.sqlstate or ""
  if code:match("^08") or code:match("^57P") then return "server" end
  if code == "55P03" or code == "40P01" then return "locks" end
  return "file"
end

local state_color = { applied = "green", pending = "yellow", changed = "red", missing = "magenta", unfinished = "red",
                      in_progress = "cyan" }

function render.down(self, r)
  if r.error then
    self:error(r.error)
    local e = r.error
    local w = function(s) self.err:write(s, "\n") end
    if e.no_transaction then
      local v = r.failed.migration.version
      w(no_transaction_lines(e, "down"))
      if e.unfinished then
        w(string.format("  It is recorded as unfinished. Finish or undo the revert by hand, then run\n"
          .. "  `lumi unmark %s` (count it as reverted) or `lumi mark %s` (count it as applied).", v, v))
      elseif e.nothing_done then
        w("  The migration stays applied.")
      end
    elseif r.failed then
      w(string.format("  The revert was rolled back; the migration stays applied. %s reverted before it.",
        plural(#r.reverted, "migration")))
      return
    end
    w(string.format("  %s reverted before it.", plural(#r.reverted, "migration")))
    return
  end
  if r.dry_run then
    self:say("Dry run: %s would be reverted; nothing was changed.", plural(#r.reverted, "migration"))
  elseif #r.reverted == 0 then
    self:say("Nothing to revert.")
  else
    self:say("Reverted %s.", plural(#r.reverted, "migration"))
  end
end

function render.redo(self, r)
  if r.applied then return render.up(self, r) end
  return render.down(self, r)
end

function render.fresh(self, r)
  return render.up(self, r)
end

function render.baseline(self, r)
  for _, m in ipairs(r.baselined) do self:say("  %s  %s", self:paint("cyan", "baselined"), m.file) end
  self:say("Recorded %s up to %s as applied; nothing was run.", plural(#r.baselined, "migration"), r.version)
end

function render.adopt(self, r)
  for _, m in ipairs(r.adopted) do
    self:say("  %s  %s%s", self:paint("cyan", r.written and "adopted" or "would adopt"), m.file,
      m.applied_at and self:paint("dim", "  applied " .. m.applied_at) or "")
  end
  if r.written then
    self:say("Recorded %s applied by %s (%s) as applied; nothing was run.", plural(#r.adopted, "migration"), r.tool, r.source)
  else
    self:say("%s applied by %s (%s) would be recorded; nothing was written: run `lumi adopt %s --apply`.",
      plural(#r.adopted, "migration"), r.tool, r.source, r.tool)
  end
end

function render.mark(self, r)
  for _, m in ipairs(r.marked) do
    self:say("Marked %s as applied%s; nothing was run.", m.file, m.was == "unfinished" and " (it was unfinished)" or "")
  end
end

function render.unmark(self, r)
  for _, m in ipairs(r.unmarked) do
    if m.was == "missing" then
      self:say("Forgot %s (it was applied, and its file is gone); nothing was run.", m.file)
    else
      self:say("Forgot %s (it was %s); nothing was run. `lumi up` will apply it again.", m.file, m.was)
    end
  end
end

function render.repair(self, r)
  if #r.repaired == 0 then self:say("Nothing to repair: no applied file has changed.") return end
  for _, m in ipairs(r.repaired) do
    self:say("  %s  %s  %s… -> %s…", self:paint("cyan", "repaired"), m.file, (m.old or ""):sub(1, 12), m.new:sub(1, 12))
  end
  self:say("Accepted the current contents of %s.", plural(#r.repaired, "file"))
end

function render.log(self, r)
  if #r.events == 0 then self:say("No events logged yet.") return end
  for _, ev in ipairs(r.events) do
    self:say("  %s  %-10s %-30s %s%s%s", (ev.at or ""):gsub("T", " "):gsub("Z$", " UTC"), ev.event, ev.file or ev.version or "",
      ev.db_user or "", ev.sqlstate and ("  " .. ev.sqlstate) or "", ev.error and ("  " .. ev.error) or "")
  end
end

function render.status(self, r)
  self:say("Migrations in %s, tracked in %s%s", r.dir, r.table,
    r.table_exists and "" or " (not created yet: nothing applied)")
  if #r.entries > 0 then self:say("") end
  local width, sw = 0, 7
  for _, e in ipairs(r.entries) do
    local w = cols(e.file)
    if w > width then width = w end
    if #e.state > sw then sw = #e.state end
  end
  local painted = {}
  for state, color in pairs(state_color) do
    painted[state] = self:paint(color, (state:gsub("_", " ")) .. string.rep(" ", sw - #state))
  end
  local function when(iso)   -- 2026-01-02T03:04:05Z -> 2026-01-02 03:04:05 UTC
    if not iso then return "" end
    return iso:sub(1, 10) .. " " .. iso:sub(12, 19) .. " UTC"
  end
  local buf = {}
  for _, e in ipairs(r.entries) do
    local extra
    if e.state == "applied" or e.state == "changed" then
      extra = when(e.applied_at) .. "  " .. ms(e.execution_ms)
      if e.state == "changed" then extra = extra .. "  file differs from the applied one" end
    elseif e.state == "unfinished" then
      extra = "failed midway" .. (e.error and (": " .. e.error) or "")
    elseif e.state == "in_progress" then
      local h = e.holder
      extra = h and (h.pid and string.format("being applied by process %d (user %s, %s)", h.pid, h.user,
        h.application ~= "" and h.application or "no application name") or ("being applied by " .. h.description))
        or "being applied"
    elseif e.state == "missing" then
      extra = "applied " .. when(e.applied_at) .. ", file not found"
    elseif e.out_of_order then
      extra = "older than the newest applied migration"
    end
    if extra and extra ~= "" then
      buf[#buf + 1] = "  " .. painted[e.state] .. "  " .. padded(e.file, width) .. "  " .. self:paint("dim", extra)
    else
      buf[#buf + 1] = "  " .. painted[e.state] .. "  " .. e.file
    end
  end
  if #buf > 0 and not self.json then
    buf[#buf + 1] = ""
    self.out:write(table.concat(buf, "\n"))
  end
  for _, d in ipairs(r.duplicates) do
    self:say("  %s  %s share version %s", self:paint("red", "dup    "), table.concat(d.files, ", "), d.key)
  end
  local t = r.totals
  local parts = { string.format("%d applied", t.applied), string.format("%d pending", t.pending) }
  if t.changed > 0 then parts[#parts + 1] = string.format("%d changed", t.changed) end
  if t.missing > 0 then parts[#parts + 1] = string.format("%d missing", t.missing) end
  if (t.in_progress or 0) > 0 then parts[#parts + 1] = string.format("%d in progress", t.in_progress) end
  if (t.unfinished or 0) > 0 then parts[#parts + 1] = string.format("%d unfinished", t.unfinished) end
  self:say("\n%s: %s", plural(t.total, "migration"), table.concat(parts, ", "))
  local discover = require "lumi.discover"
  for _, ig in ipairs(r.ignored or {}) do
    if discover.misnamed(ig) then
      self:warn("%s is not a migration: %s (it will never run)", ig.file, ig.reason)
    end
  end
end

function render.list(self, r)
  if not r.exists then self:say("%s does not exist yet (lumi new NAME creates it).", r.dir) return end
  self:say("Migrations in %s (naming: %s)", r.dir, r.scheme)
  for _, m in ipairs(r.migrations) do
    self:say("  %-20s %s%s", m.version, m.file, m.duplicate and self:paint("red", "  (duplicate version)") or "")
  end
  if #r.migrations == 0 then self:say("  (none)") end
  if #r.ignored > 0 then
    self:say("Ignored:")
    for _, ig in ipairs(r.ignored) do self:say("  %s  %s", ig.file, self:paint("dim", "— " .. ig.reason)) end
  end
end

function render.new(self, r)
  self:say("Created %s", r.path)
end

function render.verify(self, r)
  self:say("Connected to %s", r.database)
  self:say("  server      PostgreSQL %s", r.server_version)
  self:say("  as          %s on database %s (%s%s)", r.user, r.dbname, r.host, r.port and (":" .. r.port) or "")
  if r.table_exists then
    self:say("  tracking    %s exists, %s", r.table, plural(r.rows, "row"))
  else
    self:say("  tracking    %s does not exist yet (lumi up creates it)", r.table)
  end
  if r.lock_holder then
    local h = r.lock_holder
    if h.pid then self:say("  lock        held by process %d (user %s)", h.pid, h.user)
    else self:say("  lock        held by %s (a lease, since %s)", h.description, h.since) end
  else
    self:say("  lock        free")
  end
end

function render.drift(self, r)
  if not r.drift then
    self:say("No drift: the schema is what the migrations made%s (%s).",
      r.newest and (" up to " .. r.newest) or "", r.hash:sub(1, 16))
    return
  end
  self:say("The schema has drifted from what the migrations made%s:", r.newest and (" up to " .. r.newest) or "")
  for _, a in ipairs(r.added) do self:say("  %s  %s", self:paint("green", "added  "), a.line) end
  for _, a in ipairs(r.removed) do self:say("  %s  %s", self:paint("red", "removed"), a.line) end
  for _, c in ipairs(r.changed) do
    self:say("  %s  %s", self:paint("yellow", "changed"), c.object)
    self:say("      expected: %s", c.expected:gsub("\n", "\n                "))
    self:say("      live:     %s", c.live:gsub("\n", "\n                "))
  end
  self:say("%d added, %d removed, %d changed (expected from the %s migrations).", #r.added, #r.removed, #r.changed,
    r.source == "recorded" and "recorded fingerprint of the" or "replayed")
end

render["verify-down"] = function(self, r)
  for _, m in ipairs(r.migrations) do
    local label = m.status == "FAIL" and self:paint("red", "FAIL") or m.status == "warn" and self:paint("yellow", "warn")
      or m.status == "skipped" and self:paint("dim", "skip") or self:paint("green", "ok  ")
    self:say("  %s  %-40s%s", label, m.file, m.up_ms and string.format("  up %d ms, down %d ms", m.up_ms,
      m.down_ms or 0) or (m.note and ("  " .. m.note) or ""))
    for _, w in ipairs(m.warnings or {}) do self:say("        %s", w) end
    for _, p in ipairs(m.problems or {}) do self:say("        %s", p) end
  end
  self:say("%d ok, %d failed, %d with warnings.", r.summary.ok, r.summary.failed, r.summary.warned)
end

function render.snapshot(self, r)
  for _, l in ipairs(r.lines or {}) do self:say("%s", l) end
  if r.schemas then
    local names = {}
    for name in pairs(r.schemas) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
      self:say("%s  %s  (%s)", r.schemas[name].hash, name, plural(r.schemas[name].count, "line"))
    end
  end
  self:say("%s  (%s)", r.hash, plural(r.count, "line"))
end

function render.locks(self, r)
  local modes = require("lumi.locks").modes
  local blocks = {}
  for _, m in pairs(modes) do blocks[m.name] = table.concat(m.blocks, ", ") end
  for _, m in ipairs(r.migrations) do
    self:say("%s%s", self:paint("bold", m.file), m.in_transaction == nil and ""
      or self:paint("dim", m.in_transaction and "  (in a transaction)" or "  (without a transaction)"))
    if m.note then self:say("  %s", m.note) end
    for _, s in ipairs(m.statements) do
      local first = s.text:match("^[^\n]*")
      if #first > 60 then first = first:sub(1, 57) .. "..." end
      self:say("  %s:%s  %s", s.line or "?", s.column or "?", first)
      if s.skipped then self:say("      %s", self:paint("dim", s.skipped)) end
      for _, l in ipairs(s.locks) do
        if l.new then
          self:say("      %-28s %-24s blocks %-20s %s", l.table and (l.relation .. " (" .. l.table .. ")") or l.relation,
            l.mode, blocks[l.mode] or "?", l.held == "transaction" and "until COMMIT" or "for the statement")
        end
      end
      if s.unobserved then self:say("      %s", self:paint("dim", "no lock seen: it ended before the first look")) end
      if #s.rewrites > 0 then self:say("      rewrites %s", table.concat(s.rewrites, ", ")) end
      if #s.scans > 0 then self:say("      scans %s", table.concat(s.scans, ", ")) end
      if s.verdict then
        self:say("      %s %s", s.verdict.severity == "error" and self:paint("red", "error:")
          or self:paint("yellow", "warning:"), s.verdict.message)
      end
      if s.error then self:say("      %s %s", self:paint("red", "failed on the scratch database:"), s.error) end
    end
  end
  if #r.migrations == 0 then self:say("Nothing pending: no lock to report.") return end
  self:say("%s traced on a scratch database: %s.", plural(#r.migrations, "migration"), plural(r.errors, "error"))
end

-- SARIF 2.1.0: what code-scanning tools read
local function sarif(r)
  local rules, seen, results = json.array(), {}, json.array()
  for _, f in ipairs(r.findings) do
    if not seen[f.rule] then
      seen[f.rule] = true
      rules[#rules + 1] = { id = f.rule, shortDescription = { text = f.rule },
        fullDescription = { text = f.doc or f.rule } }
    end
    results[#results + 1] = { ruleId = f.rule, level = f.severity == "error" and "error" or "warning",
      message = { text = f.message .. (f.hint and (" (" .. f.hint .. ")") or "") },
      locations = json.array({ { physicalLocation = { artifactLocation = { uri = f.path },
        region = { startLine = f.line or 1, startColumn = f.column or 1 } } } }) }
  end
  return { version = "2.1.0", ["$schema"] = "https://json.schemastore.org/sarif-2.1.0.json",
    runs = json.array({ { tool = { driver = { name = "lumi lint",
      rules = rules } }, results = results } }) }
end

-- GitHub Actions workflow commands: an annotation per finding
local function github_escape(s, property)
  s = tostring(s):gsub("%%", "%%25"):gsub("\r", "%%0D"):gsub("\n", "%%0A")
  if property then s = s:gsub(":", "%%3A"):gsub(",", "%%2C") end
  return s
end

function render.lint(self, r)
  if r.format == "sarif" then
    self.out:write(json.encode(sarif(r)), "\n")
    return
  elseif r.format == "github" then
    for _, f in ipairs(r.findings) do
      self.out:write(string.format("::%s file=%s,line=%d,col=%d,title=%s::%s\n",
        f.severity == "error" and "error" or "warning", github_escape(f.path, true), f.line or 1, f.column or 1,
        github_escape("lumi lint " .. f.rule, true), github_escape(f.message .. (f.hint and (" — " .. f.hint) or ""))))
    end
    return
  end
  for _, f in ipairs(r.findings) do
    local sev = f.severity == "error" and self:paint("red", "error") or self:paint("yellow", "warning")
    self:say("%s:%s:%s: %s[%s]: %s", f.path, f.line or "?", f.column or "?", sev, f.rule, f.message)
    if f.source_line then
      self:say("  %s", f.source_line)
      self:say("  %s", self:paint("green", f.caret))
    end
    if f.hint then self:say("  = hint: %s", f.hint) end
  end
  local warnings = #r.findings - r.errors
  self:say("%s linted: %s, %s.", plural(r.checked, "migration"), plural(r.errors, "error"),
    plural(warnings, "warning"))
end

function render.validate(self, r)
  for _, w in ipairs(r.warnings or {}) do
    self.err:write(string.format("%s %s: %s\n", self:paint("yellow", "warning:"), w.file, w.message))
  end
  if r.ok then
    self:say("OK: %s checked, no problems.", plural(r.checked, "migration"))
    return
  end
  for _, p in ipairs(r.problems) do
    self.err:write(string.format("%s %s: %s\n", self:paint("red", p.kind .. ":"), p.file, p.message))
  end
  self.err:write(string.format("%s found.\n", plural(#r.problems, "problem")))
end

--- A heading before each target's output, when there are several.
function Report:target(name, i)
  if self.json then return end
  self:say("%s%s", i > 1 and "\n" or "", self:paint("bold", "[" .. name .. "]"))
end

--- The JSON document of a command run over several targets.
function Report:results(command, list)
  local docs = json.array()
  for i, r in ipairs(list) do docs[i] = self:document(command, r) end
  self.out:write(json.encode({ command = command, targets = docs }), "\n")
end

--- Render the result of a command.
function Report:result(command, r)
  if self.json then
    self.out:write(json.encode(self:document(command, r)), "\n")
    return
  end
  if render[command] then render[command](self, r) end
end

--- The JSON-ready table of a result.
function Report:document(command, r)
  local doc = { command = command }
  for k, v in pairs(r) do doc[k] = v end
  if r.error then doc.error = { kind = r.error.kind, message = r.error.message, file = r.error.file,
    line = r.error.line, column = r.error.column, sqlstate = r.error.sqlstate,
    detail = r.error.detail, hint = r.error.hint } end
  if r.failed then doc.failed = { file = r.failed.file, version = r.failed.migration.version } end
  local function done(list)
    local out = json.array()
    for i, a in ipairs(list) do
      out[i] = { version = a.migration.version, file = a.file, ms = a.seconds and math.floor(a.seconds * 1e6) / 1e3 }
    end
    return out
  end
  if r.applied then doc.applied = done(r.applied) end
  if r.reverted then doc.reverted = done(r.reverted) end
  doc.warnings = json.array(r.warnings or self.warnings or {})
  for _, k in ipairs({ "entries", "ignored", "duplicates", "problems", "migrations", "events", "baselined",
                       "marked", "unmarked", "repaired", "adopted", "findings", "added", "removed",
                       "changed" }) do
    if doc[k] then doc[k] = json.array(doc[k]) end
  end
  return doc
end

M.errors = errors
return M
