--- lumi fresh: drop everything lumi manages and apply every migration again.
local recreate_schema = require("lumi.schemas").recreate

return {
  summary = "drop everything lumi manages and apply every migration again (development)",
  usage = "lumi fresh [--force]",
  description = [[
Drops the schemas the target manages (`schemas` in migrate.lua, default
{"public"}, plus the tracking table's schema) with everything in them, creates
them again with the same owner and privileges, and applies every migration.
On a terminal it asks you to type DELETE ALL DATA; elsewhere it needs --force.
A target marked `protected = true` refuses outright.]],
  options = { { "--force", help = "do not ask (required when not on a terminal)" } },
  destructive = true,
  confirm = "DELETE ALL DATA",
  run = function(project, opts)
    opts = opts or {}
    local cfg = project.config
    local schemas, seen = {}, {}
    local function add(s) if s and not seen[s] then seen[s] = true; schemas[#schemas + 1] = s end end
    local db = project:connect()
    for _, s in ipairs(cfg.schemas or { "public" }) do add(s) end
    -- the tracking tables go too, wherever they are (an unqualified name
    -- lives in the first schema of the search path)
    local st = project:store()
    for _, s in ipairs(st:schemas()) do add(s) end
    -- (database, schema) pairs already dropped by this run (opts.run, one per
    -- command line): targets sharing a database must not undo each other
    local dropped_here = opts.run or {}
    local runner = require "lumi.runner"
    local dropped = {}
    local lock = require "lumi.lock"
    local key = st:lock_key()
    lock.acquire(db, key, cfg.lock_wait)
    local ok, err = pcall(function()
      local dbname = db:value("SELECT current_database()")
      local host = db:info().host or ""
      for _, s in ipairs(schemas) do
        local k = host .. "\0" .. dbname .. "\0" .. s
        if not dropped_here[k] then
          dropped_here[k] = true
          dropped[#dropped + 1] = recreate_schema(db, s)
        end
      end
    end)
    pcall(lock.release, db, key)
    if not ok then error(err, 0) end
    local names = {}
    for i, d in ipairs(dropped) do names[i] = d.schema end
    if #names > 0 then project:emit({ type = "dropped", schemas = names }) end
    local result = runner.up(project, {})
    result.dropped = dropped
    return result
  end,
}
