-- That Smart Site: YYYY-MM-DD_####_description.sql in backend/migrations/,
-- many of them wrapping themselves in BEGIN; ... COMMIT; (lumi runs those
-- unchanged, with its tracking row inside their transaction), tracked in
-- system.schema_migrations(id, filename, applied_at, description), with the
-- tables spread over the system, tenants and health_monitoring schemas.
--   npm run migrate          ->  lumi up
--   npm run migrate:status   ->  lumi status
--   npm run migrate:list     ->  lumi list
return {
  database = os.getenv("DATABASE_URL"),
  dir = "backend/migrations",
  naming = "dated",
  tracking = {
    table = "system.schema_migrations",
    columns = { file = "filename", applied_at = "applied_at", name = "description", checksum = "checksum" },
    identity = "file",
    log = "system.schema_migrations_log",
    create = [[
CREATE TABLE system.schema_migrations (
  id SERIAL PRIMARY KEY,
  filename TEXT UNIQUE NOT NULL,
  applied_at TIMESTAMP DEFAULT NOW(),
  description TEXT,
  checksum TEXT
)]],
  },
  -- what `lumi fresh` drops and re-creates in development
  schemas = { "system", "tenants", "health_monitoring" },
}
