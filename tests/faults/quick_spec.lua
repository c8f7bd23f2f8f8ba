-- The quick version of the fault-injection driver (tests/long/faults
-- --quick): concurrent runs, SIGKILL, the server stopped or lumi's session
-- ended under a run, and a held lock. The driver starts a PostgreSQL of its
-- own (fsync on) and checks the database after every fault; make test-long
-- runs the full counts (tests/long/run).
local h = require "support.helper"

local FAMILIES = { "concurrent", "sigkill", "server", "stall" }

describe("fault injection (tests/long/faults --quick)", function()
  it("keeps every guarantee: no inconsistency, no hang, no leak in any family", function()
    local env = { "LUMI_BIN=" .. h.q(h.bin) }
    local build = os.getenv("LUMI_BUILD")
    if build then env[#env + 1] = "LUMI_BUILD=" .. h.q(build) end
    -- make test-sanitize: the driver's lua5.4 loads the sanitized lumi.pg,
    -- which needs its runtime preloaded (the driver unsets it for the
    -- programs it starts)
    local preload = os.getenv("LD_PRELOAD")
    if os.getenv("LUMI_SANITIZE") and preload then
      env[#env + 1] = "LD_PRELOAD=" .. h.q(preload)
      env[#env + 1] = "ASAN_OPTIONS=detect_leaks=0"
    end
    local out, err, code = h.sh("env " .. table.concat(env, " ") .. " " .. h.q(h.root .. "/tests/long/faults")
      .. " --quick")
    local all = out .. err
    assert.are.equal(0, code, all)
    for _, name in ipairs(FAMILIES) do
      local line = out:match("\nfamily " .. name .. ": [^\n]*") or out:match("^family " .. name .. ": [^\n]*")
      assert.truthy(line, "no line for family " .. name .. ":\n" .. all)
      local rounds, faults, inc, hangs, leaks = line:match(
        "rounds (%d+), faults (%d+), inconsistencies (%d+), hangs (%d+), leaks (%d+)$")
      assert.truthy(rounds, "a family line not in the expected form: " .. line)
      assert.is_true(tonumber(rounds) > 0, line)
      assert.are.equal("0", inc, line .. "\n" .. all)
      assert.are.equal("0", hangs, line .. "\n" .. all)
      assert.are.equal("0", leaks, line .. "\n" .. all)
    end
  end)
end)
