-- migrate.lua — lumi's settings for this repository's example project.
-- Every key is optional; see README.md for all of them.
return {
  dir = "migrations",            -- where the NNN_name.sql files live
  naming = "sequential",         -- NNN_name.sql; "dated" for YYYY-MM-DD_####_name.sql
  table = "schema_migrations",   -- the tracking table ("schema.name" works too)
  lock_wait = 30,                -- seconds to wait for another lumi run's lock
}
