--- The context that Lua migrations and hooks receive.
--
--   ctx.db            the database handle (lumi.db: raises on error), inside
--                     the migration's transaction unless it runs without one
--   ctx.log(fmt, ...) a line through lumi's reporter
--   ctx.progress(done, total)
--                     a progress bar with rate and ETA on a terminal,
--                     periodic lines elsewhere
--   ctx.migration     {version=, name=, file=, path=, direction="up"|"down"}
--                     (nil in before_all / after_all)
--   ctx.placeholders  the `placeholders` of migrate.lua
--   ctx.target, ctx.env   the target's and the environment's names
--   ctx.config        the target's settings
--   ctx.error         in on_error: the error
--   ctx.result        in after_all: the run's result
local M = {}

--- A context for project's migrations and hooks, with db the handle they
--- get (a guarded one: see lumi.db).
function M.new(project, db, fields)
  local ctx = {
    db = db,
    placeholders = project.config.placeholders or {},
    target = project.target,
    env = project.config.env,
    config = project.config,
  }
  for k, v in pairs(fields or {}) do ctx[k] = v end
  function ctx.log(fmt, ...)
    local msg = select("#", ...) > 0 and string.format(fmt, ...) or tostring(fmt)
    project:emit({ type = "log", message = msg, migration = ctx.migration })
  end
  function ctx.progress(done, total)
    project:emit({ type = "progress", done = done, total = total, migration = ctx.migration })
  end
  return ctx
end

--- Call fn(ctx) from user code (a migration or a hook at `path`). On error,
--- returns false and {err=, line=} where line is the line in `path` that
--- the error came through (the user's call, not lumi's internals).
function M.call(fn, ctx, path)
  local function handler(e)
    local line
    local source = path and ("@" .. path)
    for level = 2, 60 do
      local info = debug.getinfo(level, "Sl")
      if not info then break end
      if source and info.source == source then line = info.currentline; break end
    end
    return { err = e, line = line }
  end
  local ok, res = xpcall(fn, handler, ctx)
  if ok then return true, res end
  return false, res
end

return M
