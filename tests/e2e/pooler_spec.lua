-- Through a connection pooler: PgBouncer (Debian's, started here in front
-- of the suite's server) in transaction mode, where a session advisory
-- lock protects nothing, and in session mode, where lumi works as on a
-- direct connection.
local h = require "support.helper"

local function bouncer(mode, ...)
  local dir = h.tmpdir() .. "/pgb"
  local upstream = h.url:match("host=([^&]+)")
  local extra = {}
  for i, s in ipairs({ ... }) do extra[i] = h.q(s) end
  local out, err, code = h.sh(table.concat({ h.q(h.root .. "/tests/support/pgbouncer"), "start", h.q(dir), mode,
    h.q(upstream), table.unpack(extra) }, " "))
  assert(code == 0, "could not start PgBouncer: " .. out .. err)
  local url = out:gsub("%s+$", "")
  return {
    dir = dir,
    -- the URL of database `name` through this bouncer
    url = function(name) return (url:gsub("^postgresql:///postgres%?", "postgresql:///" .. name .. "?")) end,
    stop = function() h.sh(h.q(h.root .. "/tests/support/pgbouncer") .. " stop " .. h.q(dir)) end,
  }
end

local MIGRATIONS = {}
for i = 1, 10 do
  MIGRATIONS[string.format("migrations/%03d_t%d.sql", i, i)] =
    string.format("CREATE TABLE t%d (id int);\nSELECT pg_sleep(0.02);\n", i)
end

local function with(files)
  local out = {}
  for k, v in pairs(MIGRATIONS) do out[k] = v end
  for k, v in pairs(files or {}) do out[k] = v end
  return out
end

-- run n `lumi up` at once through `url`; their exit codes and outputs
local function ups(p, url, n, extra)
  local jobs = {}
  for i = 1, n do
    local args = "up -d " .. h.q(url) .. " " .. (extra or "")
    jobs[i] = p:background(args)
  end
  local codes, outs = {}, {}
  for i, job in ipairs(jobs) do
    local code, out, err = job:wait(120)
    codes[i], outs[i] = code, out .. err
  end
  return codes, outs
end

local function advisory_locks(p)
  return tonumber(p:value("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
    .. "(SELECT oid FROM pg_database WHERE datname = current_database())"))
end

describe("through PgBouncer in transaction mode", function()
  local b
  setup(function() b = bouncer("transaction") end)
  teardown(function() b.stop() end)

  it("refuses by default, says to use a direct connection, and leaves nothing behind", function()
    h.with_project(with(), function(p)
      local out, err, code = p:lumi("up -d " .. h.q(b.url(p.name)))
      assert.are.equal(2, code, out .. err)
      local first = err:match("^[^\n]*")
      assert.truthy(first:find("connection pooler in transaction mode", 1, true), first)
      assert.truthy(err:find("direct_url", 1, true), err)
      assert.truthy(err:find("--direct", 1, true), err)
      assert.is_false(h.table_exists(p.url, "schema_migrations"))
      assert.are.equal(0, advisory_locks(p))
    end)
  end)

  it("runs over direct_url from migrate.lua, or --direct, and says nothing of the pooler", function()
    h.with_project(with(), function(p)
      p:write("migrate.lua", string.format("return { database = %q, direct_url = %q }", b.url(p.name), p.url))
      local doc, code = p:json("up")
      assert.are.equal(0, code)
      assert.are.equal(10, #doc.applied)
      assert.are.equal(0, advisory_locks(p))
      p:write("migrations/011_more.sql", "CREATE TABLE more (id int);\n")
      p:write("migrate.lua", "return {}")
      local out, err, c2 = p:lumi("up -d " .. h.q(b.url(p.name)) .. " --direct " .. h.q(p.url))
      assert.are.equal(0, c2, out .. err)
      assert.are.equal(11, tonumber(p:value("SELECT count(*) FROM schema_migrations")))
    end)
  end)

  it("with pooler = \"lease\", 8 runners at once apply each migration once and leave no lock or setting behind",
    function()
      h.with_project(with(), 'return { pooler = "lease" }', function(p)
        local url = b.url(p.name)
        for round = 1, 3 do
          if round > 1 then
            p:write(string.format("migrations/%03d_round%d.sql", 10 + round, round),
              string.format("CREATE TABLE round%d (id int);\n", round))
          end
          local codes, outs = ups(p, url, 8)
          for i, c in ipairs(codes) do assert.are.equal(0, c, outs[i]) end
        end
        assert.are.equal(12, tonumber(p:value("SELECT count(*) FROM schema_migrations")))
        assert.are.equal(12, tonumber(p:value("SELECT count(DISTINCT version) FROM schema_migrations")))
        assert.are.equal(12, tonumber(p:value("SELECT count(*) FROM pg_tables WHERE tablename ~ '^(t[0-9]+|round[0-9])$'")))
        assert.are.equal(0, advisory_locks(p))
        assert.are.equal(0, tonumber(p:value("SELECT count(*) FROM schema_migrations_lock")))
        -- the pooled server connections keep their defaults
        local c <close> = h.connect(url)
        for _ = 1, 4 do
          assert.are.equal("0", c:query("SHOW client_connection_check_interval")[1].client_connection_check_interval)
          assert.are.equal("0", c:query("SHOW lock_timeout")[1].lock_timeout)
        end
      end)
    end)

  it("with pooler = \"lease\", refuses a file that runs outside lumi's transaction, before anything runs", function()
    h.with_project(with({ ["migrations/011_idx.sql"] = "-- lumi: no-transaction\nCREATE INDEX CONCURRENTLY i1 ON t1 (id);\n" }),
      'return { pooler = "lease" }', function(p)
        local out, err, code = p:lumi("up -d " .. h.q(b.url(p.name)))
        assert.are.equal(2, code, out .. err)
        local first = err:match("^[^\n]*")
        assert.truthy(first:find("migrations/011_idx.sql runs without a transaction", 1, true), first)
        assert.is_true(p:value("SELECT to_regclass('t1') IS NULL"))
        assert.are.equal(0, tonumber(p:value("SELECT count(*) FROM schema_migrations_lock")))
      end)
  end)

  it("with pooler = \"lease\", waits for a live lease, names its holder, and takes over an expired one", function()
    h.with_project(with(), 'return { pooler = "lease", lock_wait = 0.5 }', function(p)
      local url = b.url(p.name)
      p:query("CREATE TABLE schema_migrations_lock (key bigint PRIMARY KEY, holder text NOT NULL, "
        .. "taken_at timestamptz NOT NULL DEFAULT now(), expires_at timestamptz NOT NULL)")
      -- the key of schema_migrations (lumi.store's lock_key)
      local hex = require("lumi.hash").sha256("lumi:public.schema_migrations")
      local key = math.tointeger(tonumber(hex:sub(1, 15), 16))
      p:query("INSERT INTO schema_migrations_lock VALUES ($1, 'lumi 9 pid 42 on deploy-7', now(), now() + interval '1 minute')", key)
      local out, err, code = p:lumi("up -d " .. h.q(url))
      assert.are.equal(4, code, out .. err)
      assert.truthy(err:find("lumi 9 pid 42 on deploy%-7"), err)
      assert.is_true(p:value("SELECT to_regclass('t1') IS NULL"))
      p:query("UPDATE schema_migrations_lock SET expires_at = now() - interval '1 second'")
      local out2, err2, code2 = p:lumi("up -d " .. h.q(url))
      assert.are.equal(0, code2, out2 .. err2)
      assert.are.equal(10, tonumber(p:value("SELECT count(*) FROM schema_migrations")))
    end)
  end)
end)

describe("a run holding a lease (pooler = \"lease\")", function()
  it("is what status calls in progress, and what verify names as the lock holder", function()
    h.with_project(with(), function(p)
      local _, c0 = p:json("up")
      assert.are.equal(0, c0)
      p:query("CREATE TABLE schema_migrations_lock (key bigint PRIMARY KEY, holder text NOT NULL, "
        .. "taken_at timestamptz NOT NULL DEFAULT now(), expires_at timestamptz NOT NULL)")
      local hex = require("lumi.hash").sha256("lumi:public.schema_migrations")
      p:query("INSERT INTO schema_migrations_lock VALUES ($1, 'lumi 9 pid 42 on deploy-7', now(), now() + interval '1 minute')",
        math.tointeger(tonumber(hex:sub(1, 15), 16)))
      p:query("UPDATE schema_migrations SET state = 'unfinished' WHERE version = '010'")
      local doc, code = p:json("status")
      assert.are.equal(0, code)
      local e = h.entry(doc, "010_t10.sql")
      assert.are.equal("in_progress", e.state)
      assert.are.equal("lumi 9 pid 42 on deploy-7", e.holder.description)
      local v = p:json("verify")
      assert.are.equal("lumi 9 pid 42 on deploy-7", v.lock_holder.description)
      -- an expired lease holds nothing
      p:query("UPDATE schema_migrations_lock SET expires_at = now() - interval '1 second'")
      assert.are.equal("unfinished", h.entry((p:json("status")), "010_t10.sql").state)
    end)
  end)
end)

describe("through PgBouncer in session mode", function()
  local b
  setup(function() b = bouncer("session") end)
  teardown(function() b.stop() end)

  it("works as on a direct connection: the advisory lock, no-transaction files, 4 runners at once", function()
    h.with_project(with({ ["migrations/011_idx.sql"] = "-- lumi: no-transaction\nCREATE INDEX CONCURRENTLY i1 ON t1 (id);\n" }),
      function(p)
        local codes, outs = ups(p, b.url(p.name), 4)
        for i, c in ipairs(codes) do assert.are.equal(0, c, outs[i]) end
        assert.are.equal(11, tonumber(p:value("SELECT count(*) FROM schema_migrations")))
        assert.is_true(p:value("SELECT indisvalid FROM pg_index WHERE indexrelid = 'i1'::regclass"))
        assert.is_true(p:value("SELECT to_regclass('schema_migrations_lock') IS NULL"))
        assert.are.equal(0, advisory_locks(p))
      end)
  end)
end)
