--- Large SQL files: read and run a piece at a time.
--
-- A SQL file that holds more than `large_file` bytes (migrate.lua; 32 MiB
-- by default) is never in memory whole. Preparing it reads it once
-- (M.scan): its checksum, where its section markers stand, and, when the
-- project has placeholders, whether each has a value. Running it reads it
-- again (M.each_piece) as pieces of whole statements of about M.CHUNK
-- bytes, each sent as one script; at the end the bytes read are hashed
-- and must be the bytes prepared, or the migration fails (and, in a
-- transaction, is rolled back): the bytes recorded are the bytes that ran.
--
-- A piece ends after a top-level semicolon found by PostgreSQL's own
-- scanner (lumi.sql.split(text, "scanner")). Where the scanner cannot
-- end one — an unterminated string or comment, a statement longer than a
-- chunk, a BEGIN ATOMIC body it would cut at a semicolon the parser knows
-- to be inside it — the piece grows, doubling what is read each time, so
-- memory stays near M.CHUNK plus the largest statement.
--
-- In a transaction (the default) the file's own BEGIN first and COMMIT
-- last stand for lumi's transaction, as for a small file; any other
-- transaction control is an error, before or after which nothing is kept.
-- Marked no-transaction, it runs a statement at a time, as any file.
local errors = require "lumi.errors"
local hash = require "lumi.hash"
local sql = require "lumi.sql"

local M = {}

M.CHUNK = 1024 * 1024        -- bytes read at a time (a quarter of large_file when that is less)
M.HEAD = 64 * 1024           -- bytes read for the directives (leading comments)

local BOM = "\239\187\191"

local function open(path)
  local f, err = io.open(path, "rb")
  if not f then errors.raise("validation", "cannot read migration " .. err, { file = path }) end
  return f
end

local function read(f, path, n)
  local data, err = f:read(n)
  if data == nil and err then errors.raise("validation", "cannot read migration " .. path .. ": " .. err, { file = path }) end
  return data
end

local find = string.find

local function newlines(s)
  local n, at = 0, 1
  while true do
    at = find(s, "\n", at, true)
    if not at then return n end
    n, at = n + 1, at + 1
  end
end

-- Does s hold the word ATOMIC (BEGIN ATOMIC), as people write it?
local function atomic(s)
  return find(s, "atomic", 1, true) or find(s, "ATOMIC", 1, true) or find(s, "Atomic", 1, true)
end

--- The bytes read at a time for a file over `large_file` bytes.
function M.chunk(large_file)
  return math.max(256, math.min(M.CHUNK, large_file // 4))
end

--- Read the file at `path` once, `chunk` bytes at a time: {checksum=,
--- size=, bom=, markers = { {dir = "up" | "down", at = byte, line = n} ... }}.
--- marker_of(line) says whether a line opens a section ("up", "down" or nil).
function M.scan(path, marker_of, chunk)
  local f = open(path)
  local ok, res = pcall(function()
    local h = hash.sha256_stream()
    local size, carry, carry_at, line, bom = 0, "", 1, 1, false
    local markers = {}
    -- the whole lines of `text`, which starts at byte `at`, line `ln`
    local function look(text, at, ln)
      if not (text:find("migrate:", 1, true) or text:find("+goose", 1, true) or text:find("+migrate", 1, true)
      or text:find("igration", 1, true)) then
        return
      end
      for i, l in text:gmatch("()([^\n]*)\n?") do
        if i > #text then break end
        if at + i - 1 == 1 and bom then l = l:sub(4) end
        local dir = marker_of(l)
        if dir then markers[#markers + 1] = { dir = dir, at = at + i - 1, line = ln + newlines(text:sub(1, i - 1)) } end
      end
    end
    while true do
      local data = read(f, path, chunk)
      if not data then break end
      if size == 0 and data:sub(1, 3) == BOM then bom = true end
      h:update(data)
      size = size + #data
      local text = carry .. data
      local nl = text:match("^.*()\n")
      if nl then
        local whole = text:sub(1, nl)
        carry = text:sub(nl + 1)
        look(whole, carry_at, line)
        line, carry_at = line + newlines(whole), carry_at + #whole
      else
        carry = text
      end
    end
    if #carry > 0 then look(carry, carry_at, line) end
    return { checksum = h:hex(), size = size, bom = bom, markers = markers }
  end)
  f:close()
  if not ok then error(res, 0) end
  return res
end

--- Up to M.HEAD bytes of the file at `path` from byte `first` to `last`
--- (for the directives of its leading comments).
function M.head(path, first, last)
  local f = open(path)
  f:seek("set", first - 1)
  local data = read(f, path, math.min(M.HEAD, last - first + 1)) or ""
  f:close()
  return data
end

--- Call fn(text, lines_before) for the bytes first to last of the file at
--- path in pieces of whole lines (a placeholder never spans a line).
function M.each_lines(path, first, last, lines_before, chunk, fn)
  local f = open(path)
  local ok, res = pcall(function()
    f:seek("set", first - 1)
    local left, carry, line = last - first + 1, "", lines_before
    while left > 0 do
      local data = read(f, path, math.min(chunk, left))
      if not data then break end
      left = left - #data
      local text = carry .. data
      local nl = left > 0 and text:match("^.*()\n") or #text
      if nl then
        local whole = text:sub(1, nl)
        carry = text:sub(nl + 1)
        fn(whole, line)
        line = line + newlines(whole)
      else
        carry = text
      end
    end
  end)
  f:close()
  if not ok then error(res, 0) end
end

-- How many bytes of buf (which ends the range when `at_end`) form whole
-- statements, and those statements (scanner spans); 0 when none do yet.
local function cut(buf, at_end)
  local stmts, err = sql.split(buf, "scanner")
  if not stmts and not at_end then
    -- what no token can be ("1abc"): no statement of it will run, and the
    -- server says where when it is sent
    if not err.message:find("^unterminated") then return #buf, nil end
    -- the chunk ends inside a string or comment (the scanner says where it
    -- began): the statements before that one are whole all the same
    if err.position and err.position > 1 then stmts = sql.split(buf:sub(1, err.position - 1), "scanner") end
  end
  if not stmts then return at_end and #buf or 0, nil end       -- more, or the server says
  local k = at_end and #stmts or #stmts - 1                   -- the last may go on in the next chunk
  if k <= 0 then return at_end and #buf or 0, stmts end
  local n = at_end and #buf or stmts[k + 1].start - 1
  if atomic(buf) then
    -- the scanner cuts a BEGIN ATOMIC body at its semicolons: the parser
    -- knows where its statements end (and when this is not yet one)
    local exact = sql.split(n < #buf and buf:sub(1, n) or buf)
    if not exact then return at_end and n or 0, nil end
    return n, exact
  end
  for i = #stmts, k + 1, -1 do stmts[i] = nil end
  return n, stmts
end

--- Read part's range of its file (bytes part.first to part.last) as pieces
--- of whole statements and call fn(piece) for each, in order; fn returning false stops the reading.
--- piece = {source=, text= (placeholders filled), fills=, lines_before=,
--- statements = { {text=, start=} ... } (in text), and the part's
--- migration, direction, path and file}: what the runner's error
--- reporting reads of a part. opts: {fill = function(source, lines_before)
--- -> text, fills; control = function(statement text) -> keyword | nil
--- (transaction control, checked in a transaction)}. Raises when the
--- file's bytes are not those prepared (part.checksum).
function M.each_piece(part, opts, fn)
  local f = open(part.path)
  local ok, res = pcall(function()
    local h = hash.sha256_stream()
    local first, last = part.first, part.last
    local pos, buf, line = 0, "", part.lines_before
    local want = part.chunk
    local index, ended = 0, nil           -- statements seen; the COMMIT that ended the file's transaction
    local stopped = false

    -- the statements of src: in a transaction, its own BEGIN first is
    -- dropped, its COMMIT must come last; returns the byte range to send
    local function controlled(src, stmts)
      local from, to = 1, #src
      for _, s in ipairs(stmts or {}) do
        index = index + 1
        if ended then
          errors.raise("validation", string.format("%s: a statement follows the COMMIT that ends its transaction "
            .. "(statement %d)", part.path, index), { file = part.path,
            hint = "a file larger than large_file runs in one transaction: end it with its COMMIT, or mark it "
              .. "-- lumi: no-transaction" })
        end
        local k = opts.control and opts.control(s.text)
        if k then
          if index == 1 and (k == "BEGIN" or k == "START") then
            from = (stmts[2] and stmts[2].start) or (#src + 1)
          elseif k == "COMMIT" or k == "END" then
            ended, to = index, s.start - 1
          else
            errors.raise("validation", string.format("%s: statement %d (%s) controls the transaction in the middle "
              .. "of a file larger than large_file, which runs in one transaction", part.path, index, k),
              { file = part.path, hint = "remove it, or mark the file -- lumi: no-transaction to run it a statement "
                .. "at a time" })
          end
        end
      end
      return from, to
    end

    local function emit(src, stmts)
      local from, to = 1, #src
      if part.mode == "transaction" then from, to = controlled(src, stmts) end
      local before = line + newlines(src:sub(1, from - 1))
      line = line + newlines(src)
      if from > to or not src:find("%S", from) then return end
      local source = src:sub(from, to)
      local text, fills = source, nil
      if opts.fill then text, fills = opts.fill(source, before) end
      local piece = { migration = part.migration, direction = part.direction, path = part.path, file = part.file,
                      source = source, text = text, fills = fills, lines_before = before, large_piece = true }
      if part.mode == "statements" then
        piece.statements = sql.split(text, "scanner") or { { text = text, start = 1 } }
      end
      if fn(piece) == false then stopped = true end
    end

    while not stopped do
      local data = read(f, part.path, want)
      if not data then break end
      h:update(data)
      local a, b = pos + 1, pos + #data
      pos = b
      local lo, hi = math.max(a, first), math.min(b, last)
      if lo <= hi then
        buf = buf .. (lo == a and hi == b and data or data:sub(lo - a + 1, hi - a + 1))
        local n, stmts = cut(buf, hi == last)
        if n > 0 then
          local src = buf
          buf = n < #buf and buf:sub(n + 1) or ""
          if n < #src then src = src:sub(1, n) end
          emit(src, stmts)
          want = part.chunk
        else
          want = math.max(part.chunk, #buf)         -- a long statement: read as much again
        end
      end
    end
    if stopped then return end
    if h:hex() ~= part.checksum then
      errors.raise("validation", string.format("%s changed while it ran: its bytes are no longer those checked "
        .. "and hashed before the run", part.path), { file = part.path,
        hint = "do not edit migrations while lumi runs them; run `lumi up` again" })
    end
  end)
  f:close()
  if not ok then error(res, 0) end
end

return M
