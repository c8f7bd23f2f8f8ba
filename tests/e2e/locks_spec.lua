-- lumi locks: the pending migrations traced on a scratch database, what
-- each statement locks, rewrites and scans read from PostgreSQL; never the
-- target.
local h = require "support.helper"

local FILES = {
  ["migrations/001_users.sql"] = "CREATE TABLE users (id int PRIMARY KEY, email text);\n"
    .. "INSERT INTO users SELECT g, g::text FROM generate_series(1, 100) g;\n",
  ["migrations/002_alter.sql"] = "ALTER TABLE users ADD COLUMN note text;\n"
    .. "ALTER TABLE users ALTER COLUMN id TYPE bigint;\n"
    .. "UPDATE users SET note = 'x' WHERE id < 10;\n",
  ["migrations/003_index.sql"] = "-- lumi: no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n",
}

local function lock(stmt, relation, mode)
  for _, l in ipairs(stmt.locks) do
    if l.relation == relation and l.mode == mode then return l end
  end
  return nil
end

local function scratch_databases()
  return tonumber(h.value(h.url, "SELECT count(*) FROM pg_database WHERE datname LIKE 'lumi\\_scratch\\_%'"))
end

describe("lumi locks", function()
  it("reports each statement's locks, rewrites and scans, and the verdict, without touching the target", function()
    h.with_project(FILES, function(p)
      local _, _, code = p:lumi("up --to 1")
      assert.are.equal(0, code)
      local before = scratch_databases()
      local doc, c2 = p:json("locks")
      assert.are.equal(3, c2)
      assert.are.same({ "002_alter.sql", "003_index.sql" }, h.files(doc.migrations))
      local alter = doc.migrations[1]
      assert.is_true(alter.in_transaction)
      local s1, s2, s3 = alter.statements[1], alter.statements[2], alter.statements[3]
      assert.are.same({ 1, 1 }, { s1.line, s1.column })
      local l1 = lock(s1, "public.users", "ACCESS EXCLUSIVE")
      assert.is_true(l1.new)
      assert.are.equal("transaction", l1.held)
      assert.are.same({}, s1.rewrites)
      assert.are.equal("takes ACCESS EXCLUSIVE on public.users and holds it through 2 later statements until COMMIT",
        s1.verdict.message)
      assert.are.same({ "public.users" }, s2.rewrites)
      assert.is_false(lock(s2, "public.users", "ACCESS EXCLUSIVE").new)     -- held since statement 1
      assert.truthy(s2.verdict.message:find("rewrites public.users under ACCESS EXCLUSIVE (held since statement 1)",
        1, true), s2.verdict.message)
      assert.are.same({ "public.users" }, s3.scans)
      assert.is_false(doc.migrations[2].in_transaction)
      assert.are.equal("statement", (doc.migrations[2].statements[1].locks[1] or { held = "statement" }).held)
      -- the target as it was, and no scratch database left behind
      assert.is_false(h.column_exists(p.url, "users", "note"))
      assert.are.same({ "001" }, h.versions(p.url, "schema_migrations"))
      assert.are.equal(before, scratch_databases())
      -- the text report
      local out = p:lumi("locks")
      assert.truthy(out:find("public.users%s+ACCESS EXCLUSIVE%s+blocks reads, writes, DDL%s+until COMMIT"), out)
      assert.truthy(out:find("rewrites public.users", 1, true), out)
    end)
  end)

  it("with table sizes from --stats-from, a rewrite of a small table is no error; a lone statement with a "
    .. "lock_timeout is fine", function()
    h.with_project({
      ["migrations/001_users.sql"] = FILES["migrations/001_users.sql"] .. "ANALYZE users;\n",
      ["migrations/002_type.sql"] = "ALTER TABLE users ALTER COLUMN id TYPE bigint;\n",
    }, function(p)
      p:lumi("up --to 1")
      local _, code = p:json("locks")
      assert.are.equal(3, code)             -- without sizes, any table may be large
      local doc
      doc, code = p:json("locks --stats-from target")
      assert.are.equal(0, code)
      assert.is_nil(doc.migrations[1].statements[1].verdict)
      assert.are.equal(100, doc.stats["public.users"].rows)
    end)
  end)

  it("uses `shadow` when migrate.lua names one, and a verdict of migrate.lua", function()
    local url, name = h.fresh_db()
    local ok, err = pcall(function()
      h.with_project(FILES, string.format([[
return {
  shadow = %q,
  locks = { verdict = function(stmt)
    if #stmt.scans > 0 then return { severity = "warning", message = "scans " .. stmt.scans[1] } end
  end },
}
]], url), function(p)
        p:lumi("up --to 1")
        local doc, code = p:json("locks")
        assert.are.equal(0, code)
        assert.are.equal("shadow", doc.scratch)
        assert.are.equal("scans public.users", doc.migrations[1].statements[3].verdict.message)
        assert.is_nil(doc.migrations[1].statements[1].verdict)
        -- the shadow database is empty again, so the next run can use it
        assert.is_false(h.table_exists(url, "users"))
        local again = select(2, p:json("locks"))
        assert.are.equal(0, again)
        -- one that is not empty is refused, and left as it is
        h.query(url, "CREATE TABLE keep (id int)")
        local out, e2, c2 = p:lumi("locks")
        assert.are.equal(2, c2, out .. e2)
        assert.truthy(e2:find("shadow database " .. name .. " is not empty", 1, true), e2)
        assert.is_true(h.table_exists(url, "keep"))
      end)
      h.with_project(FILES, "return { shadow = os.getenv('DATABASE_URL') }\n", function(p)
        local out, e2, code = p:lumi("locks")
        assert.are.equal(2, code, out .. e2)
        assert.truthy(e2:find("shadow names the target's own database: lumi runs migrations there", 1, true), e2)
      end)
    end)
    h.drop_db(name)
    if not ok then error(err, 0) end
  end)
end)
