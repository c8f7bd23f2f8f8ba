local h = require "support.helper"

describe("lumi verify (end to end)", function()
  local url, dir
  before_each(function()
    url = h.fresh_db()
    dir = h.project(h.three_files())
  end)

  it("reports the server, the role and the tracking table", function()
    local out, err, code = h.lumi(dir, "verify", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("server      PostgreSQL ", 1, true), out)
    assert.truthy(out:find("as          postgres on database " .. url:match("^postgresql:///([^?]+)"), 1, true), out)
    assert.truthy(out:find("tracking    schema_migrations does not exist yet (lumi up creates it)", 1, true), out)
    assert.truthy(out:find("lock        free", 1, true), out)
    h.lumi(dir, "up", { DATABASE_URL = url })
    out = h.lumi(dir, "verify", { DATABASE_URL = url })
    assert.truthy(out:find("tracking    schema_migrations exists, 3 rows", 1, true), out)
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
