--- golang-migrate's way: <version>_<title>.up.sql and .down.sql side by
--- side, the version an unsigned integer (a sequence or a timestamp),
--- applied in numeric order; every other file (atlas.sum, a README) is not
--- a migration. golang-migrate sends each file as one script without a
--- transaction of its own; lumi runs each in a transaction, so a file with
--- a statement PostgreSQL refuses there (CREATE INDEX CONCURRENTLY, ...)
--- needs `-- lumi: no-transaction` first (`lumi validate` names them).
--- golang-migrate keeps its history in schema_migrations: lumi keeps its
--- own beside it, in lumi_migrations.
return {
  dir = "migrations",
  layout = "pair",
  -- `migrate create -seq` writes six digits
  naming = require("lumi.naming").sequential { width = 6 },
  table = "lumi_migrations",
}
