-- luacheck over lua/ (settings in .luacheckrc): an undeclared global, an
-- unused variable or a shadowed local is a bug waiting, not a style point —
-- a `local` declared inside a block and read after it reads a global nil.
local h = require "support.helper"

describe("the Lua sources", function()
  it("pass luacheck: no globals, nothing unused, nothing shadowed", function()
    local out = h.sh("cd " .. h.q(h.root) .. " && luacheck --no-color -q lua/")
    assert.truthy(out:find("Total: 0 warnings / 0 errors", 1, true), out)
  end)
end)
