--- sql-migrate's way: <version>_<name>.sql with `-- +migrate Up` /
--- `-- +migrate Down` sections, `notransaction` on the Up marker, and
--- StatementBegin / StatementEnd (comments to PostgreSQL's parser, which
--- lumi splits statements with), applied in numeric order. sql-migrate
--- keeps its history in gorp_migrations, keyed by file name.
return {
  dir = "migrations",
  layout = "sections",
  no_transaction = "end the marker line with `notransaction` (-- +migrate Up notransaction)",
  naming = "sequential",
}
