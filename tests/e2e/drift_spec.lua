-- Drift: up records the schema's fingerprint after the last migration it
-- applies (down: on the newest row left); lumi drift compares the live
-- schema with it and names what differs; drift.on_up refuses to migrate a
-- drifted database.
local h = require "support.helper"

local FILES = {
  ["migrations/001_users.sql"] = "CREATE TABLE users (id int PRIMARY KEY, email text);\n",
  ["migrations/002_index.sql"] = "-- migrate:up\nCREATE INDEX users_email ON users (email);\n"
    .. "-- migrate:down\nDROP INDEX users_email;\n",
}

local function recorded(p, version)
  return p:value("SELECT fingerprint FROM schema_migrations WHERE version = $1", version)
end

describe("drift", function()
  it("up records the fingerprint on the last migration's row; drift names an index created by hand", function()
    h.with_project(FILES, function(p)
      local _, _, code = p:lumi("up")
      assert.are.equal(0, code)
      local snap = p:json("snapshot")
      assert.are.equal(snap.hash, recorded(p, "002"))
      assert.are.equal(require("lumi.pg").null, recorded(p, "001"))   -- only the last of the run
      local doc, c2 = p:json("drift")
      assert.are.equal(0, c2)
      assert.is_false(doc.drift)
      assert.are.equal("002_index.sql", doc.newest)
      h.psql(p.url, "CREATE INDEX extra ON users (id, email)")
      h.psql(p.url, "ALTER TABLE users ALTER COLUMN email SET NOT NULL")
      local out, _, c3 = p:lumi("drift")
      assert.are.equal(3, c3)
      assert.truthy(out:find("added    index public.extra CREATE INDEX extra ON public.users USING btree (id, email)",
        1, true), out)
      assert.truthy(out:find("changed  column public.users.email", 1, true), out)
      doc = p:json("drift")
      assert.is_true(doc.drift)
      assert.are.equal("replayed", doc.source)
      assert.are.same({ "index public.extra" }, { doc.added[1].object })
      assert.are.equal("column public.users.email text", doc.changed[1].expected)
      assert.are.equal("column public.users.email text not null", doc.changed[1].live)
      -- no scratch database left behind
      assert.are.equal(0, tonumber(h.value(h.url, "SELECT count(*) FROM pg_database "
        .. "WHERE datname LIKE 'lumi\\_scratch\\_%'")))
    end)
  end)

  it("with keep_snapshots, the recorded lines say what differs without a replay; down records on the row left",
    function()
      h.with_project(FILES, "return { drift = { keep_snapshots = true } }\n", function(p)
        p:lumi("up")
        h.psql(p.url, "DROP INDEX users_email")
        local doc, code = p:json("drift")
        assert.are.equal(3, code)
        assert.are.equal("recorded", doc.source)
        assert.are.equal("index public.users_email", doc.removed[1].object)
        h.psql(p.url, "CREATE INDEX users_email ON users (email)")
        local _, _, dcode = p:lumi("down")
        assert.are.equal(0, dcode)
        assert.are.equal(p:json("snapshot").hash, recorded(p, "001"))
        doc, code = p:json("drift")
        assert.are.equal(0, code)
        assert.are.equal("001_users.sql", doc.newest)
      end)
    end)

  it("drift.on_up = \"error\" refuses to migrate a drifted database; \"warn\" migrates and says so", function()
    local files = { ["migrations/001_users.sql"] = FILES["migrations/001_users.sql"] }
    h.with_project(files, 'return { drift = { on_up = "error" } }\n', function(p)
      p:lumi("up")
      h.psql(p.url, "ALTER TABLE users ADD COLUMN extra int")
      p:write("migrations/002_posts.sql", "CREATE TABLE posts (id int);\n")
      local out, err, code = p:lumi("up")
      assert.are.equal(3, code, out .. err)
      assert.truthy(err:find("the schema has drifted since 001_users.sql was applied", 1, true), err)
      assert.is_false(h.table_exists(p.url, "posts"))
    end)
    h.with_project(files, 'return { drift = { on_up = "warn" } }\n', function(p)
      p:lumi("up")
      h.psql(p.url, "ALTER TABLE users ADD COLUMN extra int")
      p:write("migrations/002_posts.sql", "CREATE TABLE posts (id int);\n")
      local doc, code = p:json("up")
      assert.are.equal(0, code)
      assert.truthy(table.concat(doc.warnings, "\n"):find("the schema has drifted since 001_users.sql", 1, true))
    end)
    -- a protected environment refuses by default
    h.with_project(files, 'return { protected = true }\n', function(p)
      p:lumi("up --yes")
      h.psql(p.url, "ALTER TABLE users ADD COLUMN extra int")
      p:write("migrations/002_posts.sql", "CREATE TABLE posts (id int);\n")
      local _, err, code = p:lumi("up --yes")
      assert.are.equal(3, code, err)
    end)
  end)

  it("drift.judge of migrate.lua decides what counts: here, an index added by hand does not", function()
    h.with_project(FILES, [[
return { drift = { judge = function(d)
  local added = {}
  for _, a in ipairs(d.added) do if not a.object:match("^index ") then added[#added + 1] = a end end
  return { added = added, removed = d.removed, changed = d.changed }
end } }
]], function(p)
      p:lumi("up")
      h.psql(p.url, "CREATE INDEX dba_index ON users (id, email)")
      local doc, code = p:json("drift")
      assert.are.equal(0, code)
      assert.is_false(doc.drift)
      h.psql(p.url, "ALTER TABLE users ADD COLUMN extra int")
      doc, code = p:json("drift")
      assert.are.equal(3, code)
      assert.are.equal("column public.users.extra", doc.added[1].object)
    end)
  end)

  it("a role that may not create the scratch database is told what to do", function()
    h.with_project(FILES, function(p)
      p:lumi("up")
      local role = "lumi_weak_" .. p.name
      h.psql(p.url, "CREATE ROLE " .. role .. " LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO " .. role)
      local ok, err = pcall(function()
        local _, e, code = p:lumi("drift --replay", { DATABASE_URL = (p.url:gsub("user=postgres", "user=" .. role)) })
        assert.are.equal(2, code, e)
        assert.truthy(e:find("cannot create a scratch database on the target's server: ERROR 42501: permission "
          .. "denied to create database\n  HINT: grant the role CREATEDB, or set `shadow` in migrate.lua", 1, true), e)
      end)
      h.psql(p.url, "DROP OWNED BY " .. role .. "; DROP ROLE " .. role)
      if not ok then error(err, 0) end
    end)
  end)

  it("drift.record = false records no fingerprint", function()
    h.with_project(FILES, "return { drift = { record = false } }\n", function(p)
      local _, _, code = p:lumi("up")
      assert.are.equal(0, code)
      assert.are.equal(require("lumi.pg").null, recorded(p, "002"))
    end)
  end)

  it("a tracking table from before drift gets its two columns on the next up", function()
    h.with_project(FILES, function(p)
      p:lumi("up --to 1")
      h.psql(p.url, "ALTER TABLE schema_migrations DROP COLUMN fingerprint, DROP COLUMN snapshot")
      local _, _, code = p:lumi("up")
      assert.are.equal(0, code)
      assert.are.equal(p:json("snapshot").hash, recorded(p, "002"))
    end)
  end)
end)
