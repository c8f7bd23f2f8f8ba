local h = require "support.helper"
local hash = require "lumi.hash"

describe("lumi.hash", function()
  it("sha256 of the standard test vectors", function()
    assert.are.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", hash.sha256(""))
    assert.are.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", hash.sha256("abc"))
    assert.are.equal("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
      hash.sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))
  end)

  it("sha256 covers embedded NUL bytes", function()
    assert.are_not.equal(hash.sha256("a\0b"), hash.sha256("a\0c"))
    assert.are.equal(64, #hash.sha256("a\0b"))
  end)

  it("sha256_file equals sha256sum, across several read chunks", function()
    local dir = h.tmpdir()
    local parts = {}
    for i = 1, 20000 do parts[i] = string.char(i % 256) .. "line " .. i .. "\r\n" end
    local path = dir .. "/big.sql"
    h.write(path, table.concat(parts))
    assert.are.equal(h.sha256sum(path), hash.sha256_file(path))
    assert.are.equal(hash.sha256(h.read(path)), hash.sha256_file(path))
  end)

  it("sha256_file of an empty file", function()
    local path = h.tmpdir() .. "/empty.sql"
    h.write(path, "")
    assert.are.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", hash.sha256_file(path))
  end)

  it("sha256_file of a missing file returns nil, message, errno", function()
    local sum, msg, code = hash.sha256_file("/nonexistent/x.sql")
    assert.is_nil(sum)
    assert.are.equal("/nonexistent/x.sql: No such file or directory", msg)
    assert.are.equal(2, code)
  end)
end)

describe("lumi.hash.start (background hashing)", function()
  local function files(n)
    local dir = h.tmpdir()
    local paths = {}
    for i = 1, n do
      paths[i] = string.format("%s/%03d_f.sql", dir, i)
      h.write(paths[i], string.rep("row " .. i .. "\n", i * 100))
    end
    return paths
  end

  for _, n in ipairs({ 0, 1, 5, 100 }) do
    it("gives the sha256sum of each of " .. n .. " files", function()
      local paths = files(n)
      local sums, failures = hash.start(paths):wait()
      local count = 0
      for _ in pairs(sums) do count = count + 1 end
      assert.are.equal(n, count)
      for _, p in ipairs(paths) do assert.are.equal(h.sha256sum(p), sums[p], p) end
      assert.are.same({}, failures)
    end)
  end

  it("marks an unreadable file false and says why", function()
    local paths = files(2)
    paths[3] = "/nonexistent/x.sql"
    local sums, failures = hash.start(paths):wait()
    assert.are.equal(h.sha256sum(paths[1]), sums[paths[1]])
    assert.is_false(sums["/nonexistent/x.sql"])
    assert.are.equal("/nonexistent/x.sql: No such file or directory", failures["/nonexistent/x.sql"])
  end)

  it("refuses a path that is not a string", function()
    assert.has_error(function() hash.start({ "a", {} }) end, "hash.start: paths[2] is not a string")
  end)
end)

describe("lumi.hash.start with a checksum cache", function()
  -- Files are cached only once their last change is two seconds old: every
  -- test here gets a directory of its own made in setup, followed by one
  -- wait for the lot.
  local sets = {}
  local names = { "hits", "rewrite", "poisoned", "garbage", "missing", "unwritable", "fresh", "subset", "twice" }

  local function make_files(n)
    local d = h.tmpdir()
    local paths = {}
    for i = 1, n do
      paths[i] = string.format("%s/%03d_f.sql", d, i)
      h.write(paths[i], string.rep("row " .. i .. "\n", i * 50))
    end
    return paths
  end

  setup(function()
    for _, name in ipairs(names) do sets[name] = make_files(4) end
    os.execute("sleep 2.1")
  end)

  local function check_sums(paths, sums)
    for _, p in ipairs(paths) do assert.are.equal(h.sha256sum(p), sums[p], p) end
  end

  -- the cache file's lines as {path = {hex=, key=}} (nil when unreadable)
  local function cache_lines(file)
    local f = io.open(file, "rb")
    if not f then return nil end
    local text = f:read("a")
    f:close()
    assert.are.equal("lumi checksums 1\n", text:sub(1, 17))
    local out = {}
    for line in text:sub(18):gmatch("[^\n]+") do
      local hex, key, path = line:match("^(%x+) (%d+ %d+ %d+ [%d.]+ [%d.]+) (.+)$")
      assert.truthy(hex, line)
      out[path] = { hex = hex, key = key }
    end
    return out
  end

  it("a second start over the same files with the same cache gives the same sums, all from the cache", function()
    local paths = sets.hits
    local cache = h.tmpdir() .. "/cache/lumi/checksums"
    local sums1, failures1, counts1 = hash.start(paths, cache):wait()
    check_sums(paths, sums1)
    assert.are.same({}, failures1)
    assert.are.same({ hashed = 4, cached = 0 }, counts1)
    -- the cache file, made with its directories, has a line per file
    local lines = cache_lines(cache)
    for _, p in ipairs(paths) do assert.are.equal(h.sha256sum(p), lines[p] and lines[p].hex, p) end
    local sums2, failures2, counts2 = hash.start(paths, cache):wait()
    assert.are.same(sums1, sums2)
    assert.are.same({}, failures2)
    assert.are.same({ hashed = 0, cached = 4 }, counts2)
    -- and again: a run from the cache keeps the cache whole
    local sums3, _, counts3 = hash.start(paths, cache):wait()
    assert.are.same(sums1, sums3)
    assert.are.same({ hashed = 0, cached = 4 }, counts3)
  end)

  it("without a cache argument nothing comes from a cache", function()
    local paths = sets.hits
    local sums, _, counts = hash.start(paths):wait()
    check_sums(paths, sums)
    assert.are.same({ hashed = 4, cached = 0 }, counts)
  end)

  it("re-hashes a file rewritten with the same size and its old mtime (its ctime moved)", function()
    local paths = sets.rewrite
    local cache = h.tmpdir() .. "/checksums"
    local before = hash.start(paths, cache):wait()
    local target = paths[2]
    local ref = h.tmpdir() .. "/ref"
    local old = h.read(target)
    local mtime_before = h.sh("stat -c %y " .. h.q(target))
    -- same length, different bytes, then the old atime/mtime put back
    local _, err, code = h.sh("touch -r " .. h.q(target) .. " " .. h.q(ref))
    assert.are.equal(0, code, err)
    local new = old:gsub("row", "ROW")
    assert.are.equal(#old, #new)
    h.write(target, new)
    _, err, code = h.sh("touch -r " .. h.q(ref) .. " " .. h.q(target))
    assert.are.equal(0, code, err)
    assert.are.equal(mtime_before, (h.sh("stat -c %y " .. h.q(target))))
    assert.are.equal(#old, tonumber((h.sh("stat -c %s " .. h.q(target)))))
    local sums, failures, counts = hash.start(paths, cache):wait()
    assert.are.same({}, failures)
    assert.are.equal(h.sha256sum(target), sums[target])
    assert.are.equal(hash.sha256(new), sums[target])
    assert.are_not.equal(before[target], sums[target])
    check_sums(paths, sums)
    assert.are.same({ hashed = 1, cached = 3 }, counts)
  end)

  it("takes the digest from the cache while the stat data match (the cache is really read)", function()
    local paths = sets.poisoned
    local cache = h.tmpdir() .. "/checksums"
    hash.start(paths, cache):wait()
    -- an entry with the right stat data and a made-up digest is believed
    local text = h.read(cache)
    local real = h.sha256sum(paths[1])
    local fake = string.rep("ab", 32)
    local edited, n = text:gsub(real, fake)
    assert.are.equal(1, n)
    h.write(cache, edited)
    local sums, _, counts = hash.start(paths, cache):wait()
    assert.are.equal(fake, sums[paths[1]])
    assert.are.same({ hashed = 0, cached = 4 }, counts)
    -- an entry whose stat data do not match is not: the file is hashed
    local line_key = cache_lines(cache)[paths[2]].key
    local bad_key = line_key:gsub("^(%d+ %d+ )(%d+)", function(a, size) return a .. (tonumber(size) + 1) end)
    h.write(cache, (h.read(cache):gsub(line_key:gsub("%p", "%%%0"), bad_key, 1)))
    sums, _, counts = hash.start(paths, cache):wait()
    assert.are.equal(h.sha256sum(paths[2]), sums[paths[2]])
    assert.are.same({ hashed = 1, cached = 3 }, counts)
  end)

  for _, case in ipairs({
    { "garbage bytes", "\0\1\2 not a cache at all\n" },
    { "the header alone, then garbage", "lumi checksums 1\nthis line is not an entry\n" },
    { "another version's header", "lumi checksums 2\n" },
    { "an entry cut short", "lumi checksums 1\n" .. string.rep("a", 64) .. " 1 2\n" },
    { "an empty file", "" },
  }) do
    it("ignores a cache file holding " .. case[1] .. ": right sums, no error, and rewrites it", function()
      local paths = sets.garbage
      local cache = h.tmpdir() .. "/checksums"
      h.write(cache, case[2])
      local sums, failures, counts = hash.start(paths, cache):wait()
      check_sums(paths, sums)
      assert.are.same({}, failures)
      assert.are.same({ hashed = 4, cached = 0 }, counts)
      local lines = cache_lines(cache)
      for _, p in ipairs(paths) do assert.are.equal(h.sha256sum(p), lines[p] and lines[p].hex, p) end
      local _, _, counts2 = hash.start(paths, cache):wait()
      assert.are.same({ hashed = 0, cached = 4 }, counts2)
    end)
  end

  it("ignores a cache entry whose digest is not hex, and hashes that file", function()
    local paths = sets.garbage
    local cache = h.tmpdir() .. "/checksums"
    hash.start(paths, cache):wait()
    local real = h.sha256sum(paths[3])
    h.write(cache, (h.read(cache):gsub(real, string.rep("zz", 32))))
    local sums, failures = hash.start(paths, cache):wait()
    check_sums(paths, sums)
    assert.are.same({}, failures)
  end)

  it("creates a missing cache directory", function()
    local paths = sets.missing
    local cache = h.tmpdir() .. "/a/b/c/checksums"
    local sums, failures, counts = hash.start(paths, cache):wait()
    check_sums(paths, sums)
    assert.are.same({}, failures)
    assert.are.same({ hashed = 4, cached = 0 }, counts)
    assert.truthy(cache_lines(cache))
  end)

  it("works without a cache where none can be written (a file in the way, a directory in its place)", function()
    local paths = sets.unwritable
    local d = h.tmpdir()
    h.write(d .. "/plain", "a file, not a directory\n")
    os.execute("mkdir " .. h.q(d .. "/a_dir"))
    for _, cache in ipairs({ d .. "/plain/lumi/checksums", d .. "/a_dir" }) do
      for _ = 1, 2 do
        local sums, failures, counts = hash.start(paths, cache):wait()
        check_sums(paths, sums)
        assert.are.same({}, failures)
        assert.are.same({ hashed = 4, cached = 0 }, counts)
      end
    end
    assert.are.equal("a file, not a directory\n", h.read(d .. "/plain"))
  end)

  it("never caches a file changed within the last two seconds", function()
    local paths = sets.fresh
    local cache = h.tmpdir() .. "/checksums"
    h.write(paths[4], "changed just now\n")
    local sums, _, counts = hash.start(paths, cache):wait()
    check_sums(paths, sums)
    assert.are.same({ hashed = 4, cached = 0 }, counts)
    assert.is_nil(cache_lines(cache)[paths[4]])
    sums, _, counts = hash.start(paths, cache):wait()
    check_sums(paths, sums)
    assert.are.same({ hashed = 1, cached = 3 }, counts)
  end)

  it("counts an unreadable file as neither hashed nor cached", function()
    local paths = { sets.subset[1], sets.subset[2], "/nonexistent/x.sql" }
    local cache = h.tmpdir() .. "/checksums"
    hash.start(paths, cache):wait()
    local sums, failures, counts = hash.start(paths, cache):wait()
    assert.are.equal(h.sha256sum(paths[1]), sums[paths[1]])
    assert.is_false(sums["/nonexistent/x.sql"])
    assert.are.equal("/nonexistent/x.sql: No such file or directory", failures["/nonexistent/x.sql"])
    assert.are.same({ hashed = 0, cached = 2 }, counts)
  end)

  it("a path given twice is cached once and found in the cache again", function()
    local p = sets.twice
    local paths = { p[1], p[2], p[1] }
    local cache = h.tmpdir() .. "/checksums"
    hash.start(paths, cache):wait()
    local sums, _, counts = hash.start(paths, cache):wait()
    assert.are.same({ hashed = 0, cached = 3 }, counts)
    assert.are.equal(h.sha256sum(p[1]), sums[p[1]])
    local _, _, again = hash.start({ p[1], p[2] }, cache):wait()
    assert.are.same({ hashed = 0, cached = 2 }, again)
  end)

  it("a file deleted since it was cached is a failure, not a cached sum", function()
    local paths = { sets.subset[3], sets.subset[4] }
    local cache = h.tmpdir() .. "/checksums"
    hash.start(paths, cache):wait()
    os.remove(paths[2])
    local sums, failures, counts = hash.start(paths, cache):wait()
    assert.are.equal(h.sha256sum(paths[1]), sums[paths[1]])
    assert.is_false(sums[paths[2]])
    assert.truthy(failures[paths[2]])
    assert.are.same({ hashed = 0, cached = 1 }, counts)
  end)
end)

describe("lumi.hash.start and what is not a regular file", function()
  it("a FIFO among the paths is a failure, not a hang", function()
    local d = h.tmpdir()
    local fifo, file = d .. "/002_fifo.sql", d .. "/001_a.sql"
    h.write(file, "SELECT 1;\n")
    assert.is_true(os.execute("mkfifo " .. fifo))
    for _, cache in ipairs({ false, d .. "/checksums" }) do
      local sums, failures = hash.start({ file, fifo }, cache or nil):wait()
      assert.are.equal(h.sha256sum(file), sums[file])
      assert.is_false(sums[fifo])
      assert.truthy(failures[fifo]:find("Invalid argument", 1, true), failures[fifo])
    end
  end)
end)

describe("lumi.hash job:cancel", function()
  local function files(n)
    local d = h.tmpdir()
    local paths = {}
    for i = 1, n do
      paths[i] = string.format("%s/%04d_f.sql", d, i)
      h.write(paths[i], string.rep("x", 1000 + i))
    end
    return paths
  end

  it("makes job:wait() raise", function()
    local job = hash.start(files(50))
    job:cancel()
    assert.has_error(function() job:wait() end, "job:wait: the job was cancelled")
  end)

  it("makes job:wait() raise for a job with a cache, and for an empty job", function()
    local job = hash.start(files(20), h.tmpdir() .. "/checksums")
    job:cancel()
    assert.has_error(function() job:wait() end, "job:wait: the job was cancelled")
    local empty = hash.start({})
    empty:cancel()
    assert.has_error(function() empty:wait() end, "job:wait: the job was cancelled")
  end)

  it("can be called twice, and after wait", function()
    local paths = files(3)
    local job = hash.start(paths)
    local sums = job:wait()
    assert.are.equal(h.sha256sum(paths[1]), sums[paths[1]])
    assert.has_no.errors(function() job:cancel() end)
    assert.has_no.errors(function() job:cancel() end)
  end)

  it("leaves no thread behind: a process that cancels its jobs exits cleanly", function()
    -- many big files, so that the workers are still busy when cancelled
    local d = h.tmpdir()
    local _, err, code = h.sh("cd " .. h.q(d) .. " && head -c 4000000 /dev/zero > big && for i in $(seq 1 40); do "
      .. "ln big f$i; done")
    assert.are.equal(0, code, err)
    local out
    out, err, code = h.lua54(string.format([[
local hash = require "lumi.hash"
local paths = {}
for i = 1, 40 do paths[i] = %q .. "/f" .. i end
local jobs = {}
for i = 1, 8 do
  jobs[i] = hash.start(paths, i %% 2 == 0 and (%q .. "/cache" .. i) or nil)
end
for _, j in ipairs(jobs) do j:cancel() end
local ok = pcall(jobs[1].wait, jobs[1])
print("cancelled", ok)
-- a job dropped without cancel or wait is joined when collected
hash.start(paths)
os.exit(0, true)
]], d, d))
    assert.are.equal(0, code, err)
    assert.are.equal("cancelled\tfalse\n", out)
    assert.are.equal("", err)
  end)
end)
