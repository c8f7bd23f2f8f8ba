--- lumi validate: every file name parses, no two files share a version, no
--- applied file changed and none is missing.
return {
  summary = "check file names, versions and checksums (non-zero exit on problems)",
  usage = "lumi validate",
  description = [[
Checks that every migration-looking file parses under the naming scheme, that
no two files share a version, that every up has its down when the layout is
"pair" or "directory", and against the database that no applied file has
changed, gone missing or been left unfinished. Exits 3 when anything is wrong, so it can gate a
CI pipeline.]],
  options = {},
  run = function(project)
    local p, scan = project:plan()
    local problems = {}
    for _, ig in ipairs(scan.ignored) do
      -- a .sql file (or a directory) the scheme cannot read is a mistake;
      -- a README is not
      local candidate = ig.file:match("%.sql$") or ig.file:match("/$") or ig.reason:match("^a directory")
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
    for _, e in ipairs(p.unfinished) do
      problems[#problems + 1] = { kind = "unfinished", file = e.migration.file,
        message = "failed midway without a transaction" .. (e.record.error and (": " .. e.record.error) or "")
          .. string.format(" (resolve with lumi mark %s or lumi unmark %s)", e.version, e.version) }
    end
    if project.config.layout == "pair" or project.config.layout == "directory" then
      for _, m in ipairs(scan.migrations) do
        if not m.down_path then
          problems[#problems + 1] = { kind = "no down", file = m.file,
            message = "has no down migration (layout = \"" .. project.config.layout .. "\" asks for one)" }
        end
      end
    end
    for _, e in ipairs(p.missing) do
      problems[#problems + 1] = { kind = "missing", file = e.record.file,
        message = "applied, but the file is gone" }
    end
    return { ok = #problems == 0, problems = problems, checked = #scan.migrations,
             exit_code = #problems == 0 and 0 or 3 }
  end,
}
