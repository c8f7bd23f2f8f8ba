--- lumi up: apply pending migrations in order.
return {
  summary = "apply pending migrations in order",
  usage = "lumi up [--to VERSION] [--dry-run]",
  description = [[
Applies every pending migration in version order, each in its own
transaction together with the row that records it, under a lock that keeps
two runners from applying at once. Stops at the first failure: the failing
migration is rolled back completely, and the ones before it stay applied.
Refuses to start when an applied file has changed, when two files share a
version, or (by default) when a pending file is older than the newest
applied one.]],
  options = {
    { "--to", arg = "VERSION", help = "apply pending migrations up to and including VERSION" },
    { "--dry-run", help = "change nothing; show what would be applied" },
  },
  run = function(project, opts)
    return require("lumi.runner").up(project, { to = opts.to, dry_run = opts.dry_run })
  end,
}
