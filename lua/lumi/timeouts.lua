--- Timeouts and retry: the default policy of `timeouts` in migrate.lua.
--
-- An ALTER TABLE that waits behind a long-running reader holds its place in
-- the lock queue, and every later query on that table waits behind it: the
-- classic migration outage. So every migration runs with PostgreSQL's
-- lock_timeout set (SET LOCAL, once per transactional file; before each
-- statement otherwise), and a lock timeout (SQLSTATE 55P03) is retried
-- after a pause — the whole file again for a transactional file, only the
-- failed statement for one without a transaction — with exponential
-- back-off and full jitter, within a time budget. Just before a wait runs
-- out, lumi asks a second connection who blocks it.
--
--   timeouts = {
--     lock = 1,                 -- seconds (or "500ms", "2s", "1min"); 0: none
--     statement = nil,          -- statement_timeout; nil: the role's own
--     concurrent = { lock = 0, statement = 0 },   -- CREATE/DROP INDEX CONCURRENTLY, ...
--     retries = 10,             -- attempts after the first
--     budget = 300,             -- seconds one migration may spend retrying
--     backoff = { base = 0.5, max = 30 },   -- pause n: random(0, min(max, base * 2^(n-1)))
--     retry_on = { "55P03" },   -- also "40P01" (deadlock), "57014" (statement timeout)
--     diagnose_at = 0.8,        -- look for blockers at 80 % of the lock timeout (150 ms before it at the latest)
--     show_queries = false,     -- blockers' query text in output and log
--   }
--
-- A file may set its own in its leading comments (`-- lumi: lock-timeout
-- 5s`, `-- lumi: statement-timeout 10min`), a migration record its own
-- (`lock_timeout`, `statement_timeout` fields, in seconds), and
-- `on_lock_timeout(ctx)` in migrate.lua decides each retry (see README).
-- A CONCURRENTLY statement has no lock timeout by default: its waits block
-- no one's reads or writes, and one that times out leaves an invalid index.
local M = {}

M.defaults = {
  lock = 1,
  statement = nil,
  concurrent = { lock = 0, statement = 0 },
  retries = 10,
  budget = 300,
  backoff = { base = 0.5, max = 30 },
  retry_on = { "55P03" },
  diagnose_at = 0.8,
  show_queries = false,
}

local units = { ms = 0.001, s = 1, sec = 1, min = 60, h = 3600 }

--- A duration in seconds: a number, or a string such as "500ms", "2s",
--- "1.5min", "1h" ("0" and 0: none). nil and why for anything else.
function M.seconds(v)
  if type(v) == "number" then
    if v ~= v or v < 0 then return nil, "must be zero or more seconds" end
    -- PostgreSQL's timeouts are milliseconds in an int
    if v * 1000 > 2147483647 then return nil, "is more than PostgreSQL's timeouts allow (2147483647 ms, 24.8 days)" end
    return v
  end
  if type(v) ~= "string" then return nil, "must be seconds (a number) or a duration such as \"500ms\" or \"2s\"" end
  local n, unit = v:match("^%s*(%d+%.?%d*)%s*(%a*)%s*$")
  local factor = units[unit ~= "" and unit or "s"]
  if not n or not factor then
    return nil, string.format("%q is not a duration (write \"500ms\", \"2s\", \"1min\" or a number of seconds)", v)
  end
  return M.seconds(tonumber(n) * factor)
end

--- Check a `timeouts` table of migrate.lua; true, or false and why.
function M.check(t)
  for k, v in pairs(t) do
    if M.defaults[k] == nil and k ~= "statement" then
      return false, string.format("has an unknown key %q (known: lock, statement, concurrent, retries, budget, "
        .. "backoff, retry_on, diagnose_at, show_queries)", tostring(k))
    end
    local ok, why = true, nil
    if k == "lock" or k == "statement" or k == "budget" then ok, why = M.seconds(v)
    elseif k == "concurrent" or k == "backoff" then
      if type(v) ~= "table" then ok, why = false, "must be a table" else
        for kk, vv in pairs(v) do
          ok, why = M.seconds(vv)
          if not ok then why = kk .. " " .. why; break end
        end
      end
    elseif k == "retries" then ok = math.type(v) == "integer" and v >= 0; why = "must be a whole number, 0 or more"
    elseif k == "retry_on" then ok = type(v) == "table"; why = "must be a list of SQLSTATEs such as \"55P03\""
    elseif k == "diagnose_at" then ok = type(v) == "number" and v > 0 and v <= 1; why = "must be a number in (0, 1]"
    elseif k == "show_queries" then ok = type(v) == "boolean"; why = "must be true or false" end
    if not ok then return false, k .. " " .. why end
  end
  return true
end

--- The policy in force: the defaults under `t` (migrate.lua's), every
--- duration in seconds.
function M.settings(t)
  t = t or {}
  local s = {}
  for k, v in pairs(M.defaults) do s[k] = v end
  for k, v in pairs(t) do s[k] = v end
  s.lock = M.seconds(s.lock)
  s.statement = s.statement ~= nil and M.seconds(s.statement) or nil
  s.budget = M.seconds(s.budget)
  local c, b = {}, {}
  for k, v in pairs(M.defaults.concurrent) do c[k] = v end
  for k, v in pairs(t.concurrent or {}) do c[k] = M.seconds(v) end
  for k, v in pairs(M.defaults.backoff) do b[k] = v end
  for k, v in pairs(t.backoff or {}) do b[k] = M.seconds(v) end
  s.concurrent, s.backoff = c, b
  s.retryable = {}
  for _, code in ipairs(s.retry_on) do s.retryable[code] = true end
  return s
end

--- Is statement text s a CONCURRENTLY one (CREATE/DROP/REINDEX ...
--- CONCURRENTLY, DETACH PARTITION ... CONCURRENTLY)?
function M.is_concurrent(s)
  return s:upper():find("%f[%w_]CONCURRENTLY%f[^%w_]") ~= nil
end

--- The limits of a part, {lock=, statement=} in seconds (nil: leave the
--- session's), or of one of its statements when `statement` is given:
--- the part's own (its migration's fields, its directives), else the
--- policy's (the concurrent ones for a CONCURRENTLY statement).
function M.limits(s, part, statement)
  local own = part.timeouts or {}
  local base = statement and M.is_concurrent(statement) and s.concurrent or s
  local lock, stmt = own.lock, own.statement
  if lock == nil then lock = base.lock end
  if stmt == nil then stmt = base.statement end
  return { lock = lock, statement = stmt }
end

--- "SET LOCAL lock_timeout = '1000ms'; ..." for limits (scope "local":
--- for a transaction, a limit without a value left alone) or "SET ...;
--- RESET ...;" (scope "session": a limit without a value is the role's
--- own). Only numbers ever go into it.
function M.sql(limits, scope)
  local out = {}
  local verb = scope == "local" and "SET LOCAL " or "SET "
  for _, k in ipairs({ "lock", "statement" }) do
    local v = limits[k]
    if v then
      out[#out + 1] = string.format("%s%s_timeout = '%dms';", verb, k, math.floor(v * 1000 + 0.5))
    elseif scope ~= "local" then
      out[#out + 1] = "RESET " .. k .. "_timeout;"
    end
  end
  return table.concat(out, " ")
end

--- The pause before retry n (1, 2, ...): full jitter over an exponential
--- back-off, so that two runners do not retry in step.
function M.pause(s, n)
  local cap = math.min(s.backoff.max, s.backoff.base * 2 ^ (n - 1))
  return math.random() * cap
end

--- The sessions blocking the one whose application_name is `name`, read on
--- db (another connection than the blocked one): {pid, application, user,
--- state, xact_seconds, query, waiting_for} each; query only with
--- show_queries. Works through a pooler: the blocked session is found by
--- its name, not by a process id.
function M.blockers(db, name, show_queries)
  local rows = db:query([[
SELECT b.pid, b.application_name AS application, b.usename AS "user", b.state,
       extract(epoch FROM now() - b.xact_start)::float8 AS xact_seconds,
       left(b.query, 2000) AS query,
       (SELECT l.mode || ' on ' || coalesce(l.relation::regclass::text, l.locktype)
          FROM pg_locks l WHERE l.pid = w.pid AND NOT l.granted LIMIT 1) AS waiting_for
  FROM pg_stat_activity w
  CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid)
  JOIN pg_stat_activity b ON b.pid = bp.pid
 WHERE w.application_name = $1 AND w.datname = current_database()
 ORDER BY b.xact_start NULLS LAST]], name)
  local out = {}
  for i, r in ipairs(rows) do
    for k, v in pairs(r) do if v == db.null then r[k] = nil end end
    if not show_queries then r.query = nil end
    out[i] = r
  end
  return out
end

-- "4m12s" for a number of seconds
local function age(s)
  if not s then return "?" end
  if s < 60 then return string.format("%ds", math.floor(s + 0.5)) end
  if s < 3600 then return string.format("%dm%02ds", s // 60, math.floor(s % 60)) end
  return string.format("%dh%02dm", s // 3600, math.floor(s % 3600) // 60)
end

--- One line naming the blockers, for output and the event log.
function M.describe(blockers)
  if #blockers == 0 then return "no blocking session was seen" end
  local parts = {}
  for i, b in ipairs(blockers) do
    parts[i] = string.format("pid %d (%s, %s, %s, transaction open %s%s)", b.pid,
      b.application ~= nil and b.application ~= "" and b.application or "no application name",
      b.user or "?", b.state or "?", age(b.xact_seconds), b.query and (": " .. b.query:gsub("%s+", " ")) or "")
  end
  local what = blockers[1].waiting_for
  return (what and ("waiting for " .. what .. ", ") or "") .. "blocked by " .. table.concat(parts, "; ")
end

return M
