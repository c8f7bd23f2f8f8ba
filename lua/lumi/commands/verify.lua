--- lumi verify: can lumi reach the database, and what does it find there.
local lock = require "lumi.lock"
local conninfo = require "lumi.conninfo"

return {
  summary = "check the connection and the tracking table",
  usage = "lumi verify",
  description = [[
Connects to the database and reports the server version, the role and
database connected to, whether the tracking table exists and how many rows
it holds, and whether another runner holds the migration lock.]],
  options = {},
  run = function(project)
    local db = project:connect()
    local info = db:info()
    local st = project:store()
    local count = st:count()
    local holder = lock.who(db, st)
    return {
      database = conninfo.redact(project.config.database) or "(from PG* environment variables)",
      server_version = info.server_version,
      server_version_num = info.server_version_num,
      user = info.user, dbname = info.database, host = info.host, port = info.port,
      table = project.config.tracking.table,
      table_exists = count ~= nil,
      rows = count,
      lock_holder = holder,
    }
  end,
}
