--- The command line: argv -> command -> result -> output and exit status.
--
-- lumi [options] COMMAND [command options] [arguments]
-- Options may come before or after the command.
local M = {}

M.commands = { "up", "down", "redo", "status", "list", "new", "verify", "validate", "lint", "locks", "snapshot", "drift", "verify-down",
               "baseline", "mark", "unmark", "repair", "adopt", "fresh", "log" }

local global_options = {
  { "--config", short = "-c", arg = "FILE", help = "read settings from FILE instead of ./migrate.lua" },
  { "--database", short = "-d", arg = "URL", help = "database URL or conninfo (overrides DATABASE_URL and migrate.lua)" },
  { "--direct", arg = "URL", help = "a connection that bypasses any connection pooler (overrides --database and direct_url)" },
  { "--dir", arg = "DIR", help = "migrations directory (default: migrations)" },
  { "--table", arg = "NAME", help = "tracking table, NAME or SCHEMA.NAME (default: schema_migrations)" },
  { "--target", short = "-t", arg = "NAME", help = "only this target of migrate.lua (default: all, in order)" },
  { "--env", short = "-e", arg = "NAME", help = "the environment of migrate.lua to use (also: LUMI_ENV)" },
  { "--yes", help = "answer yes to an environment's `confirm` (needed when not on a terminal)" },
  { "--lock-wait", arg = "SECONDS", help = "how long to wait for another lumi run's lock (default: 60)" },
  { "--json", help = "print one JSON document instead of text" },
  { "--color", help = "colour even when not on a terminal" },
  { "--no-color", help = "no colour (also: NO_COLOR=1)" },
  { "--help", short = "-h", help = "show help" },
  { "--version", short = "-V", help = "print the version" },
}

local exit_codes_help = [[
Exit status:
  0   success
  1   a migration failed (it was rolled back; those before it stay applied)
  2   usage or configuration error
  3   validation failed (changed, missing, duplicate or unparsable files)
  4   the migration lock is held by another runner
  5   the database could not be reached
  70  internal error (a bug in lumi or in migrate.lua's Lua code)
  130 interrupted by SIGINT (143: SIGTERM); the running migration was rolled back]]

local function opt_key(o) return (o[1]:sub(3):gsub("-", "_")) end

-- options that were renamed: the old name is an error naming the new one
local renamed_options = {
  ["--lock-timeout"] = { "--lock-wait", "seconds to wait for another lumi run's lock; PostgreSQL's own "
    .. "lock_timeout is another thing" },
}

local function option_lines(opts)
  local lines = {}
  for _, o in ipairs(opts) do
    local left = (o.short and (o.short .. ", ") or "    ") .. o[1] .. (o.arg and (" " .. o.arg) or "")
    lines[#lines + 1] = string.format("  %-28s %s", left, o.help)
  end
  return table.concat(lines, "\n")
end

local function load_command(name)
  return require("lumi.commands." .. name)
end

function M.help()
  local lines = {
    "lumi — PostgreSQL schema migrations, with every convention in migrate.lua",
    "",
    "Usage: lumi [options] COMMAND [arguments]",
    "",
    "Commands:",
  }
  for _, name in ipairs(M.commands) do
    lines[#lines + 1] = string.format("  %-11s %s", name, load_command(name).summary)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Options:"
  lines[#lines + 1] = option_lines(global_options)
  lines[#lines + 1] = ""
  lines[#lines + 1] = "`lumi COMMAND --help` tells more about a command. The database comes from"
  lines[#lines + 1] = "--database, else DATABASE_URL, else `database` in migrate.lua, else the PG*"
  lines[#lines + 1] = "environment variables (PGHOST, PGDATABASE, ...)."
  lines[#lines + 1] = ""
  lines[#lines + 1] = exit_codes_help
  return table.concat(lines, "\n")
end

function M.command_help(name, cmd)
  local lines = { "Usage: " .. cmd.usage, "", cmd.summary:gsub("^%l", string.upper) .. ".", "" }
  if cmd.description then lines[#lines + 1] = cmd.description; lines[#lines + 1] = "" end
  if cmd.options and #cmd.options > 0 then
    lines[#lines + 1] = "Options of " .. name .. ":"
    lines[#lines + 1] = option_lines(cmd.options)
    lines[#lines + 1] = ""
  end
  lines[#lines + 1] = "Global options:"
  lines[#lines + 1] = option_lines(global_options)
  return table.concat(lines, "\n")
end

local function usage_error(msg)
  local errors = require "lumi.errors"
  errors.raise("usage", msg, { hint = "see lumi --help" })
end

--- Parse argv into {command=, options={...}, args={...}}. Raises usage errors.
function M.parse(argv)
  local parsed = { options = {}, args = {} }
  local specs = {}
  for _, o in ipairs(global_options) do specs[o[1]] = o; if o.short then specs[o.short] = o end end
  local i, n = 1, #argv
  local rest_only = false
  local function add_command_specs(cmd)
    for _, o in ipairs(cmd.options or {}) do specs[o[1]] = o; if o.short then specs[o.short] = o end end
  end
  while i <= n do
    local a = argv[i]
    if not rest_only and a == "--" then
      rest_only = true
    elseif not rest_only and a:sub(1, 1) == "-" and a ~= "-" then
      local name, value = a:match("^(%-%-[^=]+)=(.*)$")
      name = name or a
      local o = specs[name]
      if renamed_options[name] then
        usage_error(string.format("option %s was renamed %s (%s)", name, renamed_options[name][1], renamed_options[name][2]))
      end
      if not o then
        local config = require "lumi.config"
        local known = {}
        for k in pairs(specs) do known[k] = true end
        local s = config.suggest(name, known)
        usage_error(string.format("unknown option %s%s", name, s and string.format(" (did you mean %s?)", s) or ""))
      end
      if o.arg then
        if value == nil then
          i = i + 1
          value = argv[i]
          if value == nil then usage_error(string.format("option %s needs a value (%s)", name, o.arg)) end
        end
        parsed.options[opt_key(o)] = value
      else
        if value ~= nil then usage_error(string.format("option %s takes no value", name)) end
        parsed.options[opt_key(o)] = true
      end
    elseif not parsed.command then
      local known = false
      for _, c in ipairs(M.commands) do known = known or c == a end
      if not known then
        local config = require "lumi.config"
        local set = {}
        for _, c in ipairs(M.commands) do set[c] = true end
        local s = config.suggest(a, set)
        usage_error(string.format("unknown command %q%s", a, s and string.format(" (did you mean %q?)", s) or ""))
      end
      parsed.command = a
      add_command_specs(load_command(a))
    else
      parsed.args[#parsed.args + 1] = a
    end
    i = i + 1
  end
  return parsed
end

local function use_color(options)
  if options.no_color then return false end
  if options.color then return true end
  local nc = os.getenv("NO_COLOR")
  if nc and nc ~= "" then return false end
  if os.getenv("TERM") == "dumb" then return false end
  return require("lumi.fs").isatty(1)
end

-- Ask on the terminal for a typed confirmation; true when given.
local function confirmed(phrase, what)
  io.stderr:write(what, "\nType ", phrase, " to go on: ")
  io.stderr:flush()
  local line = io.stdin:read("l")
  return line ~= nil and line:gsub("%s+$", "") == phrase
end

-- the commands that never connect
local offline = { new = true, list = true }

-- The exit status of a command's result.
local function exit_code(result)
  if result.error then return result.error.exit_code or 1 end
  return result.exit_code or 0
end

-- Check a command line against what the command takes, and ask for the
-- confirmations it needs, for every target, before anything runs.
local function admit(name, cmd, parsed, targets, cfg)
  local o = parsed.options
  local wanted = 0
  for _, a in ipairs(cmd.args or {}) do
    if a.required and #parsed.args < 1 then
      usage_error(string.format("%s needs %s (usage: %s)", name, a.name, cmd.usage))
    end
    wanted = a.rest and math.huge or wanted + 1
  end
  if #parsed.args > wanted then
    usage_error(string.format("%s takes no argument %q (usage: %s)", name, parsed.args[wanted + 1], cmd.usage))
  end
  if name == "new" and #targets > 1 then
    usage_error(string.format("new: migrate.lua has several targets (%s): add --target NAME",
      table.concat(cfg.all_targets, ", ")))
  end
  if cmd.destructive then
    for _, t in ipairs(targets) do
      if t.protected then
        local what = t.env and string.format("environment %s", t.env) or string.format("target %s", t.name)
        usage_error(string.format("%s is protected (protected = true in migrate.lua): `lumi %s` refuses to run on it",
          what, name))
      end
    end
  end
  local fs = require "lumi.fs"
  if cmd.confirm and not o.force then
    if not fs.isatty(0) then
      usage_error(string.format("%s drops data: add --force when not on a terminal", name))
    end
    local names = {}
    for i, t in ipairs(targets) do names[i] = t.name end
    if not confirmed(cmd.confirm, string.format("lumi %s drops every object in the schemas of %s and applies every migration again.",
        name, table.concat(names, ", "))) then
      usage_error(name .. ": not confirmed; nothing was changed")
    end
  end
  -- an environment may ask for its name before anything is applied
  if name == "up" and not o.dry_run and not o.yes then
    for _, t in ipairs(targets) do
      if t.confirm then
        local envname = t.env or t.name
        if not fs.isatty(0) then
          usage_error(string.format("environment %s asks for confirmation before `up`: add --yes when not on a terminal", envname))
        end
        if not confirmed(envname, string.format("lumi up on %s (target %s).", envname, t.name)) then
          usage_error("up: not confirmed; nothing was changed")
        end
        break
      end
    end
  end
end

--- Run a parsed command line; returns the exit status.
function M.run(parsed)
  local errors = require "lumi.errors"
  local fs = require "lumi.fs"
  local o = parsed.options
  local report = require("lumi.report").new({ json = o.json, color = use_color(o),
    tty_err = fs.isatty(2) and os.getenv("TERM") ~= "dumb" })
  local project
  local ok, status = xpcall(function()
    local name = parsed.command
    if not name then usage_error("no command given") end
    local wait = o.lock_wait and tonumber(o.lock_wait)
    if o.lock_wait and not wait then usage_error("--lock-wait needs a number of seconds") end
    local cfg = require("lumi.config").load({
      config = o.config, target = o.target, env = o.env,
      flags = { database = o.database, direct_url = o.direct, dir = o.dir, table = o.table, lock_wait = wait },
    })
    local cmd = load_command(name)
    local targets = cfg.targets
    admit(name, cmd, parsed, targets, cfg)
    -- Ctrl-C or SIGTERM cancels the statement running and stops the run
    if not offline[name] then require("lumi.pg").cancel_on_interrupt() end
    local code, results = 0, {}
    local run_state = {}         -- shared by the targets of this one command line
    for i, tcfg in ipairs(targets) do
      project = require("lumi.project").open({ loaded = tcfg, on_event = function(ev) report:event(ev) end })
      if #targets > 1 then report:target(tcfg.name, i) end
      local opts = { args = parsed.args, run = run_state }
      for k, v in pairs(o) do opts[k] = v end
      local result = cmd.run(project, opts)
      result.target = result.target or tcfg.name
      results[#results + 1] = result
      if #targets == 1 or not report.json then report:result(name, result) end
      project:close()
      project = nil
      if code == 0 then code = exit_code(result) end
      -- a failed migration stops the targets after it
      if result.error then break end
    end
    if #targets > 1 and report.json then report:results(name, results) end
    return code
  end, function(e)
    if type(e) == "table" then return e end
    return errors.new("internal", debug.traceback(errors.text(e), 2))
  end)
  if project then pcall(project.close, project) end
  -- a command the signal made fail (its query cancelled) ends as the signal would have it
  local dbm = package.loaded["lumi.db"]
  if ok then
    if status ~= 0 and dbm and dbm.interrupted() then return dbm.mark_interrupted({}).exit_code end
    return status
  end
  local e = status
  local lost = not errors.is(e) and type(e) == "table" and type(e.sqlstate) == "string"
    and (e.sqlstate:match("^08") or e.sqlstate:match("^57P"))
  if lost then
    -- the server went away between migrations (waiting for the lock, reading the records)
    e = errors.new("connection", "lost the database connection: " .. errors.text(e), { cause = e,
      sqlstate = e.sqlstate, hint = "the server stopped or ended lumi's session: once it is back, `lumi status` "
        .. "says where things stand, and `lumi up` goes on" })
  elseif not errors.is(e) and type(e) == "table" and e.sqlstate then
    -- a database error outside a migration (permissions on the tracking table, ...)
    e = errors.new("migration", "database error: " .. errors.text(e), { cause = e, sqlstate = e.sqlstate,
      detail = e.detail, hint = e.hint })
  elseif not errors.is(e) then
    e = errors.new("internal", errors.text(e))
  end
  if dbm then dbm.mark_interrupted(e) end
  report:error(e)
  return e.exit_code
end

--- Entry point called by the lumi executable with the `arg` table.
function M.main(argv)
  -- a command line run is short and allocation-heavy: generational GC
  collectgarbage("generational")
  for i = 1, #argv do
    local a = argv[i]
    if a == "--version" or a == "-V" then
      io.stdout:write("lumi ", require("lumi.version"), "\n")
      return 0
    end
  end
  local ok, parsed = pcall(M.parse, argv)
  if not ok then
    local report = require("lumi.report").new({ color = use_color({}) })
    report:error(parsed)
    return type(parsed) == "table" and parsed.exit_code or 2
  end
  if parsed.options.help or not parsed.command then
    if parsed.command then
      io.stdout:write(M.command_help(parsed.command, load_command(parsed.command)), "\n")
    else
      io.stdout:write(M.help(), "\n")
      if not parsed.options.help then return 2 end
    end
    return 0
  end
  return M.run(parsed)
end

return M
