--- lumi validate: every file name parses, no two files share a version, no
--- applied file changed and none is missing; every migration `up` would run
--- (and every down part) can be read, loaded and parsed.
local errors = require "lumi.errors"

-- Add the parse error err of part (or of a piece of a large one) to
-- problems, or to warnings when the server's grammar may differ.
local function syntax_problem(part, err, problems, warnings, grammar_is_servers)
  local prepare = require "lumi.prepare"
  -- err.position: a byte of the text sent; shown where the file has it
  local where = part.path
  if err.position then
    local at = prepare.file_position(part, prepare.chars_before(part, err.position) + 1)
    if at then where = string.format("%s:%d:%d", part.path, at.line, at.column) end
  end
  local list = grammar_is_servers and problems or warnings
  list[#list + 1] = { kind = "syntax", file = part.file, message = string.format("%s: %s%s", where, err.message,
    grammar_is_servers and "" or " (by the PostgreSQL 15 grammar lumi checks with; the server is newer)") }
end


-- Problems in the contents of migration m's part `direction`: it cannot be
-- read, a Lua migration does not load, a placeholder has no value, a
-- directive is misspelled, or the SQL does not parse. Adds to problems
-- (or, for a parse error the server may not share, to warnings).
local function check_part(project, m, direction, problems, warnings, grammar_is_servers)
  local prepare = require "lumi.prepare"
  local ok, part = pcall(prepare.part, m, direction, project.config)
  if not ok then
    local e = part
    local file = errors.is(e) and e.file and prepare.relative(e.file, project.config.migrations_dir) or m.file
    local message = errors.is(e) and e.message or errors.text(e)
    -- one file holds both parts (a .sql with sections, a .lua): say it once
    for _, q in ipairs(problems) do
      if q.kind == "unloadable" and q.file == file and q.message == message then return end
    end
    problems[#problems + 1] = { kind = "unloadable", file = file, message = message }
    return
  end
  if not part then return end
  for _, p in ipairs(part.problems) do
    problems[#problems + 1] = { kind = "directive", file = part.file,
      message = string.format("%s:%d: %s", part.path, p.line, p.message) }
  end
  if part.lua then return end
  local parse_ok = require("lumi.sql").parse_ok
  if part.large then
    -- a piece at a time, as up reads it
    local read_ok, e = pcall(prepare.each_piece, part, project.config, function(piece)
      local parsed, err = parse_ok(piece.text)
      if not parsed then
        syntax_problem(piece, err, problems, warnings, grammar_is_servers)
        return false
      end
    end)
    if not read_ok then
      problems[#problems + 1] = { kind = "unloadable", file = m.file, message = errors.is(e) and e.message or errors.text(e) }
    end
    return
  end
  local parsed, err = parse_ok(part.text)
  if not parsed then return syntax_problem(part, err, problems, warnings, grammar_is_servers) end
  if part.mode == "statements" then return end
  -- what up would run in a transaction, which PostgreSQL refuses there
  for _, s in ipairs(prepare.statements(part) or {}) do
    local what = prepare.outside_transaction_only(s.text)
    if what then
      local at = prepare.file_position(part, prepare.chars_before(part, s.start) + 1) or { line = 1, column = 1 }
      problems[#problems + 1] = { kind = "transaction", file = part.file,
        message = string.format("%s:%d:%d: %s cannot run inside a transaction, and this %s runs in one: "
          .. "%s (its statements then run one at a time)", part.path, at.line, at.column, what,
          direction == "up" and "migration" or "down part", project.config.no_transaction) }
    end
  end
end

return {
  summary = "check file names, versions and checksums (non-zero exit on problems)",
  usage = "lumi validate",
  description = [[
Checks that every migration-looking file parses under the naming scheme, that
no two files share a version, that every up has its down when the layout is
"pair" or "directory", and against the database that no applied file has
changed, gone missing or been left unfinished, and that no pending file is
older than the newest applied one (unless out_of_order allows it). Then the
contents: every pending migration and every down part must be readable, a
Lua one must load, every ${placeholder} must have a value, its directives
must be spelled as lumi knows them, and SQL must parse by PostgreSQL's
grammar (libpg_query, PostgreSQL 15: on a newer server a parse error is only
a warning); a part that runs in a transaction must hold no statement
PostgreSQL refuses there (CREATE INDEX CONCURRENTLY, VACUUM, ALTER SYSTEM,
CREATE DATABASE, ...: such a file needs -- lumi: no-transaction). Exits 3
when anything is wrong, so it can gate a CI pipeline.]],
  options = {},
  run = function(project)
    local found = project:discover()
    local p = project:plan(found, (project:store():read()))
    local problems = {}
    local discover = require "lumi.discover"
    for _, ig in ipairs(found.ignored) do
      -- a .sql file (or a directory) the scheme cannot read is a mistake;
      -- a README, or a file `ignore` names, is not
      if discover.misnamed(ig) then
        problems[#problems + 1] = { kind = "unparsable", file = ig.file, message = ig.reason }
      end
    end
    for _, d in ipairs(found.duplicates) do
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
      for _, m in ipairs(found.migrations) do
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
    -- what `up` would refuse: a pending migration older than the newest applied
    for _, m in ipairs(require("lumi.runner").refused_out_of_order(project, p, p.out_of_order)) do
      problems[#problems + 1] = { kind = "out of order", file = m.file,
        message = "pending, and older than the newest applied migration " .. p.newest_applied }
    end
    -- the contents: what `up` would run, and every down part
    local warnings = {}
    local version = project:connect():info().server_version_num or 0
    local grammar_is_servers = version < 160000
    local pending = {}
    for _, m in ipairs(p.pending) do pending[m] = true end
    for _, m in ipairs(found.migrations) do
      if pending[m] then check_part(project, m, "up", problems, warnings, grammar_is_servers) end
      if m.down_path or m.layout == "file" or m.layout == "lua" then
        check_part(project, m, "down", problems, warnings, grammar_is_servers)
      end
    end
    return { ok = #problems == 0, problems = problems, warnings = warnings, checked = #found.migrations,
             exit_code = #problems == 0 and 0 or 3 }
  end,
}
