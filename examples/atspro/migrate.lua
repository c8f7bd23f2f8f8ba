-- ATSPro: XXX_description.sql in migrations/, run in filename order, each in
-- a transaction, tracked in a `migrations` table keyed by the file name
-- without .sql (two files share 000). A checksum mismatch stops `lumi up`
-- (exit 3); lumi's event log (migrations_log) keeps the audit trail the old
-- runner kept in success / error_message / rolled_back columns.
return {
  database = os.getenv("DATABASE_URL"),
  dir = "migrations",
  tracking = {
    table = "migrations",
    columns = { stem = "id", file = "filename", checksum = "checksum",
                applied_at = "executed_at", execution_ms = "execution_time_ms" },
    identity = "stem",
    log = "migrations_log",
    create = [[
CREATE TABLE migrations (
  id                VARCHAR(255) PRIMARY KEY,
  filename          VARCHAR(255) NOT NULL,
  checksum          VARCHAR(64) NOT NULL,
  executed_at       TIMESTAMP NOT NULL DEFAULT now(),
  execution_time_ms INTEGER,
  success           BOOLEAN NOT NULL DEFAULT true,
  error_message     TEXT,
  rolled_back       BOOLEAN NOT NULL DEFAULT false,
  rolled_back_at    TIMESTAMP
)]],
  },
}
