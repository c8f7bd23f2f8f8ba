--- A scratch database to run migrations on, never the target: the `shadow`
--- of migrate.lua (which must start empty, and is emptied again), or one
--- lumi creates on the target's server and drops.
local conninfo = require "lumi.conninfo"
local errors = require "lumi.errors"

local M = {}

-- What a database holds besides the system's: its schemas, and the
-- relations, routines and types in public, and extensions.
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
-- extensions, its schemas, public re-created with its owner and privileges.
local function clean(db)
  for _, e in ipairs(db:query("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'")) do
    db:exec("DROP EXTENSION IF EXISTS " .. db:quote_ident(e.extname) .. " CASCADE")
  end
  for _, n in ipairs(db:query("SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', "
      .. "'information_schema', 'public') AND nspname NOT LIKE 'pg_toast%' AND nspname NOT LIKE 'pg_temp%'")) do
    db:exec("DROP SCHEMA IF EXISTS " .. db:quote_ident(n.nspname) .. " CASCADE")
  end
  require("lumi.schemas").recreate(db, "public")
end

-- The target's settings, leading to the scratch database instead: no
-- hooks around the run, no lint or drift gate (the scratch is the point).
local function settings_for(cfg, url)
  local out = {}
  for k, v in pairs(cfg) do out[k] = v end
  out.database, out.direct_url = url, nil
  out.lint, out.drift = nil, nil
  out.before_all, out.after_all = nil, nil
  out.protected = nil
  return out
end

--- Run fn(scratch, db) with `scratch` a project leading to a scratch
--- database and `db` its connection; the database is dropped (or, for a
--- shadow, emptied) afterwards, whatever fn does. Returns what fn returns,
--- and how the scratch came: "created" or "shadow".
function M.with(project, fn)
  local cfg = project.config
  local target = project:connect()
  local url, created = cfg.shadow, nil
  if not url then
    created = string.format("lumi_scratch_%d_%d", os.time(), math.random(1, 1e6))
    local ok, err = pcall(target.exec, target, "CREATE DATABASE " .. created)
    if not ok then
      errors.raise("config", "cannot create a scratch database on the target's server: " .. errors.text(err),
        { sqlstate = type(err) == "table" and err.sqlstate or nil,
          hint = "grant the role CREATEDB, or set `shadow` in migrate.lua to an empty database lumi may use" })
    end
    url = conninfo.with_dbname(cfg.database, created)
  end
  local scratch, shadow_db
  local ok, result = pcall(function()
    scratch = require("lumi.project").open({ loaded = settings_for(cfg, url), on_event = function() end })
    local db = scratch:connect()
    local t, s = target:info(), db:info()
    if s.database == t.database and s.host == t.host and s.port == t.port then
      errors.raise("config", "shadow names the target's own database: lumi runs migrations there",
        { hint = "set `shadow` to another, empty database (or leave it out: lumi creates one and drops it)" })
    end
    if not created then
      if not is_empty(db) then
        errors.raise("config", string.format("shadow database %s is not empty: lumi applies migrations there and "
          .. "empties it again afterwards, so it must start empty", s.database))
      end
      shadow_db = db
    end
    return fn(scratch, db)
  end)
  if shadow_db then
    local cleaned, cerr = pcall(clean, shadow_db)
    if not cleaned and ok then ok, result = false, cerr end
  end
  if scratch then pcall(scratch.close, scratch) end
  if created then pcall(target.exec, target, "DROP DATABASE IF EXISTS " .. created .. " WITH (FORCE)") end
  if not ok then error(result, 0) end
  return result, created and "created" or "shadow"
end

return M
