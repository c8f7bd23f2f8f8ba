--- Prepare: one direction of a migration, read from disk once, made ready
--- to run. The runner runs what this returns and reads nothing itself.
--
--   prepare.part(m, "up" | "down", settings) -> part | nil (no such direction)
--
-- part = {
--   migration = m, direction = "up" | "down",
--   path      = the file read, file = the same relative to the migrations dir,
--   bytes     = the file as it is on disk (BOM and all),
--   checksum  = SHA-256 hex of bytes (what `up` records),
--   text      = the SQL to run: the part's section, placeholders filled,
--   transaction = whether it runs in a transaction,
--   mode      = "transaction" (lumi's BEGIN ... COMMIT around the text),
--               "own"         (the text is BEGIN; ... COMMIT; itself),
--               "statements"  (no transaction: one statement at a time),
--   statements = { {text=, start=} ... } when mode is "statements",
--   fn        = the up or down function of a Lua migration,
--   timeouts  = {lock=, statement=}: its own, in seconds (nil: the policy's),
--   problems  = { {line=, message=} ... }: directive near misses,
-- }
--
-- Whether a part runs in a transaction is policy, decided in this order:
-- the migration's own field (`transaction` for up, `down_transaction` for
-- down: set by a discover function or a naming scheme), then what the
-- file's directives say (`directives` in migrate.lua, by default
-- lumi.directives.read), then true. A file that carries BEGIN ... COMMIT
-- runs in its own transaction; one with transaction control in the middle
-- runs statement by statement. A text that PostgreSQL's parser (libpg_query)
-- rejects never changes mode: it is sent whole, and the server reports the
-- error with its position before any of it runs.
--
-- A one-file migration may hold both directions, marked by comment lines
-- (the forms of dbmate, goose, sql-migrate and node-pg-migrate are all
-- understood):
--
--   -- migrate:up        -- +goose Up        -- +migrate Up      -- Up Migration
--   CREATE TABLE t (...);
--   -- migrate:down      -- +goose Down      -- +migrate Down    -- Down Migration
--   DROP TABLE t;
local errors = require "lumi.errors"
local fs = require "lumi.fs"
local hash = require "lumi.hash"
local directives = require "lumi.directives"
local large = require "lumi.large"

local M = {}

---------------------------------------------------------------- sections

local markers = {
  { up = "^%-%-%s*migrate:up", down = "^%-%-%s*migrate:down" },
  { up = "^%-%-%s*%+goose%s+[Uu][Pp]", down = "^%-%-%s*%+goose%s+[Dd][Oo][Ww][Nn]" },
  { up = "^%-%-%s*%+migrate%s+[Uu][Pp]", down = "^%-%-%s*%+migrate%s+[Dd][Oo][Ww][Nn]" },
  -- node-pg-migrate's, alone on their line
  { up = "^%-%-%s*[Uu][Pp] [Mm]igration%s*$", down = "^%-%-%s*[Dd]own [Mm]igration%s*$" },
}

-- Which section a line opens: "up", "down" or nil.
local function marker_of(line)
  for _, mk in ipairs(markers) do
    if line:match(mk.up) then return "up" end
    if line:match(mk.down) then return "down" end
  end
  return nil
end

--- Split a one-file migration into sections: {preamble=, up = {text=,
--- start=}, down = {text=, start=}} (start: the byte where the section
--- begins in the file), or nil when the file has no markers.
function M.sections(text)
  if not (text:find("migrate:", 1, true) or text:find("+goose", 1, true) or text:find("+migrate", 1, true)
      or text:find("igration", 1, true)) then
    return nil
  end
  local found = {}
  for at, line in text:gmatch("()([^\n]*)\n?") do
    if at > #text then break end
    local dir = marker_of(line)
    if dir then found[#found + 1] = { dir = dir, at = at } end
  end
  if #found == 0 then return nil end
  local out = { preamble = text:sub(1, found[1].at - 1) }
  for i, f in ipairs(found) do
    if out[f.dir] then errors.raise("config", string.format("two %s sections in one file", f.dir)) end
    -- the marker line stays in its section (as a comment): it carries
    -- directives such as "transaction:false" for the section it opens
    out[f.dir] = { text = text:sub(f.at, found[i + 1] and found[i + 1].at - 1 or #text), start = f.at }
  end
  return out
end

---------------------------------------------------------------- placeholders

--- Fill ${name} placeholders from `values` (nil: leave the text alone).
--- "$${name}" stands for a literal "${name}". Raises a config error naming
--- the first placeholder without a value, with its line. Returns the text
--- and where each substitution sits (for mapping error positions back).
function M.fill(text, values, where, lines_before)
  if values == nil or not text:find("${", 1, true) then return text, nil end
  local fills, delta = {}, 0
  local out = text:gsub("()(%$?)%${([%w_.%-]+)}()", function(at, escape, name, after)
    local value
    if escape == "$" then
      value = "${" .. name .. "}"
    else
      local v = values[name]
      if v == nil then
        local line = select(2, text:sub(1, at):gsub("\n", "")) + 1 + (lines_before or 0)
        errors.raise("config", string.format("%s:%d: placeholder ${%s} has no value", where, line, name),
          { hint = string.format("set placeholders = { %s = ... } in migrate.lua, or write $${%s} for the text itself", name, name) })
      end
      value = tostring(v)
    end
    fills[#fills + 1] = { sent = at + delta, sent_len = #value, file = at, file_len = after - at }
    delta = delta + #value - (after - at)
    return value
  end)
  return out, fills
end

-- The byte of the section as written that byte `b` of the text sent comes
-- from; a byte inside a placeholder's value maps to the placeholder.
local function source_byte(part, b)
  local delta = 0
  for _, f in ipairs(part.fills or {}) do
    if b < f.sent then break end
    if b < f.sent + f.sent_len then return f.file end
    delta = (f.file + f.file_len) - (f.sent + f.sent_len)
  end
  return b + delta
end

---------------------------------------------------------------- positions

-- Line and column (1-based, in characters) of character `pos` in `text`,
-- the text of that line, and what stands before the column on it.
local function locate(text, pos)
  local byte = utf8.len(text) and (utf8.offset(text, pos) or #text + 1) or pos
  if byte > #text + 1 then byte = #text + 1 end
  local line, line_start, i = 1, 1, 1
  while true do
    local nl = text:find("\n", i, true)
    if not nl or nl >= byte then break end
    line, line_start, i = line + 1, nl + 1, nl + 1
  end
  local line_end = text:find("\n", line_start, true)
  local line_text = text:sub(line_start, (line_end or #text + 1) - 1):gsub("\r$", "")
  local prefix = text:sub(line_start, byte - 1)
  return line, (utf8.len(prefix) or #prefix) + 1, line_text, prefix
end

--- Where character `pos` of part.text (the text sent) stands in the file
--- as written: {line=, column=, source_line=, caret=}, the line counted
--- from the top of the file; nil when pos is outside the text.
function M.file_position(part, pos)
  if not pos or pos < 1 then return nil end
  local text = part.text
  if part.fills and #part.fills > 0 then
    local b = utf8.len(text) and utf8.offset(text, pos) or pos
    if not b or b > #text + 1 then b = #text + 1 end
    local fb = source_byte(part, b)
    text = part.source
    local chars = utf8.len(text:sub(1, fb - 1))
    pos = chars and chars + 1 or fb
  end
  local line, column, source_line, prefix = locate(text, pos)
  -- the caret line keeps the tabs of the prefix so that it lines up
  local caret = prefix:gsub("[\128-\191]", ""):gsub("[^\t]", " ") .. "^"
  return { line = line + (part.lines_before or 0), column = column, source_line = source_line, caret = caret }
end

--- The character offset in part.text where byte `b` stands (for a
--- statement's start, to map positions within it).
function M.chars_before(part, b)
  return utf8.len(part.text:sub(1, b - 1)) or (b - 1)
end

---------------------------------------------------------------- statements

local tx_words = { BEGIN = true, START = true, COMMIT = true, ["END"] = true, ROLLBACK = true, ABORT = true }

--- The keyword a statement's text (as lumi.sql.split gives it: from its
--- first significant byte) starts with, upper-cased; nil when it starts
--- with anything else (a parenthesis, a quoted or non-ASCII identifier).
function M.first_keyword(s)
  local word = s:match("^[%a_][%w_$\128-\255]*")
  if not word or word:find("[^%a_]") then return nil end
  return word:upper()
end

--- Does statement text s begin or end a transaction?
function M.controls_transaction(s)
  local k = M.first_keyword(s)
  if not tx_words[k] then return nil end
  local upper = s:upper()
  -- ROLLBACK TO SAVEPOINT and COMMIT/ROLLBACK PREPARED end no transaction
  if upper:match("^%s*ROLLBACK%s+TO%f[%W]") or upper:match("^%s*%a+%s+PREPARED%f[%W]") then return nil end
  return k
end

-- Statements PostgreSQL refuses inside a transaction block (SQLSTATE
-- 25001), by their opening words, and the name they are told by.
local OUTSIDE = {
  { "^CREATE%s+UNIQUE%s+INDEX%s+CONCURRENTLY%f[^%w_]", "CREATE INDEX CONCURRENTLY" },
  { "^CREATE%s+INDEX%s+CONCURRENTLY%f[^%w_]", "CREATE INDEX CONCURRENTLY" },
  { "^DROP%s+INDEX%s+CONCURRENTLY%f[^%w_]", "DROP INDEX CONCURRENTLY" },
  { "^REINDEX%s*%b()%s*%a+%s+CONCURRENTLY%f[^%w_]", "REINDEX CONCURRENTLY" },
  { "^REINDEX%s+%a+%s+CONCURRENTLY%f[^%w_]", "REINDEX CONCURRENTLY" },
  { "^ALTER%s+TABLE%f[^%w_][^;]-%f[%w_]DETACH%s+PARTITION%f[^%w_][^;]-%f[%w_]CONCURRENTLY%s*;?%s*$",
    "DETACH PARTITION CONCURRENTLY" },
  { "^VACUUM%f[^%w_]", "VACUUM" },
  { "^ALTER%s+SYSTEM%f[^%w_]", "ALTER SYSTEM" },
  { "^CREATE%s+DATABASE%f[^%w_]", "CREATE DATABASE" },
  { "^DROP%s+DATABASE%f[^%w_]", "DROP DATABASE" },
  { "^CREATE%s+TABLESPACE%f[^%w_]", "CREATE TABLESPACE" },
  { "^DROP%s+TABLESPACE%f[^%w_]", "DROP TABLESPACE" },
}

--- The name of what statement text s is (as lumi.sql.split gives it) when
--- PostgreSQL refuses to run it inside a transaction block: "CREATE INDEX
--- CONCURRENTLY", "VACUUM", ...; nil otherwise.
function M.outside_transaction_only(s)
  if not M.first_keyword(s) then return nil end
  local upper = s:upper()
  for _, o in ipairs(OUTSIDE) do
    if upper:find(o[1]) then return o[2] end
  end
  return nil
end

--- The top-level statements of part.text, by PostgreSQL's parser, or nil
--- and the parse error when the parser rejects the text.
function M.statements(part)
  return require("lumi.sql").split(part.text)
end

-- How a SQL part in a transaction runs: "transaction", "own" (its own
-- BEGIN first and COMMIT last) or "statements" (transaction control in
-- the middle), and its statements when they were needed to decide.
local function transactional_mode(part)
  -- only a text that names a transaction keyword can control transactions
  local lower = part.text:lower()
  if not (lower:find("begin", 1, true) or lower:find("commit", 1, true) or lower:find("start", 1, true)
          or lower:find("rollback", 1, true) or lower:find("abort", 1, true) or lower:find("end", 1, true)) then
    return "transaction"
  end
  local stmts = M.statements(part)
  if not stmts then return "transaction" end      -- does not parse: sent whole
  local control = {}
  for i, s in ipairs(stmts) do
    local k = M.controls_transaction(s.text)
    if k then control[#control + 1] = { index = i, word = k } end
  end
  if #control == 0 then return "transaction" end
  local n = #stmts
  if #control == 2 and control[1].index == 1 and (control[1].word == "BEGIN" or control[1].word == "START")
     and control[2].index == n and (control[2].word == "COMMIT" or control[2].word == "END") then
    return "own", stmts
  end
  return "statements", stmts
end

---------------------------------------------------------------- reading

-- Line and column of byte b of text (the column in characters where the
-- line is UTF-8).
local function at_byte(text, b)
  local before = text:sub(1, b - 1)
  local line = select(2, before:gsub("\n", "")) + 1
  local prefix = before:match("[^\n]*$")
  return line, (utf8.len(prefix) or #prefix) + 1
end

-- Raise a validation error for a text PostgreSQL cannot take: a NUL byte
-- ends a C string, and the connection speaks UTF-8.
local function unsendable(text, path)
  local nul = text:find("\0", 1, true)
  if nul then
    local line, col = at_byte(text, nul)
    errors.raise("validation", string.format("%s:%d:%d: holds a NUL byte, which PostgreSQL cannot take", path, line, col),
      { file = path, hint = "is it a text file? remove the byte (e.g. tr -d '\\000')" })
  end
  local ok, bad = utf8.len(text)
  if not ok then
    local line, col = at_byte(text, bad)
    errors.raise("validation", string.format("%s:%d:%d: is not UTF-8 text (byte 0x%02X), which the connection speaks",
      path, line, col, text:byte(bad)), { file = path, hint = "convert it, e.g. iconv -f LATIN1 -t UTF-8" })
  end
end

-- The text without the UTF-8 byte order mark some editors put first: it is
-- neither SQL nor part of a section marker or directive (the checksum is
-- of the bytes, BOM included).
local function without_bom(text)
  if text:sub(1, 3) == "\239\187\191" then return text:sub(4) end
  return text
end

--- Load a Lua migration from its bytes: the table it returns, checked.
function M.load_lua(path, bytes)
  local env = setmetatable({}, { __index = _G })
  local chunk, err = load(bytes, "@" .. path, "t", env)
  if not chunk then errors.raise("validation", "cannot load Lua migration " .. err, { file = path }) end
  local ok, mod = pcall(chunk)
  if not ok then
    errors.raise("validation", string.format("Lua migration %s raised an error while loading: %s", path,
      errors.text(mod)), { file = path })
  end
  if type(mod) ~= "table" or type(mod.up) ~= "function" then
    errors.raise("validation", string.format("%s must return a table with an `up` function (and optionally `down`), returned %s",
      path, type(mod) == "table" and "a table without up" or type(mod)), { file = path })
  end
  if mod.down ~= nil and type(mod.down) ~= "function" then
    errors.raise("validation", path .. ": `down` must be a function", { file = path })
  end
  if mod.transaction ~= nil and type(mod.transaction) ~= "boolean" then
    errors.raise("validation", path .. ": `transaction` must be true or false", { file = path })
  end
  return mod
end

--- path relative to the migrations directory `dir`, for output.
function M.relative(path, dir)
  local prefix = dir .. "/"
  if path:sub(1, #prefix) == prefix then return path:sub(#prefix + 1) end
  return path
end

--- Prepare direction `direction` of migration m (see the top). settings:
--- {migrations_dir=, placeholders=, directives=} (a target's configuration).
--- Raises a `validation` error naming the file when it cannot be read, a
--- Lua migration does not load or a section is missing; nil when the
--- migration has no such direction.
-- What the directives of a part say: of its preamble (what stands before
-- the first marker counts for every section), then of its section. Sets
-- part.transaction, part.timeouts and part.problems; `policy` is the
-- migration's own say (nil: the directives', then true).
local function directed(part, settings, policy, preamble, section, lines_before)
  local m = part.migration
  local read_directives = settings.directives or directives.read
  local limits = {}
  local function take(text, before)
    local fields, problems = read_directives(text, part)
    if type(fields) ~= "table" then
      errors.raise("config", string.format("directives: must return a table of fields, returned %s", type(fields)))
    end
    if policy == nil and fields.transaction ~= nil then policy = fields.transaction end
    limits.lock_timeout = fields.lock_timeout or limits.lock_timeout
    limits.statement_timeout = fields.statement_timeout or limits.statement_timeout
    for _, p in ipairs(problems or {}) do
      part.problems[#part.problems + 1] = { line = (p.line or 1) + before, message = p.message }
    end
  end
  if preamble and preamble ~= "" then take(preamble, 0) end
  take(section, lines_before)
  if policy == nil then policy = true end
  part.transaction = policy ~= false
  -- timeouts of its own: the migration's fields, then its directives
  part.timeouts = { lock = m.lock_timeout or limits.lock_timeout,
                    statement = m.statement_timeout or limits.statement_timeout }
end

-- The part of a SQL file larger than settings.large_file (see lumi.large):
-- its range of bytes instead of its text.
local function large_part(part, m, settings, policy)
  local path, up = part.path, part.direction == "up"
  part.chunk = large.chunk(settings.large_file)
  local scan = large.scan(path, marker_of, part.chunk)
  part.checksum, part.large = scan.checksum, true
  local first, last, lines_before, preamble = scan.bom and 4 or 1, scan.size, 0, nil
  if m.layout == "file" or (not up and not m.down_path) then
    local mk = scan.markers
    if #mk > 0 then
      if mk[1].at > first then preamble = large.head(path, first, mk[1].at - 1) end
      local seen, section = {}, nil
      for i, x in ipairs(mk) do
        if seen[x.dir] then errors.raise("config", string.format("two %s sections in one file", x.dir)) end
        seen[x.dir] = true
        if x.dir == part.direction then
          section = { first = x.at, last = mk[i + 1] and mk[i + 1].at - 1 or scan.size, line = x.line }
        end
      end
      if not section then
        if up then errors.raise("validation", path .. ": has a down section but no up section (-- migrate:up)",
          { file = path }) end
        return nil
      end
      first, last, lines_before = section.first, section.last, section.line - 1
    elseif not up then
      return nil
    end
  end
  part.first, part.last, part.lines_before = first, last, lines_before
  directed(part, settings, policy, preamble, large.head(path, first, last), lines_before)
  part.mode = part.transaction and "transaction" or "statements"
  -- every placeholder has a value: checked now, as for any file
  if settings.placeholders then
    large.each_lines(path, first, last, lines_before, part.chunk, function(text, before)
      if text:find("${", 1, true) then M.fill(text, settings.placeholders, path, before) end
    end)
  end
  return part
end

--- Call fn(piece) for each piece of a large part (part.large), in order
--- (see lumi.large); fn returning false stops.
function M.each_piece(part, settings, fn)
  local values = settings.placeholders
  return large.each_piece(part, {
    fill = values and function(source, before) return M.fill(source, values, part.path, before) end,
    control = M.controls_transaction,
  }, fn)
end

--- Call fn(i, statement, owner) for each statement of a part run without
--- a transaction, in order: owner is the part, or for a large part the
--- piece that holds the statement (its text is what statement.start is
--- an offset into). fn returning false stops.
function M.each_statement(part, settings, fn)
  if not part.large then
    for i, s in ipairs(part.statements) do
      if fn(i, s, part) == false then return end
    end
    return
  end
  local i = 0
  M.each_piece(part, settings, function(piece)
    for _, s in ipairs(piece.statements) do
      i = i + 1
      if fn(i, s, piece) == false then return false end
    end
  end)
end

--- Prepare direction `direction` of migration m (see the top). settings:
--- {migrations_dir=, placeholders=, directives=, large_file=} (a target's
--- configuration). Raises a `validation` error naming the file when it
--- cannot be read, a Lua migration does not load or a section is missing;
--- nil when the migration has no such direction.
function M.part(m, direction, settings)
  local up = direction == "up"
  local path = up and m.path or (m.down_path or m.path)
  local part = { migration = m, direction = direction, path = path,
                 file = M.relative(path, settings.migrations_dir), problems = {} }
  local policy
  if up then policy = m.transaction else policy = m.down_transaction end
  local bytes, err, is_large = fs.read(path, m.layout ~= "lua" and settings.large_file or nil)
  if is_large then return large_part(part, m, settings, policy) end
  if not bytes then errors.raise("validation", "cannot read migration " .. err, { file = path }) end
  part.bytes, part.checksum = bytes, hash.sha256(bytes)

  if m.layout == "lua" then
    local mod = M.load_lua(path, bytes)
    if not mod[direction] then return nil end
    part.fn, part.lua, part.text = mod[direction], true, bytes
    part.timeouts = { lock = m.lock_timeout, statement = m.statement_timeout }
    if policy == nil then policy = mod.transaction ~= false end
    part.transaction = policy
    part.mode = policy and "transaction" or "statements"
    return part
  end

  local file_text = without_bom(bytes)
  unsendable(file_text, path)
  local section = { text = file_text, start = 1 }
  local preamble = nil
  if m.layout == "file" or (not up and not m.down_path) then
    local s = M.sections(file_text)
    if s then
      preamble, section = s.preamble, s[direction]
      if not section then
        if up then errors.raise("validation", path .. ": has a down section but no up section (-- migrate:up)",
          { file = path }) end
        return nil
      end
    elseif not up then
      return nil                        -- a one-file migration without a down section
    end
  end
  part.file_text, part.source, part.start = file_text, section.text, section.start
  part.lines_before = section.start > 1 and select(2, file_text:sub(1, section.start - 1):gsub("\n", "")) or 0
  part.text, part.fills = M.fill(section.text, settings.placeholders, path, part.lines_before)
  if up and not part.text:find("%S") then
    errors.raise("validation", string.format("%s: has nothing to run: its %s is empty", path,
      preamble and "up section" or "text"), { file = path, hint = "write the migration, or delete the file" })
  end
  directed(part, settings, policy, preamble, section.text, part.lines_before)

  if not part.transaction then
    -- one statement at a time; a text that does not parse is sent whole,
    -- and the server refuses it before any of it runs
    part.mode = "statements"
    part.statements = M.statements(part) or { { text = part.text, start = 1 } }
  else
    part.mode, part.statements = transactional_mode(part)
  end
  return part
end

return M
