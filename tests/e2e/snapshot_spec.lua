-- lumi snapshot: the schema's fingerprint is the same after everything that
-- does not change the schema (VACUUM FULL, ANALYZE, CLUSTER, REINDEX, a dump
-- restored into another database, another search_path, many runs), and
-- changes with each kind of object changed by hand.
local h = require "support.helper"

-- a schema with one of every kind of object the fingerprint reads
local SCHEMA = [[
CREATE SCHEMA app;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE app.pair AS (a int, b text);
CREATE DOMAIN app.positive AS int CHECK (VALUE > 0);
CREATE TYPE app.floatrange AS RANGE (subtype = float8);
CREATE SEQUENCE app.counter START 10 INCREMENT 5;
CREATE TABLE app.users (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email text NOT NULL UNIQUE,
  mood app.mood DEFAULT 'ok',
  score app.positive,
  name text COLLATE "C",
  full_name text GENERATED ALWAYS AS (name || '!') STORED,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE app.posts (
  id serial PRIMARY KEY,
  user_id bigint REFERENCES app.users (id) DEFERRABLE INITIALLY DEFERRED,
  body text
);
ALTER TABLE app.posts ADD CONSTRAINT posts_body_check CHECK (length(body) < 1000) NOT VALID;
CREATE INDEX posts_body_trgm ON app.posts USING gin (body gin_trgm_ops);
CREATE INDEX users_lower_email ON app.users (lower(email)) WHERE email <> '';
CREATE VIEW app.active AS SELECT id, email FROM app.users WHERE mood <> 'sad';
CREATE MATERIALIZED VIEW app.counts AS SELECT user_id, count(*) AS n FROM app.posts GROUP BY user_id;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.body := trim(NEW.body); RETURN NEW; END $$;
CREATE TRIGGER posts_touch BEFORE INSERT ON app.posts FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE PROCEDURE app.noop() LANGUAGE sql AS $$ SELECT 1 $$;
ALTER TABLE app.posts ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_posts ON app.posts FOR SELECT TO PUBLIC USING (user_id > 0);
CREATE TABLE app.events (at date NOT NULL, what text) PARTITION BY RANGE (at);
CREATE TABLE app.events_2024 PARTITION OF app.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
COMMENT ON TABLE app.users IS 'the people';
COMMENT ON COLUMN app.users.email IS 'where to write';
INSERT INTO app.users (email, name) SELECT 'u' || g || '@x', 'n' || g FROM generate_series(1, 50) g;
INSERT INTO app.posts (user_id, body) SELECT (g % 50) + 1, 'post ' || g FROM generate_series(1, 200) g;
]]

local function psql(url, sql)
  local out, err, code = h.psql(url, sql)
  assert.are.equal(0, code, sql .. "\n" .. out .. err)
end

local function snapshot(p, url, args)
  local doc, code, err = p:json("snapshot " .. (args or ""), url and { DATABASE_URL = url } or nil)
  assert.are.equal(0, code, err)
  return doc
end

local function setup(p)
  p:write("schema.sql", SCHEMA)
  local out, err, code = h.sh("psql -X -q -v ON_ERROR_STOP=1 -d " .. h.q(p.url) .. " -f " .. h.q(p:path("schema.sql")))
  assert.are.equal(0, code, out .. err)
end

describe("lumi snapshot", function()
  it("is the same after VACUUM FULL, ANALYZE, CLUSTER, REINDEX, a dump restored elsewhere, another "
    .. "search_path, and in 100 runs", function()
    h.with_project({}, function(p)
      setup(p)
      local first = snapshot(p, nil, "--lines")
      assert.is_true(first.count > 40)
      for _, kind in ipairs({ "schema app", "enum app.mood ('sad', 'ok', 'happy')", "composite app.pair",
          "domain app.positive", "domain constraint app.positive.", "range app.floatrange", "sequence app.counter",
          "column order app.users id, email, mood, score, name, full_name, created_at", "constraint app.posts.",
          "index app.posts_body_trgm", "view app.active", "materialized view app.counts", "trigger app.posts.posts_touch",
          "function app.touch()", "procedure app.noop()", "row level security app.posts", "policy app.posts.own_posts",
          "table app.events partition by RANGE (at)", "table app.events_2024 partition of app.events",
          "comment on table app.users is 'the people'", "extension pg_trgm" }) do
        local seen = false
        for _, l in ipairs(first.lines) do seen = seen or l:sub(1, #kind) == kind end
        assert.is_true(seen, "no line starts with " .. kind)
      end
      for _, l in ipairs(first.lines) do
        assert.is_nil(l:find("gin_trgm_ops(", 1, true) and l:match("^function"), "an extension's member: " .. l)
        assert.is_nil(l:match("^function public%.similarity"), "an extension's member: " .. l)
      end
      for _, sql in ipairs({ "VACUUM FULL", "ANALYZE", "CLUSTER app.users USING users_pkey", "REINDEX DATABASE "
          .. p.name, "REFRESH MATERIALIZED VIEW app.counts", "SELECT nextval('app.counter')" }) do
        psql(p.url, sql)
        assert.are.equal(first.hash, snapshot(p).hash, "changed by " .. sql)
      end
      -- another session's search_path
      local other = p.url .. "&options=" .. "-csearch_path%3Dapp"
      assert.are.equal(first.hash, snapshot(p, other).hash)
      -- restored into another database
      local url2, name2 = h.fresh_db()
      local ok, err = pcall(function()
        local out, e, code = h.sh("pg_dump --no-owner " .. h.q(p.url) .. " | psql -X -q -v ON_ERROR_STOP=1 -d "
          .. h.q(url2) .. " >/dev/null")
        assert.are.equal(0, code, out .. e)
        assert.are.same(first.lines, snapshot(p, url2, "--lines").lines)
      end)
      h.drop_db(name2)
      if not ok then error(err, 0) end
      -- many runs, in one process, through the Lua API
      local runs = h.lua54([[
        local fp = require "lumi.fingerprint"
        local db = require("lumi.db").connect(os.getenv("URL"))
        local seen = {}
        for _ = 1, 100 do seen[fp.hash(fp.lines(db, {}))] = true end
        local n = 0
        for _ in pairs(seen) do n = n + 1 end
        print(n)
      ]], { URL = p.url })
      assert.are.equal("1", runs:match("%d+"))
    end)
  end)

  it("changes with each kind of object changed by hand", function()
    h.with_project({}, function(p)
      setup(p)
      local base = snapshot(p).hash
      local changes = {
        "CREATE INDEX extra ON app.users (created_at)",
        "ALTER TABLE app.users ALTER COLUMN name SET NOT NULL",
        "ALTER TABLE app.users ALTER COLUMN mood SET DEFAULT 'happy'",
        "ALTER TABLE app.posts VALIDATE CONSTRAINT posts_body_check",
        "ALTER TYPE app.mood ADD VALUE 'angry'",
        "ALTER SEQUENCE app.counter INCREMENT 6",
        "CREATE OR REPLACE VIEW app.active AS SELECT id, email FROM app.users WHERE mood <> 'ok'",
        "CREATE OR REPLACE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        "ALTER TABLE app.posts FORCE ROW LEVEL SECURITY",
        "DROP POLICY own_posts ON app.posts",
        "COMMENT ON COLUMN app.users.email IS 'changed'",
        "ALTER DOMAIN app.positive ADD CONSTRAINT below CHECK (VALUE < 100)",
        "ALTER TABLE app.posts ADD COLUMN extra int",
      }
      local seen = { [base] = true }
      for _, sql in ipairs(changes) do
        psql(p.url, sql)
        local now = snapshot(p).hash
        assert.is_nil(seen[now], "unchanged by " .. sql)
        seen[now] = true
      end
    end)
  end)

  it("--per-schema: identical tenant schemas hash equal; lumi's own tables are left out", function()
    h.with_project({ ["migrations/001_t.sql"] = "CREATE TABLE t (id int);\n" }, function(p)
      for _, s in ipairs({ "tenant_a", "tenant_b", "Tenant C", "order" }) do
        local q = '"' .. s .. '"'
        psql(p.url, "CREATE SCHEMA " .. q .. "; CREATE TABLE " .. q .. ".items (id int PRIMARY KEY, "
          .. "parent int REFERENCES " .. q .. ".items (id)); CREATE INDEX ON " .. q .. ".items (parent)")
      end
      local before = snapshot(p).hash
      local _, _, code = p:lumi("up")
      assert.are.equal(0, code)
      local doc = snapshot(p, nil, "--per-schema")
      local a, b, c = doc.schemas.tenant_a, doc.schemas.tenant_b, doc.schemas["Tenant C"]
      assert.are.equal(a.hash, b.hash)
      assert.are.equal(a.hash, c.hash)
      assert.are.equal(a.hash, doc.schemas.order.hash)     -- a keyword, which quote_ident quotes
      assert.are_not.equal(doc.schemas.public.hash, a.hash)
      -- up added table t, and its own tables, which are not counted
      local lines = snapshot(p, nil, "--lines").lines
      for _, l in ipairs(lines) do assert.is_nil(l:find("schema_migrations", 1, true), l) end
      assert.are_not.equal(before, doc.hash)
    end)
  end)

  it("reads the schemas lumi manages (`schemas`), unless snapshot.schemas names others", function()
    h.with_project({}, 'return { schemas = { "app" } }\n', function(p)
      psql(p.url, "CREATE SCHEMA app; CREATE TABLE app.a (id int); CREATE TABLE public.b (id int)")
      local lines = snapshot(p, nil, "--lines").lines
      assert.are.same({ "column app.a.id integer", "column order app.a id", "extension plpgsql 1.0", "schema app",
        "table app.a" }, lines)
      p:write("migrate.lua", 'return { schemas = { "app" }, snapshot = { schemas = { "public" } } }\n')
      lines = snapshot(p, nil, "--lines").lines
      assert.are.same({ "column order public.b id", "column public.b.id integer", "extension plpgsql 1.0",
        "schema public", "table public.b" }, lines)
    end)
  end)
end)
