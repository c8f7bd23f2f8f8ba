--- Sqitch's way: sqitch.plan says the changes and their order; each change
--- is deploy/<change>.sql, reverted by revert/<change>.sql (verify/ is
--- Sqitch's own check, not a migration). A change's version here is its
--- place in the plan (0001, 0002, ...), and lumi matches tracking rows by
--- the change's file (tracking identity "file": deploy/<change>.sql), so
--- the plan's order is the order they run in. Sqitch keeps its history in the sqitch schema.
--- A change reworked under a tag (the same name twice) is refused: lumi
--- would have two migrations of one name.
local errors = require "lumi.errors"
local fs = require "lumi.fs"

return {
  dir = ".",
  tracking = { identity = "file" },
  naming = {
    name = "sqitch",
    pattern = "sqitch.plan",
    parse = function(stem)
      if stem:match("^%d+$") then return { version = stem, name = stem } end
      return nil, "not a change of sqitch.plan"
    end,
    compare = function(a, b) return a < b end,
    next = function()
      errors.raise("usage", "sqitch.plan says what the changes are: add one with `sqitch add`, "
        .. "lumi new does not edit the plan")
    end,
  },
  discover = function(dir, _)
    local plan = fs.read(dir .. "/sqitch.plan")
    if not plan then
      errors.raise("config", string.format("%s/sqitch.plan: cannot read it (the sqitch convention reads its changes "
        .. "from there)", dir))
    end
    local found, seen, n = { migrations = {}, ignored = {} }, {}, 0
    local line_no = 0
    for line in (plan .. "\n"):gmatch("([^\n]*)\n") do
      line_no = line_no + 1
      local change = line:match("^%s*([^%s%%#@][^%s]*)")
      if change then
        if seen[change] then
          errors.raise("config", string.format("%s/sqitch.plan:%d: %s is reworked (it is in the plan twice): "
            .. "lumi would have two migrations of one name", dir, line_no, change))
        end
        seen[change] = true
        n = n + 1
        local path = dir .. "/deploy/" .. change .. ".sql"
        if fs.kind(path) ~= "file" then
          errors.raise("validation", string.format("%s/sqitch.plan:%d: change %s has no deploy/%s.sql", dir, line_no,
            change, change))
        end
        local revert = dir .. "/revert/" .. change .. ".sql"
        found.migrations[n] = { version = string.format("%04d", n), name = change, stem = change,
          file = "deploy/" .. change .. ".sql", path = path, layout = "pair",
          down_path = fs.kind(revert) == "file" and revert or nil }
      end
    end
    return found
  end,
}
