--- Files and directories, through luaposix and (for what every command
--- needs before it connects) lumi.sys.
--
-- luaposix's modules are loaded when first used: each is a shared library,
-- and a command that needs two of them should not pay for seven.
local sys = require "lumi.sys"

local M = {}

local lazy = setmetatable({}, { __index = function(t, k)
  local names = { dirent = "posix.dirent", stat = "posix.sys.stat", unistd = "posix.unistd",
                  fcntl = "posix.fcntl", errno = "posix.errno" }
  local v = require(names[k])
  rawset(t, k, v)
  return v
end })

--- Kind of the thing at path: "file", "directory", "other", or nil if absent.
function M.kind(path)
  return (sys.kind(path))
end

--- Sorted entry names of a directory (without . and ..), or nil, message.
--- Second result: {name = "directory"} for its subdirectories.
function M.list(dir)
  return sys.list(dir)
end

--- Whole contents of a file, or nil, message.
function M.read(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s, rerr = f:read("a")
  f:close()
  if not s then return nil, path .. ": " .. tostring(rerr) end
  return s
end

--- Create a new file with contents; fails if it already exists.
function M.create(path, contents)
  local fd, err, code = lazy.fcntl.open(path, lazy.fcntl.O_WRONLY | lazy.fcntl.O_CREAT | lazy.fcntl.O_EXCL, tonumber("644", 8))
  if not fd then
    if code == lazy.errno.EEXIST then return nil, path .. ": already exists" end
    return nil, err
  end
  local n, werr = lazy.unistd.write(fd, contents)
  lazy.unistd.close(fd)
  if not n then return nil, werr end
  return true
end

--- mkdir -p
function M.mkdirs(path)
  if M.kind(path) == "directory" then return true end
  local parent = path:match("^(.+)/[^/]+/?$")
  if parent and not M.kind(parent) then
    local ok, err = M.mkdirs(parent)
    if not ok then return nil, err end
  end
  local ok, err = lazy.stat.mkdir(path, tonumber("755", 8))
  if not ok and M.kind(path) ~= "directory" then return nil, err end
  return true
end

--- Join path parts with "/" (an absolute later part wins).
function M.join(a, b)
  if b:sub(1, 1) == "/" or a == "" or a == "." then return b end
  return (a:gsub("/+$", "")) .. "/" .. b
end

--- Directory part of a path ("." when there is none).
function M.dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

--- Does path exist (as anything)?
function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return M.kind(path) ~= nil
end

--- Is file descriptor n a terminal?
function M.isatty(n)
  return sys.isatty(n)
end

return M
