local h = require "support.helper"

describe("lumi up (end to end)", function()
  local url, dir
  before_each(function()
    url = h.fresh_db()
    dir = h.project({
      ["migrations/001_create_users.sql"] = "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL);\n",
      ["migrations/002_create_posts.sql"] = "CREATE TABLE posts (id bigserial PRIMARY KEY, user_id bigint REFERENCES users);\n"
        .. "CREATE INDEX posts_user ON posts (user_id);\n",
      ["migrations/003_add_name.sql"] = "ALTER TABLE users ADD COLUMN name text;\n",
    })
  end)

  it("applies 3 files and records their sha256sum checksums", function()
    local out, err, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("applied  001_create_users.sql", 1, true))
    local c = h.connect(url)
    local rows = assert(c:query("SELECT version, file, checksum FROM schema_migrations ORDER BY version"))
    assert.are.equal(3, #rows)
    for _, r in ipairs(rows) do
      assert.are.equal(h.sha256sum(dir .. "/migrations/" .. r.file), r.checksum)
    end
    c:close()
  end)

  it("does nothing the second time", function()
    h.lumi(dir, "up", { DATABASE_URL = url })
    local out, _, code = h.lumi(dir, "up", { DATABASE_URL = url })
    assert.are.equal(0, code)
    assert.truthy(out:find("Nothing to apply", 1, true))
  end)
end)
