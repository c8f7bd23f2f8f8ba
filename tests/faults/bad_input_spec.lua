-- Bad input, table-driven: every case is a project (files, a migrate.lua,
-- some preparation on disk or in the database), optionally a good run first,
-- then ONE lumi command, and three assertions:
--
--   1. the exit status is the one of README's "Exit status" table
--      (0 success, 1 migration failed / database error, 2 usage or
--      configuration, 3 validation, 4 lock, 5 database unreachable);
--   2. the first line lumi prints (stderr, or stdout where it prints nothing
--      on stderr) names what is wrong and where: it holds every substring of
--      `first`; and never a Lua traceback, an internal source position
--      (lua/lumi/...) or the password of a URL;
--   3. the database is as it was before the command: its schema, the rows of
--      every table, the tracking rows and the event log (which may gain only
--      the events listed in `logged`). A case whose migration fails midway
--      names in `partial` the migrations that must be applied after it: the
--      expected state is then that of a separate good run of only those.
--
-- Each case has a database of its own (created one case ahead, dropped
-- after it) and a project directory of its own; roles it creates are
-- dropped. A case is one table entry:
--   [1]                    what is wrong (the test's name)
--   files                  {path = contents}; mig{...} puts them in migrations/
--   settings               the text of migrate.lua
--   prep(p, ctx)           Lua run in the project first (huge files, many files)
--   sh                     shell run in the project then (symlinks, chmod, ...)
--   pre                    lumi arguments run first, which must succeed (a string or a list)
--   after_pre              shell run in the project after `pre` (a file deleted, edited)
--   sql                    SQL run on the case's database after `pre` ({role} is the case's role)
--   role                   create a LOGIN role for the case ({role}), dropped afterwards
--   run                    the lumi arguments, or function(p, ctx) returning them
--   nodb                   run without DATABASE_URL
--   env                    extra environment
--   code                   the expected exit status
--   first                  substrings of the first line (stderr; stdout with stream = "out")
--   line                   substrings that one line of the output (stdout and stderr) holds together
--   logged                 {"event file", ...}: the events the log may gain
--   partial                {"001_a.sql", ...}: the migrations applied afterwards (a reference run)
--   table                  the tracking table, when not schema_migrations
--   check(p, out, err)     anything else
--   as_root                false: cannot be checked as root (pending() then)
local h = require "support.helper"
local pg = require "lumi.pg"
local cjson = require "cjson"

local q = h.q
local SECRET = "s3cretpw"          -- the password of every URL that has one: it must never show

---------------------------------------------------------------- helpers

local function mig(t)
  local out = {}
  for k, v in pairs(t) do out["migrations/" .. k] = v end
  return out
end

local function merge(...)
  local out = {}
  for _, t in ipairs({ ... }) do
    for k, v in pairs(t) do out[k] = v end
  end
  return out
end

local A = "CREATE TABLE a (i int);\n"
local B = "CREATE TABLE b (i int);\n"
local C = "CREATE TABLE c (i int);\n"
local ONE = mig { ["001_a.sql"] = A }                          -- one good migration
local TWO = mig { ["001_a.sql"] = A, ["002_b.sql"] = B }

local function shell(p, cmd)
  local out, err, code = h.sh("cd " .. q(p.dir) .. " && " .. cmd)
  assert(code == 0, "shell preparation failed: " .. cmd .. "\n" .. out .. err)
end

local function first_line(s)
  for line in (s or ""):gmatch("[^\n]+") do
    if line:match("%S") then return line end
  end
  return ""
end

local function list(v)
  if v == nil then return {} end
  if type(v) == "table" then return v end
  return { v }
end

-- the case's database as a role other than postgres
local function as_user(url, user)
  return (url:gsub("user=[^&]*", "user=" .. user))
end

local function with_dbname(url, name)
  return (url:gsub("^postgresql:///[^?]*", "postgresql:///" .. name))
end

---------------------------------------------------------------- snapshot

local USER_NS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
  .. "AND n.nspname NOT LIKE 'pg\\_temp%'"

-- every object of the user's schemas, one line each, in a stable order
local SCHEMA_SQL = ([[
SELECT x FROM (
  SELECT 'schema ' || n.nspname || ' ' || coalesce(n.nspacl::text, '') AS x FROM pg_namespace n WHERE USER_NS
  UNION ALL
  SELECT 'rel ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text || ' ' || coalesce(c.relacl::text, '')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE USER_NS
  UNION ALL
  SELECT 'col ' || n.nspname || '.' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
         || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') || ' ' || a.attidentity::text
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attnum > 0 AND NOT a.attisdropped AND USER_NS
  UNION ALL
  SELECT 'con ' || n.nspname || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
    FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace WHERE USER_NS
  UNION ALL
  SELECT 'idx ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE USER_NS
  UNION ALL
  SELECT 'fn ' || p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE USER_NS
  UNION ALL
  SELECT 'type ' || t.oid::regtype::text || ' ' || t.typtype::text
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE USER_NS AND t.typrelid = 0
  UNION ALL
  SELECT 'ext ' || extname FROM pg_extension
) s ORDER BY x COLLATE "C"
]]):gsub("USER_NS", function() return USER_NS end)

local TABLES_SQL = ([[
SELECT format('%I.%I', n.nspname, c.relname) AS q, c.relname AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND USER_NS ORDER BY 1
]]):gsub("USER_NS", function() return USER_NS end)

--- The database at url: its schema (every object, one line each), the rows
--- of every user table (a count and a digest), the rows of the tracking
--- table `tbl` (raw and as version/file/checksum/state) and the events of
--- its log (raw and as "event file").
local function snapshot(c, tbl)
  tbl = tbl or "schema_migrations"
  local log = tbl .. "_log"
  local s = { schema = {}, data = {}, rows = {}, norm = {}, log = {}, events = {} }
  do
    for _, r in ipairs(assert(c:query(SCHEMA_SQL))) do s.schema[#s.schema + 1] = r.x end
    for _, t in ipairs(assert(c:query(TABLES_SQL))) do
      if t.name ~= tbl and t.name ~= log then
        local r = assert(c:query("SELECT count(*)::text || ' ' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '')"
          .. " AS v FROM " .. t.q .. " t"))
        s.data[#s.data + 1] = t.q .. " " .. r[1].v
      end
    end
    if assert(c:query("SELECT to_regclass($1) IS NOT NULL AS e", tbl))[1].e then
      for _, r in ipairs(assert(c:query("SELECT to_jsonb(t)::text AS j FROM " .. tbl .. " t ORDER BY 1"))) do
        s.rows[#s.rows + 1] = r.j
      end
      local rows = c:query("SELECT concat_ws(' ', version, file, checksum, state) AS n FROM " .. tbl .. " ORDER BY version")
      for _, r in ipairs(rows or {}) do s.norm[#s.norm + 1] = r.n end
    end
    if assert(c:query("SELECT to_regclass($1) IS NOT NULL AS e", log))[1].e then
      local rows = c:query("SELECT event || ' ' || coalesce(file, '') AS e, to_jsonb(t)::text AS j FROM " .. log
        .. " t ORDER BY id")
      if not rows then    -- not lumi's log: its rows, as they are
        rows = assert(c:query("SELECT to_jsonb(t)::text AS j, to_jsonb(t)::text AS e FROM " .. log .. " t ORDER BY 1"))
      end
      for _, r in ipairs(rows) do
        s.log[#s.log + 1] = r.j
        s.events[#s.events + 1] = r.e
      end
    end
  end
  return s
end

-- "what differs" between two lists of lines, for a readable failure
local function diff(label, want, got)
  local seen_w, seen_g, msg = {}, {}, {}
  for _, l in ipairs(want) do seen_w[l] = (seen_w[l] or 0) + 1 end
  for _, l in ipairs(got) do seen_g[l] = (seen_g[l] or 0) + 1 end
  for _, l in ipairs(want) do
    if (seen_g[l] or 0) < seen_w[l] then msg[#msg + 1] = "  - " .. l end
  end
  for _, l in ipairs(got) do
    if (seen_w[l] or 0) < seen_g[l] then msg[#msg + 1] = "  + " .. l end
  end
  -- relations and schemas first: the rest follows from them
  local function rank(l) return (l:match("^  . rel ") or l:match("^  . schema ")) and 0 or 1 end
  table.sort(msg, function(x, y) if rank(x) ~= rank(y) then return rank(x) < rank(y) end return x < y end)
  if #msg == 0 and #want ~= #got then msg[1] = "  (order differs)" end
  if #msg == 0 then
    for i = 1, #want do if want[i] ~= got[i] then msg[1] = "  (order differs)" break end end
  end
  if #msg > 0 then return label .. " changed (- expected, + found):\n" .. table.concat(msg, "\n", 1, math.min(#msg, 20)) end
end

local function same(label, want, got, context)
  local d = diff(label, want, got)
  assert(d == nil, (d or "") .. "\n" .. context)
end

-- the database did not change, but for the events `logged` added to the log
local function assert_unchanged(before, after, logged, context)
  same("the schema", before.schema, after.schema, context)
  same("the tables' rows", before.data, after.data, context)
  same("the tracking rows", before.rows, after.rows, context)
  local kept, added = {}, {}
  for i, j in ipairs(after.log) do
    if i <= #before.log then kept[#kept + 1] = j else added[#added + 1] = after.events[i] end
  end
  same("the event log's earlier rows", before.log, kept, context)
  same("the events added to the log", logged or {}, added, context)
end

-- the database is as the reference run (a good run of only `c.partial`) left its own
local function assert_like_reference(ref, c, after, context)
  same("the schema (against a good run of " .. table.concat(c.partial, ", ") .. ")", ref.schema, after.schema, context)
  same("the tables' rows (against the good run)", ref.data, after.data, context)
  same("the tracking rows (against the good run)", ref.norm, after.norm, context)
  local events = {}
  for _, e in ipairs(ref.events) do events[#events + 1] = e end
  for _, e in ipairs(c.logged or {}) do events[#events + 1] = e end
  same("the event log (against the good run)", events, after.events, context)
end

---------------------------------------------------------------- a server that is not PostgreSQL's
-- A TCP server on 127.0.0.1 that speaks just enough of the protocol to be a
-- server without TLS that wants a password and refuses every one: it
-- answers an SSLRequest with 'N' (as a server without TLS does), asks for a
-- clear-text password and answers it with 28P01. (The suite's own server
-- listens only on a unix socket, where libpq never tries TLS, and trusts
-- every local connection, so it can refuse neither.)

local FAKE_PL = [[
use strict; use warnings; use IO::Socket::INET;
my ($portfile) = @ARGV;
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 16, ReuseAddr => 1) or die "listen: $!";
open(my $fh, '>', "$portfile.tmp") or die; print $fh $srv->sockport; close $fh; rename "$portfile.tmp", $portfile;
sub rd {
  my ($c, $n) = @_; my $b = '';
  while (length($b) < $n) { my $r = sysread($c, $b, $n - length($b), length($b)); return undef unless $r; }
  $b
}
while (my $c = $srv->accept) {
  eval {
    while (1) {
      my $h = rd($c, 4) // die; my $len = unpack('N', $h); my $body = rd($c, $len - 4) // die;
      my $code = unpack('N', $body);
      if ($code == 80877103 || $code == 80877104) { syswrite($c, 'N'); next; }   # SSLRequest, GSSENCRequest: no
      last;
    }
    syswrite($c, 'R' . pack('NN', 8, 3));                                         # a clear-text password, please
    my $t = rd($c, 1) // die; my $l = unpack('N', rd($c, 4) // die); rd($c, $l - 4);
    my $f = "SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user \"app\"\0\0";
    syswrite($c, 'E' . pack('N', 4 + length($f)) . $f);
  };
  close $c;
}
]]

local fake = {}

local function fake_port()
  if fake.port then return fake.port end
  local dir = h.tmpdir()
  h.write(dir .. "/fake.pl", FAKE_PL)
  local out = h.sh("perl " .. q(dir .. "/fake.pl") .. " " .. q(dir .. "/port") .. " </dev/null >/dev/null 2>"
    .. q(dir .. "/fake.err") .. " & echo $!")
  fake.pid = assert(tonumber(out:match("%d+")), "could not start the fake server")
  for _ = 1, 200 do
    local f = io.open(dir .. "/port", "rb")
    if f then
      fake.port = assert(tonumber(f:read("a")))
      f:close()
      return fake.port
    end
    h.sh("sleep 0.02")
  end
  error("the fake server did not start: " .. (io.open(dir .. "/fake.err") and h.read(dir .. "/fake.err") or ""))
end

---------------------------------------------------------------- big inputs

-- a 6 MB file: a table, 60,000 inserts, and on line 60002 a syntax error
local function huge_sql()
  local lines = { "CREATE TABLE h (i int, t text);" }
  local pad = string.rep("x", 80)
  for i = 1, 60000 do lines[#lines + 1] = string.format("INSERT INTO h VALUES (%d, '%s');", i, pad) end
  lines[#lines + 1] = "SELEC broken;"
  return table.concat(lines, "\n") .. "\n"
end

-- 20,000 one-line migrations, written without a process per file
local function many_files(p)
  local dir = p:path("migrations")
  os.execute("mkdir -p " .. q(dir))
  for i = 1, 20000 do
    local f = assert(io.open(string.format("%s/%05d_m.sql", dir, i), "wb"))
    f:write("SELECT ", i, ";\n")
    f:close()
  end
end

---------------------------------------------------------------- the cases

local NAMING_OK = 'next = function() return "x" end, compare = function(a, b) return a < b end'

local cases = {
  ------------------------------------------------------------ migrate.lua
  { "migrate.lua: a syntax error", files = ONE, settings = "return {\n  dir = 'migrations',\n  table =\n}\n",
    run = "status", code = 2, first = { "migrate.lua:4:" } },
  { "migrate.lua: a runtime error", files = ONE, settings = "local t = {}\nreturn { dir = t.x.y }\n",
    run = "status", code = 2, first = { "migrate.lua:2:", "nil" } },
  { "migrate.lua: error() at its top", files = ONE, settings = 'error("no settings for you")\n',
    run = "up", code = 2, first = { "migrate.lua:1:", "no settings for you" } },
  { "migrate.lua: returns a number", files = ONE, settings = "return 42\n",
    run = "up", code = 2, first = { "migrate.lua", "number" } },
  { "migrate.lua: returns nothing", files = ONE, settings = "return\n",
    run = "status", code = 2, first = { "migrate.lua", "nil" } },
  { "migrate.lua: returns an array", files = ONE, settings = 'return { "migrations" }\n',
    run = "status", code = 2, first = { "migrate.lua", "1" } },
  { "migrate.lua: an unknown key with a near miss", files = ONE, settings = 'return { tabel = "x" }\n',
    run = "up", code = 2, first = { "migrate.lua", '"tabel"', '"table"' } },
  { "migrate.lua: a tracking identity without its column", files = ONE,
    settings = 'return { tracking = { identity = "stem" } }\n',
    run = "up", code = 2, first = { 'tracking.identity = "stem"', "no column for stem" } },
  { "migrate.lua: an unknown key", files = ONE, settings = "return { frobnicate = true }\n",
    run = "validate", code = 2, first = { "migrate.lua", '"frobnicate"' } },
  { "migrate.lua: dir of the wrong type", files = ONE, settings = "return { dir = 5 }\n",
    run = "status", code = 2, first = { "migrate.lua", '"dir"', "number" } },
  { "migrate.lua: lock_wait a string", files = ONE, settings = 'return { lock_wait = "10s" }\n',
    run = "up", code = 2, first = { "migrate.lua", '"lock_wait"' } },
  { "migrate.lua: lock_wait negative", files = ONE, settings = "return { lock_wait = -5 }\n",
    run = "up", code = 2, first = { "migrate.lua", '"lock_wait"', "-5" } },
  { "migrate.lua: timeouts with an unknown key", files = ONE, settings = "return { timeouts = { lokc = 1 } }\n",
    run = "up", code = 2, first = { "migrate.lua", '"timeouts"', '"lokc"' } },
  { "migrate.lua: timeouts.lock not a duration", files = ONE, settings = 'return { timeouts = { lock = "forever" } }\n',
    run = "up", code = 2, first = { "migrate.lua", '"timeouts"', '"forever"' } },
  { "migrate.lua: out_of_order an unknown value", files = ONE, settings = 'return { out_of_order = "maybe" }\n',
    run = "up", code = 2, first = { "migrate.lua", '"out_of_order"', '"maybe"' } },
  { "migrate.lua: on_changed a boolean", files = ONE, settings = "return { on_changed = true }\n",
    run = "up", code = 2, first = { "migrate.lua", '"on_changed"', "boolean" } },
  { "migrate.lua: table not an identifier", files = ONE, settings = 'return { table = "x; drop table y" }\n',
    run = "up", code = 2, first = { "migrate.lua", '"table"' } },
  { "migrate.lua: the renamed lock_timeout", files = ONE, settings = "return { lock_timeout = 5 }\n",
    run = "up", code = 2, first = { "migrate.lua", '"lock_timeout"', '"lock_wait"' } },
  { "migrate.lua: tracking.columns an unknown field", files = ONE,
    settings = 'return { tracking = { columns = { verison = "v" } } }\n',
    run = "up", code = 2, first = { "migrate.lua", "tracking.columns", '"verison"' } },
  { "migrate.lua: targets empty", files = ONE, settings = "return { targets = {} }\n",
    run = "up", code = 2, first = { "migrate.lua", "targets" } },
  { "migrate.lua: a target without a name", files = ONE, settings = 'return { targets = { { dir = "migrations" } } }\n',
    run = "up", code = 2, first = { "migrate.lua", "targets[1]", "name" } },
  { "migrate.lua: layout an unknown value", files = ONE, settings = 'return { layout = "bogus" }\n',
    run = "new add_things", code = 2, first = { "migrate.lua", '"layout"', '"bogus"' },
    check = function(p) assert.is_nil(io.open(p:path("migrations/002_add_things.sql"))) end },
  { "migrate.lua: an unknown key in an environment not chosen", files = ONE,
    settings = 'return { environments = { production = { tabel = "x" } } }\n',
    run = "validate", code = 2, first = { "migrate.lua", "environments.production.tabel" } },
  { "--env naming no environment", files = ONE, settings = "return { environments = { production = {} } }\n",
    run = "status --env staging", code = 2, first = { '"staging"' } },
  { "migrate.lua: placeholders a string", files = ONE, settings = 'return { placeholders = "x" }\n',
    run = "up", code = 2, first = { "migrate.lua", '"placeholders"' } },
  { "migrate.lua: a hook of the wrong type", files = ONE, settings = "return { before_all = 5 }\n",
    run = "up", code = 2, first = { "migrate.lua", '"before_all"' } },
  { "migrate.lua: a directory", files = ONE, sh = "mkdir migrate.lua",
    run = "status", code = 2, first = { "migrate.lua" } },
  { "migrate.lua: a NUL byte", files = ONE, settings = 'return { table = "t1" }\n\0\n',
    run = "status", code = 2, first = { "migrate.lua" } },
  { "migrate.lua: a value that is not UTF-8", files = ONE, settings = 'return { table = "\xff\xfe" }\n',
    run = "status", code = 2, first = { "migrate.lua", '"table"' } },
  { "--config naming a missing file", files = ONE, run = "--config nope.lua status", code = 2, first = { "nope.lua" } },
  { "--config naming a directory", files = ONE, run = "--config migrations status", code = 2, first = { "migrations" } },
  { "migrate.lua: dir does not exist", files = ONE, settings = 'return { dir = "nope" }\n',
    run = "status", code = 2, first = { "nope" } },
  { "migrate.lua: dir is a file", files = ONE, settings = 'return { dir = "migrations/001_a.sql" }\n',
    run = "validate", code = 2, first = { "001_a.sql", "not a directory" } },

  -- database from migrate.lua (no DATABASE_URL)
  { "migrate.lua: a database function that raises", files = ONE, nodb = true,
    settings = 'return {\n  database = function() error("no db for you") end,\n}\n',
    run = "status", code = 2, first = { "migrate.lua:2:", "database", "no db for you" } },
  { "migrate.lua: a database function returning a number", files = ONE, nodb = true,
    settings = "return { database = function() return 42 end }\n",
    run = "status", code = 2, first = { "migrate.lua", "database", "number" } },
  { "migrate.lua: database a number", files = ONE, nodb = true, settings = "return { database = 5 }\n",
    run = "status", code = 2, first = { "migrate.lua", '"database"', "number" } },

  -- discover
  { "migrate.lua: a discover that raises", files = ONE,
    settings = 'return {\n  discover = function() error("disco") end,\n}\n',
    run = "status", code = 2, first = { "migrate.lua:2:", "disco" } },
  { "migrate.lua: a discover returning a number", files = ONE,
    settings = "return { discover = function() return 42 end }\n",
    run = "status", code = 2, first = { "discover" } },
  { "migrate.lua: a discover returning a migration without a file", files = ONE,
    settings = "return { discover = function() return { migrations = { { version = '001' } }, ignored = {} } end }\n",
    run = "status", code = 2, first = { "discover" } },
  { "migrate.lua: a discover returning a number as a migration", files = ONE,
    settings = "return { discover = function() return { migrations = { 5 }, ignored = {} } end }\n",
    run = "validate", code = 2, first = { "discover" } },
  { "migrate.lua: a discover returning ignored = 5", files = ONE,
    settings = "return { discover = function() return { migrations = {}, ignored = 5 } end }\n",
    run = "status", code = 2, first = { "discover" } },

  -- hooks (001 applied first, 002 pending)
  { "migrate.lua: a before_all hook that raises", files = ONE, pre = "up", after_pre = "printf '" .. B .. "' > migrations/002_b.sql",
    settings = 'local function has_002(ctx) for _, m in ipairs(ctx.pending) do if m.version == "002" then return true end end end\n'
      .. 'return {\n  before_all = function(ctx) if has_002(ctx) then error("hook boom") end end,\n}\n',
    run = "up", code = 1, first = { "migrate.lua:3:", "before_all", "hook boom" } },
  { "migrate.lua: a before_all hook that raises on a new database", files = TWO,
    settings = 'return {\n  before_all = function() error("hook boom") end,\n}\n',
    run = "up", code = 1, first = { "migrate.lua:2:", "before_all", "hook boom" } },
  { "migrate.lua: a before_each hook that raises", files = TWO,
    settings = 'return {\n  before_each = function(ctx) if ctx.migration.version == "002" then error("hook boom") end end,\n}\n',
    run = "up", code = 1, first = { "migrate.lua:2:", "before_each", "hook boom" },
    partial = { "001_a.sql" }, logged = { "failed 002_b.sql" } },
  { "migrate.lua: an after_each hook that raises", files = TWO,
    settings = 'return {\n  after_each = function(ctx) if ctx.migration.version == "002" then error("hook boom") end end,\n}\n',
    run = "up", code = 1, first = { "migrate.lua:2:", "after_each", "hook boom" },
    partial = { "001_a.sql" }, logged = { "failed 002_b.sql" } },
  { "migrate.lua: an after_all hook that raises", files = TWO,
    settings = 'return {\n  after_all = function() error("hook boom") end,\n}\n',
    run = "up", code = 1, first = { "migrate.lua:2:", "after_all", "hook boom" }, partial = { "001_a.sql", "002_b.sql" } },
  { "migrate.lua: an on_error hook that raises", files = merge(ONE, mig { ["002_bad.sql"] = "SELEC 1;\n" }),
    settings = 'return {\n  on_error = function() error("hook boom") end,\n}\n',
    run = "up", code = 1, first = { "on_error", "migrate.lua:2:", "hook boom" },
    partial = { "001_a.sql" }, logged = { "failed 002_bad.sql" } },
  { "migrate.lua: an on_error hook returning an unknown answer", files = merge(ONE, mig { ["002_bad.sql"] = "SELEC 1;\n" }),
    settings = 'return {\n  on_error = function() return "aplied" end,\n}\n',
    run = "up", code = 1, first = { "on_error", '"aplied"' },
    partial = { "001_a.sql" }, logged = { "failed 002_bad.sql" } },

  -- naming schemes
  { "migrate.lua: naming an unknown scheme", files = ONE, settings = 'return { naming = "bogus" }\n',
    run = "status", code = 2, first = { "naming", '"bogus"' } },
  { "migrate.lua: naming a number", files = ONE, settings = "return { naming = 7 }\n",
    run = "status", code = 2, first = { "migrate.lua", '"naming"', "number" } },
  { "migrate.lua: a naming scheme without parse", files = ONE, settings = "return { naming = { name = 'x' } }\n",
    run = "status", code = 2, first = { "naming", "parse" } },
  { "migrate.lua: a naming scheme whose parse raises", files = ONE,
    settings = "return { naming = { name = 'x',\n  parse = function() error('parse boom') end,\n  " .. NAMING_OK .. " } }\n",
    run = "status", code = 2, first = { "migrate.lua:2:", "parse boom" } },
  { "migrate.lua: a naming scheme whose parse returns a number", files = ONE,
    settings = "return { naming = { name = 'x',\n  parse = function() return 42 end,\n  " .. NAMING_OK .. " } }\n",
    run = "status", code = 2, first = { "parse" } },
  { "migrate.lua: a naming scheme whose parse returns a number as the version", files = ONE,
    settings = "return { naming = { name = 'x',\n  parse = function() return { version = 5, name = 'n' } end,\n  " .. NAMING_OK .. " } }\n",
    run = "up", code = 2, first = { "parse", "version" } },
  { "migrate.lua: a naming scheme whose compare raises", files = TWO,
    settings = "return { naming = { name = 'x', parse = function(s) return { version = s:sub(1, 3), name = 'n' } end,\n"
      .. "  next = function() return 'x' end,\n  compare = function() error('compare boom') end } }\n",
    run = "status", code = 2, first = { "migrate.lua:3:", "compare boom" } },
  { "migrate.lua: a naming scheme whose next returns a path", files = ONE,
    settings = "return { naming = { name = 'x', parse = function(s) return { version = s:sub(1, 3), name = 'n' } end,\n"
      .. "  compare = function(a, b) return a < b end, next = function() return '../../evil' end } }\n",
    run = "new thing", code = 2, first = { "next", "../../evil" },
    check = function(p) assert.is_nil(io.open(p.dir .. "/../evil.sql")) end },

  ------------------------------------------------------------ file names
  { "a .sql file not named NNN_name (validate)", files = merge(ONE, mig { ["abc.sql"] = B }),
    run = "validate", code = 3, first = { "abc.sql" } },
  { "a .sql file not named NNN_name (up: a warning)", files = merge(ONE, mig { ["abc.sql"] = B }),
    run = "up", code = 0, first = { "warning", "abc.sql" }, partial = { "001_a.sql" } },
  { "a space for the underscore", files = merge(ONE, mig { ["002 b.sql"] = B }),
    run = "validate", code = 3, first = { "002 b.sql" } },
  { "an unknown extension is listed as ignored", files = merge(ONE, mig { ["002_b.sqll"] = B }),
    run = "list", code = 0, line = { "002_b.sqll", "not a .sql or .lua file" } },
  { "two files of one version (validate)", files = merge(ONE, mig { ["01_b.sql"] = B }),
    run = "validate", code = 3, first = { "001_a.sql", "01_b.sql" } },
  { "two files of one version (up)", files = merge(ONE, mig { ["01_b.sql"] = B }),
    run = "up", code = 3, first = { "001_a.sql", "01_b.sql" } },
  { "a .sql and a .lua of one version", files = merge(ONE, mig { ["001_a.lua"] = "return { up = function() end }\n" }),
    run = "up", code = 3, first = { "001_a.lua", "001_a.sql" } },
  { "a file name that is not UTF-8 (validate)", files = merge(ONE, mig { ["002_caf\xe9.sql"] = B }),
    run = "validate", code = 3, first = { "002_caf", "UTF-8" } },
  { "a file name that is not UTF-8 (up: a warning)", files = merge(ONE, mig { ["002_caf\xe9.sql"] = B }),
    run = "up", code = 0, first = { "002_caf", "UTF-8" }, partial = { "001_a.sql" } },
  { "a down part without its up part", files = merge(ONE, mig { ["002_b.down.sql"] = "DROP TABLE b;\n" }),
    run = "validate", code = 3, first = { "002_b.down.sql" } },
  { "layout = pair and no down part", files = mig { ["001_a.up.sql"] = A }, settings = 'return { layout = "pair" }\n',
    run = "validate", code = 3, first = { "001_a.up.sql", "down" } },

  ------------------------------------------------------------ contents and encodings
  { "a file that is not UTF-8 (up)", files = merge(ONE, mig { ["002_latin1.sql"] = "CREATE TABLE b (t text DEFAULT 'caf\xe9');\n" }),
    run = "up", code = 3, first = { "002_latin1.sql:1:36", "not UTF-8" } },
  { "a file that is not UTF-8 (validate)", files = merge(ONE, mig { ["002_latin1.sql"] = "CREATE TABLE b (t text DEFAULT 'caf\xe9');\n" }),
    run = "validate", code = 3, first = { "002_latin1.sql" } },
  { "a byte-order mark is not part of the SQL", files = merge(ONE, mig { ["002_bom.sql"] = "\xef\xbb\xbf" .. B }),
    run = "up", code = 0, line = { "applied", "002_bom.sql" }, partial = { "001_a.sql", "002_bom.sql" } },
  { "a NUL byte (up)", files = merge(ONE, mig { ["002_nul.sql"] = B .. "\0\n" .. C }),
    run = "up", code = 3, first = { "002_nul.sql:2:1", "NUL byte" } },
  { "a NUL byte (validate)", files = merge(ONE, mig { ["002_nul.sql"] = B .. "\0\n" .. C }),
    run = "validate", code = 3, first = { "002_nul.sql:2", "NUL" } },
  { "an empty file", files = merge(ONE, mig { ["002_empty.sql"] = "" }),
    run = "validate", code = 3, first = { "002_empty.sql" } },
  { "a file of whitespace only", files = merge(ONE, mig { ["002_blank.sql"] = "  \n\t\n\n" }),
    run = "validate", code = 3, first = { "002_blank.sql" } },
  { "a 6 MB file with a syntax error on its last line (validate)", files = ONE,
    prep = function(p) p:write("migrations/002_huge.sql", huge_sql()) end,
    run = "validate", code = 3, first = { "002_huge.sql:60002" } },
  { "a 6 MB file with a syntax error on its last line (up)", files = ONE,
    prep = function(p) p:write("migrations/002_huge.sql", huge_sql()) end,
    run = "up", code = 1, first = { "002_huge.sql:60002" }, partial = { "001_a.sql" }, logged = { "failed 002_huge.sql" } },
  { "a 6 MB file over large_file, run in pieces, with a syntax error at its end", files = ONE,
    settings = "return { large_file = 1000000 }\n",
    prep = function(p) p:write("migrations/002_huge.sql", huge_sql()) end,
    run = "up", code = 1, first = { "002_huge.sql:60002" }, partial = { "001_a.sql" }, logged = { "failed 002_huge.sql" } },
  { "20,000 files and two of one version", prep = many_files, sh = "printf 'SELECT 1;\\n' > migrations/07_dup.sql",
    run = "validate", code = 3, first = { "00007_m.sql", "07_dup.sql" },
    check = function(p)
      local doc, code, err = p:json("status")
      assert.are.equal(0, code, err)
      assert.are.equal(20000, doc.totals.pending)
      assert.are.same({ "00007_m.sql", "07_dup.sql" }, doc.duplicates[1].files)
    end },

  ------------------------------------------------------------ applied, then gone or changed
  { "an applied file deleted (status)", files = TWO, pre = "up", after_pre = "rm migrations/002_b.sql",
    run = "status", code = 0, line = { "missing", "002_b.sql", "file not found" } },
  { "an applied file deleted (validate)", files = TWO, pre = "up", after_pre = "rm migrations/002_b.sql",
    run = "validate", code = 3, first = { "002_b.sql" } },
  { "an applied file deleted (up)", files = TWO, pre = "up", after_pre = "rm migrations/002_b.sql",
    run = "up", code = 0, first = { "warning", "002_b.sql" } },
  { "an applied file deleted (down)", files = TWO, pre = "up", after_pre = "rm migrations/002_b.sql",
    run = "down", code = 3, first = { "002_b.sql" }, line = { "cannot revert 002_b.sql", "missing" } },
  { "an applied file edited (up)", files = TWO, pre = "up", after_pre = "echo '-- edited' >> migrations/001_a.sql",
    run = "up", code = 3, first = { "001_a.sql", "changed" } },
  { "a pending file older than the newest applied one", files = ONE, pre = "up",
    after_pre = "printf '" .. C .. "' > migrations/000_c.sql",
    run = "up", code = 3, first = { "000_c.sql" } },

  ------------------------------------------------------------ symlinks and permissions
  { "a dangling symlink (validate)", files = ONE, sh = "ln -s nowhere.sql migrations/002_dangling.sql",
    run = "validate", code = 3, first = { "002_dangling.sql" } },
  { "a dangling symlink (up)", files = ONE, sh = "ln -s nowhere.sql migrations/002_dangling.sql",
    run = "up", code = 3, first = { "002_dangling.sql" } },
  { "a symlink loop", files = ONE, sh = "ln -s 002_loop.sql migrations/002_loop.sql",
    run = "validate", code = 3, first = { "002_loop.sql" } },
  { "a symlink to a directory", files = ONE, sh = "mkdir elsewhere && ln -s ../elsewhere migrations/002_dir.sql",
    run = "validate", code = 3, first = { "002_dir.sql" } },
  { "a file no one may read", files = merge(ONE, mig { ["002_secret.sql"] = B }), sh = "chmod 000 migrations/002_secret.sql",
    as_root = false, run = "validate", code = 3, first = { "002_secret.sql", "ermission denied" } },

  ------------------------------------------------------------ the database
  { "a closed port on 127.0.0.1", files = ONE, run = "status -d " .. q("postgresql://app:" .. SECRET .. "@127.0.0.1:1/app"),
    code = 5, first = { "127.0.0.1", "port 1" } },
  { "a socket directory that does not exist", files = ONE,
    run = "up -d " .. q("postgresql:///app?host=/nonexistent/lumi-sock&user=app&password=" .. SECRET),
    code = 5, first = { "/nonexistent/lumi-sock" } },
  { "a database that does not exist", files = ONE,
    run = function(p) return "status -d " .. q(with_dbname(p.url, "lumi_no_such_db")) end,
    code = 5, first = { '"lumi_no_such_db"' } },
  { "a role that does not exist", files = ONE,
    run = function(p) return "up -d " .. q(as_user(p.url, "lumi_no_such_role")) end,
    code = 5, first = { '"lumi_no_such_role"' } },
  { "a wrong password", files = ONE,
    run = function() return "status -d " .. q("postgresql://app:" .. SECRET .. "@127.0.0.1:" .. fake_port() .. "/app") end,
    code = 5, first = { "password authentication failed" } },
  { "a wrong password in PGPASSWORD", files = ONE, env = { PGPASSWORD = SECRET },
    run = function() return "up -d " .. q("postgresql://app@127.0.0.1:" .. fake_port() .. "/app") end,
    code = 5, first = { "password authentication failed" } },
  { "sslmode=require against a server without TLS", files = ONE,
    run = function() return "status -d " .. q("postgresql://app:" .. SECRET .. "@127.0.0.1:" .. fake_port() .. "/app?sslmode=require") end,
    code = 5, first = { "SSL" } },
  { "an unencoded @ in the URL's password", files = ONE, run = "status -d " .. q("postgresql://app:" .. SECRET .. "@x@127.0.0.1:1/app"),
    code = 2, first = { "@", "percent-encode" } },
  { "a URL of another database's scheme", files = ONE, run = "status -d " .. q("mysql://app@127.0.0.1:1/app"),
    code = 2, first = { "mysql" } },
  { "a conninfo with an unknown option", files = ONE,
    run = function(p) return "status -d " .. q("dbname=" .. p.name .. " bogusopt=1") end,
    code = 2, first = { '"bogusopt"' } },

  ------------------------------------------------------------ tracking tables of another shape
  { "schema_migrations of another tool (up)", files = ONE, sql = "CREATE TABLE schema_migrations (id serial, foo text)",
    run = "up", code = 2, first = { "schema_migrations", "shape" } },
  { "schema_migrations of another tool (status)", files = ONE, sql = "CREATE TABLE schema_migrations (id serial, foo text)",
    run = "status", code = 2, first = { "schema_migrations", "shape" } },
  { "schema_migrations with an integer version and a row", files = ONE,
    sql = "CREATE TABLE schema_migrations (version int PRIMARY KEY); INSERT INTO schema_migrations VALUES (1)",
    run = "up", code = 2, first = { "schema_migrations", "shape" } },
  { "schema_migrations without a state column", files = ONE,
    sql = "CREATE TABLE schema_migrations (version text PRIMARY KEY, name text, file text, checksum text, "
      .. "applied_at timestamptz DEFAULT now(), execution_ms numeric, applied_by text DEFAULT current_user)",
    run = "up", code = 2, first = { "schema_migrations", '"state"' } },
  { "schema_migrations with columns of the wrong types", files = ONE,
    sql = "CREATE TABLE schema_migrations (version text PRIMARY KEY, name text, file text, checksum int, applied_at text, "
      .. "execution_ms text, applied_by text, state text, error text)",
    run = "up", code = 2, first = { "schema_migrations", "shape" } },
  { "schema_migrations a view", files = ONE, sql = "CREATE VIEW schema_migrations AS SELECT 1 AS x",
    run = "up", code = 2, first = { "schema_migrations" } },
  { "schema_migrations_log of another tool", files = ONE, sql = "CREATE TABLE schema_migrations_log (id int, what text)",
    run = "up", code = 2, first = { "schema_migrations_log" } },

  ------------------------------------------------------------ privileges
  { "a role without CREATE on the schema (up)", files = ONE, role = true,
    run = function(p, ctx) return "up -d " .. q(as_user(p.url, ctx.role)) end,
    code = 1, first = { "permission denied", "schema public" } },
  { "a role that may not read the tracking table (status)", files = ONE, role = true, pre = "up",
    run = function(p, ctx) return "status -d " .. q(as_user(p.url, ctx.role)) end,
    code = 1, first = { "permission denied", "schema_migrations" } },
  { "a role that may read but not create (up)", files = ONE, role = true, pre = "up",
    after_pre = "printf '" .. B .. "' > migrations/002_b.sql",
    sql = "GRANT SELECT ON schema_migrations, schema_migrations_log TO {role}",
    run = function(p, ctx) return "up -d " .. q(as_user(p.url, ctx.role)) end,
    code = 1, first = { "002_b.sql", "permission denied" } },

  ------------------------------------------------------------ lumi new
  { "new without a name", files = ONE, run = "new", code = 2, first = { "NAME" } },
  { "new with an empty name", files = ONE, run = "new ''", code = 2, first = { '""' } },
  { "new with a name of punctuation only", files = ONE, run = "new '!!!'", code = 2, first = { '"!!!"' } },
  { "new --lua with an empty name", files = ONE, run = "new --lua ''", code = 2, first = { '""' } },
  { "new with a relative path for a name", files = ONE, run = "new ../../etc/passwd", code = 0,
    stream = "out", first = { "migrations/002_etc_passwd.sql" },
    check = function(p)
      local out = h.sh("cd " .. q(p.dir) .. " && find . -type f | sort")
      assert.are.equal("./migrations/001_a.sql\n./migrations/002_etc_passwd.sql\n", out)
      assert.is_nil(io.open(p.dir .. "/../../etc/passwd.sql"))
    end },
  { "new with an absolute path for a name", files = ONE, run = "new /tmp/lumi_abs", code = 0,
    stream = "out", first = { "migrations/002_tmp_lumi_abs.sql" },
    check = function() assert.is_nil(io.open("/tmp/lumi_abs.sql")) end },
  { "new when migrations is a file", settings = "return {}\n", sh = "printf x > migrations",
    run = "new things", code = 2, first = { "migrations" } },
  { "new with an unknown option", files = ONE, run = "new --layout bogus things", code = 2, first = { "--layout" } },

  ------------------------------------------------------------ the command line
  { "an unknown command", files = ONE, run = "bogus", code = 2, first = { '"bogus"' } },
  { "an unknown option", files = ONE, run = "up --bogus", code = 2, first = { "--bogus" } },
  { "an option without its value", files = ONE, run = "up --to", code = 2, first = { "--to" } },
  { "--lock-wait not a number", files = ONE, run = "--lock-wait abc up", code = 2, first = { "--lock-wait" } },
  { "--dir naming no directory", files = ONE, run = "--dir nope status", code = 2, first = { "nope" } },
  { "--table not an identifier", files = ONE, run = "--table 'a b' up", code = 2, first = { "a b" } },
  { "an argument too many", files = ONE, run = "status extra", code = 2, first = { '"extra"' } },
  { "up --to an unknown version", files = TWO, run = "up --to 999", code = 2, first = { "999" } },
  { "down --to an unknown version", files = TWO, pre = "up", run = "down --to 999", code = 2, first = { "999" } },
  { "down 0", files = TWO, pre = "up", run = "down 0", code = 2, first = { "down" } },
  { "down with nothing applied", files = TWO, run = "down", code = 0, stream = "out", first = { "Nothing to revert" } },
  { "mark an unknown version", files = TWO, run = "mark 999", code = 2, first = { '"999"' } },
  { "unmark a pending migration", files = TWO, pre = "up --to 001", run = "unmark 002", code = 2, first = { "002_b.sql" } },
  { "baseline an unknown version", files = TWO, run = "baseline 999", code = 2, first = { "999" } },
  { "fresh without --force off a terminal", files = TWO, pre = "up", run = "fresh", code = 2, first = { "--force" } },
  { "fresh on a protected target", files = TWO, pre = "up", settings = "return { protected = true }\n",
    run = "fresh --force", code = 2, first = { "protected" } },
  { "log -n not a number", files = TWO, pre = "up", run = "log -n abc", code = 2, first = { '"abc"' } },

  ------------------------------------------------------------ Lua migrations
  { "a Lua migration with a syntax error (validate)", files = merge(ONE, mig { ["002_syn.lua"] = "return {\n  up = function(ctx)\n" }),
    run = "validate", code = 3, first = { "002_syn.lua:3:" } },
  { "a Lua migration with a syntax error (up: nothing runs)",
    files = merge(ONE, mig { ["002_syn.lua"] = "return {\n  up = function(ctx)\n" }),
    run = "up", code = 3, first = { "002_syn.lua:3:" } },
  { "a Lua migration that raises while loading", files = merge(ONE, mig { ["002_err.lua"] = 'error("load boom")\n' }),
    run = "up", code = 3, first = { "002_err.lua:1:", "load boom" } },
  { "a Lua migration without up", files = merge(ONE, mig { ["002_noup.lua"] = "return { down = function() end }\n" }),
    run = "validate", code = 3, first = { "002_noup.lua", "up" } },
  { "a Lua migration returning a number", files = merge(ONE, mig { ["002_num.lua"] = "return 5\n" }),
    run = "validate", code = 3, first = { "002_num.lua", "number" } },
  { "a Lua migration whose up raises", files = merge(ONE, mig {
      ["002_rt.lua"] = 'return { up = function(ctx)\n  ctx.db:exec("CREATE TABLE l (i int)")\n  error("runtime boom")\nend }\n' }),
    run = "up", code = 1, first = { "002_rt.lua:3:", "runtime boom" }, partial = { "001_a.sql" }, logged = { "failed 002_rt.lua" } },

  ------------------------------------------------------------ directives and placeholders
  { "a directive misspelt (validate)", files = merge(ONE, mig { ["002_d.sql"] = "-- lumi: no_transaction\n" .. B }),
    run = "validate", code = 3, first = { "002_d.sql:1", "no_transaction" } },
  { "a directive misspelt (up: a warning)", files = merge(ONE, mig { ["002_d.sql"] = "-- lumi: no_transaction\n" .. B }),
    run = "up", code = 0, first = { "warning", "002_d.sql:1", "no_transaction" }, partial = { "001_a.sql", "002_d.sql" } },
  { "a directive with a value that is not a duration", files = merge(ONE, mig { ["002_d.sql"] = "-- lumi: lock-timeout banana\n" .. B }),
    run = "validate", code = 3, first = { "002_d.sql:1", "banana" } },
  { "a placeholder without a value (up: nothing runs)", settings = 'return { placeholders = { other = "x" } }\n',
    files = merge(ONE, mig { ["002_p.sql"] = B .. "GRANT SELECT ON b TO ${app_role};\n" }),
    run = "up", code = 2, first = { "002_p.sql:2", "${app_role}" } },
  { "a placeholder without a value (validate)", settings = 'return { placeholders = { other = "x" } }\n',
    files = merge(ONE, mig { ["002_p.sql"] = B .. "GRANT SELECT ON b TO ${app_role};\n" }),
    run = "validate", code = 3, first = { "002_p.sql:2", "${app_role}" } },

  ------------------------------------------------------------ SQL that fails
  { "a SQL syntax error (up: those before it applied)", files = merge(TWO, mig { ["003_bad.sql"] = C .. "SELEC 1;\n" }),
    run = "up", code = 1, first = { "003_bad.sql:2:1" }, partial = { "001_a.sql", "002_b.sql" }, logged = { "failed 003_bad.sql" } },
  { "a SQL syntax error (validate)", files = merge(TWO, mig { ["003_bad.sql"] = C .. "SELEC 1;\n" }),
    run = "validate", code = 3, first = { "003_bad.sql:2:1" } },
  { "SQL on a table that does not exist", files = merge(ONE, mig { ["002_b.sql"] = B .. "INSERT INTO nope VALUES (1);\n" }),
    run = "up", code = 1, first = { "002_b.sql:2:", '"nope"' }, partial = { "001_a.sql" }, logged = { "failed 002_b.sql" } },
}

---------------------------------------------------------------- the runner

-- A database per case, created ahead: while a case runs, the server
-- already creates the databases of the next ones (CREATE DATABASE costs more
-- than most cases), and a case's database is dropped while the next case
-- runs. Every one is dropped, whatever happens to its case.
local AHEAD = 3
local pool = { ready = {} }          -- {conn, name} of the CREATE DATABASE in flight, oldest first

local function db_name()
  return string.format("bad_%d_%d", os.time(), math.random(1, 1e9))
end

local function take_db()
  while #pool.ready < AHEAD do
    local conn, name = assert(pg.connect(h.url)), db_name()
    conn:send("CREATE DATABASE " .. name)
    pool.ready[#pool.ready + 1] = { conn = conn, name = name }
  end
  local slot = table.remove(pool.ready, 1)
  local name = slot.name
  if not slot.conn:receive() then        -- it failed: once more, and say why if it fails again
    name = db_name()
    assert(slot.conn:exec("CREATE DATABASE " .. name))
  end
  slot.name = db_name()
  slot.conn:send("CREATE DATABASE " .. slot.name)
  pool.ready[#pool.ready + 1] = slot
  return name
end

local function drop_db(name)
  pool.dropper = pool.dropper or assert(pg.connect(h.url))
  if pool.dropping then pool.dropper:receive() end
  pool.dropper:send("DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)")
  pool.dropping = name
end

-- wait for the last DROP DATABASE (a role is dropped only after its database)
local function dropped()
  if pool.dropping then
    local ok, err = pool.dropper:receive()
    pool.dropping = nil
    assert(ok, err)
  end
end

local function close_pool()
  for _, slot in ipairs(pool.ready) do
    slot.conn:receive()
    slot.conn:exec("DROP DATABASE IF EXISTS " .. slot.name .. " WITH (FORCE)")
    slot.conn:close()
  end
  pool.ready = {}
  if pool.dropping then pool.dropper:receive() pool.dropping = nil end
  if pool.dropper then pool.dropper:close() pool.dropper = nil end
end

--- fn(p) with a project of `files` (and migrate.lua `settings`) and a
--- database of its own, dropped afterwards: p as h.with_project gives it.
local function with_project(files, settings, fn)
  local name = take_db()
  local ok, err = pcall(function()
    local p = { dir = h.project(files), url = h.url_for(name), name = name }
    if settings then h.write(p.dir .. "/migrate.lua", settings) end
    function p:lumi(args, env)
      local e = { DATABASE_URL = self.url }
      for k, v in pairs(env or {}) do e[k] = v end
      return h.lumi(self.dir, args, e)
    end
    function p:json(args, env)
      local out, err2, code = self:lumi(args .. " --json", env)
      local decoded, doc = pcall(cjson.decode, out)
      assert(decoded, "lumi " .. args .. " --json printed no JSON document (exit " .. tostring(code) .. "):\n" .. out .. err2)
      return doc, code, err2
    end
    function p:path(rel) return self.dir .. "/" .. rel end
    function p:write(rel, contents) h.write(self:path(rel), contents) end
    fn(p)
  end)
  drop_db(name)
  if not ok then error(err, 0) end
end

--- the database as a good run of only `c.partial` leaves it
local function reference(c)
  local files = {}
  for _, f in ipairs(c.partial) do
    files["migrations/" .. f] = assert(c.files["migrations/" .. f], "partial names a file the case has not: " .. f)
  end
  local ref
  with_project(files, c.ref_settings, function(r)
    local out, err, code = r:lumi("up")
    assert(code == 0, "the reference run failed:\n" .. out .. err)
    local conn <close> = assert(pg.connect(r.url))
    ref = snapshot(conn, c.table)
  end)
  return ref
end

local function run_case(c)
  local ctx = {}
  if c.role then
    ctx.role = db_name():gsub("^bad_", "bad_role_")
    h.with_conn(h.url, function(conn) assert(conn:exec("CREATE ROLE " .. ctx.role .. " LOGIN")) end)
  end
  local ok, e = pcall(with_project, c.files or {}, c.settings, function(p)
    if c.prep then c.prep(p, ctx) end
    if c.sh then shell(p, c.sh) end
    for _, args in ipairs(list(c.pre)) do
      local out, err, code = p:lumi(args)
      assert(code == 0, "the good run `lumi " .. args .. "` failed (" .. tostring(code) .. "):\n" .. out .. err)
    end
    if c.after_pre then shell(p, c.after_pre) end
    local conn <close> = assert(pg.connect(p.url))
    if c.sql then assert(conn:exec((c.sql:gsub("{role}", ctx.role or "")))) end

    local before = snapshot(conn, c.table)
    local args = type(c.run) == "function" and c.run(p, ctx) or c.run
    local out, err, code
    if c.nodb then out, err, code = h.lumi(p.dir, args, c.env or {}) else out, err, code = p:lumi(args, c.env) end
    local all = out .. err
    local context = "lumi " .. args .. " -> exit " .. tostring(code) .. "\n--- stderr:\n" .. err .. "--- stdout:\n"
      .. (#out > 3000 and out:sub(1, 3000) .. "..." or out)

    -- 1. the exit status
    assert(code == c.code, "expected exit " .. c.code .. ", got " .. tostring(code) .. "\n" .. context)
    -- 2. what it says, first
    local text = c.stream == "out" and out or (err:match("%S") and err or out)
    local first = first_line(text)
    for _, s in ipairs(list(c.first)) do
      assert(first:find(s, 1, true), "the first line does not name " .. s .. ":\n  " .. first .. "\n" .. context)
    end
    if c.line then
      local found = false
      for l in all:gmatch("[^\n]+") do
        local all_in = true
        for _, s in ipairs(list(c.line)) do all_in = all_in and l:find(s, 1, true) ~= nil end
        found = found or all_in
      end
      assert(found, "no line names " .. table.concat(list(c.line), " and ") .. "\n" .. context)
    end
    assert(not all:find("stack traceback", 1, true), "a Lua traceback\n" .. context)
    assert(not first:find("lua/lumi/", 1, true), "the first line names lumi's own source, not the input:\n  " .. first .. "\n" .. context)
    assert(not all:find(SECRET, 1, true), "the password shows\n" .. context)
    -- 3. the database
    local after = snapshot(conn, c.table)
    if c.partial then
      assert_like_reference(reference(c), c, after, context)
    else
      assert_unchanged(before, after, c.logged, context)
    end
    if c.check then c.check(p, out, err, ctx) end
  end)
  if ctx.role then
    local cleaned, why = pcall(function()
      dropped()
      h.with_conn(h.url, function(conn) assert(conn:exec("DROP ROLE IF EXISTS " .. ctx.role)) end)
    end)
    if not cleaned then
      e, ok = (ok and "" or tostring(e) .. "\n") .. "could not drop role " .. ctx.role .. ": " .. tostring(why), false
    end
  end
  if not ok then error(e, 0) end
end

describe("bad input (table-driven)", function()
  local root = h.sh("id -u") == "0\n"

  lazy_teardown(function()
    close_pool()
    if fake.pid then h.sh("kill " .. fake.pid) end
  end)

  for _, c in ipairs(cases) do
    if c.as_root == false and root then
      pending(c[1] .. " (runs as root: permissions do not stop root)")
    else
      it(c[1], function() run_case(c) end)
    end
  end
end)

-- keep the table honest: every case names an exit status and what to look for
describe("bad input: the table", function()
  it("has at least 65 cases, each with an exit status and an expectation", function()
    assert.is_true(#cases >= 65, #cases .. " cases")
    for _, c in ipairs(cases) do
      assert(type(c[1]) == "string" and c.code and c.run, "a case without a name, a command or an exit status")
      assert(c.first or c.line, c[1] .. ": nothing to look for in the output")
    end
  end)
end)
