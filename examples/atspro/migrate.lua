-- ATSPro: XXX_description.sql in migrations/, run in filename order, each in
-- a transaction, tracked in a `migrations` table keyed by the file name
-- without .sql (two files share 000). A checksum mismatch stops `lumi up`
-- (exit 3). The table keeps its own meaning: a failed migration leaves a
-- row with success = false and its error_message, a rollback (`lumi down`)
-- sets rolled_back and rolled_back_at instead of deleting the row, and only
-- rows that succeeded and were not rolled back count as applied. lumi's
-- event log (migrations_log) keeps the full history besides.
-- (table.pack keeps a trailing nil parameter: it is sent as NULL)
local function upsert(store, r, extra)
  return { table.pack("INSERT INTO " .. store.table .. " (id, filename, checksum, execution_time_ms, success, error_message)"
    .. " VALUES ($1, $2, $3, $4::numeric, $5, $6) ON CONFLICT (id) DO UPDATE SET filename = $2, checksum = $3,"
    .. " execution_time_ms = $4::numeric, success = $5, error_message = $6, executed_at = now(),"
    .. " rolled_back = false, rolled_back_at = NULL",
    r.stem, r.file, r.checksum or "", r.execution_ms or 0, extra.success, extra.error) }
end

return {
  database = os.getenv("DATABASE_URL"),
  dir = "migrations",
  tracking = {
    table = "migrations",
    columns = { stem = "id", file = "filename", checksum = "checksum",
                applied_at = "executed_at", execution_ms = "execution_time_ms" },
    identity = "stem",
    log = "migrations_log",
    read = function(store)
      return { "SELECT id AS stem, filename AS file, checksum, execution_time_ms::float8 AS execution_ms,"
        .. " to_char(executed_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS applied_at"
        .. " FROM " .. store.table .. " WHERE success AND NOT rolled_back" }
    end,
    applied = function(store, r) return upsert(store, r, { success = true }) end,
    failed = function(store, r) return upsert(store, r, { success = false, error = r.error }) end,
    reverted = function(store, r)
      return { { "UPDATE " .. store.table .. " SET rolled_back = true, rolled_back_at = now() WHERE id = $1", r.stem } }
    end,
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
