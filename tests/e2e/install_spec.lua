local h = require "support.helper"

-- An installed lumi finds its Lua sources and luaposix by itself: no
-- LUA_PATH, LUA_CPATH or LUMI_HOME to lean on, wherever the prefix is moved.
describe("an installed lumi", function()
  local root, project, url

  -- run the lumi at `bin` in the project, with only DATABASE_URL set up
  local function run(bin, args)
    return h.sh("cd " .. h.q(project) .. " && env -u LUA_PATH -u LUA_CPATH -u LUMI_HOME -u LD_PRELOAD DATABASE_URL="
      .. h.q(url) .. " " .. h.q(bin) .. " " .. args)
  end

  local function install(vars)
    local out, err, code = h.sh("env -u LD_PRELOAD make -s -C " .. h.q(h.root) .. " install " .. vars)
    assert(code == 0, out .. err)
  end

  setup(function()
    root = h.tmpdir()
    url = h.fresh_db()
    project = h.project({ ["migrations/001_create_one.sql"] = "CREATE TABLE one (id int);\n" })
  end)

  it("runs from its prefix, and from wherever the prefix is moved", function()
    install("PREFIX=" .. h.q(root .. "/usr"))
    local out, err, code = run(root .. "/usr/bin/lumi", "list")
    assert.are.equal(0, code, err)
    assert.matches("001_create_one.sql", out, 1, true)
    assert.is_true(os.rename(root .. "/usr", root .. "/moved"))
    out, err, code = run(root .. "/moved/bin/lumi", "up")
    assert.are.equal(0, code, err)
    assert.matches("001_create_one.sql", out, 1, true)
    out, err, code = run(root .. "/moved/bin/lumi", "status")
    assert.are.equal(0, code, err)
    assert.matches("1 applied", out, 1, true)
  end)

  it("loads its modules from a LIBDIR of its own (compiled in)", function()
    -- a build directory of its own: LIBDIR is compiled into the executable
    local lib = root .. "/opt/lib/x86_64-linux-gnu/lumi"
    install("BUILD=" .. h.q(root .. "/build") .. " LUMI=" .. h.q(root .. "/build/lumi-bin") .. " PREFIX="
      .. h.q(root .. "/opt") .. " LIBDIR=" .. h.q(lib))
    local out, err, code = run(root .. "/opt/bin/lumi", "verify")
    assert.are.equal(0, code, err)
    assert.matches("PostgreSQL 1%d", out)
  end)

  it("has lumi.pg, lumi.hash and lumi.sql linked in: the shared objects are for stock lua5.4 only", function()
    install("PREFIX=" .. h.q(root .. "/bare"))
    for _, m in ipairs({ "pg", "hash", "sql" }) do
      assert.is_true(os.remove(root .. "/bare/lib/lumi/lumi/" .. m .. ".so"))
    end
    local out, err, code = run(root .. "/bare/bin/lumi", "status")
    assert.are.equal(0, code, err)
    assert.matches("1 applied", out, 1, true)
  end)
end)
