--- A statement that waits for a strong lock, with no lock_timeout in force.
local lint = require "lumi.lint"

return {
  id = "lock-timeout-missing",
  severity = "error",
  doc = "A statement that needs an ACCESS EXCLUSIVE lock queues behind any open transaction on the table, "
    .. "and every query on the table queues behind it: a one-second ALTER becomes an outage. lumi sets "
    .. "lock_timeout for each migration (timeouts.lock, 1 s by default); with it turned off, set one in the "
    .. "file (`-- lumi: lock-timeout 2s`) so the migration fails and retries instead.",
  nodes = { "statement" },
  check = function(tree, ctx)
    if ctx.lock_timeout and ctx.lock_timeout > 0 then return nil end
    local rel = lint.exclusive_lock(tree, ctx)
    if not rel then return nil end
    return { message = string.format("waits for an ACCESS EXCLUSIVE lock on %s with no lock_timeout", rel),
      hint = "put `-- lumi: lock-timeout 2s` first in the file (or keep lumi's timeouts.lock on)" }
  end,
}
