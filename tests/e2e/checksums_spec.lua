-- Checksums: every applied file's SHA-256 (as sha256sum prints it) is
-- recorded, and every status, validate and up compares it with the file as
-- it is now, read afresh each time: an edit is caught even when it keeps the
-- file's size and mtime, and a file put back as it was is applied again.
local h = require "support.helper"

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
end

describe("checksums (end to end)", function()
  it("records the sha256sum of each file, and status --json shows an edited file's new one", function()
    h.with_project(h.three_files(), function(p)
      assert.are.equal(0, select(3, p:lumi("up")))
      for _, r in ipairs(p:query("SELECT file, checksum FROM schema_migrations")) do
        assert.are.equal(h.sha256sum(p:path("migrations/" .. r.file)), r.checksum)
      end
      local path = p:path("migrations/003_add_name.sql")
      rewrite_keeping_times(path, "ALTER TABLE users ADD COLUMN nick text;\n")
      local doc, code = p:json("status")
      assert.are.equal(0, code)
      assert.are.same({ total = 3, applied = 2, pending = 0, changed = 1, missing = 0, unfinished = 0, in_progress = 0 },
        doc.totals)
      assert.are.equal("changed", doc.entries[3].state)
      assert.are.equal(h.sha256sum(path), doc.entries[3].file_checksum)
    end)
  end)

  it("sees an applied file edited with its size and mtime kept: validate and up refuse", function()
    h.with_project(h.three_files(), function(p)
      assert.are.equal(0, select(3, p:lumi("up")))
      rewrite_keeping_times(p:path("migrations/003_add_name.sql"), "ALTER TABLE users ADD COLUMN nick text;\n")
      local _, err, code = p:lumi("validate")
      assert.are.equal(3, code, err)
      assert.truthy(h.has(err, "changed: 003_add_name.sql: changed since it was applied"), err)
      local out
      out, err, code = p:lumi("up")
      assert.are.equal(3, code, out .. err)
      assert.truthy(h.has(err, "applied migration changed since it was applied: 003_add_name.sql"), err)
    end)
  end)

  it("sees the file put back as it was (same size, same mtime): applied again", function()
    h.with_project(h.three_files(), function(p)
      assert.are.equal(0, select(3, p:lumi("up")))
      local path = p:path("migrations/002_create_posts.sql")
      local original = h.read(path)
      rewrite_keeping_times(path, (original:gsub("posts_user", "posts_USER")))
      assert.are.equal(1, p:json("status").totals.changed)
      rewrite_keeping_times(path, original)
      assert.are.equal(0, p:json("status").totals.changed)
      local _, err, code = p:lumi("validate")
      assert.are.equal(0, code, err)
    end)
  end)

  it("checksum_cache, a setting of earlier versions, is an error that says it is gone", function()
    h.with_project(h.three_files(), "return { checksum_cache = false }\n", function(p)
      local _, err, code = p:lumi("status")
      assert.are.equal(2, code, err)
      assert.truthy(h.has(err, 'key "checksum_cache" is no longer a setting'), err)
    end)
  end)
end)
