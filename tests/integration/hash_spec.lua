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
