--- lumi verify-down [VERSION[..VERSION]]: prove on a scratch database that
--- each down migration undoes its up.
local drift = require "lumi.drift"
local errors = require "lumi.errors"
local fingerprint = require "lumi.fingerprint"
local runner = require "lumi.runner"

-- the rows of every table of the managed schemas: {"schema.table" = n}
local function row_counts(db)
  local out = {}
  for _, r in ipairs(db:query("SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name "
      .. "FROM pg_class c JOIN pg_namespace n "
      .. "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', "
      .. "'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'")) do
    out[r.name] = db:value("SELECT count(*) FROM " .. r.name)
  end
  return out
end

-- lines without the column-order ones, and those apart
local function split_order(lines)
  local rest, order = {}, {}
  for _, l in ipairs(lines) do
    if l.line:sub(1, 13) == "column order " then order[#order + 1] = l else rest[#rest + 1] = l end
  end
  return rest, order
end

-- the objects of a diff, as text lines for a report
local function described(d)
  local out = {}
  for _, a in ipairs(d.added) do out[#out + 1] = "left behind: " .. a.line end
  for _, a in ipairs(d.removed) do out[#out + 1] = "gone: " .. a.line end
  for _, c in ipairs(d.changed) do out[#out + 1] = "changed: " .. c.object .. " (was: " .. c.expected .. "; now: " .. c.live .. ")" end
  return out
end

-- Is migration m within the range "A..B" (or "A", or everything)?
local function within(scheme, m, from, to)
  if from and scheme.compare(m.version, from) then return false end
  if to and scheme.compare(to, m.version) then return false end
  return true
end

return {
  summary = "prove on a scratch database that each down migration undoes its up",
  usage = "lumi verify-down [VERSION[..VERSION]] [--column-order error|warn|ignore] [--data]",
  description = [[
Never on the target: on a scratch database, every migration is applied in
order, and for each one in the range that has a down: the schema's
fingerprint, up, fingerprint, down, fingerprint — which must equal the
first, else "down leaves a trace", with the objects — then up again, which
must succeed and give the second fingerprint, else "down breaks the next
up". A down that puts a column back at the end (drop and re-add) changes
only the columns' order: a warning by default (--column-order). --data
counts each table's rows before up and after down and calls a down that
loses rows lossy. One line per migration, the differences under a failure;
exit 3 on any failure.]],
  args = { { name = "RANGE" } },
  options = {
    { "--column-order", arg = "WHAT", help = "a down that changes only the columns' order: error, warn (default) or ignore" },
    { "--data", help = "count rows before up and after down, and call a down that loses rows lossy" },
  },
  run = function(project, opts)
    local order_policy = opts.column_order or "warn"
    if order_policy ~= "error" and order_policy ~= "warn" and order_policy ~= "ignore" then
      errors.raise("usage", "verify-down --column-order: error, warn or ignore")
    end
    local scheme = project.scheme
    local from, to
    if opts.args[1] then
      from, to = opts.args[1]:match("^(.-)%.%.(.*)$")
      if not from then from, to = opts.args[1], opts.args[1] end
      if from == "" then from = nil end
      if to == "" then to = nil end
    end
    local found = project:discover()
    local results = {}
    require("lumi.scratch").with(project, function(scratch, db)
      local options = drift.options(scratch)
      local function lines() return fingerprint.lines(db, options) end
      local function up_to(m)
        local r = runner.up(scratch, { to = m.version })
        if r.error then return nil, r.error.message or errors.text(r.error) end
        return true
      end
      for _, m in ipairs(found.migrations) do
        local checked = within(scheme, m, from, to) and not m.repeatable
        if not checked then
          local ok, err = up_to(m)
          if not ok then
            results[#results + 1] = { file = m.file, version = m.version, status = "FAIL", problems = {
              "up failed on the scratch database: " .. err }, stopped = true }
            break
          end
        else
          local res = { file = m.file, version = m.version, status = "ok", problems = {}, warnings = {} }
          results[#results + 1] = res
          local before = lines()
          local counts = opts.data and row_counts(db) or nil
          local clock = require "lumi.clock"
          local t0 = clock.now()
          local ok, err = up_to(m)
          res.up_ms = math.floor((clock.now() - t0) * 1000 + 0.5)
          if not ok then
            res.status, res.problems[1], res.stopped = "FAIL", "up failed on the scratch database: " .. err, true
            break
          end
          local after_up = lines()
          t0 = clock.now()
          local dok, down = pcall(runner.down, scratch, { count = 1 })
          if not dok then down = { error = down, reverted = {} } end
          res.down_ms = math.floor((clock.now() - t0) * 1000 + 0.5)
          if down.error then
            local msg = type(down.error) == "table" and down.error.message or errors.text(down.error)
            if #down.reverted == 0 and msg:find("has no down", 1, true) then
              res.status, res.note = "skipped", "no down migration"
            else
              res.status, res.stopped = "FAIL", true
              res.problems[1] = "down failed on the scratch database: " .. msg
              break
            end
          else
            local after_down = lines()
            local b_rest, b_order = split_order(before)
            local a_rest, a_order = split_order(after_down)
            local d = drift.diff(b_rest, a_rest)
            if not drift.none(d) then
              res.status = "FAIL"
              res.problems[#res.problems + 1] = "down leaves a trace"
              for _, l in ipairs(described(d)) do res.problems[#res.problems + 1] = "  " .. l end
            elseif not drift.none(drift.diff(b_order, a_order)) and order_policy ~= "ignore" then
              local od = drift.diff(b_order, a_order)
              local text = "down changes the order of columns: " .. ((od.changed[1] and (od.changed[1].expected
                .. " -> " .. od.changed[1].live:gsub("^column order ", ""))) or "")
              if order_policy == "error" then
                res.status = "FAIL"
                res.problems[#res.problems + 1] = text
              else
                res.warnings[#res.warnings + 1] = text
                if res.status == "ok" then res.status = "warn" end
              end
            end
            if counts then
              local now = row_counts(db)
              for name, n in pairs(counts) do
                if n > 0 and (now[name] or 0) < n then
                  res.status = "FAIL"
                  res.problems[#res.problems + 1] = string.format("lossy: %s had %d rows before up, %s after down",
                    name, n, now[name] and tostring(now[name]) or "and is gone")
                end
              end
            end
            -- up again: it must run, and make the same schema
            local again, aerr = up_to(m)
            if not again then
              res.status, res.stopped = "FAIL", true
              res.problems[#res.problems + 1] = "down breaks the next up: " .. aerr
              break
            end
            local d2 = drift.diff(after_up, lines())
            if not drift.none(d2) then
              res.status = "FAIL"
              res.problems[#res.problems + 1] = "up after down makes another schema"
              for _, l in ipairs(described(d2)) do res.problems[#res.problems + 1] = "  " .. l end
            end
          end
        end
      end
    end)
    local failed, warned, ok = 0, 0, 0
    for _, r in ipairs(results) do
      if r.status == "FAIL" then failed = failed + 1 elseif r.status == "warn" then warned = warned + 1
      elseif r.status == "ok" then ok = ok + 1 end
    end
    return { migrations = results, summary = { ok = ok, failed = failed, warned = warned },
             exit_code = failed > 0 and 3 or 0 }
  end,
}
