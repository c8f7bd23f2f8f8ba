--- The migration lock: a session-level advisory lock around every run that
--- changes anything.
--
-- It is taken by polling pg_try_advisory_lock, never by blocking in
-- pg_advisory_lock: a runner that waits inside pg_advisory_lock is a
-- backend with a running statement, and the holder's CREATE INDEX
-- CONCURRENTLY waits for every such backend to finish — for ever. Between
-- polls the waiting runner runs nothing and holds no snapshot.
local clock = require "lumi.clock"
local errors = require "lumi.errors"

local M = {}

--- Who holds advisory lock `key`: a row from pg_stat_activity, or nil.
function M.holder(db, key)
  return db:one([[
SELECT a.pid, a.usename AS user, a.application_name AS application,
       coalesce(host(a.client_addr), 'local socket') AS client,
       to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"') AS since,
       a.state
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted
   AND l.classid = ($1::bigint >> 32)::oid AND l.objid = ($1::bigint & 4294967295)::oid
   AND l.objsubid = 1
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
 LIMIT 1]], key)
end

--- Take the lock, waiting at most `wait` seconds. Raises a `lock` error
--- naming the holder when the wait runs out. `on_wait(holder)` is called
--- once if the lock is busy.
function M.acquire(db, key, wait, on_wait)
  local deadline = clock.now() + (wait or 0)
  local pause, told = 0.05, false
  while true do
    if db:value("SELECT pg_try_advisory_lock($1)", key) then return true end
    local holder = M.holder(db, key)
    if not told and on_wait then on_wait(holder); told = true end
    if clock.now() >= deadline then
      local who = holder and string.format("process %d (user %s, %s, from %s, connected since %s, %s)",
        holder.pid, holder.user, holder.application ~= "" and holder.application or "no application name",
        holder.client, holder.since, holder.state) or "another session (it has just let go: try again)"
      errors.raise("lock", string.format("another lumi run holds the migration lock: %s; waited %s",
        who, clock.format(wait or 0)), { holder = holder,
        hint = "wait for it to finish, or raise lock_wait / --lock-wait" })
    end
    clock.sleep(math.min(pause, math.max(deadline - clock.now(), 0.001)))
    pause = math.min(pause * 2, 0.5)
  end
end

function M.release(db, key)
  return db:value("SELECT pg_advisory_unlock($1)", key)
end

return M
