-- CalOS: NNN_name.sql in database/migrations/, tracked in migration_history
-- with a status flag. The guide's runner auto-migrated on server start and
-- took pg_dump backups by hand; here the database already holds the 139
-- migrations applied before lumi, so a team adopts it with
--   lumi baseline 139
-- and from then on runs `lumi up` (or require("lumi") in the server).
return {
  database = os.getenv("DATABASE_URL"),
  dir = "database/migrations",
  naming = "sequential",                 -- 3 digits: 140, 141, ...
  tracking = {
    table = "migration_history",
    -- the columns the old runner used; lumi fills these
    columns = { file = "filename", checksum = "checksum", applied_at = "applied_at",
                execution_ms = "execution_ms", state = "status", error = "error" },
    identity = "file",
    create = [[
CREATE TABLE migration_history (
  migration_id  serial PRIMARY KEY,
  filename      text NOT NULL UNIQUE,
  checksum      text,
  applied_at    timestamptz NOT NULL DEFAULT now(),
  execution_ms  numeric(12,3),
  status        text NOT NULL DEFAULT 'applied',
  error         text
)]],
  },
}
