-- The multi-store app: one database (TIMESCALE_DSN) holding two stores,
-- each with its own folder and its own numbering from 001, written as
-- .up.sql/.down.sql pairs. One schema_migrations table tracks both, told
-- apart by database_type, as the old migrate.sh did.
--   ./migrations/migrate.sh up [--dry-run]      ->  lumi up [--dry-run]
--   ./migrations/migrate.sh down [N] [--dry-run] -> lumi down [N] [--dry-run] --target T
--   ./migrations/migrate.sh status / validate   ->  lumi status / lumi validate
--   ./migrations/migrate.sh fresh               ->  lumi fresh (type DELETE ALL DATA)
--   ./migrations/generate.sh postgres NAME      ->  lumi new --target postgres NAME
local function store(name, dir)
  return {
    name = name,
    dir = dir,
    tracking = {
      table = "schema_migrations",
      columns = { file = "migration_file", applied_at = "applied_at", checksum = "checksum" },
      identity = "file",
      where = { database_type = name },
      log = "schema_migrations_log",
    },
  }
end

return {
  database = os.getenv("TIMESCALE_DSN"),
  layout = "pair",                    -- lumi new writes NNN_name.up.sql and .down.sql
  targets = {
    store("timescaledb", "migrations/timescaledb"),
    store("postgres", "migrations/postgres"),
  },
}
