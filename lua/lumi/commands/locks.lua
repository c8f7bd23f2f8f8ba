--- lumi locks: the lock report of the pending migrations, traced on a
--- scratch database (never on the target).
local db_mod = require "lumi.db"
local locks = require "lumi.locks"
local prepare = require "lumi.prepare"
local timeouts = require "lumi.timeouts"

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
    local found = project:discover()
    local p = project:plan(found, (project:store():read()))
    local report = { migrations = {} }
    local _, how = require("lumi.scratch").with(project, function(scratch, sdb)
      -- what the target has applied
      if p.newest_applied then require("lumi.runner").up(scratch, { to = p.newest_applied }) end
      local watch <close> = db_mod.connect(scratch.config.database)
      local policy = timeouts.settings(cfg.timeouts)
      local names = {}
      for _, m in ipairs(p.pending) do
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
    report.scratch = how
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
