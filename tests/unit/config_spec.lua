local h = require "support.helper"
local config = require "lumi.config"
local errors = require "lumi.errors"

-- config.load on a project directory holding migrate.lua `src` (if any),
-- with the environment `env` instead of the process's.
local function load(src, env, flags)
  local dir = h.project(src and { ["migrate.lua"] = src } or {})
  return config.load({ cwd = dir, flags = flags, getenv = function(k) return (env or {})[k] end }), dir
end

local function load_error(src, env, flags)
  local ok, e = pcall(load, src, env, flags)
  assert.is_false(ok, "expected a configuration error")
  assert.is_true(errors.is(e), "expected a lumi error, got " .. tostring(e))
  return e
end

describe("config", function()
  describe("defaults", function()
    it("apply when there is no migrate.lua", function()
      local cfg, dir = load(nil)
      assert.are.equal("migrations", cfg.dir)
      assert.are.equal("sequential", cfg.naming)
      assert.are.equal("schema_migrations", cfg.table)
      assert.are.equal(60, cfg.lock_timeout)
      assert.are.equal("stop", cfg.out_of_order)
      assert.are.equal("stop", cfg.on_changed)
      assert.is_nil(cfg.database)
      assert.is_nil(cfg.file)
      assert.are.equal(dir .. "/migrations", cfg.migrations_dir)
    end)

    it("are overridden by migrate.lua", function()
      local cfg, dir = load('return { dir = "db/migrate", naming = "dated", table = "ops.migrations", lock_timeout = 5 }')
      assert.are.equal("db/migrate", cfg.dir)
      assert.are.equal("dated", cfg.naming)
      assert.are.equal("ops.migrations", cfg.table)
      assert.are.equal(5, cfg.lock_timeout)
      assert.are.equal(dir .. "/migrate.lua", cfg.file)
      assert.are.equal(dir .. "/db/migrate", cfg.migrations_dir)
    end)
  end)

  describe("unknown keys", function()
    it("are an error that suggests the nearest known key", function()
      local e = load_error('return { tabel = "x" }')
      assert.are.equal("config", e.kind)
      assert.are.equal(2, e.exit_code)
      assert.truthy(e.message:find('unknown key "tabel" (did you mean "table"?)', 1, true), e.message)
      assert.truthy(e.message:find("migrate.lua", 1, true), e.message)
      assert.are.equal("tabel", e.key)
      assert.are.equal("table", e.suggestion)
    end)

    it("suggest lock_timeout for lock_timout", function()
      local e = load_error("return { lock_timout = 3 }")
      assert.truthy(e.message:find('(did you mean "lock_timeout"?)', 1, true), e.message)
    end)

    it("have no suggestion when nothing is close", function()
      local e = load_error("return { frobnicate_everything = true }")
      assert.truthy(e.message:find('unknown key "frobnicate_everything"', 1, true), e.message)
      assert.is_nil(e.message:find("did you mean", 1, true), e.message)
    end)
  end)

  describe("wrong types", function()
    it("name the key, the expected type and the type given", function()
      local e = load_error("return { dir = 5 }")
      assert.are.equal("config", e.kind)
      assert.are.equal("dir", e.key)
      assert.truthy(e.message:find('key "dir" must be a string', 1, true), e.message)
      assert.truthy(e.message:find("got number", 1, true), e.message)
    end)

    it("list every accepted type", function()
      local e = load_error("return { naming = 3 }")
      assert.truthy(e.message:find('key "naming" must be a string or table', 1, true), e.message)
    end)

    it("reject a lock_timeout given as a string", function()
      local e = load_error('return { lock_timeout = "10" }')
      assert.truthy(e.message:find('key "lock_timeout" must be a number', 1, true), e.message)
      assert.truthy(e.message:find("got string", 1, true), e.message)
    end)
  end)

  describe("values", function()
    it("reject a table name that is not name or schema.name", function()
      for _, bad in ipairs({ "a.b.c", "bad name", "x;drop table y", "1abc", "" }) do
        local e = load_error(string.format("return { table = %q }", bad))
        assert.are.equal("table", e.key)
        assert.truthy(e.message:find('key "table" must be "name" or "schema.name" made of letters, digits and underscores', 1, true), e.message)
        assert.truthy(e.message:find(string.format("got %q", bad), 1, true), e.message)
      end
    end)

    it("accept name and schema.name", function()
      assert.are.equal("lumi_log", load('return { table = "lumi_log" }').table)
      assert.are.equal("system.schema_migrations", load('return { table = "system.schema_migrations" }').table)
    end)

    it("reject a negative lock_timeout", function()
      local e = load_error("return { lock_timeout = -1 }")
      assert.truthy(e.message:find('key "lock_timeout" must be zero or more seconds, got -1', 1, true), e.message)
    end)

    it("reject other out_of_order and on_changed values", function()
      local e = load_error('return { out_of_order = "yes" }')
      assert.truthy(e.message:find('key "out_of_order" must be "stop" or "apply", got "yes"', 1, true), e.message)
      e = load_error('return { on_changed = "ignore" }')
      assert.truthy(e.message:find('key "on_changed" must be "stop" or "warn", got "ignore"', 1, true), e.message)
    end)
  end)

  describe("layouts, tracking and targets", function()
    it("layout must be one of file, sections, pair, directory", function()
      assert.are.equal("file", load(nil).layout)
      assert.are.equal("pair", load('return { layout = "pair" }').layout)
      local e = load_error('return { layout = "pairs" }')
      assert.truthy(e.message:find('key "layout" must be "file", "sections", "pair" or "directory", got "pairs"', 1, true), e.message)
    end)

    it("table is the tracking table's name unless tracking.table says otherwise", function()
      assert.are.equal("schema_migrations", load(nil).tracking.table)
      assert.are.equal("ops.m", load('return { table = "ops.m" }').tracking.table)
      assert.are.equal("t2", load('return { table = "t1", tracking = { table = "t2" } }').tracking.table)
    end)

    it("checks the keys inside tracking, naming the key path", function()
      local e = load_error('return { tracking = { colums = {} } }')
      assert.truthy(e.message:find('unknown key "tracking.colums" (did you mean "tracking.columns"?)', 1, true), e.message)
      e = load_error('return { tracking = { identity = "number" } }')
      assert.truthy(e.message:find('key "tracking.identity" must be "version", "file" or "stem", got "number"', 1, true), e.message)
      e = load_error('return { tracking = { columns = { filename = "f" } } }')
      assert.truthy(e.message:find('key "tracking.columns" names an unknown field "filename"', 1, true), e.message)
      e = load_error('return { tracking = { columns = { fil = "migration_name" } } }')
      assert.truthy(e.message:find('key "tracking.columns" names an unknown field "fil" (did you mean "file"?)', 1, true), e.message)
      assert.is_nil(e.message:find("table: 0x", 1, true), e.message)
      e = load_error('return { tracking = { table = "a b" } }')
      assert.truthy(e.message:find('key "tracking.table" must be', 1, true), e.message)
    end)

    it("targets take the top-level settings and their own", function()
      local cfg = load([[return { naming = "dated", lock_timeout = 7,
        targets = { { name = "a", dir = "da" }, { name = "b", dir = "db", naming = "timestamp" } } }]])
      assert.are.equal(2, #cfg.targets)
      local a, b = cfg.targets[1], cfg.targets[2]
      assert.are.same({ "a", "da", "dated", 7 }, { a.name, a.dir, a.naming, a.lock_timeout })
      assert.are.same({ "b", "db", "timestamp", 7 }, { b.name, b.dir, b.naming, b.lock_timeout })
      assert.are.same({ "a", "b" }, cfg.all_targets)
    end)

    it("a target needs a name, its keys are checked, and it has no targets of its own", function()
      local e = load_error('return { targets = { { dir = "x" } } }')
      assert.truthy(e.message:find("targets[1] needs a name", 1, true), e.message)
      e = load_error('return { targets = { { name = "a", dri = "x" } } }')
      assert.truthy(e.message:find('unknown key "targets[1].dri" (did you mean "targets[1].dir"?)', 1, true), e.message)
      e = load_error('return { targets = { { name = "a", targets = {} } } }')
      assert.truthy(e.message:find("targets[1] cannot have targets of its own", 1, true), e.message)
      e = load_error('return { targets = {} }')
      assert.truthy(e.message:find("targets is empty", 1, true), e.message)
    end)

    it("out_of_order may be a function", function()
      assert.are.equal("function", type(load("return { out_of_order = function() return true end }").out_of_order))
    end)
  end)

  describe("migrate.lua itself", function()
    it("must return a table", function()
      local e = load_error('return "hello"')
      assert.truthy(e.message:find("must return a table of settings, returned string", 1, true), e.message)
    end)

    it("reports a syntax error", function()
      local e = load_error("return { dir = ")
      assert.are.equal("config", e.kind)
      assert.truthy(e.message:find("cannot load", 1, true), e.message)
    end)

    it("reports an error it raises", function()
      local e = load_error('error("no way")')
      assert.are.equal("config", e.kind)
      assert.truthy(e.message:find("raised an error", 1, true), e.message)
      assert.truthy(e.message:find("no way", 1, true), e.message)
    end)

    it("may compute the database with a function", function()
      local cfg = load('return { database = function(cfg) return "dbname=from_fn_" .. cfg.table end }')
      assert.are.equal("dbname=from_fn_schema_migrations", cfg.database)
    end)

    it("a config file given explicitly must exist", function()
      local ok, e = pcall(config.load, { config = "/nonexistent/migrate.lua", getenv = function() end })
      assert.is_false(ok)
      assert.are.equal("config file /nonexistent/migrate.lua does not exist", e.message)
    end)
  end)

  describe("precedence", function()
    it("DATABASE_URL overrides database in migrate.lua", function()
      local cfg = load('return { database = "postgresql:///from_file" }', { DATABASE_URL = "postgresql:///from_env" })
      assert.are.equal("postgresql:///from_env", cfg.database)
    end)

    it("an empty DATABASE_URL does not override migrate.lua", function()
      local cfg = load('return { database = "postgresql:///from_file" }', { DATABASE_URL = "" })
      assert.are.equal("postgresql:///from_file", cfg.database)
    end)

    it("command-line flags override DATABASE_URL and migrate.lua", function()
      local cfg = load('return { database = "postgresql:///from_file", table = "t_file" }',
        { DATABASE_URL = "postgresql:///from_env" },
        { database = "postgresql:///from_flag", table = "t_flag", lock_timeout = 1 })
      assert.are.equal("postgresql:///from_flag", cfg.database)
      assert.are.equal("t_flag", cfg.table)
      assert.are.equal(1, cfg.lock_timeout)
    end)

    it("flags are checked like migrate.lua", function()
      local e = load_error(nil, nil, { table = "bad name" })
      assert.are.equal(2, e.exit_code)
      assert.truthy(e.message:find('command line: key "table" must be', 1, true), e.message)
    end)
  end)

  describe("redact", function()
    it("hides the password of a URL", function()
      assert.are.equal("postgresql://u:***@db.example.com/app", config.redact("postgresql://u:s3cretpw@db.example.com/app"))
      assert.are.equal("postgres://u:***@h:5432/app?sslmode=require",
        config.redact("postgres://u:s3cretpw@h:5432/app?sslmode=require"))
      assert.are.equal("postgresql://u:***@/db?host=/nonexistent", config.redact("postgresql://u:s3cretpw@/db?host=/nonexistent"))
    end)

    it("hides a password given as a URL parameter", function()
      assert.are.equal("postgresql://h/db?user=u&password=***", config.redact("postgresql://h/db?user=u&password=s3cretpw"))
      assert.are.equal("postgresql:///db?password=***&host=/tmp", config.redact("postgresql:///db?password=s3cretpw&host=/tmp"))
    end)

    it("hides the password of a conninfo string", function()
      assert.are.equal("host=h password=*** user=u", config.redact("host=h password=s3cretpw user=u"))
      assert.are.equal("host=h password = *** user=u", config.redact("host=h password = 's3cret pw' user=u"))
    end)

    it("hides a quoted conninfo password holding an escaped quote", function()
      local out = config.redact([[host=h password='pa\'ss word' user=u]])
      assert.are.equal("host=h password=*** user=u", out)
    end)

    it("hides a URL password whatever characters it holds, as libpq reads it", function()
      assert.are.equal("postgresql://postgres:***@/app?host=/tmp",
        config.redact("postgresql://postgres:it's a secret@/app?host=/tmp"))
      assert.are.equal("postgresql://postgres:***@/app", config.redact([[postgresql://postgres:pa"ss'word@/app]]))
      assert.are.equal("postgresql:///app?host=/tmp&user=u&password=***",
        config.redact("postgresql:///app?host=/tmp&user=u&password=correct horse battery"))
      -- the user part ends at the first / : an @ further on is not a password's end
      assert.are.equal("postgresql://h/app?application_name=a@b", config.redact("postgresql://h/app?application_name=a@b"))
    end)

    it("hides a bare conninfo password with backslash escapes, and finds it to scrub", function()
      local s = [[host=/tmp dbname=app user=u password=hunter2\ tail_of_secret sslmode=disable]]
      assert.are.equal("host=/tmp dbname=app user=u password=*** sslmode=disable", config.redact(s))
      assert.are.equal("connecting with *** failed", config.scrub("connecting with hunter2 tail_of_secret failed", s))
    end)

    it("hides sslpassword, and a URL parameter whose name is percent-encoded", function()
      assert.are.equal("postgresql:///app?pass%77ord=***&sslpassword=***&host=/tmp",
        config.redact("postgresql:///app?pass%77ord=hunter2&sslpassword=keypass&host=/tmp"))
      assert.are.equal("host=h sslpassword=*** password=*** user=u",
        config.redact("host=h sslpassword=keypass password='x y' user=u"))
      assert.are.equal("failed for ***", config.scrub("failed for keypass", "host=h sslpassword=keypass"))
      assert.are.equal("failed for ***", config.scrub("failed for hunter2", "postgresql:///app?pass%77ord=hunter2"))
    end)

    it("leaves a conninfo value that only mentions password= alone", function()
      assert.are.equal("host=h dbname='my password=x'", config.redact("host=h dbname='my password=x'"))
      assert.are.equal("host=h application_name=password user=u", config.redact("host=h application_name=password user=u"))
    end)

    it("leaves strings without a password alone", function()
      assert.are.equal("postgresql://u@h/db", config.redact("postgresql://u@h/db"))
      assert.are.equal("host=/tmp dbname=app", config.redact("host=/tmp dbname=app"))
      assert.is_nil(config.redact(nil))
    end)
  end)
end)
