-- The data API inside Lua migrations run by the lumi binary: COPY from a
-- Lua function, rows and COPY interleaved in the migration's transaction,
-- savepoints, and db:in_batches in a migration without a transaction.
local h = require "support.helper"

describe("data migrations (end to end)", function()
  local url, dir
  local function lumi(args) return h.lumi(dir, args, { DATABASE_URL = url }) end

  before_each(function()
    url = h.fresh_db()
    dir = h.project({
      ["migrations/001_create_items.sql"] = "CREATE TABLE items (id int PRIMARY KEY, name text, "
        .. "updated_times int NOT NULL DEFAULT 0);\n",
    })
  end)

  it("loads 100,000 rows with db:copy_from and a function source, in the migration's transaction", function()
    h.write(dir .. "/migrations/002_load.lua", [[
return {
  up = function(ctx)
    local i = 0
    local r = ctx.db:copy_from("COPY items (id, name) FROM STDIN", function()
      i = i + 1
      if i <= 100000 then return i .. "\titem " .. i .. "\n" end
    end)
    ctx.log("copied %d rows", r.affected)
  end,
  down = function(ctx) ctx.db:exec("TRUNCATE items") end,
}
]])
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.truthy(h.has(out, "002_load.lua: copied 100000 rows"), out)
    assert.are.equal(100000, h.count(url, "items"))
    assert.are.equal("item 99999", h.value(url, "SELECT name FROM items WHERE id = 99999"))
    assert.are.same({ "001", "002" }, h.versions(url))
  end)

  it("a COPY that fails midway leaves no rows and no record", function()
    h.write(dir .. "/migrations/002_load.lua", [[
return {
  up = function(ctx)
    ctx.db:exec("INSERT INTO items (id) VALUES (0)")
    local i = 0
    ctx.db:copy_from("COPY items (id, name) FROM STDIN", function()
      i = i + 1
      if i <= 1000 then return (i == 700 and 1 or i) .. "\tx\n" end
    end)
  end,
}
]])
    local out, err, code = lumi("up")
    assert.are.equal(1, code, out .. err)
    assert.truthy(h.has(err, "migrations/002_load.lua:5:"), err)
    assert.truthy(h.has(err, "23505"), err)
    assert.are.equal(0, h.count(url, "items"))
    assert.are.same({ "001" }, h.versions(url))
  end)

  it("reads with db:rows while writing with db:copy_from in the same transaction", function()
    h.write(dir .. "/migrations/002_seed.sql",
      "INSERT INTO items (id, name) SELECT g, 'name ' || g FROM generate_series(1, 30000) g;\n")
    h.write(dir .. "/migrations/003_copy_upper.lua", [[
return {
  up = function(ctx)
    local db = ctx.db
    db:exec("CREATE TABLE items_upper (id int PRIMARY KEY, name text)")
    local buf, n = {}, 0
    for row in db:rows("SELECT id, name FROM items ORDER BY id") do
      buf[#buf + 1] = row.id .. "\t" .. row.name:upper() .. "\n"
      n = n + 1
      if #buf == 2000 then
        db:copy_from("COPY items_upper FROM STDIN", { table.concat(buf) })
        buf = {}
      end
    end
    if #buf > 0 then db:copy_from("COPY items_upper FROM STDIN", { table.concat(buf) }) end
    ctx.log("copied %d rows, in a transaction: %s", n, tostring(db:in_transaction()))
  end,
}
]])
    local out, err, code = lumi("up")
    assert.are.equal(0, code, out .. err)
    assert.truthy(h.has(out, "copied 30000 rows, in a transaction: true"), out)
    assert.are.equal(30000, h.count(url, "items_upper"))
    assert.are.equal("NAME 12345", h.value(url, "SELECT name FROM items_upper WHERE id = 12345"))
    assert.are.same({ "001", "002", "003" }, h.versions(url))
  end)

  it("a failure after the rows and COPY loop rolls all of it back", function()
    h.write(dir .. "/migrations/002_seed.sql",
      "INSERT INTO items (id, name) SELECT g, 'name ' || g FROM generate_series(1, 5000) g;\n")
    h.write(dir .. "/migrations/003_copy.lua", [[
return {
  up = function(ctx)
    local db = ctx.db
    db:exec("CREATE TABLE items_copy (id int PRIMARY KEY)")
    for row in db:rows("SELECT id FROM items") do
      db:copy_from("COPY items_copy FROM STDIN", { row.id .. "\n" })
    end
    db:exec("UPDATE items SET name = NULL")
    error("changed my mind")
  end,
}
]])
    local out, err, code = lumi("up")
    assert.are.equal(1, code, out .. err)
    assert.truthy(h.has(err, "migrations/003_copy.lua:9: changed my mind"), err)
    assert.is_false(h.table_exists(url, "items_copy"))
    assert.are.equal(0, h.count(url, "items WHERE name IS NULL"))
    assert.are.same({ "001", "002" }, h.versions(url))
  end)

  describe("savepoints", function()
    it("a failed savepoint rolls back only its own work; the migration goes on and is applied", function()
      h.write(dir .. "/migrations/002_savepoint.lua", [[
return {
  up = function(ctx)
    local db = ctx.db
    db:exec("INSERT INTO items (id, name) VALUES (1, 'kept')")
    local ok, err = pcall(db.savepoint, db, function(sp)
      sp:exec("INSERT INTO items (id, name) VALUES (2, 'undone')")
      sp:exec("INSERT INTO items (id, name) VALUES (1, 'duplicate')")
    end)
    ctx.log("savepoint: %s %s", tostring(ok), err.sqlstate)
    db:exec("INSERT INTO items (id, name) VALUES (3, 'after')")
    local v = db:savepoint(function(sp)
      sp:exec("INSERT INTO items (id, name) VALUES (4, 'released')")
      return "returned"
    end)
    ctx.log("second savepoint %s", v)
  end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      assert.truthy(h.has(out, "savepoint: false 23505"), out)
      assert.truthy(h.has(out, "second savepoint returned"), out)
      local names = {}
      for _, r in ipairs(h.query(url, "SELECT id, name FROM items ORDER BY id")) do names[#names + 1] = r.id .. "=" .. r.name end
      assert.are.same({ "1=kept", "3=after", "4=released" }, names)
      assert.are.same({ "001", "002" }, h.versions(url))
    end)

    it("a savepoint's error that is not caught fails the migration and nothing of it remains", function()
      h.write(dir .. "/migrations/002_savepoint.lua", [[
return {
  up = function(ctx)
    local db = ctx.db
    db:exec("INSERT INTO items (id, name) VALUES (1, 'first')")
    db:savepoint(function(sp)
      sp:exec("INSERT INTO items (id, name) VALUES (1, 'duplicate')")
    end)
  end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(1, code, out .. err)
      assert.truthy(h.has(err, "23505"), err)
      assert.truthy(h.has(err, "migrations/002_savepoint.lua:"), err)
      assert.are.equal(0, h.count(url, "items"))
      assert.are.same({ "001" }, h.versions(url))
    end)

    it("the savepoint's work is undone with the migration when the migration fails later", function()
      h.write(dir .. "/migrations/002_savepoint.lua", [[
return {
  up = function(ctx)
    ctx.db:savepoint(function(sp) sp:exec("INSERT INTO items (id, name) VALUES (1, 'in savepoint')") end)
    error("later failure")
  end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(1, code, out .. err)
      assert.are.equal(0, h.count(url, "items"))
      assert.are.same({ "001" }, h.versions(url))
    end)
  end)

  it("db:transaction inside a migration does not commit the migration's own transaction", function()
    -- either it nests (a savepoint) or it refuses; in both cases a later
    -- failure must leave nothing of the migration, as the output promises
    h.write(dir .. "/migrations/002_nested.lua", [[
return {
  up = function(ctx)
    ctx.db:exec("CREATE TABLE made_before (id int)")
    pcall(ctx.db.transaction, ctx.db, function(d) d:exec("INSERT INTO items (id) VALUES (1)") end)
    error("failure after db:transaction")
  end,
}
]])
    local out, err, code = lumi("up")
    assert.are.equal(1, code, out .. err)
    assert.truthy(h.has(err, "migrations/002_nested.lua:5: failure after db:transaction"), err)
    assert.truthy(h.has(err, "none of its changes and no record of it remain"), err)
    assert.is_false(h.table_exists(url, "made_before"))
    assert.are.equal(0, h.count(url, "items"))
    assert.are.same({ "001" }, h.versions(url))
  end)

  describe("db:in_batches", function()
    local backfill = [[
return {
  transaction = false,
  up = function(ctx)
    local stop_at = ctx.db:value("SELECT stop_at FROM interrupt")
    local n = 0
    local done = ctx.db:in_batches({ select = "SELECT id FROM items WHERE updated_times = 0", key = "id", size = 1000 },
      function(db, batch)
        n = n + 1
        db:query("UPDATE items SET updated_times = updated_times + 1 WHERE id BETWEEN $1 AND $2", batch.first, batch.last)
        db:query("INSERT INTO batches VALUES (txid_current())")
        if n == stop_at then error("interrupted at batch " .. n) end
      end)
    ctx.log("backfilled %d rows", done)
  end,
}
]]
    before_each(function()
      h.write(dir .. "/migrations/002_seed.sql",
        "INSERT INTO items (id) SELECT g FROM generate_series(1, 5500) g;\n"
          .. "CREATE TABLE batches (tx bigint);\nCREATE TABLE interrupt (stop_at int);\n")
      h.write(dir .. "/migrations/003_backfill.lua", backfill)
    end)

    it("in a migration without a transaction, processes every row in batches, each committed", function()
      local out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      assert.truthy(h.has(out, "003_backfill.lua: backfilled 5500 rows"), out)
      assert.are.equal(5500, h.count(url, "items WHERE updated_times = 1"))
      assert.are.equal(6, h.count(url, "batches"))
      assert.are.equal(6, h.value(url, "SELECT count(DISTINCT tx)::int FROM batches"))
      assert.are.same({ "001", "002", "003" }, h.versions(url))
      assert.are.equal("applied", h.value(url, "SELECT state FROM schema_migrations WHERE version = '003'"))
    end)

    it("interrupted at the 3rd batch, a rerun does the rest: every row processed exactly once", function()
      local out, err, code = lumi("up --to 002")
      assert.are.equal(0, code, out .. err)
      h.psql(url, "INSERT INTO interrupt VALUES (3)")
      out, err, code = lumi("up")
      assert.are_not.equal(0, code, out .. err)
      assert.truthy(h.has(err, "interrupted at batch 3"), err)
      assert.truthy(h.has(err, "migrations/003_backfill.lua:"), err)
      -- two batches committed, the third rolled back
      assert.are.equal(2000, h.count(url, "items WHERE updated_times = 1"))
      assert.are.equal(3500, h.count(url, "items WHERE updated_times = 0"))
      assert.are.equal(2, h.count(url, "batches"))
      assert.are.equal("unfinished", h.value(url, "SELECT state FROM schema_migrations WHERE version = '003'"))
      -- the documented way on: unmark, then up runs the migration again
      h.psql(url, "DELETE FROM interrupt")
      out, err, code = lumi("unmark 003")
      assert.are.equal(0, code, out .. err)
      out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      assert.truthy(h.has(out, "backfilled 3500 rows"), out)
      assert.are.equal(5500, h.count(url, "items WHERE updated_times = 1"))
      assert.are.equal(0, h.count(url, "items WHERE updated_times <> 1"))
      assert.are.equal(6, h.count(url, "batches"))
      assert.are.equal("applied", h.value(url, "SELECT state FROM schema_migrations WHERE version = '003'"))
    end)

    it("in a migration with a transaction it refuses: the migration fails, naming the file and line, and nothing remains", function()
      h.write(dir .. "/migrations/003_backfill.lua", [[
return {
  up = function(ctx)
    ctx.db:exec("CREATE TABLE made_before (id int)")
    ctx.db:in_batches({ select = "SELECT id FROM items", key = "id" }, function() end)
  end,
}
]])
      local out, err, code = lumi("up")
      assert.truthy(h.has(err, "db:in_batches commits every batch"), err)
      assert.truthy(h.has(err, "transaction = false"), err)
      assert.is_false(h.table_exists(url, "made_before"))
      assert.are.same({ "001", "002" }, h.versions(url))
      -- like any other failure in a migration: where it happened, and exit 1
      assert.truthy(h.has(err, "migrations/003_backfill.lua:4:"), err)
      assert.are.equal(1, code, out .. err)
    end)
  end)
  describe("copy_from with { wait = false }", function()
    it("several loads in a row all arrive", function()
      h.write(dir .. "/migrations/002_load.lua", [[
return {
  up = function(ctx)
    for b = 0, 9 do
      local buf = {}
      for i = 1, 1000 do buf[i] = (b * 1000 + i) .. "\tx\n" end
      ctx.db:copy_from("COPY items (id, name) FROM STDIN", { table.concat(buf) }, { wait = false })
    end
    ctx.log("rows: %d", ctx.db:value("SELECT count(*)::int FROM items"))
  end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      assert.truthy(h.has(out, "rows: 10000"), out)
      assert.are.equal(10000, h.count(url, "items"))
    end)

    it("bad data in the last load fails the migration and nothing of it remains", function()
      h.write(dir .. "/migrations/002_load.lua", [[
return {
  up = function(ctx)
    ctx.db:exec("CREATE TABLE made_before (id int)")
    ctx.db:copy_from("COPY items (id) FROM STDIN", { "1\n2\n" }, { wait = false })
    ctx.db:copy_from("COPY items (id) FROM STDIN", { "3\n1\n" }, { wait = false })
  end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(1, code, out .. err)
      assert.truthy(h.has(err, "23505"), err)
      assert.truthy(h.has(err, "migrations/002_load.lua"), err)
      assert.is_false(h.table_exists(url, "made_before"))
      assert.are.equal(0, h.count(url, "items"))
      assert.are.same({ "001" }, h.versions(url))
    end)
  end)

  describe("the README's examples", function()
    it("007_split_names: db:rows with an UPDATE per row, ctx.log, and down", function()
      h.write(dir .. "/migrations/002_people.sql", "CREATE TABLE people (id int PRIMARY KEY, full_name text NOT NULL);\n"
        .. "INSERT INTO people VALUES (1, 'Ada Lovelace'), (2, 'Alan Mathison Turing'), (3, 'Plato');\n")
      h.write(dir .. "/migrations/007_split_names.lua", [[
-- migrations/007_split_names.lua
return {
  up = function(ctx)
    local db = ctx.db                      -- raises on any error: no `assert` needed
    db:exec("ALTER TABLE people ADD COLUMN first_name text, ADD COLUMN last_name text")
    for row in db:rows("SELECT id, full_name FROM people") do
      local first, last = row.full_name:match("^(%S+)%s+(.+)$")
      db:query("UPDATE people SET first_name = $1, last_name = $2 WHERE id = $3",
               first or row.full_name, last, row.id)
    end
    ctx.log("split %d names", db:value("SELECT count(*) FROM people"))
  end,
  down = function(ctx)
    ctx.db:exec("ALTER TABLE people DROP COLUMN first_name, DROP COLUMN last_name")
  end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      assert.truthy(h.has(out, "007_split_names.lua: split 3 names"), out)
      local rows = h.query(url, "SELECT first_name, last_name FROM people ORDER BY id")
      assert.are.equal("Ada", rows[1].first_name)
      assert.are.equal("Mathison Turing", rows[2].last_name)
      assert.are.equal("Plato", rows[3].first_name)
      assert.are.equal(require("lumi.pg").null, rows[3].last_name)
      out, err, code = lumi("down")
      assert.are.equal(0, code, out .. err)
      assert.is_false(h.column_exists(url, "people", "first_name"))
      assert.are.same({ "001", "002" }, h.versions(url))
    end)

    it("008_lowercase_emails: db:stream and db:copy_from { wait = false }, with progress", function()
      h.write(dir .. "/migrations/002_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n"
        .. "INSERT INTO users SELECT g, 'User' || g || '@Example.COM' FROM generate_series(1, 25003) g;\n")
      h.write(dir .. "/migrations/008_lowercase_emails.lua", [[
-- migrations/008_lowercase_emails.lua
local lower, concat = string.lower, table.concat
return {
  up = function(ctx)
    local db, buf, n, done = ctx.db, {}, 0, 0
    local total = db:value("SELECT count(*) FROM users")
    db:exec("CREATE TABLE users_new (id bigint PRIMARY KEY, email text NOT NULL)")
    for row in db:stream("SELECT id, email FROM users") do
      n = n + 1
      buf[n] = row.id .. "\t" .. lower(row.email) .. "\n"
      if n == 10000 then
        db:copy_from("COPY users_new (id, email) FROM STDIN", { concat(buf) }, { wait = false })
        done, buf, n = done + n, {}, 0
        ctx.progress(done, total)
      end
    end
    db:copy_from("COPY users_new (id, email) FROM STDIN", { concat(buf, "", 1, n) })
    ctx.progress(total, total)
  end,
}
]])
      local out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      assert.are.equal(25003, h.count(url, "users_new"))
      assert.are.equal("user25003@example.com", h.value(url, "SELECT email FROM users_new WHERE id = 25003"))
      assert.are.equal(0, h.count(url, "users_new WHERE email <> lower(email)"))
      assert.truthy(h.has(err, "008_lowercase_emails.lua: 25,003/25,003 (100%, "), err)
      assert.are.same({ "001", "002", "008" }, h.versions(url))
    end)

    it("009_backfill_email_lower: in_batches interrupted, then `lumi unmark 009` and `lumi up` finish it", function()
      h.write(dir .. "/migrations/002_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL,"
        .. " touched int NOT NULL DEFAULT 0);\n"
        .. "INSERT INTO users (id, email) SELECT g, 'U' || g || '@X.ORG' FROM generate_series(1, 35000) g;\n"
        .. "CREATE FUNCTION count_touch() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        .. "BEGIN NEW.touched := OLD.touched + 1; IF NEW.id = 25001 AND current_setting('test.fail', true) = 'yes'"
        .. " THEN RAISE EXCEPTION 'interrupted'; END IF; RETURN NEW; END $$;\n"
        .. "CREATE TRIGGER count_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION count_touch();\n")
      h.write(dir .. "/migrations/009_backfill_email_lower.lua", [[
-- migrations/009_backfill_email_lower.lua
return {
  transaction = false,
  up = function(ctx)
    ctx.db:exec("ALTER TABLE users ADD COLUMN IF NOT EXISTS email_lower text")
    ctx.db:in_batches({
      select = "SELECT id FROM users WHERE email_lower IS NULL",   -- the rows still to do
      key = "id", size = 10000, total = true, progress = ctx.progress,
    }, function(db, batch)
      db:query("UPDATE users SET email_lower = lower(email) WHERE id BETWEEN $1 AND $2 AND email_lower IS NULL",
               batch.first, batch.last)
    end)
  end,
}
]])
      local out, err, code = lumi("up --to 002")
      assert.are.equal(0, code, out .. err)
      -- the trigger raises in the 3rd batch while test.fail is set for the database
      local dbname = url:match("^postgresql:///([^?]+)")
      local _, perr, pcode = h.psql(url, "ALTER DATABASE " .. dbname .. " SET test.fail = 'yes'")
      assert.are.equal(0, pcode, perr)
      out, err, code = lumi("up")
      assert.are.equal(1, code, out .. err)
      assert.truthy(h.has(err, "interrupted"), err)
      assert.are.equal(20000, h.count(url, "users WHERE email_lower IS NOT NULL"))
      assert.are.equal("unfinished", h.value(url, "SELECT state FROM schema_migrations WHERE version = '009'"))
      _, perr, pcode = h.psql(url, "ALTER DATABASE " .. dbname .. " RESET test.fail")
      assert.are.equal(0, pcode, perr)
      out, err, code = lumi("unmark 009")
      assert.are.equal(0, code, out .. err)
      out, err, code = lumi("up")
      assert.are.equal(0, code, out .. err)
      assert.truthy(h.has(err, "009_backfill_email_lower.lua: 15,000/15,000 (100%, "), err)
      assert.are.equal(35000, h.count(url, "users WHERE email_lower = lower(email)"))
      assert.are.equal(35000, h.count(url, "users WHERE touched = 1"))
      assert.are.equal("applied", h.value(url, "SELECT state FROM schema_migrations WHERE version = '009'"))
    end)
  end)
end)
