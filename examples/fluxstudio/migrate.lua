-- FluxStudio: NNN_description.sql in database/migrations/, tracked by file
-- name in schema_migrations (two files share the number 001, so the file,
-- not the number, identifies a migration). Its opt-in rule: a migration that
-- fails because its objects already exist (42P07 duplicate table, 42710
-- duplicate object) was applied by hand before, and is recorded as applied.
--   node database/migration-system.js run       ->  lumi up
--   DRY_RUN=true ... run                        ->  lumi up --dry-run
--   ... status / create NAME / verify           ->  lumi status / new NAME / verify
--   ... rollback (removes the record only)      ->  lumi unmark VERSION
return {
  database = os.getenv("DATABASE_URL"),
  dir = "database/migrations",
  tracking = {
    table = "schema_migrations",
    columns = { file = "migration_name", applied_at = "applied_at", execution_ms = "execution_time_ms",
                checksum = "checksum", applied_by = "applied_by" },
    identity = "file",
    create = [[
CREATE TABLE schema_migrations (
  id SERIAL PRIMARY KEY,
  migration_name VARCHAR(255) UNIQUE NOT NULL,
  applied_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  execution_time_ms INTEGER,
  checksum VARCHAR(64),
  applied_by VARCHAR(255) DEFAULT current_user
)]],
  },
  on_error = function(ctx)
    if ctx.error.sqlstate == "42P07" or ctx.error.sqlstate == "42710" then return "applied" end
  end,
}
