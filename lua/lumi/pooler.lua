--- Is there a connection pooler (PgBouncer, and the like) between lumi and
--- the server, and does it keep a session on one server connection?
--
-- Through a pooler in transaction (or statement) mode, each transaction
-- may run on another server connection: a session-level advisory lock is
-- taken on one of them and stays there, held by nobody, after lumi has
-- gone; SET without LOCAL changes whatever client comes next. lumi finds
-- out before it takes its lock:
--
--   * the process id the server gave at connection (PQbackendPID, sent in
--     the start-up handshake) is not the one pg_backend_pid() answers: the
--     handshake was the pooler's, so a pooler is there;
--   * then a second connection asks its pg_backend_pid(), and the first
--     one asks again at once. A pooler that keeps sessions has given the
--     first connection a server of its own, which nobody else gets: the
--     second connection's answer differs, the first's is the same. A
--     pooler that pools transactions hands out the idle server used last
--     (PgBouncer does): the first connection's, to the second connection,
--     or, when the second got another one (someone had freed it since),
--     that one, freed again by the second connection just before, to the
--     first. Other clients at the same moment can make one round look
--     like session pooling by chance; it takes M.ROUNDS rounds.
local db_mod = require "lumi.db"

local M = {}

M.ROUNDS = 3

local function pid_of(db) return db:value("SELECT pg_backend_pid()") end

--- What is between lumi and the server on `db` (connected to `url`):
--- nil (nothing: a direct connection), "session" or "transaction".
function M.probe(db, url)
  local first = pid_of(db)
  if first == db:info().pid then return nil end
  local other = db_mod.connect(url)
  local ok, mode = pcall(function()
    for _ = 1, M.ROUNDS do
      local theirs = pid_of(other)
      if theirs == first or pid_of(db) ~= first then return "transaction" end
    end
    return "session"
  end)
  pcall(other.close, other)
  if not ok then error(mode, 0) end
  return mode
end

--- The refusal of a run through a transaction pooler (pooler = "refuse").
function M.refusal(url_name)
  return string.format("the database is reached through a connection pooler in transaction mode (PgBouncer's "
    .. "pool_mode = transaction, or the like): lumi's migration lock is a session lock, which such a pooler "
    .. "leaves held on a server connection nobody owns, and two runners would both run; %s", url_name)
end

return M
