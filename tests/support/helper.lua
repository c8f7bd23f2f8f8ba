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
  local errf = string.format("%s/stderr.%d.%d", M.tmp, os.time(), counter)
  local p = assert(io.popen(cmd .. " 2>" .. sh_quote(errf), "r"))
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

--- sha256sum of a file, as the coreutils tool computes it.
function M.sha256sum(path)
  local out = M.sh("sha256sum " .. sh_quote(path))
  return out:match("^(%x+)")
end

return M
