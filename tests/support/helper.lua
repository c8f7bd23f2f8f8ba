--- Test helpers: throwaway databases on the suite's PostgreSQL, temporary
--- project directories, and running the lumi binary the way a user does.
local pg = require "lumi.pg"

local M = {}

M.root = os.getenv("LUMI_ROOT") or "."
M.bin = os.getenv("LUMI_BIN") or (M.root .. "/lumi")
M.url = assert(os.getenv("LUMI_TEST_URL"), "LUMI_TEST_URL is not set: run the specs through tests/run")
M.tmp = os.getenv("LUMI_TMP") or "/tmp"

local counter = 0

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.q = sh_quote

--- Run a shell command; returns stdout, stderr, exit code.
function M.sh(cmd)
  counter = counter + 1
  -- unique even when two suites run at once in the same tests/.tmp
  local errf = string.format("%s/stderr.%d.%d.%d", M.tmp, os.time(), math.random(1, 1e9), counter)
  -- under `make test-sanitize` the suite's own process preloads the
  -- sanitizer runtime; the tools it starts (psql, the sanitized lumi) must not
  local p = assert(io.popen("unset LD_PRELOAD; " .. cmd .. " 2>" .. sh_quote(errf), "r"))
  local out = p:read("a")
  local _, _, code = p:close()
  local f = io.open(errf, "rb")
  local err = f and f:read("a") or ""
  if f then f:close() end
  os.remove(errf)
  return out, err, code
end

--- URL of database `name` on the test server.
function M.url_for(name)
  return (M.url:gsub("^postgresql:///[^?]*", "postgresql:///" .. name))
end

--- Create a fresh, empty database; returns its URL and name.
function M.fresh_db()
  counter = counter + 1
  local name = string.format("t_%d_%d_%d", os.time(), math.random(1, 1e6), counter)
  local c = assert(pg.connect(M.url))
  assert(c:exec("CREATE DATABASE " .. name))
  c:close()
  return M.url_for(name), name
end

--- Drop database `name` on the test server (connections to it ended first).
function M.drop_db(name)
  local c <close> = assert(pg.connect(M.url))
  assert(c:exec("DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)"))
end

--- A project and a database of its own: the spec helper every end-to-end
--- spec starts from. `files` is {relative path = contents}; `settings` is
--- the text of a migrate.lua (optional). Returns p with
---   p.dir, p.url, p.name
---   p:lumi(args [, env]) -> stdout, stderr, exit code (DATABASE_URL set)
---   p:json(args [, env]) -> the JSON document lumi printed, exit code, stderr
---   p:background(args) -> job; job:wait([limit]) -> exit code, stdout, stderr
---   p:write(rel, contents), p:read(rel), p:path(rel)
---   p:value(sql, ...), p:query(sql, ...)
---   p:drop()           drop the database (with_project does it for you)
function M.scratch(files, settings)
  local url, name = M.fresh_db()
  local p = { dir = M.project(files), url = url, name = name }
  if settings then M.write(p.dir .. "/migrate.lua", settings) end
  function p:lumi(args, env)
    local e = { DATABASE_URL = self.url }
    for k, v in pairs(env or {}) do e[k] = v end
    return M.lumi(self.dir, args, e)
  end
  function p:json(args, env)
    local out, err, code = self:lumi(args .. " --json", env)
    local ok, doc = pcall(require("cjson").decode, out)
    assert(ok, "lumi " .. args .. " --json printed no JSON document (exit " .. tostring(code) .. "):\n" .. out .. err)
    return doc, code, err
  end
  function p:background(args)
    local tag = string.format("bg.%d.%d", os.time(), math.random(1, 1e9))
    local code_f, out_f, err_f = self:path(tag .. ".code"), self:path(tag .. ".out"), self:path(tag .. ".err")
    -- the group's own output goes nowhere: popen must not wait for it
    M.sh("cd " .. sh_quote(self.dir) .. " && ( env DATABASE_URL=" .. sh_quote(self.url) .. " " .. sh_quote(M.bin)
      .. " " .. args .. " >" .. sh_quote(out_f) .. " 2>" .. sh_quote(err_f) .. "; echo $? >" .. sh_quote(code_f .. ".tmp")
      .. "; mv " .. sh_quote(code_f .. ".tmp") .. " " .. sh_quote(code_f) .. " ) </dev/null >/dev/null 2>&1 &")
    local job = {}
    function job.wait(_, limit)
      local clock = require "lumi.clock"
      local deadline = clock.now() + (limit or 60)
      while clock.now() <= deadline do
        local f = io.open(code_f, "rb")
        if f then
          local code = tonumber(f:read("a"))
          f:close()
          return code, M.read(out_f), M.read(err_f)
        end
        clock.sleep(0.05)
      end
      error("lumi " .. args .. " did not finish within " .. tostring(limit or 60) .. " s")
    end
    return job
  end
  function p:path(rel) return self.dir .. "/" .. rel end
  function p:write(rel, contents) M.write(self:path(rel), contents) end
  function p:read(rel) return M.read(self:path(rel)) end
  function p:value(sql, ...) return M.value(self.url, sql, ...) end
  function p:query(sql, ...) return M.query(self.url, sql, ...) end
  function p:drop() M.drop_db(self.name) end
  return p
end

--- Run fn(p) with a scratch project and database (M.scratch), dropping the
--- database afterwards whether fn succeeds or fails.
function M.with_project(files, settings, fn)
  if fn == nil and type(settings) == "function" then settings, fn = nil, settings end
  local p = M.scratch(files, settings)
  local ok, err = pcall(fn, p)
  pcall(p.drop, p)
  if not ok then error(err, 0) end
end

--- Connect to a URL (raises on failure).
function M.connect(url)
  return assert(pg.connect(url))
end

--- A fresh temporary directory.
function M.tmpdir()
  local out = M.sh("mktemp -d " .. sh_quote(M.tmp .. "/proj.XXXXXX"))
  return (out:gsub("%s+$", ""))
end

function M.write(path, contents)
  local dir = path:match("^(.*)/[^/]*$")
  if dir then os.execute("mkdir -p " .. sh_quote(dir)) end
  local f = assert(io.open(path, "wb"))
  f:write(contents)
  f:close()
end

function M.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

--- The files under dir as {relative path = contents} (a fixture tree),
--- without those `skip(rel)` says to leave out.
function M.tree(dir, skip)
  local out = {}
  for rel in M.sh("cd " .. sh_quote(dir) .. " && find . -type f | sed 's|^\\./||'"):gmatch("[^\n]+") do
    if not (skip and skip(rel)) then out[rel] = M.read(dir .. "/" .. rel) end
  end
  return out
end

--- A project directory with files {relative path = contents}.
function M.project(files)
  local dir = M.tmpdir()
  for rel, contents in pairs(files or {}) do M.write(dir .. "/" .. rel, contents) end
  return dir
end

--- Run lumi in dir with arguments (a string, shell-quoted by the caller) and
--- extra environment {NAME=value}. Returns stdout, stderr, exit code.
function M.lumi(dir, args, env)
  local parts = {}
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. sh_quote(v) end
  return M.sh("cd " .. sh_quote(dir) .. " && env " .. table.concat(parts, " ") .. " "
    .. sh_quote(M.bin) .. " " .. (args or ""))
end

--- Run `lumi args --json` in dir (as M.lumi) and decode what it printed:
--- returns the JSON document, the exit code, stderr and stdout. Raises when
--- stdout is not one JSON document.
function M.json(dir, args, env)
  local out, err, code = M.lumi(dir, (args or "") .. " --json", env)
  local ok, doc = pcall(require("cjson").decode, out)
  assert(ok, "lumi " .. tostring(args) .. " --json printed no JSON document (exit " .. tostring(code) .. "):\n" .. out .. err)
  return doc, code, err, out
end

--- The `file` of each element of a list of a JSON document (`applied`,
--- `reverted`, `entries`, `migrations`, ...), in the document's order.
function M.files(list)
  assert(type(list) == "table", "expected a list of the JSON document, got " .. tostring(list))
  local out = {}
  for i, e in ipairs(list) do out[i] = e.file end
  return out
end

--- {file = state} of the entries of a `status --json` document.
function M.states(doc)
  assert(type(doc.entries) == "table", "expected a status document with entries")
  local out = {}
  for _, e in ipairs(doc.entries) do out[e.file] = e.state end
  return out
end

--- The entry of a `status --json` document whose file is `file`.
function M.entry(doc, file)
  for _, e in ipairs(doc.entries or {}) do
    if e.file == file then return e end
  end
end

--- sha256sum of a file, as the coreutils tool computes it.
function M.sha256sum(path)
  local out = M.sh("sha256sum " .. sh_quote(path))
  return out:match("^(%x+)")
end

--- Run fn(conn) on a new connection to url, closed afterwards; returns fn's results.
function M.with_conn(url, fn)
  local c <close> = M.connect(url)
  return fn(c)
end

--- Rows of one query on url (raises on a database error).
function M.query(url, sql, ...)
  local args = table.pack(...)
  return M.with_conn(url, function(c)
    return assert(c:query(sql, table.unpack(args, 1, args.n)))
  end)
end

--- First column of the first row of one query on url, or nil when no row.
function M.value(url, sql, ...)
  local rows = M.query(url, sql, ...)
  local r = rows[1]
  return r and r[rows.columns[1]]
end

--- Does relation `name` ("t" or "schema.t") exist in the database at url?
function M.table_exists(url, name)
  return M.value(url, "SELECT to_regclass($1) IS NOT NULL", name)
end

--- Versions recorded in a tracking table, in version order.
function M.versions(url, tbl)
  local out = {}
  for _, r in ipairs(M.query(url, "SELECT version FROM " .. (tbl or "schema_migrations") .. " ORDER BY version")) do
    out[#out + 1] = r.version
  end
  return out
end

--- Does `s` contain `needle` as plain text?
function M.has(s, needle)
  return s ~= nil and s:find(needle, 1, true) ~= nil
end

--- The schema of the database at url as `pg_dump --schema-only --no-owner`
--- prints it, without lumi's own tracking tables (the state table and its
--- event log, `tables` to name others) and without what changes from one
--- dump to the next (comments, blank lines, \restrict keys).
function M.schema_dump(url, tables)
  local excluded = {}
  for _, t in ipairs(tables or { "schema_migrations", "schema_migrations_log" }) do
    excluded[#excluded + 1] = "--exclude-table=" .. sh_quote(t)
  end
  local out, err, code = M.sh("pg_dump --schema-only --no-owner --no-privileges " .. table.concat(excluded, " ")
    .. " -d " .. sh_quote(url))
  assert(code == 0, "pg_dump failed: " .. err)
  local lines = {}
  for line in out:gmatch("[^\n]*") do
    if line ~= "" and not line:match("^%-%-") and not line:match("^\\u?n?restrict") then
      lines[#lines + 1] = line
    end
  end
  return table.concat(lines, "\n")
end

--- Run psql on url with a command; returns stdout (unaligned, tuples only),
--- stderr, exit code.
function M.psql(url, sql)
  return M.sh("psql -X -q -At -v ON_ERROR_STOP=1 -d " .. sh_quote(url) .. " -c " .. sh_quote(sql))
end

--- Event names of the log table, oldest first (optionally only `file`'s).
function M.events(url, tbl)
  local out = {}
  for _, r in ipairs(M.query(url, "SELECT event FROM " .. (tbl or "schema_migrations_log") .. " ORDER BY id")) do
    out[#out + 1] = r.event
  end
  return out
end

--- Does a column `column` of table `tbl` exist in the database at url?
function M.column_exists(url, tbl, column)
  return M.value(url, "SELECT count(*)::int FROM information_schema.columns WHERE table_name = $1 AND column_name = $2",
    tbl, column) == 1
end

--- Three small migrations: users, posts, a column on users.
function M.three_files()
  return {
    ["migrations/001_create_users.sql"] = "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL);\n",
    ["migrations/002_create_posts.sql"] = "CREATE TABLE posts (id bigserial PRIMARY KEY, user_id bigint REFERENCES users);\n"
      .. "CREATE INDEX posts_user ON posts (user_id);\n",
    ["migrations/003_add_name.sql"] = "ALTER TABLE users ADD COLUMN name text;\n",
  }
end

--- Run lumi in dir on a pseudo-terminal (script(1)), as on a user's
--- terminal: stdin, stdout and stderr are the terminal, and `input` (if
--- any) is what the user types. Returns the terminal's output (stdout and
--- stderr together, "\r\n" turned into "\n") and the exit code.
function M.lumi_tty(dir, args, env, input)
  local parts = { "TERM=xterm" }
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. sh_quote(v) end
  local inner = sh_quote(M.bin) .. " " .. (args or "")
  -- /bin/sh is dash: printf into a pipe, no here-strings
  local out, err, code = M.sh("cd " .. sh_quote(dir) .. " && printf '%s' " .. sh_quote(input or "")
    .. " | env " .. table.concat(parts, " ") .. " script -qec " .. sh_quote(inner) .. " /dev/null")
  return (out:gsub("\r\n", "\n")), err, code
end

--- LUA_PATH and LUA_CPATH with which stock lua5.4 finds lumi in this checkout.
function M.lua_env()
  local root, build = M.root, os.getenv("LUMI_BUILD") or "build"
  return {
    LUA_PATH = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/deps/share/lua/5.4/?.lua;"
      .. root .. "/deps/share/lua/5.4/?/init.lua;;",
    LUA_CPATH = root .. "/" .. build .. "/?.so;" .. root .. "/deps/lib/lua/5.4/?.so;;",
  }
end

--- Run a Lua program (its text) with stock lua5.4, lumi on its paths and
--- extra environment {NAME=value}, in directory cwd (default: a new empty
--- one). Returns stdout, stderr, exit code.
function M.lua54(program, env, cwd)
  local path = M.tmpdir() .. "/program.lua"
  cwd = cwd or M.tmpdir()
  M.write(path, program)
  local parts = {}
  for k, v in pairs(M.lua_env()) do parts[#parts + 1] = k .. "=" .. sh_quote(v) end
  -- the sanitized modules need their runtime preloaded (make test-sanitize)
  local preload = os.getenv("LD_PRELOAD")
  if os.getenv("LUMI_SANITIZE") and preload then
    parts[#parts + 1] = "LD_PRELOAD=" .. sh_quote(preload)
    -- LeakSanitizer's tracer crashes now and then at the exit of these
    -- child lua5.4 processes here (a tool failure, not a leak report); leaks
    -- stay checked in the suite's own process and in the sanitized lumi
    parts[#parts + 1] = "ASAN_OPTIONS=detect_leaks=0"
  end
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. sh_quote(v) end
  return M.sh("cd " .. sh_quote(cwd) .. " && env " .. table.concat(parts, " ") .. " lua5.4 " .. sh_quote(path))
end

--- Number of rows of a table (or of any FROM clause) in the database at url.
function M.count(url, from)
  return M.value(url, "SELECT count(*)::int FROM " .. from)
end

--- Lines of `s` (without their line ends) that contain `needle`.
function M.lines_with(s, needle)
  local out = {}
  for line in (s or ""):gmatch("[^\n]+") do
    if line:find(needle, 1, true) then out[#out + 1] = line end
  end
  return out
end

return M
