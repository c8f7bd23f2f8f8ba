--- lumi new NAME: create the next migration file by the naming scheme.
local errors = require "lumi.errors"
local fs = require "lumi.fs"
local naming = require "lumi.naming"

local default_template = [[
-- Migration: ${title}
-- Created: ${created}
--
-- Runs in one transaction together with its tracking row: if any statement
-- fails, nothing of this file remains and it is not recorded.

]]

local function fill(template, vars)
  return (template:gsub("%${([%w_]+)}", function(k) return vars[k] end))
end

return {
  summary = "create the next migration file",
  usage = "lumi new NAME",
  description = [[
Creates the next migration file in the migrations directory, numbered by the
naming scheme, with a header. NAME is turned into snake_case ("Add users!"
becomes add_users); it is never taken as a path.]],
  args = { { name = "NAME", required = true, rest = true } },
  options = {},
  offline = true,
  run = function(project, opts)
    local name = naming.sanitize(table.concat(opts.args, " "))
    if not name then
      errors.raise("usage", string.format("migration name %q has no letters or digits", table.concat(opts.args, " ")))
    end
    local dir = project.config.migrations_dir
    local ok, err = fs.mkdirs(dir)
    if not ok then errors.raise("config", "cannot create " .. dir .. ": " .. tostring(err)) end
    local scan = project:scan()
    local now = os.time()
    local file = project.scheme.next(scan.migrations, name, now)
    if type(file) ~= "string" or file:find("/", 1, true) or file:sub(1, 1) == "." then
      errors.raise("config", string.format("naming scheme %s: next() returned %s, not a plain file name",
        project.scheme.name, tostring(file)))
    end
    local path = fs.join(dir, file)
    local vars = { name = name, title = (name:gsub("_", " ")), file = file,
                   created = os.date("!%Y-%m-%dT%H:%M:%SZ", now) }
    local created, cerr = fs.create(path, fill(default_template, vars))
    if not created then errors.raise("config", "cannot create migration: " .. cerr) end
    return { file = file, path = path }
  end,
}
