-- The checksum cache: lumi keeps the SHA-256s of the migration files in
-- $XDG_CACHE_HOME/lumi (~/.cache/lumi), valid while a file's stat data
-- (inode, size, mtime, ctime) are unchanged. What a user must see: the same
-- answers with and without it, and an edit caught even when it keeps the
-- file's size and mtime.
local h = require "support.helper"
local cjson = require "cjson"

-- files whose last change is less than two seconds old are never cached:
-- every project here is made in setup, followed by one wait for them all
local projects = {}
local names = { "twice", "edit", "edit_back", "off", "home", "two_a", "two_b", "json", "named" }

local function ls(path)
  local out, _, code = h.sh("ls -A " .. h.q(path))
  if code ~= 0 then return nil end
  local list = {}
  for name in out:gmatch("[^\n]+") do list[#list + 1] = name end
  return list
end

-- the one cache file under base/lumi, its name and its lines {path = hex}
local function cache_of(base)
  local files = ls(base .. "/lumi") or {}
  assert.are.equal(1, #files, "cache files: " .. table.concat(files, ", "))
  assert.truthy(files[1]:match("^checksums%-%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x$"), files[1])
  local text = h.read(base .. "/lumi/" .. files[1])
  assert.are.equal("lumi checksums 1\n", text:sub(1, 17))
  local lines = {}
  for line in text:sub(18):gmatch("[^\n]+") do
    local hex, path = line:match("^(%x+) %d+ %d+ %d+ [%d.]+ [%d.]+ (.+)$")
    assert.truthy(hex, line)
    lines[path] = hex
  end
  return files[1], lines
end

-- rewrite `path` with `contents` (the same length) and put its old
-- atime/mtime back, as an editor or a checkout preserving times might
local function rewrite_keeping_times(path, contents)
  local old = h.read(path)
  assert.are.equal(#old, #contents, "the rewrite must keep the size")
  local ref = h.tmpdir() .. "/ref"
  local mtime = h.sh("stat -c %y " .. h.q(path))
  local _, err, code = h.sh("touch -r " .. h.q(path) .. " " .. h.q(ref))
  assert.are.equal(0, code, err)
  h.write(path, contents)
  _, err, code = h.sh("touch -r " .. h.q(ref) .. " " .. h.q(path))
  assert.are.equal(0, code, err)
  assert.are.equal(mtime, (h.sh("stat -c %y " .. h.q(path))))
  assert.are.equal(#old, #h.read(path))
end

describe("the checksum cache (end to end)", function()
  setup(function()
    for _, name in ipairs(names) do
      local files = h.three_files()
      if name == "off" then files["migrate.lua"] = "return { checksum_cache = false }\n" end
      if name == "named" then files["migrate.lua"] = 'return { checksum_cache = ".cache/sums" }\n' end
      projects[name] = { dir = h.project(files), url = (h.fresh_db()), cache = h.tmpdir() }
    end
    os.execute("sleep 2.1")
  end)

  local function lumi(p, args, env)
    env = env or { XDG_CACHE_HOME = p.cache }
    env.DATABASE_URL = p.url
    return h.lumi(p.dir, args, env)
  end

  it("keeps the files' SHA-256s in $XDG_CACHE_HOME/lumi; status gives the same answer from it", function()
    local p = projects.twice
    local out, err, code = lumi(p, "up")
    assert.are.equal(0, code, out .. err)
    local _, lines = cache_of(p.cache)
    local n = 0
    for path, hex in pairs(lines) do
      n = n + 1
      assert.are.equal(h.sha256sum(p.dir .. "/" .. path), hex, path)
    end
    assert.are.equal(3, n)
    local out1, err1, code1 = lumi(p, "status")
    local out2, err2, code2 = lumi(p, "status")
    assert.are.equal(0, code1, err1)
    assert.are.equal(0, code2, err2)
    assert.truthy(h.has(out1, "3 migrations: 3 applied, 0 pending"), out1)
    assert.are.equal(out1, out2)
    assert.are.equal(err1, err2)
    -- validate agrees, from the cache too
    local vout, verr, vcode = lumi(p, "validate")
    assert.are.equal(0, vcode, verr)
    assert.truthy(h.has(vout, "OK: 3 migrations checked, no problems."), vout)
  end)

  it("is read, not only written: an entry is believed while the file's stat data are unchanged", function()
    local p = projects.json
    assert.are.equal(0, select(3, lumi(p, "up")))
    local name, lines = cache_of(p.cache)
    local real = h.sha256sum(p.dir .. "/migrations/001_create_users.sql")
    assert.are.equal(real, lines["migrations/001_create_users.sql"])
    -- a digest planted in the cache, with the file untouched, is taken as the file's
    local fake = string.rep("0f", 32)
    local file = p.cache .. "/lumi/" .. name
    local text, n = h.read(file):gsub(real, fake)
    assert.are.equal(1, n)
    h.write(file, text)
    local out, err, code = lumi(p, "status --json")
    assert.are.equal(0, code, err)
    local doc = cjson.decode(out)
    assert.are.equal("changed", doc.entries[1].state)
    assert.are.equal(fake, doc.entries[1].file_checksum)
    assert.are.equal(real, doc.entries[1].checksum)
    assert.are.same({ total = 3, applied = 2, pending = 0, changed = 1, missing = 0, unfinished = 0, in_progress = 0 }, doc.totals)
    -- once the file is touched (its ctime moves), it is hashed again
    local _, terr, tcode = h.sh("touch " .. h.q(p.dir .. "/migrations/001_create_users.sql"))
    assert.are.equal(0, tcode, terr)
    out = lumi(p, "status")
    assert.truthy(h.has(out, "3 migrations: 3 applied, 0 pending"), out)
  end)

  it("sees an applied file edited with its size and mtime kept: status says changed, validate fails", function()
    local p = projects.edit
    assert.are.equal(0, select(3, lumi(p, "up")))
    local out = lumi(p, "status")
    assert.truthy(h.has(out, "3 migrations: 3 applied, 0 pending"), out)
    local path = p.dir .. "/migrations/003_add_name.sql"
    rewrite_keeping_times(path, "ALTER TABLE users ADD COLUMN nick text;\n")
    local code
    out, _, code = lumi(p, "status")
    assert.are.equal(0, code)
    assert.truthy(h.has(out, "changed  003_add_name.sql"), out)
    assert.truthy(h.has(out, "3 migrations: 2 applied, 0 pending, 1 changed"), out)
    local err
    _, err, code = lumi(p, "validate")
    assert.are.equal(3, code, err)
    assert.truthy(h.has(err, "changed: 003_add_name.sql: changed since it was applied"), err)
    -- up refuses to go on over it, as without a cache
    out, err, code = lumi(p, "up")
    assert.are.equal(3, code, out .. err)
    assert.truthy(h.has(err, "applied migration changed since it was applied: 003_add_name.sql"), err)
    out, err, code = lumi(p, "status --json")
    assert.are.equal(0, code, err)
    local doc = cjson.decode(out)
    assert.are.equal(h.sha256sum(path), doc.entries[3].file_checksum)
  end)

  it("sees the file put back as it was (same size, same mtime): applied again", function()
    local p = projects.edit_back
    assert.are.equal(0, select(3, lumi(p, "up")))
    local path = p.dir .. "/migrations/002_create_posts.sql"
    local original = h.read(path)
    lumi(p, "status")
    rewrite_keeping_times(path, (original:gsub("posts_user", "posts_USER")))
    local out = lumi(p, "status")
    assert.truthy(h.has(out, "changed  002_create_posts.sql"), out)
    rewrite_keeping_times(path, original)
    out = lumi(p, "status")
    assert.truthy(h.has(out, "applied  002_create_posts.sql"), out)
    assert.truthy(h.has(out, "3 migrations: 3 applied, 0 pending"), out)
    local _, err, code = lumi(p, "validate")
    assert.are.equal(0, code, err)
  end)

  it("with checksum_cache = false writes no cache file, and still sees edits", function()
    local p = projects.off
    local out, err, code = lumi(p, "up")
    assert.are.equal(0, code, out .. err)
    lumi(p, "status")
    out, err, code = lumi(p, "status")
    assert.are.equal(0, code, err)
    assert.truthy(h.has(out, "3 migrations: 3 applied, 0 pending"), out)
    local listing = ls(p.cache .. "/lumi")
    assert.is_true(listing == nil or #listing == 0, table.concat(listing or {}, ", "))
    assert.are.same({}, ls(p.cache))
    rewrite_keeping_times(p.dir .. "/migrations/001_create_users.sql",
      (h.read(p.dir .. "/migrations/001_create_users.sql"):gsub("email", "EMAIL")))
    out = lumi(p, "status")
    assert.truthy(h.has(out, "changed  001_create_users.sql"), out)
    assert.are.same({}, ls(p.cache))
  end)

  it("lives in ~/.cache/lumi without XDG_CACHE_HOME (or with a relative one)", function()
    local p = projects.home
    local home = h.tmpdir()
    local out, err, code = lumi(p, "up", { HOME = home, XDG_CACHE_HOME = "relative/cache" })
    assert.are.equal(0, code, out .. err)
    local _, lines = cache_of(home .. "/.cache")
    assert.are.equal(h.sha256sum(p.dir .. "/migrations/001_create_users.sql"),
      lines["migrations/001_create_users.sql"])
    assert.is_nil(ls(p.dir .. "/relative"))
    -- no home to keep it in: no cache, and no complaint
    out, err, code = h.sh("cd " .. h.q(p.dir) .. " && env -u HOME -u XDG_CACHE_HOME DATABASE_URL=" .. h.q(p.url)
      .. " " .. h.q(h.bin) .. " status")
    assert.are.equal(0, code, out .. err)
    assert.truthy(h.has(out, "3 migrations: 3 applied, 0 pending"), out)
    assert.are.equal("", err)
  end)

  it("keeps one cache file per migrations directory", function()
    local a, b = projects.two_a, projects.two_b
    local shared = h.tmpdir()
    assert.are.equal(0, select(3, lumi(a, "up", { XDG_CACHE_HOME = shared })))
    assert.are.equal(0, select(3, lumi(b, "up", { XDG_CACHE_HOME = shared })))
    local files = ls(shared .. "/lumi")
    assert.are.equal(2, #files, table.concat(files, ", "))
    assert.are_not.equal(files[1], files[2])
    -- b's edit is b's: a stays applied
    rewrite_keeping_times(b.dir .. "/migrations/003_add_name.sql", "ALTER TABLE users ADD COLUMN nick text;\n")
    local out_a = lumi(a, "status", { XDG_CACHE_HOME = shared })
    local out_b = lumi(b, "status", { XDG_CACHE_HOME = shared })
    assert.truthy(h.has(out_a, "3 migrations: 3 applied, 0 pending"), out_a)
    assert.truthy(h.has(out_b, "changed  003_add_name.sql"), out_b)
  end)

  it("checksum_cache = FILE keeps the cache in that file, relative to migrate.lua, and nowhere else", function()
    local p = projects.named
    local out, err, code = lumi(p, "up")
    assert.are.equal(0, code, out .. err)
    local text = h.read(p.dir .. "/.cache/sums")
    assert.truthy(text, "no cache file at .cache/sums")
    assert.are.equal("lumi checksums 1\n", text:sub(1, 17))
    assert.truthy(h.has(text, h.sha256sum(p.dir .. "/migrations/001_create_users.sql")), text)
    assert.are.same({}, ls(p.cache))
    -- and it is read: an edit keeping size and mtime is still seen through it
    rewrite_keeping_times(p.dir .. "/migrations/001_create_users.sql",
      (h.read(p.dir .. "/migrations/001_create_users.sql"):gsub("email", "EMAIL")))
    out = lumi(p, "status")
    assert.truthy(h.has(out, "changed  001_create_users.sql"), out)
  end)

  it("a checksum_cache that is neither a boolean nor a file name is a config error naming the key", function()
    local dir = h.project(h.three_files())
    h.write(dir .. "/migrate.lua", 'return { checksum_cache = 1 }\n')
    local out, err, code = h.lumi(dir, "status", { DATABASE_URL = h.url })
    assert.are.equal(2, code, out .. err)
    assert.truthy(h.has(err, 'key "checksum_cache" must be a boolean or string'), err)
    assert.truthy(h.has(err, "migrate.lua"), err)
  end)
end)
