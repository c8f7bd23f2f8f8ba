-- Secrets audit: no password ever shows — not on stdout, not on stderr, not
-- in a --json document (raw or decoded), not in a row lumi writes (every
-- column of every row of every table of the database), not in
-- pg_stat_activity, not in a file of the project — whatever the password
-- came from, whatever the command, on the way to success and on the ways to
-- fail.
--
-- Roles with passwords are created on the test server. It trusts its
-- socket, so no password is checked: what is audited is what lumi does with
-- the one it is given. Where a connection must fail with the password in
-- hand, it goes to a closed TCP port (127.0.0.1:1), to a host name that does
-- not resolve, or to a database that does not exist.
--
-- Sources of the password: DATABASE_URL (a URL, a keyword conninfo),
-- PGPASSWORD, a password file (~/.pgpass through HOME, PGPASSFILE),
-- `database` in migrate.lua (a string, a function, `environments`,
-- `targets`), --database/-d; and, failing before any connection, a
-- `database` function or a migrate.lua that raises an error quoting the
-- URL, a migrate.lua with a syntax error inside the URL, a URL whose
-- password is not percent-encoded, a URL or conninfo in the wrong place on
-- the command line. Each password source is run with a plain password and
-- with one holding every character that needs escaping somewhere.
--
-- How it runs: a group is a path (success, a failing migration, the lock
-- held, the server unreachable, ...): the steps of the group run in order
-- for each source, the sources side by side (each has its own database and
-- project). Every (source, step) is a case that checks what lumi printed;
-- every (source, group) has one more case that checks what is stored.
-- The sources marked `full` run every command of every path; the others
-- a selection, so that the whole audit stays near a minute.
local h = require "support.helper"
local cjson = require "cjson"
local clock = require "lumi.clock"

local q = h.q

---------------------------------------------------------------- secrets

math.randomseed(os.time(), math.floor(clock.now() * 1e6) % 1000003)
local function token(n, chars)
  chars = chars or "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
  local t = {}
  for i = 1, n do
    local k = math.random(#chars)
    t[i] = chars:sub(k, k)
  end
  return table.concat(t)
end

local lower = "abcdefghijkmnpqrstuvwxyz23456789"
local ROLE = "audit_" .. token(8, lower)
local NASTY_ROLE = ROLE .. "_n"
-- a plain password, and one with every character that needs escaping
-- somewhere: in a URL (' " \ space @ / % & = : ? #), a conninfo (' \
-- space), a .pgpass line (: \), a Lua or JSON string (" \)
local PW = "S3cr3t-" .. token(12)
local NASTY = "S3cr3t-" .. token(10) .. [['"\ @/%&=:?#]] .. token(10)
-- a password with a % that is not an escape, as written in a URL by mistake
local PERCENT = "S3cr3t-" .. token(10) .. "%zz" .. token(10)

local function urlenc(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- a conninfo value, quoted as libpq reads it
local function cq(s)
  return "'" .. s:gsub("[\\']", "\\%0") .. "'"
end

local function pgpass_escape(s)
  return (s:gsub("[\\:]", "\\%0"))
end

local function json_escaped(s)
  return (s:gsub('[%c"\\]', function(c)
    local e = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\t"] = "\\t" }
    return e[c] or string.format("\\u%04x", c:byte())
  end))
end

--- What would give the password away: the password itself, every way it is
--- written (percent-encoded, either case of hex; as a conninfo value, a Lua,
--- JSON or .pgpass string) and every run of 6 or more letters, digits and
--- dashes in it (half a password is a leak too).
local function needles_of(pw)
  local list, seen = {}, {}
  local function add(s, what)
    if s and #s >= 6 and not seen[s] then
      seen[s] = true
      list[#list + 1] = { s, what }
    end
  end
  add(pw, "the password")
  add(urlenc(pw), "the password percent-encoded")
  add((pw:gsub("[^%w%-%._~]", function(c) return string.format("%%%02x", c:byte()) end)),
    "the password percent-encoded (lower-case hex)")
  add(cq(pw):sub(2, -2), "the password as a conninfo value")
  add(string.format("%q", pw):sub(2, -2), "the password as a Lua string")
  add(json_escaped(pw), "the password as a JSON string")
  add(pgpass_escape(pw), "the password as a .pgpass field")
  for piece in pw:gmatch("[%w%-]+") do add(piece, "a piece of the password (" .. piece .. ")") end
  return list
end

local NEEDLES = { [PW] = needles_of(PW), [NASTY] = needles_of(NASTY), [PERCENT] = needles_of(PERCENT) }

local function excerpt(text, at, len)
  local a, b = math.max(1, at - 70), math.min(#text, at + len + 50)
  return (text:sub(a, b):gsub("\n", "\\n"))
end

-- A finding when a needle is in text.
local function scan(findings, where, text, needles)
  if type(text) ~= "string" then return end
  for _, n in ipairs(needles) do
    local at = text:find(n[1], 1, true)
    if at then
      findings[#findings + 1] = string.format("%s holds %s: ...%s...", where, n[2], excerpt(text, at, #n[1]))
      return
    end
  end
end

-- Every string (and key) of a decoded JSON value.
local function walk(findings, where, v, needles, path)
  if type(v) == "string" then
    scan(findings, where .. " (decoded, at " .. path .. ")", v, needles)
  elseif type(v) == "table" then
    for k, x in pairs(v) do
      if type(k) == "string" then scan(findings, where .. " (decoded key at " .. path .. ")", k, needles) end
      walk(findings, where, x, needles, path .. "." .. tostring(k))
    end
  end
end

-- Raw text, and any JSON document in it (the whole, or a line at a time).
local function audit_text(findings, where, text, needles)
  scan(findings, where, text, needles)
  if not text or text == "" then return end
  local ok, doc = pcall(cjson.decode, text)
  if ok then
    walk(findings, where .. " JSON", doc, needles, "$")
    return
  end
  for line in text:gmatch("[^\n]+") do
    local lok, ldoc = pcall(cjson.decode, line)
    if lok and type(ldoc) == "table" then walk(findings, where .. " JSON line", ldoc, needles, "$") end
  end
end

---------------------------------------------------------------- connections

local SOCK = assert(h.url:match("[?&]host=([^&]+)"), "no host= in " .. h.url)
local UNREACHABLE = { host = "127.0.0.1", port = 1 }          -- a closed TCP port: refused at once
local BOGUS_HOST = { host = "nonexistent-host.invalid" }       -- does not resolve
local NO_DB = { db = "no_such_db_" .. token(6, lower) }        -- the server says it does not exist

local function url(v, pw)
  local auth = urlenc(v.user) .. (pw and (":" .. urlenc(pw)) or "") .. "@"
  if v.host:sub(1, 1) == "/" then
    return "postgresql://" .. auth .. "/" .. v.db .. "?host=" .. v.host
  end
  return "postgresql://" .. auth .. v.host .. (v.port and (":" .. v.port) or "") .. "/" .. v.db
end

local function conninfo(v, pw)
  local s = "host=" .. cq(v.host) .. (v.port and (" port=" .. v.port) or "") .. " dbname=" .. v.db .. " user=" .. v.user
  if pw then s = s .. " password=" .. cq(pw) end
  return s
end

---------------------------------------------------------------- projects

-- migrate.lua's hooks, for every source: what they do is chosen by
-- AUDIT_HOOK, so that one migrate.lua serves every path. Each quotes the
-- database setting, as a team's hook might in its message.
local HOOKS = [[
  before_all = function(ctx)
    local hook = os.getenv("AUDIT_HOOK")
    if hook == "log" then ctx.log("migrating %s", tostring(ctx.config.database)) end
    if hook == "raise" then error("no backup taken of " .. tostring(ctx.config.database)) end
  end,
  after_each = function(ctx)
    if os.getenv("AUDIT_HOOK") == "after_each" then
      error("after_each refused the migration on " .. tostring(ctx.config.database))
    end
  end,
  timeouts = { lock = os.getenv("AUDIT_LOCK_TIMEOUT") and "200ms" or 0, retries = 1, budget = 3 },
]]

local function migrate_lua(fields)
  return "-- written by tests/faults/secrets_spec.lua\nreturn {\n" .. (fields or "") .. HOOKS .. "}\n"
end

local function sections(tbl, extra)
  return string.format("-- migrate:up\nCREATE TABLE %s (id int);\n-- migrate:down\nDROP TABLE %s;\n%s", tbl, tbl,
    extra or "")
end

local function project_files(multi)
  local files = {
    ["migrations/001_audit_a.sql"] = sections("audit_a"),
    ["migrations/002_audit_b.sql"] = sections("audit_b"),
    ["migrations/003_audit_c.sql"] = sections("audit_c"),
  }
  if multi then
    files["side/001_side_a.sql"] = sections("side_a")
    files["side/002_side_b.sql"] = sections("side_b")
    files["side/003_side_c.sql"] = sections("side_c")
  end
  return files
end

---------------------------------------------------------------- sources

-- A source: where the password comes from. build(src, v) -> {env=, args=,
-- config=} for the connection facts v ({host, port, db, user}): the
-- environment, the options before the command, and migrate.lua.
local SOURCES = {}
local function source(t)
  t.id = #SOURCES + 1
  t.pw = t.pw or PW
  t.role = t.pw == PW and ROLE or NASTY_ROLE
  t.needles = NEEDLES[t.pw]
  SOURCES[#SOURCES + 1] = t
  return t
end

local function env_only(env) return { env = env, config = migrate_lua() } end

-- sources that reach a database (kind "db")
for _, pw in ipairs({ PW, NASTY }) do
  local n = pw == NASTY and " [password with ' \" \\ space @ / % & = : ? #]" or ""
  source { name = "DATABASE_URL as a URL" .. n, kind = "db", pw = pw, full = pw == PW,
    build = function(s, v) return env_only({ DATABASE_URL = url(v, s.pw) }) end }
  source { name = "DATABASE_URL as a keyword conninfo" .. n, kind = "db", pw = pw,
    build = function(s, v) return env_only({ DATABASE_URL = conninfo(v, s.pw) }) end }
  source { name = "PGPASSWORD" .. n, kind = "db", pw = pw,
    build = function(s, v) return env_only({ DATABASE_URL = url(v), PGPASSWORD = s.pw }) end }
  source { name = (pw == PW and "~/.pgpass (HOME)" or "a password file (PGPASSFILE)") .. n, kind = "db", pw = pw,
    pgpass = true,
    build = function(s, v)
      return env_only(pw == PW and { DATABASE_URL = url(v), HOME = s.home }
        or { DATABASE_URL = url(v), PGPASSFILE = s.home .. "/pgpass" })
    end }
  source { name = "migrate.lua database" .. (pw == PW and " (URL)" or " (conninfo)") .. n, kind = "db", pw = pw,
    build = function(s, v)
      local d = pw == PW and url(v, s.pw) or conninfo(v, s.pw)
      return { config = migrate_lua(string.format("  database = %q,\n", d)) }
    end }
  if pw == PW then
    source { name = "database function in migrate.lua", kind = "db",
      build = function(s, v)
        return { config = migrate_lua(string.format("  database = function(cfg) return %q end,\n", url(v, s.pw))) }
      end }
  end
  source { name = (pw == PW and "--database URL" or "-d conninfo") .. n, kind = "db", pw = pw, full = pw == NASTY,
    build = function(s, v)
      return { args = pw == PW and ("--database " .. q(url(v, s.pw))) or ("-d " .. q(conninfo(v, s.pw))),
               config = migrate_lua() }
    end }
end
source { name = "environments in migrate.lua (--env)", kind = "db",
  build = function(s, v)
    return { args = "--env audit", config = migrate_lua(string.format(
      "  database = \"postgresql:///not_this_one?host=/nonexistent\",\n"
      .. "  environments = { audit = { database = %q } },\n", url(v, s.pw))) }
  end }
source { name = "targets in migrate.lua (a URL and a conninfo)", kind = "db", multi = true, full = true,
  build = function(s, v)
    return { config = migrate_lua(string.format("  targets = {\n"
      .. "    { name = \"main\", database = %q },\n"
      .. "    { name = \"side\", database = %q, dir = \"side\", table = \"side_migrations\" },\n  },\n",
      url(v, s.pw), conninfo(v, s.pw))) }
  end }

-- sources whose configuration fails before any connection (kind "config")
local function raising(form)
  return function(s, v)
    local d = form == "url" and url(v, s.pw) or conninfo(v, s.pw)
    return { config = migrate_lua(string.format(
      "  database = function(cfg) error(\"the secret store is unreachable; the fallback \" .. %q .. \" is disabled\") end,\n", d)) }
  end
end
source { name = "database function raising an error quoting the URL", kind = "config", full = true,
  build = raising("url") }
source { name = "database function raising an error quoting the conninfo", kind = "config", build = raising("conninfo") }
source { name = "database function raising an error quoting the URL [nasty password]", kind = "config",
  pw = NASTY, build = raising("url") }
source { name = "database function raising an error quoting the conninfo [nasty password]", kind = "config",
  pw = NASTY, build = raising("conninfo") }
source { name = "migrate.lua raising an error quoting the URL", kind = "config",
  build = function(s, v)
    return { config = string.format("local url = %q\nerror(\"cannot reach \" .. url)\nreturn {}\n", url(v, s.pw)) }
  end }
source { name = "migrate.lua with a syntax error in its database URL", kind = "config",
  build = function(s, v) return { config = "return {\n  database = \"" .. url(v, s.pw) .. ",\n}\n" } end }
source { name = "migrate.lua with a syntax error in its database conninfo", kind = "config",
  build = function(s, v) return { config = "return {\n  database = \"" .. conninfo(v, s.pw) .. ",\n}\n" } end }
source { name = "migrate.lua with a syntax error in its database conninfo [nasty password]", kind = "config",
  pw = NASTY, build = function(s, v)
    return { config = "return {\n  database = '" .. conninfo(v, s.pw):gsub("[\\']", "\\%0") .. ",\n}\n" }
  end }
-- passwords written into a URL without their percent-encoding: refused
-- as a connection string (exit 2) or by libpq (exit 5)
local function raw_url(s, v)
  return env_only({ DATABASE_URL = "postgresql://" .. v.user .. ":" .. s.pw .. "@/" .. v.db .. "?host=" .. v.host })
end
source { name = "DATABASE_URL whose password is not percent-encoded [nasty password]", kind = "config",
  pw = NASTY, invalid_url = true, build = raw_url }
source { name = "DATABASE_URL whose password holds a bare % (S3cr3t-...%zz...)", kind = "config",
  pw = PERCENT, invalid_url = true, build = raw_url }

-- a URL or conninfo in the wrong place on the command line (kind "usage")
source { name = "a password on the command line in the wrong place", kind = "usage",
  build = function(_, v) return env_only({ DATABASE_URL = url(v) }) end }

---------------------------------------------------------------- running lumi

local OUT = h.tmpdir()     -- scripts and outputs of the runs, outside the projects
local seq = 0

local function spec_of(src, variant)
  local v = { host = SOCK, db = src.dbname or ("unused_" .. src.id), user = src.role }
  for k, x in pairs(variant or {}) do v[k] = x end
  return src.build(src, v)
end

-- The shell command of one run of lumi (spec: spec_of's). SIGINT
-- is put back to its default: a background job of a shell starts with it
-- ignored, and lumi leaves an ignored signal ignored.
local function command_line(spec, args, extra_env)
  local env = {}
  for k, v in pairs(spec.env or {}) do env[k] = v end
  for k, v in pairs(extra_env or {}) do env[k] = v end
  local parts = {}
  for k, v in pairs(env) do parts[#parts + 1] = k .. "=" .. q(v) end
  table.sort(parts)
  return "env --default-signal=INT " .. table.concat(parts, " ") .. " " .. q(h.bin) .. " "
    .. (spec.args and (spec.args .. " ") or "") .. args
end

local function admin_url(src) return h.url_for(src.dbname) end

-- A step's preparation as shell: files written ({write = rel, text =}),
-- removed ({rm = glob}), SQL run as the superuser ({sql = ...}).
local function prep_shell(src, pre, dir)
  local lines = {}
  for i, a in ipairs(pre or {}) do
    if a.write then
      seq = seq + 1
      local fixture = dir .. "/fixture." .. seq
      h.write(fixture, a.text)
      lines[#lines + 1] = "mkdir -p " .. q((src.dir .. "/" .. a.write):match("^(.*)/")) .. " && cp " .. q(fixture)
        .. " " .. q(src.dir .. "/" .. a.write)
    elseif a.rm then
      lines[#lines + 1] = "rm -rf " .. q(src.dir) .. "/" .. a.rm
    elseif a.sql then
      lines[#lines + 1] = "psql -X -q -v ON_ERROR_STOP=1 -d " .. q(admin_url(src)) .. " -c " .. q(a.sql)
        .. " >/dev/null 2>&1 || echo 'prep " .. i .. " failed' >&2"
    end
  end
  return table.concat(lines, "\n")
end

-- Run, for every source, its script (its steps in order); the sources
-- six at a time. Fills each run's out, err, code.
local function run_scripts(scripts)
  seq = seq + 1
  local dir = OUT .. "/g" .. seq
  os.execute("mkdir -p " .. q(dir))
  local list = {}
  for i, s in ipairs(scripts) do
    local lines = { "cd " .. q(s.src.dir) }
    for j, r in ipairs(s.runs) do
      local f = dir .. "/" .. i .. "." .. j
      r.file = f
      local prep = prep_shell(s.src, r.pre, dir)
      if prep ~= "" then lines[#lines + 1] = prep end
      lines[#lines + 1] = string.format("%s >%s 2>%s </dev/null\necho $? >%s", r.cmd, q(f .. ".out"), q(f .. ".err"),
        q(f .. ".code"))
    end
    h.write(dir .. "/" .. i .. ".sh", table.concat(lines, "\n") .. "\n")
    list[#list + 1] = dir .. "/" .. i .. ".sh"
  end
  h.write(dir .. "/scripts", table.concat(list, "\n") .. "\n")
  local _, err, code = h.sh("xargs -P 6 -n 1 sh <" .. q(dir .. "/scripts"))
  assert(code == 0, "xargs: " .. err)
  for _, s in ipairs(scripts) do
    for _, r in ipairs(s.runs) do
      r.out, r.err = h.read(r.file .. ".out"), h.read(r.file .. ".err")
      r.code = tonumber((h.read(r.file .. ".code"):match("%d+")))
    end
  end
end

---------------------------------------------------------------- what is stored

-- Every row of every table of the source's database (as JSON, raw and
-- decoded), pg_stat_activity of that database (every session's
-- application_name, and every column of lumi's sessions), and with
-- `files` the files of the project other than migrate.lua (lumi writes
-- files in `new`).
local function stored_findings(src, files)
  local findings = {}
  local needles = src.needles
  if src.dbname then
    local c <close> = h.connect(admin_url(src))
    -- a table another session has locked (the lock-timeout path) is skipped, not waited for
    assert(c:exec("SET lock_timeout = '500ms'"))
    local tables = assert(c:query([[
SELECT format('%I.%I', n.nspname, c.relname) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1]]))
    for _, t in ipairs(tables) do
      local rows = c:query("SELECT to_jsonb(x)::text AS j FROM " .. t.t .. " x")
      for _, r in ipairs(rows or {}) do
        scan(findings, "a row of " .. t.t, r.j, needles)
        local ok, doc = pcall(cjson.decode, r.j)
        if ok then walk(findings, "a row of " .. t.t, doc, needles, t.t) end
      end
    end
    local sessions = assert(c:query([[
SELECT pid, usename, coalesce(application_name, '') AS application_name, to_jsonb(a)::text AS j
  FROM pg_stat_activity a WHERE datname = current_database() AND pid <> pg_backend_pid()]]))
    for _, s in ipairs(sessions) do
      scan(findings, "pg_stat_activity.application_name of pid " .. tostring(s.pid), s.application_name, needles)
      if s.usename == src.role then scan(findings, "pg_stat_activity of lumi's pid " .. tostring(s.pid), s.j, needles) end
    end
  end
  if files and src.dir then
    local args = {}
    for _, n in ipairs(needles) do args[#args + 1] = "-e " .. q(n[1]) end
    local out = h.sh("grep -rlF --exclude=migrate.lua " .. table.concat(args, " ") .. " " .. q(src.dir))
    for file in out:gmatch("[^\n]+") do findings[#findings + 1] = "the file " .. file .. " holds the password" end
  end
  return findings
end

-- The findings not seen before: a leaked row stays until it is deleted,
-- and is blamed on the group that wrote it.
local function new_stored_findings(src, files)
  src.seen = src.seen or {}
  local out = {}
  for _, f in ipairs(stored_findings(src, files)) do
    if not src.seen[f] then
      src.seen[f] = true
      out[#out + 1] = f
    end
  end
  return out
end

---------------------------------------------------------------- groups

-- SECRETS_ONLY=TEXT runs only the sources whose name holds TEXT
local only = os.getenv("SECRETS_ONLY")
local function selected(s) return only == nil or s.name:find(only, 1, true) ~= nil end
local function DB(s) return s.kind == "db" and selected(s) end
local function FULL(s) return DB(s) and s.full end
local function CONFIG(s) return s.kind == "config" and selected(s) end
local function USAGE(s) return s.kind == "usage" and selected(s) end

-- A group: its steps run in order for each source it applies to, the
-- sources side by side.
--   steps    { {args=, code=, env=, pre=, full=, single=}, ... }: args, code
--            and pre may be function(src); full = true: only the full
--            sources; single = true: not the source with several targets
--   sources  predicate over sources
--   variant  connection facts overriding the source's ({host, port, db})
--   env      environment of every run
--   before   function(src), in Lua, before the group runs
--   after    function(src), in Lua, before what is stored is checked
--   stores   false: no case for what is stored (nothing reaches a database)
--   files    true: what is stored includes the files of the project
--   kind     "running" (start `bg_args` in the background), "signal"
--            (send `sig` to it), "tty" (steps on a terminal), or nil
local GROUPS = {}
local function group(t)
  GROUPS[#GROUPS + 1] = t
  return t
end

local function value_for(x, src)
  if type(x) == "function" then return x(src) end
  return x
end

local function steps_for(g, src)
  local out = {}
  for _, step in ipairs(g.steps or {}) do
    if (not step.full or src.full) and not (step.single and src.multi) then out[#out + 1] = step end
  end
  return out
end

local function run_group(g)
  if g.ran then return end
  g.ran = true
  g.runs = {}
  local scripts = {}
  for _, src in ipairs(SOURCES) do
    if g.sources(src) then
      if g.before then g.before(src) end
      local spec = spec_of(src, g.variant)
      if spec.config then h.write(src.dir .. "/migrate.lua", spec.config) end
      local runs = {}
      for i, step in ipairs(steps_for(g, src)) do
        local env = {}
        for k, v in pairs(g.env or {}) do env[k] = v end
        for k, v in pairs(step.env or {}) do env[k] = v end
        local args = value_for(step.args, src)
        runs[i] = { cmd = command_line(spec, args, env), args = args, step = step, pre = value_for(step.pre, src) }
      end
      g.runs[src] = runs
      scripts[#scripts + 1] = { src = src, runs = runs }
    end
  end
  run_scripts(scripts)
end

local function shown(run)
  return string.format("`lumi %s` exited %s\n--- stdout:\n%s\n--- stderr:\n%s", run.args, tostring(run.code),
    run.out or "", run.err or "")
end

---------------------------------------------------------------- helpers of steps

local function S(args, code, more)
  local t = more or {}
  t.args, t.code = args, code
  return t
end

local function both(list, code, more)
  local steps = {}
  for _, a in ipairs(list) do
    local m1, m2 = {}, {}
    for k, v in pairs(more or {}) do m1[k] = v; m2[k] = v end
    steps[#steps + 1] = S(a, code, m1)
    steps[#steps + 1] = S(a .. " --json", code, m2)
  end
  return steps
end

local function target_arg(src) return src.multi and " --target main" or "" end
-- a command on one version: the targets source has it only in its main target
local function one_target(code) return function(src) return src.multi and 2 or code end end

local CONNECTING = {
  "up", "down", "redo", "status", "verify", "validate", "baseline 001", "mark 001", "unmark 001", "repair",
  "fresh --force", "log",
}

---------------------------------------------------------------- the paths

-- success: every command, in text and in JSON (the other sources: a few)
local function full(t) t = t or {}; t.full = true; return t end
group { path = "success", sources = DB, files = true, steps = {
  S("--version", 0, full()), S("--help", 0, full()),
  S("list", 0, full()), S("list --json", 0, full()),
  S("up --dry-run --json", 0, full()),
  S("up --json", 0), S("up", 0, full()),
  S("status", 0), S("status --json", 0, full()),
  S("verify", 0, full()), S("verify --json", 0),
  S("validate", 0, full()), S("validate --json", 0, full()),
  S("log", 0, full()), S("log -n 2 --json", 0, full()),
  S("down", 0, full()), S("down --json", 0, full()),
  S("redo", 0, full()), S("redo --json", 0, full()),
  S("mark 002", 0, full()), S("mark 003 --json", 0, full()),
  S("unmark 003", 0, full()), S("unmark 002 --json", 0, full()),
  S("baseline 002", 0, full()), S("baseline 003 --json", 0, full()),
  S("repair", 0, full { pre = { { write = "migrations/001_audit_a.sql", text = sections("audit_a", "-- reviewed\n") } } }),
  S("repair --json", 0, full {
    pre = { { write = "migrations/001_audit_a.sql", text = sections("audit_a", "-- reviewed again\n") } } }),
  S("fresh --force", 0, full()), S("fresh --force --json", 0, full()),
  S("fresh", 2, full()), S("fresh --json", 2, full()),     -- not on a terminal: refused without --force
  S(function(src) return "new audit_note" .. target_arg(src) end, 0, full { label = "new audit_note" }),
  S(function(src) return "new --lua audit_more --json" .. target_arg(src) end, 0,
    full { label = "new --lua audit_more --json" }),
} }

-- `lumi fresh` on a terminal, confirmed by typing DELETE ALL DATA, or not
group { path = "fresh on a terminal", kind = "tty", sources = FULL, steps = {
  S("fresh", 0, { input = "DELETE ALL DATA\n", clean = true }), S("fresh --json", 2, { input = "delete it all\n" }) } }

-- a failing migration: SQL, Lua, Lua without a transaction (left
-- unfinished, its error in its row: what is stored is checked before the
-- row is resolved)
local FAIL_LUA = [[
return { up = function(ctx)
  ctx.db:exec("CREATE TABLE audit_lua (id int)")
  error("cannot copy the rows from " .. tostring(ctx.config.database))
end }
]]
local FAIL_LUA_NT = [[
return { transaction = false, up = function(ctx)
  ctx.db:exec("CREATE TABLE IF NOT EXISTS audit_nt (id int)")
  error("backfill stopped: cannot open a second connection to " .. tostring(ctx.config.database))
end }
]]
local CLEAN_004 = { { rm = "migrations/00[4-9]*" }, { rm = "side/00[4-9]*" } }
local function with(list, ...)
  local out = {}
  for _, x in ipairs(list) do out[#out + 1] = x end
  for _, x in ipairs({ ... }) do out[#out + 1] = x end
  return out
end
group { path = "failing migration", sources = DB, steps = {
  S("up", 1, full { pre = with(CLEAN_004,
    { write = "migrations/004_bad.sql", text = "-- migrate:up\nCREATE TABLE audit_bad (a int);\nCRAETE TABLE oops (b int);\n" }) }),
  S("up --json", 1, full()),
  S("validate --json", 3, full()),
  S("up", 1, full { pre = with(CLEAN_004, { write = "migrations/004_fail.lua", text = FAIL_LUA }) }),
  S("up --json", 1, { pre = with(CLEAN_004, { write = "migrations/004_fail.lua", text = FAIL_LUA }) }),
  S("log", 0, full()),
  S("up", 1, { pre = with(CLEAN_004, { write = "migrations/004_fail_nt.lua", text = FAIL_LUA_NT }) }),
  S("status", 0, full()),
  S("status --json", 0),
  S("validate", 3, full()),
  S("up --json", 3, full()),
  S("log --json", 0, full()),
} }
group { path = "unfinished migration resolved", sources = DB, steps = {
  S("unmark 004", one_target(0)),
  S("up --json", 1, full()),
  S("mark 004 --json", one_target(0), full()),
} }

-- hooks of migrate.lua that quote the database setting
local OK_004 = with(CLEAN_004,
  { sql = "DROP TABLE IF EXISTS audit_nt, audit_lua; DELETE FROM schema_migrations WHERE version = '004'" },
  { write = "migrations/004_ok.sql", text = sections("audit_ok") })
group { path = "hooks", sources = DB, steps = {
  S("up", 0, full { env = { AUDIT_HOOK = "log" }, pre = OK_004 }),
  S("down", 0, full()),
  S("up --json", 0, full { env = { AUDIT_HOOK = "log" } }),
  S("down --json", 0, full()),
  S("up", 1, full { env = { AUDIT_HOOK = "raise" } }),
  S("up --json", 1, full { env = { AUDIT_HOOK = "raise" } }),
  S("up", 1, full { env = { AUDIT_HOOK = "after_each" } }),
  S("up --json", 1, { env = { AUDIT_HOOK = "after_each" }, pre = function(src) return not src.full and OK_004 or nil end }),
} }

-- a lock timeout: another session holds a lock the migration needs (exit 4)
local function release_blocker(src)
  if src.blocker then
    pcall(src.blocker.close, src.blocker)
    src.blocker = nil
  end
end
group { path = "lock timeout, blocked by another session", sources = FULL, env = { AUDIT_LOCK_TIMEOUT = "1" },
  steps = { S("up", 4, { pre = { { rm = "migrations/004_*" },
    { write = "migrations/004_alter.sql", text = "ALTER TABLE audit_a ADD COLUMN z int;\n" } } }), S("up --json", 4) },
  before = function(src)
    src.blocker = h.connect(admin_url(src))
    assert(src.blocker:exec("SET application_name = 'audit blocker'; BEGIN; LOCK TABLE audit_a IN ACCESS EXCLUSIVE MODE"))
  end,
  after = release_blocker }

-- the migration lock held by a running `lumi up` (exit 4), that run interrupted
-- it sleeps only in the background run (PGOPTIONS sets audit.slow there):
-- a run that took the lock by mistake would not hang the audit
local SLOW = "SELECT pg_sleep(coalesce(nullif(current_setting('audit.slow', true), ''), '0')::float8);\n"
group { path = "migration lock held by a running `lumi up`", kind = "running", sources = DB, bg_args = "up" }
group { path = "migration lock held by a running `lumi up`", sources = DB, steps = {
  S("up --lock-wait 0", 4, full()), S("up --lock-wait 0 --json", 4),
  S("up --lock-wait 0.3", 4, full()),
  S("down --lock-wait 0 --json", 4, full()), S("redo --lock-wait 0", 4, full()),
  S("fresh --force --lock-wait 0", 4, full()), S("mark 004 --lock-wait 0 --json", 4, full()),
  S("repair --lock-wait 0", 4, full()),
  S("status", 0, full()), S("status --json", 0, full()),
  S("verify", 0, full()), S("verify --json", 0, full()),
} }
group { path = "`lumi up` interrupted by SIGTERM", kind = "signal", sources = DB, sig = "TERM", expect = 143 }
group { path = "`lumi up --json` interrupted", kind = "running", sources = FULL, bg_args = "up --json" }
group { path = "`lumi up --json` interrupted by SIGTERM", kind = "signal", sources = FULL, sig = "TERM", expect = 143 }
group { path = "`lumi up` interrupted", kind = "running", sources = FULL, bg_args = "up" }
group { path = "`lumi up` interrupted by SIGINT", kind = "signal", sources = FULL, sig = "INT", expect = 130 }

-- the database cannot be reached, with the password in hand
group { path = "unreachable server (127.0.0.1, closed port)", sources = DB, variant = UNREACHABLE, stores = false,
  before = function(src) h.sh("rm -f " .. q(src.dir) .. "/migrations/004_*") end,
  steps = (function()
    local s = {}
    for _, x in ipairs(both(CONNECTING, 5)) do
      local core = x.args == "up"
      if not core then x.full = true; x.single = true end
      s[#s + 1] = x
    end
    s[#s + 1] = S("list --json", 0, { full = true })
    return s
  end)() }
group { path = "host name that does not resolve", sources = DB, variant = BOGUS_HOST, stores = false, steps = {
  S("up", 5, full()), S("status --json", 5, full()), S("verify", 5, full()), S("verify --json", 5) } }
group { path = "database that does not exist", sources = DB, variant = NO_DB, stores = false, steps = {
  S("up", 5, full()), S("up --json", 5), S("verify", 5, full()), S("mark 001 --json", 5, full()) } }

-- the configuration fails before anything connects: every command
group { path = "configuration error", sources = CONFIG, files = true, steps = (function()
  local s = {}
  local commands = { "up", "down", "redo", "status", "list", "new audit_note", "verify", "validate", "baseline 001",
                     "mark 001", "unmark 001", "repair", "fresh --force", "log" }
  local core = { up = true, ["status --json"] = true, list = true }
  for _, c in ipairs(commands) do
    for _, j in ipairs({ "", " --json" }) do
      s[#s + 1] = S(c .. j, function(src)
        if src.invalid_url then
          return (c == "list" or c:match("^new")) and 0 or { 2, 5 }
        end
        return 2
      end, { full = not core[c .. j] })
    end
  end
  return s
end)() }

-- the password on the command line where it does not belong
group { path = "usage error", sources = USAGE, files = true, steps = (function()
  local s = {}
  for _, form in ipairs({ { "URL", PW, url }, { "conninfo", PW, conninfo }, { "URL", NASTY, url },
                          { "conninfo", NASTY, conninfo } }) do
    local function a(src) return q(form[3]({ host = SOCK, db = src.dbname, user = src.role }, form[2])) end
    local needles = NEEDLES[form[2]]
    local shape = string.format("<%s, %s password>", form[1], form[2] == PW and "plain" or "nasty")
    for _, f in ipairs({
      "status %s", "%s up --json", "--databse %s up", "--verbose --database %s up", "-d %s log -n many --json",
      "mark %s",
    }) do
      s[#s + 1] = S(function(src) return (f:gsub("%%s", function() return a(src) end)) end, 2,
        { needles = needles, label = (f:gsub("%%s", shape)) })
    end
  end
  return s
end)() }

---------------------------------------------------------------- background runs

local BG = {}          -- src -> the background run of the last `running` group
local started = {}

local function start_bg(src, args)
  local spec = spec_of(src)
  if spec.config then h.write(src.dir .. "/migrate.lua", spec.config) end
  seq = seq + 1
  local base = OUT .. "/bg" .. seq .. "." .. src.id
  local cmd = command_line(spec, args, { PGOPTIONS = "-c audit.slow=300" })
  h.sh("cd " .. q(src.dir) .. " && ( sh -c " .. q("echo $$ >" .. q(base .. ".pid") .. "; exec " .. cmd)
    .. " >" .. q(base .. ".out") .. " 2>" .. q(base .. ".err") .. " </dev/null; echo $? >" .. q(base .. ".code.tmp")
    .. "; mv " .. q(base .. ".code.tmp") .. " " .. q(base .. ".code") .. " ) >/dev/null 2>&1 &")
  local job = { base = base, args = args, src = src }
  started[#started + 1] = job
  return job
end

local function bg_pid(job)
  local deadline = clock.now() + 10
  while clock.now() < deadline do
    local f = io.open(job.base .. ".pid", "rb")
    if f then
      local pid = tonumber((f:read("a") or ""):match("%d+"))
      f:close()
      if pid then return pid end
    end
    clock.sleep(0.02)
  end
  error("the background lumi did not start")
end

local function bg_done(job)
  local f = io.open(job.base .. ".code", "rb")
  if not f then return false end
  f:close()
  return true
end

-- Wait until the background run of every source is inside its slow
-- migration (or has ended: the case says so).
local function wait_running(srcs)
  local deadline = clock.now() + 30
  for _, src in ipairs(srcs) do
    local c <close> = h.connect(admin_url(src))
    while true do
      local rows = assert(c:query([[SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND state = 'active' AND wait_event = 'PgSleep'
          AND application_name LIKE 'lumi %004_slow.sql']]))
      if rows[1].n > 0 then break end
      if bg_done(BG[src]) or clock.now() > deadline then BG[src].ended = true; break end
      clock.sleep(0.05)
    end
  end
end

local function bg_wait(job, limit)
  local deadline = clock.now() + (limit or 30)
  while clock.now() < deadline do
    if bg_done(job) then
      job.code = tonumber((h.read(job.base .. ".code"):match("%d+")))
      job.out, job.err = h.read(job.base .. ".out"), h.read(job.base .. ".err")
      return job.code
    end
    clock.sleep(0.05)
  end
  error("`lumi " .. job.args .. "` did not end within " .. tostring(limit or 30) .. " s of the signal")
end

---------------------------------------------------------------- the cases

describe("secrets audit: no password in any output, row or JSON", function()
  local created_dbs = {}

  setup(function()
    local c <close> = h.connect(h.url)
    for _, r in ipairs({ { ROLE, PW }, { NASTY_ROLE, NASTY } }) do
      assert(c:exec(string.format("CREATE ROLE %s LOGIN PASSWORD '%s'", r[1], (r[2]:gsub("'", "''")))))
    end
    for _, src in ipairs(SOURCES) do
      if src.kind ~= "config" then
        src.dbname = string.format("audit_%s_%d", ROLE:sub(7), src.id)
        assert(c:exec(string.format("CREATE DATABASE %s OWNER %s", src.dbname, src.role)))
        created_dbs[#created_dbs + 1] = src.dbname
      end
      src.dir = h.project(project_files(src.multi))
      src.home = h.tmpdir()
      if src.pgpass then
        local line = string.format("*:*:*:%s:%s\n", src.role, pgpass_escape(src.pw))
        h.write(src.home .. "/.pgpass", line)
        h.write(src.home .. "/pgpass", line)
        os.execute("chmod 600 " .. q(src.home .. "/.pgpass") .. " " .. q(src.home .. "/pgpass"))
      end
    end
  end)

  teardown(function()
    for _, job in ipairs(started) do
      if not bg_done(job) then
        local ok, pid = pcall(bg_pid, job)
        if ok then os.execute("kill -KILL " .. pid .. " 2>/dev/null") end
      end
    end
    for _, src in ipairs(SOURCES) do release_blocker(src) end
    for _, name in ipairs(created_dbs) do pcall(h.drop_db, name) end
    local c <close> = h.connect(h.url)
    c:exec("DROP ROLE IF EXISTS " .. ROLE)
    c:exec("DROP ROLE IF EXISTS " .. NASTY_ROLE)
  end)

  local function stored_case(g, src)
    if g.stores == false then return end
    it(string.format("%s | %s | what is stored: rows of every table, pg_stat_activity%s", src.name, g.path,
      g.files and ", files of the project" or ""),
      function()
        if g.kind == nil then run_group(g) end
        if g.after then g.after(src) end
        local findings = new_stored_findings(src, g.files)
        assert(#findings == 0, "the password is stored:\n" .. table.concat(findings, "\n"))
      end)
  end

  for _, g in ipairs(GROUPS) do
    for _, src in ipairs(SOURCES) do
      if g.sources(src) then
        if g.kind == "running" then
          it(string.format("%s | %s | `lumi %s` reaches its slow migration", src.name, g.path, g.bg_args), function()
            if not g.ran then
              g.ran = true
              local srcs = {}
              for _, s in ipairs(SOURCES) do
                if g.sources(s) then
                  h.sh("rm -f " .. q(s.dir) .. "/migrations/004_*")
                  h.write(s.dir .. "/migrations/004_slow.sql", SLOW)
                  BG[s] = start_bg(s, g.bg_args)
                  srcs[#srcs + 1] = s
                end
              end
              wait_running(srcs)
            end
            assert(not BG[src].ended, "the background `lumi " .. g.bg_args .. "` did not reach 004_slow.sql: "
              .. h.read(BG[src].base .. ".err"))
          end)
          stored_case(g, src)
        elseif g.kind == "tty" then
          for _, step in ipairs(g.steps) do
            it(string.format("%s | %s | lumi %s", src.name, g.path, step.args), function()
              local spec = spec_of(src)
              if spec.config then h.write(src.dir .. "/migrate.lua", spec.config) end
              -- what `new` created is not applied by this fresh
              if step.clean then h.sh("rm -rf " .. q(src.dir) .. "/migrations/00[4-9]* " .. q(src.dir) .. "/side/00[4-9]*") end
              local out, err, code = h.lumi_tty(src.dir, (spec.args and (spec.args .. " ") or "") .. step.args,
                spec.env, step.input)
              local run = { args = step.args, out = out, err = err, code = code }
              local findings = {}
              audit_text(findings, "the terminal", out, src.needles)
              audit_text(findings, "stderr", err, src.needles)
              assert(#findings == 0, "the password leaked:\n" .. table.concat(findings, "\n") .. "\n" .. shown(run))
              assert.are.equal(step.code, code, shown(run))
            end)
          end
          stored_case(g, src)
        elseif g.kind == "signal" then
          it(string.format("%s | %s", src.name, g.path), function()
            if not g.ran then
              g.ran = true
              for _, s in ipairs(SOURCES) do
                if g.sources(s) and BG[s] and not bg_done(BG[s]) then
                  os.execute("kill -" .. g.sig .. " " .. bg_pid(BG[s]))
                end
              end
            end
            local job = BG[src]
            bg_wait(job)
            local findings = {}
            audit_text(findings, "stdout", job.out, src.needles)
            audit_text(findings, "stderr", job.err, src.needles)
            assert(#findings == 0, "the password leaked:\n" .. table.concat(findings, "\n") .. "\n" .. shown(job))
            assert.are.equal(g.expect, job.code, shown(job))
          end)
          stored_case(g, src)
        else
          for i, step in ipairs(steps_for(g, src)) do
            local label = step.label or value_for(step.args, src)
            it(string.format("%s | %s | lumi %s", src.name, g.path, label), function()
              run_group(g)
              local run = g.runs[src][i]
              local needles = step.needles or src.needles
              local findings = {}
              audit_text(findings, "stdout", run.out, needles)
              audit_text(findings, "stderr", run.err, needles)
              assert(#findings == 0, "the password leaked:\n" .. table.concat(findings, "\n") .. "\n" .. shown(run))
              local want = value_for(step.code, src)
              if type(want) == "table" then
                local allowed = false
                for _, c in ipairs(want) do allowed = allowed or c == run.code end
                assert(allowed, "expected an exit status in {" .. table.concat(want, ", ") .. "}: " .. shown(run))
              elseif want then
                assert.are.equal(want, run.code, shown(run))
              end
            end)
          end
          stored_case(g, src)
        end
      end
    end
  end
end)
