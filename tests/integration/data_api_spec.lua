-- The data API of lumi.db, from stock lua5.4 (the busted process): COPY fed
-- from a Lua function, streaming rows through a cursor (inside a
-- transaction) or in single-row mode (outside one) in constant memory, and
-- db:in_batches for resumable batch work.
local h = require "support.helper"
local dbmod = require "lumi.db"
local errors = require "lumi.errors"

local BUSY = "connection is busy: a row iterator over it is still open (finish the loop or close the iterator first)"

describe("lumi.db data API", function()
  local url, db
  before_each(function()
    url = h.fresh_db()
    db = dbmod.connect(url)
  end)
  after_each(function() db:close() end)

  describe("copy_from", function()
    it("loads 100,000 rows from a function source", function()
      db:exec("CREATE TABLE items (id int PRIMARY KEY, name text, price numeric)")
      local i = 0
      local r = db:copy_from("COPY items (id, name, price) FROM STDIN", function()
        i = i + 1
        if i > 100000 then return nil end
        return string.format("%d\titem %d\t%d.%02d\n", i, i, i // 100, i % 100)
      end)
      assert.are.equal(100000, r.affected)
      assert.are.equal(100000, db:value("SELECT count(*)::int FROM items"))
      assert.are.equal(100000 * 100001 // 2, db:value("SELECT sum(id)::bigint FROM items"))
      assert.are.equal("item 54321", db:value("SELECT name FROM items WHERE id = 54321"))
      assert.are.equal("543.21", db:value("SELECT price::text FROM items WHERE id = 54321"))
    end)

    it("a source that hands over many rows per chunk works the same", function()
      db:exec("CREATE TABLE items (id int PRIMARY KEY)")
      local next_id = 0
      db:copy_from("COPY items FROM STDIN", function()
        if next_id >= 100000 then return nil end
        local buf = {}
        for k = 1, 1000 do buf[k] = tostring(next_id + k) end
        next_id = next_id + 1000
        return table.concat(buf, "\n") .. "\n"
      end)
      assert.are.equal(100000, db:value("SELECT count(DISTINCT id)::int FROM items"))
    end)

    it("a bad row raises the database error and loads nothing", function()
      db:exec("CREATE TABLE items (id int PRIMARY KEY)")
      local i = 0
      local ok, err = pcall(db.copy_from, db, "COPY items FROM STDIN", function()
        i = i + 1
        if i == 500 then return "not a number\n" end
        if i <= 1000 then return i .. "\n" end
      end)
      assert.is_false(ok)
      assert.are.equal("22P02", err.sqlstate)
      assert.are.equal(0, db:value("SELECT count(*)::int FROM items"))
    end)

    it("a source that raises aborts the COPY with its own error, and the connection stays usable", function()
      db:exec("CREATE TABLE items (id int PRIMARY KEY)")
      local i = 0
      local ok, err = pcall(db.copy_from, db, "COPY items FROM STDIN", function()
        i = i + 1
        if i == 10 then error("source gave up", 0) end
        return i .. "\n"
      end)
      assert.is_false(ok)
      assert.are.equal("source gave up", err)
      assert.are.equal(0, db:value("SELECT count(*)::int FROM items"))
    end)
  end)

  describe("rows", function()
    before_each(function()
      db:exec("CREATE TABLE src (id int PRIMARY KEY, name text)")
      db:exec("INSERT INTO src SELECT g, 'name ' || g FROM generate_series(1, 25000) g")
      db:exec("CREATE TABLE dst (id int PRIMARY KEY, name text)")
    end)

    it("inside a transaction, the loop may run COPY and queries between rows (cursor mode)", function()
      db:transaction(function(d)
        local buf, n, batches = {}, 0, 0
        local function flush()
          if #buf == 0 then return end
          local chunk = table.concat(buf)
          buf = {}
          d:copy_from("COPY dst (id, name) FROM STDIN", { chunk })
          batches = batches + 1
        end
        for row in d:rows("SELECT id, name FROM src WHERE id > $1 ORDER BY id", 0) do
          n = n + 1
          buf[#buf + 1] = string.format("%d\t%s\n", row.id, row.name:upper())
          if #buf == 1000 then flush() end
          if n % 5000 == 0 then
            -- a query in the middle of the loop sees what this transaction wrote
            assert.are.equal(n, d:value("SELECT count(*)::int FROM dst"))
          end
        end
        flush()
        assert.are.equal(25000, n)
        assert.are.equal(25, batches)
      end)
      assert.are.equal(25000, db:value("SELECT count(*)::int FROM dst"))
      assert.are.equal("NAME 12345", db:value("SELECT name FROM dst WHERE id = 12345"))
      assert.is_false(db:in_transaction())
    end)

    it("inside a transaction, leaving the loop early closes the cursor and the transaction goes on", function()
      db:transaction(function(d)
        local seen = 0
        for row in d:rows("SELECT id FROM src ORDER BY id") do
          seen = row.id
          if row.id == 15000 then break end
        end
        assert.are.equal(15000, seen)
        d:exec("INSERT INTO dst VALUES (1, 'after the loop')")
        assert.are.equal(0, d:value("SELECT count(*)::int FROM pg_cursors WHERE name LIKE 'lumi_rows_%'"))
      end)
      assert.are.equal("after the loop", db:value("SELECT name FROM dst WHERE id = 1"))
    end)

    it("inside a transaction, an error met while reading raises it", function()
      local ok, err = pcall(db.transaction, db, function(d)
        for _ in d:rows("SELECT 10 / (20000 - id) FROM src ORDER BY id") do end
      end)
      assert.is_false(ok)
      assert.are.equal("22012", err.sqlstate)
      assert.is_false(db:in_transaction())
      assert.are.equal(1, db:value("SELECT 1"))
    end)

    it("outside a transaction, the rows stream in single-row mode: every row, and the connection busy meanwhile", function()
      local n, sum = 0, 0
      local busy_err
      for row in db:rows("SELECT id, name FROM src WHERE id <= $1 ORDER BY id", 20000) do
        n = n + 1
        sum = sum + row.id
        if n == 100 then
          local ok, e = pcall(db.query, db, "SELECT 1")
          assert.is_false(ok)
          busy_err = e
        end
      end
      assert.are.equal(20000, n)
      assert.are.equal(20000 * 20001 // 2, sum)
      assert.truthy(tostring(busy_err):find(BUSY, 1, true), tostring(busy_err))
      -- free again after the loop
      assert.are.equal(25000, db:value("SELECT count(*)::int FROM src"))
    end)
  end)

  describe("stream", function()
    before_each(function()
      db:exec("CREATE TABLE src (id int PRIMARY KEY, name text)")
      db:exec("INSERT INTO src SELECT g, 'name ' || g FROM generate_series(1, 20000) g")
      db:exec("CREATE TABLE dst (id int PRIMARY KEY, name text)")
    end)

    it("inside a transaction, reads the transaction's snapshot from a second connection while the loop writes", function()
      db:transaction(function(d)
        d:exec("DELETE FROM src WHERE id > 15000")          -- not seen by the stream (uncommitted)
        local n, buf = 0, {}
        for row in d:stream("SELECT id, name FROM src ORDER BY id") do
          n = n + 1
          buf[#buf + 1] = row.id .. "\t" .. row.name .. "\n"
          if #buf == 5000 then
            d:copy_from("COPY dst FROM STDIN", { table.concat(buf) })
            buf = {}
          end
        end
        if #buf > 0 then d:copy_from("COPY dst FROM STDIN", { table.concat(buf) }) end
        assert.are.equal(20000, n)
        assert.are.equal(20000, d:value("SELECT count(*)::int FROM dst"))
      end)
      assert.are.equal(20000, db:value("SELECT count(*)::int FROM dst"))
      assert.are.equal(15000, db:value("SELECT count(*)::int FROM src"))
    end)

    it("inside a transaction, does not see rows committed by others after the transaction's snapshot", function()
      db:exec("BEGIN ISOLATION LEVEL REPEATABLE READ")
      assert.are.equal(20000, db:value("SELECT count(*)::int FROM src"))
      h.with_conn(url, function(c) assert(c:exec("INSERT INTO src VALUES (20001, 'late')")) end)
      local n = 0
      for _ in db:stream("SELECT id FROM src") do n = n + 1 end
      db:exec("COMMIT")
      assert.are.equal(20000, n)
    end)

    it("outside a transaction, it is db:rows", function()
      local n = 0
      for _ in db:stream("SELECT id FROM src WHERE id <= $1", 1234) do n = n + 1 end
      assert.are.equal(1234, n)
    end)

    it("leaving the loop early closes the reading connection", function()
      db:transaction(function(d)
        for row in d:stream("SELECT id FROM src ORDER BY id") do
          if row.id == 10 then break end
        end
      end)
      local others
      for _ = 1, 100 do
        others = db:value("SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() "
          .. "AND pid <> pg_backend_pid()")
        if others == 0 then break end
        os.execute("sleep 0.05")
      end
      assert.are.equal(0, others)
    end)
  end)

  describe("copy_from { wait = false }", function()
    it("returns before the server is done; the next call sees every row", function()
      db:exec("CREATE TABLE items (id int PRIMARY KEY)")
      for b = 0, 4 do
        local buf = {}
        for i = 1, 2000 do buf[i] = tostring(b * 2000 + i) end
        db:copy_from("COPY items FROM STDIN", { table.concat(buf, "\n") .. "\n" }, { wait = false })
      end
      assert.are.equal(10000, db:value("SELECT count(*)::int FROM items"))
    end)

    it("an error in the data comes out of the next use of the handle", function()
      db:exec("CREATE TABLE items (id int PRIMARY KEY)")
      db:exec("BEGIN")
      local ok, err = pcall(function()
        db:copy_from("COPY items FROM STDIN", { "1\n1\n" }, { wait = false })
        db:value("SELECT 1")
      end)
      assert.is_false(ok)
      assert.are.equal("23505", err.sqlstate)
      db:rollback()
      assert.are.equal(0, db:value("SELECT count(*)::int FROM items"))
    end)
  end)

  describe("memory", function()
    local sql = "SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, $1) g"

    -- the most memory (KB) the Lua state held above its starting point
    -- while iterating over n rows, sampled inside the loop
    local function peak_kb(iterate, n)
      collectgarbage("collect")
      collectgarbage("collect")
      local base = collectgarbage("count")
      local peak, rows = 0, 0
      for row in iterate(n) do
        rows = rows + 1
        assert(#row.pad == 100)
        if rows % 100 == 0 then
          local m = collectgarbage("count") - base
          if m > peak then peak = m end
        end
      end
      assert.are.equal(n, rows)
      return peak
    end

    -- 500,000 rows of 100 bytes held at once would be well over 50 MB
    local function assert_constant(small, large)
      assert.truthy(large < 2 * small + 16 * 1024,
        string.format("peak over 50,000 rows: %.0f KB, over 500,000 rows: %.0f KB", small, large))
    end

    it("db:rows inside a transaction (cursor) does not grow with the number of rows", function()
      local function iterate(n) return db:rows(sql, n) end
      db:exec("BEGIN")
      local small = peak_kb(iterate, 50000)
      local large = peak_kb(iterate, 500000)
      db:exec("COMMIT")
      assert_constant(small, large)
    end)

    it("db:rows outside a transaction (single-row mode) does not grow with the number of rows", function()
      local function iterate(n) return db:rows(sql, n) end
      local small = peak_kb(iterate, 50000)
      local large = peak_kb(iterate, 500000)
      assert_constant(small, large)
    end)

    it("the C iterator conn:rows does not grow with the number of rows", function()
      local conn = h.connect(url)
      local function iterate(n) return conn:rows(sql, n) end
      local small = peak_kb(iterate, 50000)
      local large = peak_kb(iterate, 500000)
      assert_constant(small, large)
    end)
  end)

  describe("in_batches", function()
    before_each(function()
      db:exec("CREATE TABLE items (id int PRIMARY KEY, updated_times int NOT NULL DEFAULT 0, tx bigint)")
      db:exec("INSERT INTO items (id) SELECT g FROM generate_series(1, 2500) g")
    end)

    local todo = "SELECT id FROM items WHERE updated_times = 0"
    local function work(d, batch)
      d:query("UPDATE items SET updated_times = updated_times + 1, tx = txid_current() WHERE id = ANY($1::int[])",
        "{" .. table.concat(batch.keys, ",") .. "}")
    end

    it("processes every row once, in batches of `size`, each batch in a transaction of its own", function()
      local seen = {}
      local done = db:in_batches({ select = todo, key = "id", size = 1000 }, function(d, batch)
        assert.is_true(d:in_transaction())
        seen[#seen + 1] = { first = batch.first, last = batch.last, count = batch.count, done = batch.done }
        work(d, batch)
      end)
      assert.are.equal(2500, done)
      assert.are.same({
        { first = 1, last = 1000, count = 1000, done = 0 },
        { first = 1001, last = 2000, count = 1000, done = 1000 },
        { first = 2001, last = 2500, count = 500, done = 2000 },
      }, seen)
      assert.are.equal(2500, db:value("SELECT count(*)::int FROM items WHERE updated_times = 1"))
      assert.are.equal(3, db:value("SELECT count(DISTINCT tx)::int FROM items"))
      assert.are.equal(1000, db:value("SELECT count(*)::int FROM items GROUP BY tx ORDER BY min(id) LIMIT 1"))
      assert.is_false(db:in_transaction())
    end)

    it("defaults to batches of 1,000 and reports progress after each batch", function()
      local reports = {}
      db:in_batches({ select = todo, key = "id", total = true,
                      progress = function(d, t) reports[#reports + 1] = d .. "/" .. tostring(t) end }, work)
      assert.are.same({ "1000/2500", "2000/2500", "2500/2500" }, reports)
      assert.are.equal(3, db:value("SELECT count(DISTINCT tx)::int FROM items"))
    end)

    it("with nothing to do, calls nothing and returns 0", function()
      db:exec("UPDATE items SET updated_times = 1")
      local calls = 0
      assert.are.equal(0, db:in_batches({ select = todo, key = "id" }, function() calls = calls + 1 end))
      assert.are.equal(0, calls)
    end)

    it("refuses to run inside a transaction", function()
      db:exec("BEGIN")
      local ok, e = pcall(db.in_batches, db, { select = todo, key = "id" }, work)
      db:exec("ROLLBACK")
      assert.is_false(ok)
      assert.is_true(errors.is(e, "usage"))
      assert.truthy(e.message:find("db:in_batches commits every batch", 1, true), e.message)
      assert.are.equal(0, db:value("SELECT count(*)::int FROM items WHERE updated_times > 0"))
    end)

    it("refuses options without select and key", function()
      local ok, e = pcall(db.in_batches, db, { select = todo }, work)
      assert.is_false(ok)
      assert.is_true(errors.is(e, "usage"))
      assert.truthy(e.message:find("key", 1, true), e.message)
    end)

    it("resumes after an interruption: a rerun does every row not yet done, and no row twice", function()
      local n = 0
      local ok, e = pcall(db.in_batches, db, { select = todo, key = "id", size = 400 }, function(d, batch)
        n = n + 1
        work(d, batch)
        if n == 3 then error("interrupted in batch 3", 0) end
      end)
      assert.is_false(ok)
      assert.are.equal("interrupted in batch 3", e)
      assert.is_false(db:in_transaction())
      -- the two committed batches stay done; the third was rolled back
      assert.are.equal(800, db:value("SELECT count(*)::int FROM items WHERE updated_times = 1"))
      assert.are.equal(1700, db:value("SELECT count(*)::int FROM items WHERE updated_times = 0"))
      local done = db:in_batches({ select = todo, key = "id", size = 400 }, work)
      assert.are.equal(1700, done)
      assert.are.equal(2500, db:value("SELECT count(*)::int FROM items WHERE updated_times = 1"))
      assert.are.equal(0, db:value("SELECT count(*)::int FROM items WHERE updated_times <> 1"))
    end)

    it("resumes after a database error in a batch the same way", function()
      db:exec("ALTER TABLE items ADD CONSTRAINT not_1234 CHECK (NOT (id = 1234 AND updated_times > 0))")
      local ok, e = pcall(db.in_batches, db, { select = todo, key = "id", size = 500 }, work)
      assert.is_false(ok)
      assert.are.equal("23514", e.sqlstate)
      assert.are.equal(1000, db:value("SELECT count(*)::int FROM items WHERE updated_times = 1"))
      db:exec("ALTER TABLE items DROP CONSTRAINT not_1234")
      db:in_batches({ select = todo, key = "id", size = 500 }, work)
      assert.are.equal(2500, db:value("SELECT count(*)::int FROM items WHERE updated_times = 1"))
    end)
  end)
end)
