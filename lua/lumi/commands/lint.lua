--- lumi lint [FILES or VERSIONS...] [--all] [--since VERSION]: the rules of
--- lumi.lint over the SQL of migrations, before they run.
local errors = require "lumi.errors"
local lint = require "lumi.lint"
local plan = require "lumi.plan"
local prepare = require "lumi.prepare"

-- The migrations to lint: those named, or all, or those after --since, or
-- (by default) the pending ones, which needs the database.
local function chosen(project, found, opts)
  local scheme = project.scheme
  if #opts.args > 0 then
    -- named as every command names a migration (version, file or stem)
    local p = plan.build(found.migrations, {}, scheme, project:identity())
    local out = {}
    for _, what in ipairs(opts.args) do
      local e, why = plan.find(p, scheme, what)
      if not e then errors.raise("usage", "lint: " .. why) end
      out[#out + 1] = e.migration
    end
    return out
  end
  if opts.all then return found.migrations end
  if opts.since then
    local out = {}
    for _, m in ipairs(found.migrations) do
      if scheme.compare(opts.since, m.version) then out[#out + 1] = m end
    end
    return out
  end
  local p = project:plan(found, (project:store():read()))
  return p.pending
end

return {
  summary = "check migrations' SQL against lock and safety rules (pending ones by default)",
  usage = "lumi lint [FILE|VERSION...] [--all] [--since VERSION]",
  description = [[
Parses each migration's SQL with PostgreSQL's own parser and runs the lint
rules over it, statement by statement, knowing what lumi knows: whether the
file runs in a transaction, which tables the file itself created, which
lock_timeout is in force. Reports like a compiler (file:line:col, the line,
a caret, the safe way) and exits 3 when an error-level rule fires. Rules
are Lua (lua/lumi/lint/rules/); migrate.lua adds its own (lint.rules),
turns some off (lint.off) or changes their severity (lint.severity). A
line `-- lumi:ignore RULE reason` just before a statement acknowledges one
finding. Without arguments: the pending migrations (this connects); --all
and named files need no database.]],
  args = { { name = "FILE", rest = true } },
  options = {
    { "--all", help = "every migration, applied or not" },
    { "--since", arg = "VERSION", help = "the migrations after VERSION" },
    { "--format", arg = "FORMAT", help = "text (the default), sarif (SARIF 2.1.0) or github (Actions annotations)" },
  },
  run = function(project, opts)
    local format = opts.format or "text"
    if format ~= "text" and format ~= "sarif" and format ~= "github" then
      errors.raise("usage", string.format("lint --format %s: the formats are text, sarif and github", format))
    end
    local found = project:discover()
    local parts = {}
    local targets = chosen(project, found, opts)
    for _, m in ipairs(targets) do
      parts[#parts + 1] = m.layout ~= "lua" and prepare.part(m, "up", project.config) or nil
    end
    local checked = 0
    for _, part in ipairs(parts) do if not part.lua and not part.large then checked = checked + 1 end end
    -- the server's version when this run connected (for the pending ones)
    local findings = lint.findings(project, parts, project.db)
    local errors_n = 0
    for _, f in ipairs(findings) do if f.severity == "error" then errors_n = errors_n + 1 end end
    return { findings = findings, checked = checked, errors = errors_n, exit_code = errors_n > 0 and 3 or 0,
             format = format ~= "text" and format or nil }
  end,
}
