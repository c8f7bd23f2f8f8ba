local plan = require "lumi.plan"
local sequential = require "lumi.naming.sequential"

local scheme = sequential.new()

-- a migration as layout.finish leaves it: key and id (identity "version")
local function mig(version, name)
  local file = version .. "_" .. name .. ".sql"
  return { version = version, name = name, stem = version .. "_" .. name, file = file, path = "m/" .. file,
           key = scheme.key(version), id = scheme.key(version) }
end

local function rec(version, name, checksum)
  return { version = version, name = name, file = version .. "_" .. name .. ".sql", checksum = checksum or ("sum" .. version) }
end

local function sums(ms, over)
  local t = {}
  for _, m in ipairs(ms) do t[m.path] = "sum" .. m.version end
  for k, v in pairs(over or {}) do t[k] = v end
  return t
end

-- what a command does: the plan, then the applied files' checksums compared
local function build(ms, records, scheme, checksums, identity)
  local p = plan.build(ms, records, scheme, identity)
  if checksums then plan.compare(p, checksums, scheme) end
  return p
end

local function states(p)
  local out = {}
  for _, e in ipairs(p.entries) do out[#out + 1] = e.version .. "=" .. e.state end
  return table.concat(out, " ")
end

describe("plan.build", function()
  it("everything pending when nothing is recorded", function()
    local ms = { mig("001", "a"), mig("002", "b") }
    local p = build(ms, {}, scheme, sums(ms))
    assert.are.equal("001=pending 002=pending", states(p))
    assert.are.equal(0, #p.unfinished)
    assert.are.equal(2, #p.pending)
    assert.are.equal(0, #p.applied)
    assert.are.equal(0, #p.out_of_order)
    assert.is_nil(p.newest_applied)
  end)

  it("applied and pending", function()
    local ms = { mig("001", "a"), mig("002", "b"), mig("003", "c") }
    local p = build(ms, { rec("001", "a"), rec("002", "b") }, scheme, sums(ms))
    assert.are.equal("001=applied 002=applied 003=pending", states(p))
    assert.are.same({ ms[3] }, p.pending)
    assert.are.equal("002", p.newest_applied)
  end)

  it("matches records to files by key, so 7 is 007", function()
    local ms = { mig("007", "a") }
    local p = build(ms, { rec("7", "a", "sum007") }, scheme, sums(ms))
    assert.are.equal("007=applied", states(p))
    assert.are.equal(0, #p.missing)
  end)

  it("changed: the file's checksum differs from the record's", function()
    local ms = { mig("001", "a"), mig("002", "b") }
    local p = build(ms, { rec("001", "a"), rec("002", "b") }, scheme, sums(ms, { ["m/002_b.sql"] = "edited" }))
    assert.are.equal("001=applied 002=changed", states(p))
    assert.are.equal(1, #p.changed)
    assert.are.equal("edited", p.changed[1].checksum)
    assert.are.equal("sum002", p.changed[1].record.checksum)
    assert.are.equal(0, #p.pending)
  end)

  it("missing: recorded, but no file", function()
    local ms = { mig("001", "a"), mig("003", "c") }
    local p = build(ms, { rec("001", "a"), rec("002", "b"), rec("003", "c") }, scheme, sums(ms))
    assert.are.equal("001=applied 002=missing 003=applied", states(p))
    assert.are.equal(1, #p.missing)
    assert.are.equal("002_b.sql", p.missing[1].record.file)
  end)

  it("out of order: pending and older than the newest applied", function()
    local ms = { mig("001", "a"), mig("002", "b"), mig("003", "c"), mig("004", "d") }
    local p = build(ms, { rec("001", "a"), rec("003", "c") }, scheme, sums(ms))
    assert.are.equal("001=applied 002=pending 003=applied 004=pending", states(p))
    assert.are.equal(1, #p.out_of_order)
    assert.are.equal("002", p.out_of_order[1].version)
    assert.is_true(ms[2].out_of_order)
    assert.is_nil(ms[4].out_of_order)
    assert.are.equal("003", p.newest_applied)
  end)

  it("a missing record counts as the newest applied", function()
    local ms = { mig("001", "a"), mig("002", "b") }
    local p = build(ms, { rec("001", "a"), rec("010", "gone") }, scheme, sums(ms))
    assert.are.equal("001=applied 002=pending 010=missing", states(p))
    assert.are.equal("010", p.newest_applied)
    assert.are.equal(1, #p.out_of_order)
  end)

  it("orders entries numerically: 9 < 10 < 100", function()
    local ms = { mig("9", "a"), mig("10", "b"), mig("100", "c") }
    local p = build(ms, { rec("100", "c", "sum100"), rec("9", "a") }, scheme, sums(ms))
    assert.are.equal("9=applied 10=pending 100=applied", states(p))
    assert.are.equal("100", p.newest_applied)
  end)

  it("without checksums nothing is reported changed", function()
    local ms = { mig("001", "a") }
    local p = build(ms, { rec("001", "a", "whatever") }, scheme, nil)
    assert.are.equal("001=applied", states(p))
  end)
end)

describe("plan.build: unfinished records", function()
  it("a record in state unfinished is neither applied as done nor pending", function()
    local ms = { mig("001", "a"), mig("002", "b"), mig("003", "c") }
    local r2 = rec("002", "b")
    r2.state, r2.error = "unfinished", "statement 3 of 4 failed: boom"
    local p = build(ms, { rec("001", "a"), r2 }, scheme, sums(ms))
    assert.are.equal("001=applied 002=unfinished 003=pending", states(p))
    assert.are.equal(1, #p.unfinished)
    assert.are.equal(ms[2], p.unfinished[1].migration)
    assert.are.equal(r2, p.unfinished[1].record)
    assert.are.same({ ms[3] }, p.pending)
    assert.are.equal(0, #p.changed)
  end)

  it("an unfinished record is reported unfinished even when the file changed since", function()
    local ms = { mig("001", "a") }
    local r = rec("001", "a")
    r.state = "unfinished"
    local p = build(ms, { r }, scheme, sums(ms, { ["m/001_a.sql"] = "edited" }))
    assert.are.equal("001=unfinished", states(p))
    assert.are.equal(0, #p.changed)
  end)

  it("a record in state applied is applied", function()
    local ms = { mig("001", "a") }
    local r = rec("001", "a")
    r.state = "applied"
    assert.are.equal("001=applied", states(build(ms, { r }, scheme, sums(ms))))
  end)
end)

describe("plan.build with identity \"file\"", function()
  local function by_file(version, name)
    local m = mig(version, name)
    m.id = m.file
    return m
  end

  it("matches records to files by file name, so two files may share a version", function()
    local ms = { by_file("001", "a"), by_file("001", "b"), by_file("002", "c") }
    local records = { { file = "001_a.sql", checksum = "sum001" }, { file = "001_b.sql", checksum = "sum001" } }
    local p = build(ms, records, scheme, sums(ms), "file")
    assert.are.equal("001=applied 001=applied 002=pending", states(p))
    assert.are.same({ ms[3] }, p.pending)
    assert.are.equal(0, #p.missing)
  end)

  it("a renamed file is a new migration, and its old record is missing", function()
    local ms = { by_file("001", "renamed") }
    local p = build(ms, { { file = "001_a.sql", checksum = "x" } }, scheme, sums(ms), "file")
    assert.are.equal(1, #p.pending)
    assert.are.equal(1, #p.missing)
    assert.are.equal("001_a.sql", p.missing[1].record.file)
  end)
end)

describe("plan.record_id", function()
  it("derives a version-less record's identity from its file, whatever the layout", function()
    assert.are.equal("7", plan.record_id({ file = "007_a.sql" }, scheme, "version"))
    assert.are.equal("7", plan.record_id({ file = "007_a.up.sql" }, scheme, "version"))
    assert.are.equal("7", plan.record_id({ file = "007_a/up.sql" }, scheme, "version"))
    assert.are.equal("007_a", plan.record_id({ file = "007_a/up.sql" }, scheme, "stem"))
    assert.are.equal("007_a.up.sql", plan.record_id({ file = "007_a.up.sql" }, scheme, "file"))
  end)
end)

describe("plan.up_to", function()
  it("stops at the given version, inclusive, compared by the scheme", function()
    local ms = { mig("001", "a"), mig("002", "b"), mig("010", "c") }
    local p = build(ms, {}, scheme, sums(ms))
    local function files(list) local t = {} for i, m in ipairs(list) do t[i] = m.version end return t end
    assert.are.same({ "001", "002" }, files(plan.up_to(p, scheme, "002")))
    assert.are.same({ "001", "002" }, files(plan.up_to(p, scheme, "2")))
    assert.are.same({ "001", "002" }, files(plan.up_to(p, scheme, "9")))
    assert.are.same({ "001", "002", "010" }, files(plan.up_to(p, scheme, nil)))
  end)
end)

describe("plan.down_from", function()
  local ms = { mig("001", "a"), mig("002", "b"), mig("003", "c"), mig("004", "d") }
  local p = build(ms, { rec("001", "a"), rec("002", "b"), rec("003", "c") }, scheme, sums(ms))
  local function vs(list) local t = {} for i, e in ipairs(list) do t[i] = e.version end return t end

  it("reverts the newest applied first: 1 by default, or N", function()
    assert.are.same({ "003" }, vs(plan.down_from(p, scheme, {})))
    assert.are.same({ "003", "002" }, vs(plan.down_from(p, scheme, { count = 2 })))
    assert.are.same({ "003", "002", "001" }, vs(plan.down_from(p, scheme, { count = 10 })))
  end)

  it("--to VERSION keeps VERSION and reverts what is above it; --all reverts all", function()
    assert.are.same({ "003", "002" }, vs(plan.down_from(p, scheme, { to = "1" })))
    assert.are.same({ "003", "002", "001" }, vs(plan.down_from(p, scheme, { all = true })))
  end)
end)

describe("plan.find", function()
  local ms = { mig("001", "a"), mig("002", "b") }
  local p = build(ms, { rec("001", "a") }, scheme, sums(ms))

  it("finds an entry by version (compared by key), file or stem", function()
    assert.are.equal("001", plan.find(p, scheme, "1").version)
    assert.are.equal("002", plan.find(p, scheme, "002_b.sql").version)
    assert.are.equal("002", plan.find(p, scheme, "002_b").version)
  end)

  it("says when nothing matches", function()
    local e, why = plan.find(p, scheme, "9")
    assert.is_nil(e)
    assert.are.equal('no migration has version or file "9"', why)
  end)
end)

describe("plan: repeatable migrations", function()
  local function rep(name)
    local m = mig("999", name)
    m.version, m.key, m.id, m.repeatable = "R__" .. name, "R__" .. name, "R__" .. name, true
    return m
  end
  -- the sequential scheme, with R__ versions after every number
  local text = {
    key = function(v) return v:match("^R__") and v or scheme.key(v) end,
    compare = function(a, b)
      local ra, rb = a:match("^R__") ~= nil, b:match("^R__") ~= nil
      if ra or rb then return (ra and rb and a < b) or (rb and not ra) end
      return scheme.compare(a, b)
    end,
  }

  it("pending again, after the versioned ones, when its file changed; never out of order, never reverted", function()
    local v1, v2, r = mig("001", "a"), mig("002", "b"), rep("view")
    local p = plan.build({ v1, v2, r }, { rec("001", "a"), { version = "R__view", file = r.file, checksum = "old" } }, text)
    plan.compare(p, { [v1.path] = "sum001", [r.path] = "new" }, text)
    local pending = {}
    for i, m in ipairs(p.pending) do pending[i] = m.version end
    assert.are.same({ "002", "R__view" }, pending)
    assert.is_true(r.reapply)
    assert.are.same({}, p.changed)
    assert.are.same({}, p.out_of_order)
    assert.are.equal("001", p.newest_applied)
    assert.are.same({}, plan.down_from(plan.build({ r }, { { version = "R__view", checksum = "x" } }, text), text, { all = true }))
  end)

  it("applied while its file is as recorded", function()
    local r = rep("view")
    local p = plan.build({ r }, { { version = "R__view", file = r.file, checksum = "same" } }, text)
    plan.compare(p, { [r.path] = "same" }, text)
    assert.are.equal("applied", p.entries[1].state)
    assert.are.same({}, p.pending)
    assert.is_nil(r.reapply)
  end)
end)
