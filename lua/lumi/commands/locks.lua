--- lumi locks: the lock report of the pending migrations, traced on a
--- scratch database (never on the target).
local conninfo = require "lumi.conninfo"
local db_mod = require "lumi.db"
local errors = require "lumi.errors"
local locks = require "lumi.locks"
local prepare = require "lumi.prepare"
local timeouts = require "lumi.timeouts"

-- The target's settings, leading to the scratch database instead (no lint
-- gate there: the report is the point).
local function scratch_settings(cfg, url)
  local out = {}
  for k, v in pairs(cfg) do out[k] = v end
  out.database, out.direct_url = url, nil
  out.lint = nil
  out.before_all, out.after_all = nil, nil
  return out
end

-- Rows and bytes of the tables of `names`, read from `url` in a read-only
-- transaction: {relation = {rows=, bytes=}}.
local function stats_from(url, names)
  local db <close> = db_mod.connect(url)
  db:exec("BEGIN READ ONLY")
  local out = {}
  for _, name in ipairs(names) do
    local r = db:one("SELECT c.reltuples::bigint AS rows, pg_total_relation_size(c.oid) AS bytes FROM pg_class c "
      .. "WHERE c.oid = to_regclass($1)", name)
    -- reltuples is -1 for a table never analyzed: its size is not known
    if r then out[name] = { rows = r.rows >= 0 and r.rows or nil, bytes = r.bytes } end
  end
  db:exec("ROLLBACK")
  return out
end

-- What a database holds besides the system's: its schemas, and the
-- relations, routines and types in them.
local HOLDS = [[
SELECT (SELECT count(*) FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public')
          AND nspname NOT LIKE 'pg_toast%' AND nspname NOT LIKE 'pg_temp%') AS schemas,
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public') AS relations,
       (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = 'public') AS routines,
       (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
          WHERE n.nspname = 'public' AND t.typrelid = 0) AS types,
       (SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql') AS extensions]]

local function is_empty(db)
  local r = db:one(HOLDS)
  return r.schemas + r.relations + r.routines + r.types + r.extensions == 0
end

-- Empty a shadow database again (it was empty when the run began): its
-- extensions, its schemas but public, and what public holds.
local function clean(db)
  for _, e in ipairs(db:query("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'")) do
    db:exec("DROP EXTENSION IF EXISTS " .. db:quote_ident(e.extname) .. " CASCADE")
  end
  for _, n in ipairs(db:query("SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', "
      .. "'information_schema', 'public') AND nspname NOT LIKE 'pg_toast%' AND nspname NOT LIKE 'pg_temp%'")) do
    db:exec("DROP SCHEMA IF EXISTS " .. db:quote_ident(n.nspname) .. " CASCADE")
  end
  local drops = {}
  -- tables first (their sequences go with them), then what is left
  for _, kind in ipairs({ { "'r', 'p'", "TABLE" }, { "'f'", "FOREIGN TABLE" }, { "'m'", "MATERIALIZED VIEW" },
                          { "'v'", "VIEW" }, { "'S'", "SEQUENCE" } }) do
    drops[#drops + 1] = { "SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      .. "WHERE n.nspname = 'public' AND c.relkind IN (" .. kind[1] .. ")", function(r)
        return "DROP " .. kind[2] .. " IF EXISTS public." .. db:quote_ident(r.name) .. " CASCADE"
      end }
  end
  for _, d in ipairs({
    { "SELECT p.oid::regprocedure::text AS name, p.prokind FROM pg_proc p JOIN pg_namespace n "
      .. "ON n.oid = p.pronamespace WHERE n.nspname = 'public'", function(r)
        return "DROP ROUTINE IF EXISTS " .. r.name .. " CASCADE"
      end },
    { "SELECT t.typname AS name FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
      .. "WHERE n.nspname = 'public' AND t.typrelid = 0 AND t.typelem = 0", function(r)
        return "DROP TYPE IF EXISTS public." .. db:quote_ident(r.name) .. " CASCADE"
      end },
  }) do drops[#drops + 1] = d end
  for _, d in ipairs(drops) do
    for _, r in ipairs(db:query(d[1])) do db:exec(d[2](r)) end
  end
end

return {
  summary = "trace the locks each pending statement takes, on a scratch database",
  usage = "lumi locks [--stats-from URL]",
  description = [[
Never on the target. lumi creates a scratch database on the same server (or
uses `shadow` from migrate.lua), applies there what the target has applied,
then runs each pending migration statement by statement and reads, after
each one, the locks its session holds on tables that existed before, whether
it rewrote a table (a new relfilenode) or scanned it (a constraint's
validation). Statements outside a transaction are watched from a second
connection. For each statement: file:line:col, the relation, the lock mode,
what it blocks, how long it holds it (the statement, or until COMMIT),
rewrite and scan. A verdict (lua: locks.verdict in migrate.lua; the
built-in one in lua/lumi/locks.lua) calls out what would hurt; exit 3 when
it finds an error. --stats-from reads table sizes from a database (a
replica, or the target) in a read-only transaction.]],
  options = { { "--stats-from", arg = "URL", help = "read table sizes from this database, or from the target "
    .. "with `target` (read-only)" } },
  run = function(project, opts)
    local cfg = project.config
    local target = project:connect()
    local found = project:discover()
    local p = project:plan(found, (project:store():read()))
    local pending = p.pending
    -- the scratch database
    local shadow_url, created = cfg.shadow, nil
    if not shadow_url then
      created = string.format("lumi_locks_%d_%d", os.time(), math.random(1, 1e6))
      target:exec("CREATE DATABASE " .. created)
      shadow_url = conninfo.with_dbname(cfg.database, created)
    end
    local report = { migrations = {}, scratch = created and "created" or "shadow" }
    local shadow_db, scratch
    local ok, err = pcall(function()
      scratch = require("lumi.project").open({ loaded = scratch_settings(cfg, shadow_url),
                                                     on_event = function() end })
      local sdb = scratch:connect()
      if sdb:value("SELECT current_database() = $1", target:info().database) == true
         and sdb:info().host == target:info().host and sdb:info().port == target:info().port then
        errors.raise("config", "shadow names the target's own database: lumi locks runs migrations there")
      end
      if not created and not is_empty(sdb) then
        errors.raise("config", string.format("shadow database %s is not empty: lumi locks applies every migration "
          .. "there, and empties it again afterwards, so it must start empty", sdb:info().database))
      end
      shadow_db = not created and sdb or nil
      -- what the target has applied
      if p.newest_applied then
        require("lumi.runner").up(scratch, { to = p.newest_applied })
      end
      local watch <close> = db_mod.connect(shadow_url)
      local policy = timeouts.settings(cfg.timeouts)
      local names = {}
      for _, m in ipairs(pending) do
        local part = prepare.part(m, "up", cfg)
        local entry = { file = m.file, version = m.version, statements = {} }
        report.migrations[#report.migrations + 1] = entry
        if not part then
          entry.note = "no up part"
        elseif part.lua or part.large then
          entry.note = part.lua and "a Lua migration: its statements are not SQL text, so tracing stops here"
            or "a large file: not traced, so tracing stops here"
          break
        else
          local stmts, failed = locks.trace(sdb, watch, part)
          entry.statements, entry.in_transaction = stmts, part.mode ~= "statements"
          entry.lock_timeout = timeouts.limits(policy, part).lock
          for _, s in ipairs(stmts) do
            for _, l in ipairs(s.locks) do names[#names + 1] = l.table or l.relation end
          end
          if failed then
            entry.failed = failed.error
            break
          end
        end
      end
      local from = opts.stats_from == "target" and cfg.database or opts.stats_from
      report.stats = from and stats_from(from, names) or nil
    end)
    if shadow_db then
      local cleaned, cerr = pcall(clean, shadow_db)
      if not cleaned and ok then ok, err = false, cerr end
    end
    if scratch then scratch:close() end
    if created then
      pcall(target.exec, target, "DROP DATABASE IF EXISTS " .. created .. " WITH (FORCE)")
    end
    if not ok then error(err, 0) end
    -- the verdict on each statement
    local verdict = (cfg.locks or {}).verdict or locks.verdict
    local n_errors = 0
    for _, m in ipairs(report.migrations) do
      for _, s in ipairs(m.statements) do
        local v = verdict(s, { migration = m.statements, stats = report.stats, large = (cfg.locks or {}).large,
                               lock_timeout = m.lock_timeout })
        if v then
          s.verdict = v
          if v.severity == "error" then n_errors = n_errors + 1 end
        end
      end
      if m.failed then n_errors = n_errors + 1 end
    end
    report.errors = n_errors
    report.exit_code = n_errors > 0 and 3 or 0
    return report
  end,
}
