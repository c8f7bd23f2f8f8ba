--- lumi adopt [TOOL|auto] [--apply]: record what another tool applied.
local errors = require "lumi.errors"
local adopt = require "lumi.adopt"
local fs = require "lumi.fs"
local plan = require "lumi.plan"

-- The source to read: the one named, or (auto) the one whose table is there.
local function pick(db, name)
  local names = {}
  for i, s in ipairs(adopt.sources) do names[i] = s.name end
  if name and name ~= "auto" then
    local s = adopt.source(name)
    if not s then
      errors.raise("usage", string.format("adopt: no tool named %q (known: %s)", name, table.concat(names, ", ")))
    end
    if not adopt.present(db, s) then
      errors.raise("usage", string.format("adopt: there is no %s history here (a table %s with columns %s)",
        s.name, s.table, table.concat(s.columns, ", ")))
    end
    return s
  end
  local found = adopt.found(db)
  if #found == 1 then return found[1] end
  if #found == 0 then
    errors.raise("usage", "adopt: no history table of a known tool here (looked for: " .. table.concat(names, ", ") .. ")")
  end
  local seen = {}
  for i, s in ipairs(found) do seen[i] = s.name .. " (" .. s.table .. ")" end
  errors.raise("usage", "adopt: the history of several tools is here: " .. table.concat(seen, ", ")
    .. "; name the one to adopt")
end

-- What to record: {migration=, row=} for every row of the source, matched
-- to the files; raises when the source is dirty or a row has no file.
local function plan_of(project, src, got, found)
  local scheme = project.scheme
  local by_key, by_file, by_stem, by_revision = {}, {}, {}, {}
  for _, m in ipairs(found.migrations) do
    by_key[m.key] = m
    by_file[m.file] = m
    by_stem[m.stem] = m
    -- an Alembic revision: the first word of the name (0001_ae10_users)
    local word = (m.name or ""):match("^[^_]+")
    if word then by_revision[word] = m end
  end
  if got.dirty then errors.raise("validation", "adopt: " .. got.dirty) end
  local out, orphans, taken = {}, {}, {}
  for _, r in ipairs(got.rows) do
    local m = r.file and by_file[r.file] or r.stem and by_stem[r.stem] or r.revision and by_revision[r.revision]
      or (r.version and by_key[scheme.key(r.version)])
    if m then
      if not taken[m] then out[#out + 1] = { migration = m, row = r } end
      taken[m] = true
    else
      orphans[#orphans + 1] = r.file or r.stem or r.revision or r.version
    end
  end
  -- everything up to a version: golang-migrate's one row, Flyway's baseline
  local upto = got.head or got.baseline
  if upto then
    for _, m in ipairs(found.migrations) do
      if not taken[m] and not m.repeatable and not scheme.compare(upto, m.version) then
        out[#out + 1] = { migration = m, row = {} }
      end
    end
    if got.head and not by_key[scheme.key(got.head)] then orphans[#orphans + 1] = got.head end
  end
  -- in the order lumi runs them
  local place = {}
  for i, m in ipairs(found.migrations) do place[m] = i end
  table.sort(out, function(a, b) return place[a.migration] < place[b.migration] end)
  if #orphans > 0 then
    errors.raise("validation", string.format("adopt: %s applied %s with no file here: %s", src.name,
      #orphans == 1 and "a migration" or (#orphans .. " migrations"), table.concat(orphans, ", ")),
      { hint = "restore those files (or check dir and naming in migrate.lua), then adopt" })
  end
  return out
end

return {
  summary = "record as applied what another tool applied (its history table is read, never changed)",
  usage = "lumi adopt [TOOL|auto] [--apply]",
  description = [[
Reads the history table of another migration tool and records the same
applied migrations in lumi's tracking table, with their original time and
user where the tool kept them, logged as "adopted". TOOL: golang-migrate,
rails, dbmate, goose, sql-migrate, diesel, sqlx, prisma, node-pg-migrate,
knex, flyway, sqitch or alembic; auto (the default) finds the one whose
table is there. The checksums Flyway, sqlx, Prisma and Sqitch recorded are
compared with the files: a file edited since is named. Without
--apply it shows what it would record and writes nothing. With --apply it
writes in one transaction, under the migration lock; a migration lumi
already records is left as it is, so adopting twice records nothing the
second time. It refuses a history with a failed, dirty or unfinished
migration, and rows whose file is not here.]],
  args = { { name = "TOOL" } },
  options = { { "--apply", help = "record them (without it: only show what would be recorded)" } },
  run = function(project, opts)
    local db = project:connect()
    local src = pick(db, opts.args[1])
    local st = project:store()
    if db:value("SELECT to_regclass($1) = to_regclass($2)", project.config.tracking.table, src.table) == true then
      errors.raise("config", string.format("adopt: lumi's tracking table is %s's own (%s): give lumi another one",
        src.name, src.table), { hint = "set table = \"lumi_migrations\" in migrate.lua (a convention does it)" })
    end
    local function todo(records, found)
      local cfg = project.config
      local got = src.read(db, { root = cfg.root, dir = cfg.migrations_dir })
      local applied = {}
      for _, r in ipairs(records) do applied[plan.record_id(r, project.scheme, project:identity())] = true end
      local out, edited, again = {}, {}, {}
      local planned = plan_of(project, src, got, found)
      local ms = {}
      for i, c in ipairs(planned) do ms[i] = c.migration end
      local sums = project:checksums(ms)
      for _, c in ipairs(planned) do
        -- the tool's own checksum of the file as it is now
        local m, changed = c.migration, false
        if c.row.sum and src.checksum then
          local text = fs.read(m.path)
          changed = text ~= nil and src.checksum(text) ~= c.row.sum
        end
        if changed and c.row.repeatable then
          again[#again + 1] = m.file
        else
          if changed then edited[#edited + 1] = m.file end
          if not applied[m.id] then out[#out + 1] = c end
        end
      end
      if #edited > 0 then
        project:warn(string.format("%s recorded another checksum for %s: edited since %s applied %s (lumi records "
          .. "the files as they are now)", src.name, table.concat(edited, ", "), src.name,
          #edited == 1 and "it" or "them"))
      end
      if #again > 0 then
        project:warn(string.format("%s changed since %s last ran %s: not adopted, so `lumi up` runs %s again, as %s "
          .. "would", table.concat(again, ", "), src.name, #again == 1 and "it" or "them", #again == 1 and "it" or "them",
          src.name))
      end
      return out, got.warning, sums
    end
    local list, warning
    if opts.apply then
      local done = require("lumi.runner").record_only(project, function(p, found)
        local recs = {}
        for _, e in ipairs(p.entries) do if e.record then recs[#recs + 1] = e.record end end
        local sums
        list, warning, sums = todo(recs, found)
        local changes = {}
        for i, c in ipairs(list) do
          changes[i] = { migration = c.migration, event = "adopted", note = "from " .. src.name,
            fields = { checksum = sums[c.migration.path], execution_ms = 0, applied_at = c.row.applied_at,
                       applied_by = c.row.applied_by } }
        end
        return changes
      end)
      list = done
    else
      list, warning = todo((st:read()), project:discover())
    end
    if warning then project:warn(warning) end
    local out = {}
    for i, c in ipairs(list) do
      out[i] = { version = c.migration.version, file = c.migration.file,
                 applied_at = c.fields and c.fields.applied_at or (c.row and c.row.applied_at) or nil }
    end
    return { adopted = out, tool = src.name, source = src.table, written = opts.apply == true }
  end,
}
