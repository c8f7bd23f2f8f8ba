--- lumi snapshot: the schema's fingerprint (lumi.fingerprint).
local fingerprint = require "lumi.fingerprint"

return {
  summary = "print the schema's fingerprint: a SHA-256 over canonical lines read from the catalogs",
  usage = "lumi snapshot [--lines] [--per-schema]",
  description = [[
Reads the managed schemas (`snapshot.schemas` in migrate.lua, else `schemas`,
else every schema that is not the system's) from the system catalogs in one read-only pass, as
sorted canonical lines, one per object (tables, columns and their order,
sequences, constraints, indexes, triggers, functions, types, policies,
extensions, comments), and prints their SHA-256. lumi's own tables are left
out. The same schema gives the same hash after VACUUM FULL, CLUSTER,
REINDEX, ANALYZE, or a dump restored elsewhere. --lines prints the lines;
--per-schema hashes each schema with its own name as a placeholder, so that
identical tenant schemas hash equal.]],
  options = {
    { "--lines", help = "print the canonical lines too" },
    { "--per-schema", help = "one fingerprint per schema, its name written as $schema" },
  },
  run = function(project, opts)
    local lines = fingerprint.lines(project:connect(), require("lumi.drift").options(project))
    local out = { hash = fingerprint.hash(lines), count = #lines }
    if opts.lines then
      out.lines = {}
      for i, l in ipairs(lines) do out.lines[i] = l.line end
    end
    if opts.per_schema then
      out.schemas = {}
      for schema, g in pairs(fingerprint.per_schema(lines)) do
        if schema ~= "" then out.schemas[schema] = { hash = g.hash, count = #g.lines } end
      end
    end
    return out
  end,
}
