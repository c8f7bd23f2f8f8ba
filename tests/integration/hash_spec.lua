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
