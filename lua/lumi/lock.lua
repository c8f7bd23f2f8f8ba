--- The migration lock around every run that changes anything: a
--- session-level advisory lock, or, through a connection pooler that pools
--- transactions (where a session lock protects nothing), a lease: a row
--- in a table that says who holds the lock until when.
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

--- Who holds the migration lock of store `st`, however it is held: the
--- advisory lock's holder (a pg_stat_activity row, as M.holder) or, through
--- a pooler, a live lease's ({description=, since=, lease=true}); or nil.
function M.who(db, st)
  local key = st:lock_key()
  local h = M.holder(db, key)
  if h then return h end
  local tbl = st:lease_table()
  if not db:value("SELECT to_regclass($1) IS NOT NULL", tbl) then return nil end
  local row = db:one("SELECT holder, to_char(taken_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"') AS since "
    .. "FROM " .. tbl .. " WHERE key = $1 AND expires_at > now()", key)
  return row and { description = row.holder, since = row.since, lease = true } or nil
end

function M.release(db, key)
  return db:value("SELECT pg_advisory_unlock($1)", key)
end

---------------------------------------------------------------- the lease

-- Through a transaction pooler each transaction may run on another server
-- connection: what is held is a row, key -> holder until expires_at. It is
-- taken when missing or expired, renewed while the run goes on (before
-- each migration, while a long statement runs, and inside each
-- migration's transaction, which therefore commits only while its runner
-- still holds the lease), and deleted at the end. A runner that dies
-- leaves it to expire: M.LEASE seconds after its last renewal.
M.LEASE = 60

local Lease = {}
Lease.__index = Lease

--- The lease on advisory key `key` in table `tbl` (quoted, qualified;
--- `schema`: its schema, quoted), for a holder described by `who`.
function M.lease(db, tbl, schema, key, who)
  local id = string.format("%s, run %s", who, require("lumi.hash").sha256(who .. os.time() .. os.clock()
    .. tostring({}) .. math.random()):sub(1, 12))
  return setmetatable({ db = db, table = tbl, schema = schema, key = key, id = id, renewed = 0 }, Lease)
end

-- Create the table when missing (two runners may try at once: one wins,
-- the other sees the table).
function Lease:create()
  local db = self.db
  if db:value("SELECT to_regclass($1) IS NOT NULL", self.table) then return end
  local sql = "CREATE TABLE IF NOT EXISTS " .. self.table .. " (key bigint PRIMARY KEY, holder text NOT NULL, "
    .. "taken_at timestamptz NOT NULL DEFAULT now(), expires_at timestamptz NOT NULL)"
  if not db:value("SELECT to_regnamespace($1) IS NOT NULL", self.schema) then
    sql = "CREATE SCHEMA IF NOT EXISTS " .. self.schema .. "; " .. sql
  end
  local ok, err = pcall(db.exec, db, sql)
  if not ok and not (type(err) == "table" and (err.sqlstate == "23505" or err.sqlstate == "42P07")) then
    error(err, 0)
  end
end

--- Who holds the lease: {holder=, since=, expires=} or nil.
function Lease:holder()
  return self.db:one("SELECT holder, to_char(taken_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"') AS since, "
    .. "to_char(expires_at AT TIME ZONE 'UTC', 'HH24:MI:SS \"UTC\"') AS expires FROM " .. self.table
    .. " WHERE key = $1 AND expires_at > now()", self.key)
end

--- Take the lease, waiting at most `wait` seconds, as M.acquire does.
function Lease:acquire(wait, on_wait)
  self:create()
  local deadline = clock.now() + (wait or 0)
  local pause, told = 0.05, false
  while true do
    local got = self.db:value("INSERT INTO " .. self.table .. " (key, holder, expires_at) "
      .. "VALUES ($1, $2, now() + $3 * interval '1 second') ON CONFLICT (key) DO UPDATE "
      .. "SET holder = EXCLUDED.holder, taken_at = now(), expires_at = EXCLUDED.expires_at "
      .. "WHERE " .. self.table .. ".expires_at <= now() RETURNING true", self.key, self.id, M.LEASE)
    if got then self.renewed = clock.now(); return true end
    local h = self:holder()
    if not told and on_wait then on_wait(h and { description = h.holder .. ", since " .. h.since, lease = true }); told = true end
    if clock.now() >= deadline then
      errors.raise("lock", string.format("another lumi run holds the migration lock: %s; waited %s",
        h and string.format("%s, since %s (its lease runs to %s unless renewed)", h.holder, h.since, h.expires)
          or "another run (it has just let go: try again)", clock.format(wait or 0)),
        { holder = h, hint = "wait for it to finish, or raise lock_wait / --lock-wait" })
    end
    clock.sleep(math.min(pause, math.max(deadline - clock.now(), 0.001)))
    pause = math.min(pause * 2, 0.5)
  end
end

--- The statement that renews the lease, {sql, params...}: it returns a row
--- only while this runner holds it.
function Lease:renewal()
  return { "UPDATE " .. self.table .. " SET expires_at = now() + $3 * interval '1 second' "
    .. "WHERE key = $1 AND holder = $2 RETURNING true", self.key, self.id, M.LEASE }
end

--- Renew the lease on `db` (this runner's connection, or another one while
--- it is busy); raises a `lock` error when it was lost. With `due`, only
--- when a third of it has gone by since the last renewal.
function Lease:renew(db, due)
  if due and clock.now() - self.renewed < M.LEASE / 3 then return end
  local r = self:renewal()
  if not (db or self.db):value(r[1], r[2], r[3], r[4]) then
    errors.raise("lock", string.format("this run lost the migration lock: its lease expired (%s without a renewal) "
      .. "and another run may have taken it", clock.format(M.LEASE)),
      { hint = "run `lumi status`, then `lumi up` again" })
  end
  self.renewed = clock.now()
end

function Lease:release()
  return self.db:value("DELETE FROM " .. self.table .. " WHERE key = $1 AND holder = $2 RETURNING true",
    self.key, self.id)
end

return M
