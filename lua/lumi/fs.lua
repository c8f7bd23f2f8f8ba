--- Files and directories, through luaposix.
local dirent = require "posix.dirent"
local glob = require "posix.glob"
local stat = require "posix.sys.stat"
local unistd = require "posix.unistd"

local M = {}

--- Kind of the thing at path (symbolic links followed): "file",
--- "directory", "other", or nil, message when there is nothing there.
function M.kind(path)
  local st, err = stat.stat(path)
  if not st then return nil, err end
  if stat.S_ISREG(st.st_mode) ~= 0 then return "file" end
  if stat.S_ISDIR(st.st_mode) ~= 0 then return "directory" end
  return "other"
end

--- The entry names of a directory in byte order, without "." and "..",
--- and {name = true} for those that are directories (or links to one); or
--- nil, message. The directories are found by glob(3), which knows them
--- from the directory itself: no stat per entry.
function M.list(dir)
  local ok, names = pcall(dirent.dir, dir)
  if not ok then return nil, (tostring(names):gsub("^bad argument #1 to '[^']*' %((.*)%)$", "%1")) end
  local out, n = {}, 0
  for i = 1, #names do
    local name = names[i]
    if name ~= "." and name ~= ".." then n = n + 1; out[n] = name end
  end
  table.sort(out)
  local dirs = {}
  local prefix = dir:gsub("[%*%?%[\\]", "\\%0") .. "/"
  for _, path in ipairs(glob.glob(prefix .. "*/", 0) or {}) do
    dirs[path:sub(#dir + 2, -2)] = true
  end
  return out, dirs
end

--- Whole contents of a file, or nil, message. With `limit`: nil, nil,
--- true when the file holds more than limit bytes (no more of it is read).
function M.read(path, limit)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  if limit then
    local size = f:seek("end")
    if size and size > limit then f:close(); return nil, nil, true end
    f:seek("set")
  end
  local s, rerr = f:read("a")
  f:close()
  if not s then return nil, path .. ": " .. tostring(rerr) end
  return s
end

--- Create a new file with contents; nil, message if it already exists.
function M.create(path, contents)
  local fcntl, errno = require "posix.fcntl", require "posix.errno"
  local fd, err, code = fcntl.open(path, fcntl.O_WRONLY | fcntl.O_CREAT | fcntl.O_EXCL, tonumber("644", 8))
  if not fd then
    if code == errno.EEXIST then return nil, path .. ": already exists" end
    return nil, err
  end
  local n, werr = unistd.write(fd, contents)
  unistd.close(fd)
  if not n then return nil, werr end
  return true
end

--- mkdir -p
function M.mkdirs(path)
  local kind = M.kind(path)
  if kind == "directory" then return true end
  if kind then return nil, "a " .. kind .. " named " .. path .. " is in the way" end
  local parent = path:match("^(.+)/[^/]+/?$")
  if parent and not M.kind(parent) then
    local ok, err = M.mkdirs(parent)
    if not ok then return nil, err end
  end
  local ok, err = stat.mkdir(path, tonumber("755", 8))
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
  return stat.lstat(path) ~= nil
end

--- Is file descriptor n a terminal?
function M.isatty(n)
  return unistd.isatty(n) == 1
end

--- The working directory, or nil, message.
function M.cwd()
  return unistd.getcwd()
end

return M
