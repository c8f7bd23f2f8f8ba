local json = require "lumi.json"
local cjson = require "cjson"
local pg = require "lumi.pg"

describe("json.encode", function()
  it("encodes scalars", function()
    assert.are.equal("null", json.encode(nil))
    assert.are.equal("true", json.encode(true))
    assert.are.equal("false", json.encode(false))
    assert.are.equal("42", json.encode(42))
    assert.are.equal("-7", json.encode(-7))
    assert.are.equal("1.5", json.encode(1.5))
    assert.are.equal("0.1", json.encode(0.1))
    assert.are.equal('"hi"', json.encode("hi"))
  end)

  it("encodes SQL NULL and json.null as null", function()
    assert.are.equal("null", json.encode(pg.null))
    assert.are.equal("null", json.encode(json.null))
    assert.are.equal('{"a":null}', json.encode({ a = pg.null }))
  end)

  it("encodes non-finite numbers as null", function()
    assert.are.equal("[null,null,null]", json.encode({ 0 / 0, math.huge, -math.huge }))
  end)

  it("escapes quotes, backslashes and control characters", function()
    assert.are.equal([["a\"b\\c\nd\te\r\u0001\u001f"]], json.encode('a"b\\c\nd\te\r\1\31'))
    assert.are.equal('"\\b\\f"', json.encode("\b\f"))
  end)

  it("passes UTF-8 through", function()
    assert.are.equal('"café ☕"', json.encode("café ☕"))
  end)

  it("sorts object keys so the output is stable", function()
    assert.are.equal('{"a":1,"b":2,"c":{"x":true,"y":false}}', json.encode({ c = { y = false, x = true }, b = 2, a = 1 }))
  end)

  it("encodes sequences as arrays, and empty ones marked with json.array", function()
    assert.are.equal("[1,2,3]", json.encode({ 1, 2, 3 }))
    assert.are.equal("[]", json.encode(json.array()))
    assert.are.equal("{}", json.encode({}))
    assert.are.equal('{"list":[],"n":0}', json.encode({ list = json.array({}), n = 0 }))
  end)

  it("produces what a JSON parser reads back", function()
    local v = { name = "x\"y", list = { 1, 2.5, "three" }, nested = { deep = { ok = true } }, big = math.maxinteger }
    local back = cjson.decode(json.encode(v))
    assert.are.equal("x\"y", back.name)
    assert.are.same({ 1, 2.5, "three" }, back.list)
    assert.is_true(back.nested.deep.ok)
  end)

  it("refuses to recurse for ever", function()
    local t = {}
    t.self = t
    local ok, e = pcall(json.encode, t)
    assert.is_false(ok)
    assert.truthy(tostring(e):find("nesting too deep", 1, true))
  end)
end)
