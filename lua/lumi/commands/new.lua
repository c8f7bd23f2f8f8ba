--- lumi new NAME: create the next migration file by the naming scheme.
local errors = require "lumi.errors"
local fs = require "lumi.fs"
local naming = require "lumi.naming"

local header = [[
-- Migration: ${title}
-- Created: ${created}
]]

-- What each layout creates: {relative path = template}.
local layouts = {
  file = function(stem) return {
    { stem .. ".sql", header .. [[
--
-- Runs in one transaction together with its tracking row: if any statement
-- fails, nothing of this file remains and it is not recorded.

]] } } end,
  sections = function(stem) return {
    { stem .. ".sql", header .. [[

-- migrate:up


-- migrate:down

]] } } end,
  pair = function(stem) return {
    { stem .. ".up.sql", header .. "\n" },
    { stem .. ".down.sql", header .. "-- Reverts " .. stem .. ".up.sql\n\n" },
  } end,
  directory = function(stem) return {
    { stem .. "/up.sql", header .. "\n" },
    { stem .. "/down.sql", header .. "-- Reverts up.sql\n\n" },
  } end,
}

local lua_template = [==[
-- Migration: ${title}
-- Created: ${created}
--
-- A Lua migration: up (and down) receive a context ctx with ctx.db (queries
-- raise on error), ctx.log, ctx.progress and ctx.migration. It runs in one
-- transaction with its tracking row unless `transaction = false`.
return {
  up = function(ctx)
    local db = ctx.db
    -- db:exec([[ALTER TABLE ...]])
    -- for row in db:rows("SELECT id, ... FROM big_table") do ... end
  end,

  down = function(ctx)
  end,
}
]==]

local function fill(template, vars)
  return (template:gsub("%${([%w_]+)}", function(k) return vars[k] end))
end

return {
  summary = "create the next migration file (or pair, or directory)",
  usage = "lumi new [--lua] NAME",
  description = [[
Creates the next migration in the migrations directory, numbered by the naming
scheme, with a header: one file (layout "file"), one file with up and down
sections ("sections"), an .up.sql/.down.sql pair ("pair") or a directory with
up.sql and down.sql ("directory"), as `layout` in migrate.lua says. NAME is
turned into snake_case ("Add users!" becomes add_users); it is never taken as
a path.]],
  args = { { name = "NAME", required = true, rest = true } },
  options = { { "--lua", help = "create a Lua migration (NNN_name.lua) instead of SQL" } },
  run = function(project, opts)
    local name = naming.sanitize(table.concat(opts.args, " "))
    if not name then
      errors.raise("usage", string.format("migration name %q has no letters or digits", table.concat(opts.args, " ")))
    end
    local dir = project.config.migrations_dir
    local ok, err = fs.mkdirs(dir)
    if not ok then errors.raise("config", "cannot create " .. dir .. ": " .. tostring(err)) end
    local found = project:discover()
    local now = os.time()
    local stem = project.scheme.next(found.migrations, name, now)
    if type(stem) ~= "string" or stem:find("/", 1, true) or stem:sub(1, 1) == "." or stem == "" then
      errors.raise("config", string.format("naming scheme %s: next() returned %s, not a plain name",
        project.scheme.name, tostring(stem)))
    end
    -- schemes written for file names may return one with .sql
    stem = stem:gsub("%.sql$", "")
    local vars = { name = name, title = (name:gsub("_", " ")), created = os.date("!%Y-%m-%dT%H:%M:%SZ", now) }
    local files = opts.lua and { { stem .. ".lua", lua_template } } or layouts[project.config.layout](stem)
    local created = {}
    for _, f in ipairs(files) do
      local path = fs.join(dir, f[1])
      if f[1]:find("/", 1, true) then
        local okd, derr = fs.mkdirs(fs.dirname(path))
        if not okd then errors.raise("config", "cannot create " .. fs.dirname(path) .. ": " .. tostring(derr)) end
      end
      local done, cerr = fs.create(path, fill(f[2], vars))
      if not done then errors.raise("config", "cannot create migration: " .. cerr) end
      created[#created + 1] = path
    end
    return { file = files[1][1], path = created[1], paths = created }
  end,
}
