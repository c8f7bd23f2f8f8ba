--- The lock report: each pending statement run on a scratch database,
--- with what it locked, rewrote and scanned read from PostgreSQL itself.
--
-- For a migration that runs in a transaction, lumi opens one on the scratch
-- database and runs its statements one by one; after each it reads, in the
-- same session, the relation locks its backend holds (pg_locks: a lock
-- taken stays until COMMIT), whether a relation that existed before got a
-- new relfilenode (a rewrite), and whether the transaction's sequential
-- scans of it went up (pg_stat_xact_user_tables: a scan, as a constraint's
-- validation does). A statement of a migration without a transaction
-- (CREATE INDEX CONCURRENTLY, ...) commits on its own: a second connection
-- looks at pg_locks while it runs, and says so when it ended before the
-- first look.
--
-- Only relations that existed before the migration count: a table the
-- migration creates blocks nobody.
local prepare = require "lumi.prepare"

local M = {}

-- pg_locks' modes: their SQL names, and what they make others wait for
M.modes = {
  AccessShareLock = { name = "ACCESS SHARE", blocks = { "DDL" }, rank = 1 },
  RowShareLock = { name = "ROW SHARE", blocks = { "DDL" }, rank = 2 },
  RowExclusiveLock = { name = "ROW EXCLUSIVE", blocks = { "DDL" }, rank = 3 },
  ShareUpdateExclusiveLock = { name = "SHARE UPDATE EXCLUSIVE", blocks = { "DDL" }, rank = 4 },
  ShareLock = { name = "SHARE", blocks = { "writes", "DDL" }, rank = 5 },
  ShareRowExclusiveLock = { name = "SHARE ROW EXCLUSIVE", blocks = { "writes", "DDL" }, rank = 6 },
  ExclusiveLock = { name = "EXCLUSIVE", blocks = { "writes", "DDL" }, rank = 7 },
  AccessExclusiveLock = { name = "ACCESS EXCLUSIVE", blocks = { "reads", "writes", "DDL" }, rank = 8 },
}

local EXISTING = "SELECT c.oid::bigint AS oid, c.relfilenode::bigint AS node, c.relkind, "
  .. "quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name FROM pg_class c "
  .. "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'm', 'i') "
  .. "AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%'"

local LOCKS = "SELECT relation::bigint AS oid, mode FROM pg_locks WHERE pid = $1 AND locktype = 'relation' "
  .. "AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"

local SCANS = "SELECT relid::bigint AS oid, seq_scan FROM pg_stat_xact_user_tables"

-- {oid = row} of the relations there now
local function relations(db)
  local out = {}
  for _, r in ipairs(db:query(EXISTING)) do out[r.oid] = r end
  return out
end

local function scans(db)
  local out = {}
  for _, r in ipairs(db:query(SCANS)) do out[r.oid] = r.seq_scan end
  return out
end

-- the table an index belongs to, for the report
local function table_of_index(db, oid)
  return db:value("SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_index i "
    .. "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    .. "WHERE i.indexrelid = $1::oid", oid)
end

-- where statement s of part starts in its file
local function position(part, s)
  local at = prepare.file_position(part, prepare.chars_before(part, s.start) + 1) or {}
  return at.line, at.column
end

--- Trace one prepared SQL part on the scratch database `db` (watch: a
--- second connection to it, for statements outside a transaction).
--- Returns the statements, each {index=, line=, column=, text=, locks =
--- {{relation=, mode=, held = "statement"|"transaction", new = true}...},
--- rewrites = {relation...}, scans = {relation...}, in_transaction=}, and
--- an error when a statement failed there (the part is rolled back).
function M.trace(db, watch, part)
  local stmts = prepare.statements(part) or { { text = part.text, start = 1 } }
  local before = relations(db)
  local out = {}
  local in_tx = part.mode ~= "statements"
  local held = {}
  local pid = db:info().pid
  local function name_of(oid)
    local r = before[oid]
    if not r then return nil end
    if r.relkind == "i" then return r.name, table_of_index(db, oid), "index" end
    return r.name, nil, "table"
  end
  if in_tx then db:exec("BEGIN") end
  for i, s in ipairs(stmts) do
    local line, column = position(part, s)
    local entry = { index = i, line = line, column = column, text = s.text, locks = {}, rewrites = {}, scans = {},
                    in_transaction = in_tx }
    out[#out + 1] = entry
    if in_tx and prepare.controls_transaction(s.text) then
      entry.skipped = "transaction control (lumi's own transaction stands for it)"
    else
      local nodes_before = relations(db)
      local scans_before = in_tx and scans(db) or {}
      local seen = {}
      local ok, err
      if in_tx then
        ok, err = pcall(db.exec, db, s.text)
        if ok then
          for _, l in ipairs(db:query(LOCKS, pid)) do seen[#seen + 1] = l end
        end
      else
        ok, err = pcall(db.exec_watched, db, s.text, 0.002, function()
          for _, l in ipairs(watch:query(LOCKS, pid)) do seen[#seen + 1] = l end
        end)
        if ok and #seen == 0 then entry.unobserved = true end
      end
      if not ok then
        if in_tx then pcall(db.exec, db, "ROLLBACK") end
        entry.error = type(err) == "table" and err.message or tostring(err)
        return out, entry
      end
      local dedup = {}
      for _, l in ipairs(seen) do
        local rel, owner, kind = name_of(l.oid)
        local key = tostring(l.oid) .. "/" .. l.mode
        if rel and not dedup[key] then
          dedup[key] = true
          local new = not held[key]
          if in_tx then held[key] = held[key] or i end
          entry.locks[#entry.locks + 1] = { relation = rel, table = owner, kind = kind,
            mode = M.modes[l.mode] and M.modes[l.mode].name or l.mode, held = in_tx and "transaction" or "statement",
            new = new, since = held[key] }
        end
      end
      table.sort(entry.locks, function(a, b)
        if a.relation ~= b.relation then return a.relation < b.relation end
        return a.mode < b.mode
      end)
      local nodes_after = relations(db)
      for oid, r in pairs(nodes_before) do
        local now = nodes_after[oid]
        if before[oid] and now and now.node ~= r.node and r.relkind ~= "i" then
          entry.rewrites[#entry.rewrites + 1] = r.name
        end
      end
      if in_tx then
        for oid, n in pairs(scans(db)) do
          if before[oid] and n > (scans_before[oid] or 0) then entry.scans[#entry.scans + 1] = before[oid].name end
        end
      end
      table.sort(entry.rewrites)
      table.sort(entry.scans)
    end
  end
  if in_tx then db:exec("COMMIT") end
  return out, nil
end

--- The built-in verdict on one traced statement: nil, or {severity=,
--- message=}. ctx: {migration = the traced migration's statements, stats =
--- {relation = {rows=, bytes=}} (from --stats-from), large = rows,
--- lock_timeout = seconds in force}. It calls out, in this order: a rewrite
--- or a scan of a large table (any table, without statistics) while an
--- ACCESS EXCLUSIVE lock on it is held; an ACCESS EXCLUSIVE lock taken
--- with no lock_timeout; one held through later statements until COMMIT.
function M.verdict(stmt, ctx)
  local large = ctx.large or 1000000
  local function is_large(rel)
    local st = ctx.stats and ctx.stats[rel]
    return st == nil or st.rows == nil or st.rows >= large
  end
  local function exclusive(rel)
    for _, l in ipairs(stmt.locks) do
      if l.mode == "ACCESS EXCLUSIVE" and (l.relation == rel or l.table == rel) then return l end
    end
    return nil
  end
  for _, list in ipairs({ { stmt.rewrites, "rewrites" }, { stmt.scans, "scans" } }) do
    for _, rel in ipairs(list[1]) do
      local l = exclusive(rel)
      if l and is_large(rel) then
        local st = ctx.stats and ctx.stats[rel]
        local rows = st and st.rows and string.format(" (%d rows)", st.rows) or ""
        return { severity = "error", message = string.format("%s %s%s under ACCESS EXCLUSIVE%s: no reads or writes "
          .. "until it ends", list[2], rel, rows, l.new and "" or string.format(" (held since statement %d)", l.since)) }
      end
    end
  end
  for _, l in ipairs(stmt.locks) do
    if l.mode == "ACCESS EXCLUSIVE" and l.new and l.kind ~= "index" then
      if not ctx.lock_timeout or ctx.lock_timeout <= 0 then
        return { severity = "error", message = string.format("waits for ACCESS EXCLUSIVE on %s with no lock_timeout: "
          .. "every query on it queues behind", l.relation) }
      end
      local later = 0
      for _, other in ipairs(ctx.migration) do
        if other.index > stmt.index and not other.skipped then later = later + 1 end
      end
      if stmt.in_transaction and later > 0 then
        return { severity = "error", message = string.format("takes ACCESS EXCLUSIVE on %s and holds it through %d "
          .. "later statement%s until COMMIT", l.relation, later, later == 1 and "" or "s") }
      end
    end
  end
  return nil
end

return M
