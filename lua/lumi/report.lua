--- Human and JSON output. Decides nothing: it renders the events and the
--- results that commands hand it.
local json = require "lumi.json"
local clock = require "lumi.clock"
local errors = require "lumi.errors"

local M = {}

local Report = {}
Report.__index = Report

local codes = { red = 31, green = 32, yellow = 33, blue = 34, magenta = 35, cyan = 36, bold = 1, dim = 2 }

--- A reporter writing to out/err (file handles), in colour or not, human or json.
function M.new(opts)
  opts = opts or {}
  return setmetatable({
    out = opts.out or io.stdout,
    err = opts.err or io.stderr,
    color = opts.color or false,
    json = opts.json or false,
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
  if self.json then return end
  self:render_event(ev)
  self.out:flush()
end

function Report:render_event(ev)
  if ev.type == "plan" then
    self.width = 0
    for _, m in ipairs(ev.migrations) do self.width = math.max(self.width, #m.file) end
  elseif ev.type == "applied" then
    self:say("  %s  %-" .. (self.width or 0) .. "s  %s", self:paint("green", "applied"), ev.migration.file,
      self:paint("dim", clock.format(ev.seconds)))
  elseif ev.type == "would_apply" then
    self:say("  %s  %s", self:paint("cyan", "would apply"), ev.migration.file)
  elseif ev.type == "failed" then
    self:say("  %s  %s", self:paint("red", "FAILED "), ev.migration.file)
  elseif ev.type == "lock_wait" then
    local h = ev.holder
    self.err:write(string.format("waiting up to %s for the migration lock, held by %s\n",
      clock.format(ev.timeout or 0),
      h and string.format("process %d (user %s, %s)", h.pid, h.user, h.client) or "another session"))
  elseif ev.type == "warning" then
    self:warn("%s", ev.message)
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
    local out = { error = { kind = type(e) == "table" and e.kind or "internal", message = tostring(e) } }
    if type(e) == "table" then
      for _, k in ipairs({ "file", "line", "column", "sqlstate", "detail", "hint", "migration" }) do
        out.error[k] = e[k]
      end
    end
    self.out:write(json.encode(out), "\n")
    return
  end
  w(self:paint("red", "error: ") .. tostring(e.message or e):gsub("\n", "\n  "))
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

function render.up(self, r)
  if r.error then
    self:error(r.error)
    self.err:write(string.format("  The migration was rolled back: none of its changes and no record of it remain.\n"
      .. "  %s before it %s applied. Fix the file, then run `lumi up` again.\n",
      plural(#r.applied, "migration"), #r.applied == 1 and "was" or "were"))
    return
  end
  if r.dry_run then
    if #r.applied == 0 then self:say("Dry run: nothing to apply.")
    else self:say("Dry run: %s would be applied; nothing was changed.", plural(#r.applied, "migration")) end
    return
  end
  if #r.applied == 0 then
    self:say("Nothing to apply: the database is up to date.")
  else
    local total = 0
    for _, a in ipairs(r.applied) do total = total + a.seconds end
    self:say("Applied %s in %s.", plural(#r.applied, "migration"), clock.format(total))
  end
end

local state_color = { applied = "green", pending = "yellow", changed = "red", missing = "magenta" }

function render.status(self, r)
  self:say("Migrations in %s, tracked in %s%s", r.dir, r.table,
    r.table_exists and "" or " (not created yet: nothing applied)")
  if #r.entries > 0 then self:say("") end
  local width = 0
  for _, e in ipairs(r.entries) do width = math.max(width, #e.file) end
  local buf, fmt = {}, "  %s  %-" .. width .. "s  %s"
  local painted = {}
  for state, color in pairs(state_color) do painted[state] = self:paint(color, string.format("%-7s", state)) end
  local function when(iso)   -- 2026-01-02T03:04:05Z -> 2026-01-02 03:04:05 UTC
    if not iso then return "" end
    return iso:sub(1, 10) .. " " .. iso:sub(12, 19) .. " UTC"
  end
  local dim_fmt = self.color and "\27[2m%s  %s\27[0m" or "%s  %s"
  for _, e in ipairs(r.entries) do
    local extra = ""
    if e.state == "applied" then
      buf[#buf + 1] = string.format(fmt, painted.applied, e.file, string.format(dim_fmt, when(e.applied_at), ms(e.execution_ms)))
      goto next
    end
    if e.state == "changed" then
      extra = string.format("%s  %s", when(e.applied_at), ms(e.execution_ms))
    end
    if e.state == "changed" then extra = extra .. "  file differs from the applied one" end
    if e.state == "missing" then extra = "applied " .. when(e.applied_at) .. ", file not found" end
    if e.out_of_order then extra = "older than the newest applied migration" end
    buf[#buf + 1] = string.format(fmt, painted[e.state], e.file, extra ~= "" and self:paint("dim", extra) or "")
    ::next::
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
  self:say("\n%s: %s", plural(t.total, "migration"), table.concat(parts, ", "))
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
    self:say("  lock        held by process %d (user %s)", r.lock_holder.pid, r.lock_holder.user)
  else
    self:say("  lock        free")
  end
end

function render.validate(self, r)
  if r.ok then
    self:say("OK: %s checked, no problems.", plural(r.checked, "migration"))
    return
  end
  for _, p in ipairs(r.problems) do
    self.err:write(string.format("%s %s: %s\n", self:paint("red", p.kind .. ":"), p.file, p.message))
  end
  self.err:write(string.format("%s found.\n", plural(#r.problems, "problem")))
end

--- Render the result of a command.
function Report:result(command, r)
  if self.json then
    local doc = { command = command }
    for k, v in pairs(r) do doc[k] = v end
    if r.error then doc.error = { kind = r.error.kind, message = r.error.message, file = r.error.file,
      line = r.error.line, column = r.error.column, sqlstate = r.error.sqlstate,
      detail = r.error.detail, hint = r.error.hint } end
    if r.failed then doc.failed = { file = r.failed.migration.file, version = r.failed.migration.version } end
    if r.applied and command == "up" then
      local list = json.array()
      for i, a in ipairs(r.applied) do
        list[i] = { version = a.migration.version, file = a.migration.file,
                    ms = a.seconds and math.floor(a.seconds * 1e6) / 1e3 }
      end
      doc.applied = list
    end
    for _, k in ipairs({ "entries", "ignored", "duplicates", "problems", "migrations" }) do
      if doc[k] then doc[k] = json.array(doc[k]) end
    end
    self.out:write(json.encode(doc), "\n")
    return
  end
  if render[command] then render[command](self, r) end
end

M.errors = errors
return M
