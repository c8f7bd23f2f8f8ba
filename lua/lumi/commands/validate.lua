--- lumi validate: every file name parses, no two files share a version, no
--- applied file changed and none is missing.
return {
  summary = "check file names, versions and checksums (non-zero exit on problems)",
  usage = "lumi validate",
  description = [[
Checks that every migration-looking file parses under the naming scheme, that
no two files share a version, and against the database that no applied file
has changed or gone missing. Exits 3 when anything is wrong, so it can gate a
CI pipeline.]],
  options = {},
  run = function(project)
    local p, scan = project:plan()
    local problems = {}
    local ext = project.scheme.extension or ".sql"
    for _, ig in ipairs(scan.ignored) do
      local candidate
      if project.scheme.candidate then candidate = project.scheme.candidate(ig.file)
      else candidate = ig.file:sub(-#ext) == ext end
      if candidate then
        problems[#problems + 1] = { kind = "unparsable", file = ig.file, message = ig.reason }
      end
    end
    for _, d in ipairs(scan.duplicates) do
      problems[#problems + 1] = { kind = "duplicate", file = table.concat(d.files, ", "),
        message = "files share version " .. d.key }
    end
    for _, e in ipairs(p.changed) do
      problems[#problems + 1] = { kind = "changed", file = e.migration.file,
        message = "changed since it was applied (recorded " .. e.record.checksum:sub(1, 12)
          .. "…, file " .. e.checksum:sub(1, 12) .. "…)" }
    end
    for _, e in ipairs(p.missing) do
      problems[#problems + 1] = { kind = "missing", file = e.record.file,
        message = "applied, but the file is gone" }
    end
    return { ok = #problems == 0, problems = problems, checked = #scan.migrations,
             exit_code = #problems == 0 and 0 or 3 }
  end,
}
