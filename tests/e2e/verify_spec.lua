local h = require "support.helper"

describe("lumi verify (end to end)", function()
  local url, dir
  before_each(function()
    url = h.fresh_db()
    dir = h.project(h.three_files())
  end)

  it("reports the server, the role and the tracking table", function()
    local doc, code, err = h.json(dir, "verify", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    assert.truthy(doc.server_version:match("^%d+"), doc.server_version)
    assert.are.equal("number", type(doc.server_version_num))
    assert.are.same({ "postgres", url:match("^postgresql:///([^?]+)") }, { doc.user, doc.dbname })
    assert.are.equal("schema_migrations", doc.table)
    assert.is_false(doc.table_exists)
    assert.is_nil(doc.rows)
    assert.is_nil(doc.lock_holder)     -- the lock is free
    h.lumi(dir, "up", { DATABASE_URL = url })
    doc, code, err = h.json(dir, "verify", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    assert.is_true(doc.table_exists)
    assert.are.equal(3, doc.rows)
  end)

  it("prints a line for each of them (the human output)", function()
    local dbname = url:match("^postgresql:///([^?]+)")
    local out, err, code = h.lumi(dir, "verify", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal("Connected to " .. url, lines[1], out)
    assert.truthy(lines[2]:match("^  server      PostgreSQL %d+"), out)
    -- (then where: the host or socket directory, and the port)
    assert.truthy(lines[3]:match("^  as          postgres on database " .. dbname .. " %(.+:%d+%)$"), out)
    assert.are.equal("  tracking    schema_migrations does not exist yet (lumi up creates it)", lines[4], out)
    assert.are.equal("  lock        free", lines[5], out)
    assert.are.equal(5, #lines, out)
    h.lumi(dir, "up", { DATABASE_URL = url })
    out = h.lumi(dir, "verify", { DATABASE_URL = url })
    assert.truthy(out:find("\n  tracking    schema_migrations exists, 3 rows\n", 1, true), out)
  end)

  it("shows the database URL with the password hidden", function()
    -- the test server trusts every connection, so the password is not checked
    local with_pw = url:gsub("^postgresql://", "postgresql://postgres:s3cretpw@")
    local out, err, code = h.lumi(dir, "verify", { DATABASE_URL = with_pw })
    assert.are.equal(0, code, err)
    assert.is_nil(out:find("s3cretpw", 1, true), out)
    assert.truthy(out:find("postgresql://postgres:***@/", 1, true), out)
  end)

  it("hides passwords holding spaces, quotes and backslash escapes, as libpq reads them", function()
    local host = url:match("host=([^&]+)")
    local dbname = url:match("^postgresql:///([^?]+)")
    for _, case in ipairs({
      { url:gsub("^postgresql://", "postgresql://postgres:it's a s3cret@"), "it's a s3cret" },
      { url:gsub("^postgresql://", [[postgresql://postgres:pa"ss's3cret@]]), [[pa"ss's3cret]] },
      { url .. "&password=correct horse s3cret", "horse s3cret" },
      { "host=" .. host .. " dbname=" .. dbname .. [[ user=postgres password=hunter2\ tail_of_s3cret]], "tail_of_s3cret" },
    }) do
      for _, args in ipairs({ "verify", "verify --json" }) do
        local out, err, code = h.lumi(dir, args, { DATABASE_URL = case[1] })
        assert.are.equal(0, code, err)
        assert.is_nil(out:find("s3cret", 1, true), out)
        assert.truthy(out:find("***", 1, true), out)
      end
    end
  end)

  it("hides a password given as a URL parameter and keeps the rest", function()
    local with_pw = url:gsub("%?", "?password=s3cretpw&", 1)
    local out, err, code = h.lumi(dir, "verify --json", { DATABASE_URL = with_pw })
    assert.are.equal(0, code, err)
    assert.is_nil(out:find("s3cretpw", 1, true), out)
    local doc = require("cjson").decode(out)
    assert.truthy(doc.database:find("password=***", 1, true), doc.database)
    assert.truthy(doc.database:find("host=", 1, true), doc.database)
  end)
end)
