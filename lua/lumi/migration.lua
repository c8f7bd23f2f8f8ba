--- Reading a migration: its up or down SQL, the sections of a one-file
--- migration, the per-file directives, and placeholders.
--
-- A one-file migration may hold both directions, marked by comment lines
-- (the forms of dbmate, goose and sql-migrate are all understood):
--
--   -- migrate:up                 -- +goose Up            -- +migrate Up
--   CREATE TABLE t (...);
--   -- migrate:down               -- +goose Down          -- +migrate Down
--   DROP TABLE t;
--
-- Directives, in a comment line of the up part:
--   -- lumi: no-transaction       run the statements one by one, outside a
--                                 transaction (CREATE INDEX CONCURRENTLY);
--                                 also dbmate's "-- migrate:up transaction:false",
--                                 goose's "-- +goose NO TRANSACTION" and
--                                 sql-migrate's "-- +migrate Up notransaction"
local errors = require "lumi.errors"
local fs = require "lumi.fs"

local M = {}

local markers = {
  { up = "^%-%-%s*migrate:up", down = "^%-%-%s*migrate:down" },
  { up = "^%-%-%s*%+goose%s+[Uu][Pp]", down = "^%-%-%s*%+goose%s+[Dd][Oo][Ww][Nn]" },
  { up = "^%-%-%s*%+migrate%s+[Uu][Pp]", down = "^%-%-%s*%+migrate%s+[Dd][Oo][Ww][Nn]" },
}

--- Split a one-file migration into sections. Returns a table
--- {up = {text=, start=}, down = {text=, start=}} where start is the byte
--- offset of the section in the file, or nil when the file has no markers.
function M.sections(text)
  local found = {}
  local pos = 1
  for line_start, line in text:gmatch("()([^\n]*)\n?") do
    if line_start > #text then break end
    for _, mk in ipairs(markers) do
      if line:match(mk.up) then found[#found + 1] = { dir = "up", at = line_start, after = line_start + #line + 1, line = line }
      elseif line:match(mk.down) then found[#found + 1] = { dir = "down", at = line_start, after = line_start + #line + 1, line = line } end
    end
    pos = line_start
  end
  if #found == 0 then return nil end
  -- what stands before the first marker (goose puts "-- +goose NO
  -- TRANSACTION" there) counts for the directives of every section
  local out = { preamble = text:sub(1, found[1].at - 1) }
  for i, f in ipairs(found) do
    local stop = found[i + 1] and found[i + 1].at - 1 or #text
    if out[f.dir] then
      errors.raise("config", string.format("two %s sections in one file", f.dir))
    end
    -- the marker line itself stays in the section (as a comment): it keeps
    -- directives such as "transaction:false" with the section they govern
    out[f.dir] = { text = text:sub(f.at, stop), start = f.at, marker = f.line }
  end
  return out
end

--- Directives of an up (or down) text: {transaction = false} etc.
function M.directives(text)
  local d = { transaction = true }
  for line in text:gmatch("[^\n]+") do
    local l = line:lower()
    if l:match("^%s*%-%-%s*lumi:%s*no%-transaction")
      or l:match("^%s*%-%-%s*migrate:%a+.*transaction:%s*false")
      or l:match("^%s*%-%-%s*%+goose%s+no%s+transaction")
      or l:match("^%s*%-%-%s*%+migrate%s+%a+.*notransaction") then
      d.transaction = false
    end
  end
  return d
end

--- Fill ${name} placeholders from `values` (nil: leave the text alone).
--- "$${name}" stands for a literal "${name}". Raises a config error naming
--- the first placeholder without a value, with its line.
function M.fill(text, values, where, lines_before)
  if values == nil or not text:find("${", 1, true) then return text, nil end
  -- where each substitution sits in the text sent and in the file, so that
  -- an error position in the one can be mapped back to the other
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

--- The byte of part.source (the text as the file has it) that byte `b` of
--- part.text (the text sent, placeholders filled) comes from; a byte inside
--- a placeholder's value maps to the placeholder.
function M.source_byte(part, b)
  local delta = 0
  for _, f in ipairs(part.fills or {}) do
    if b < f.sent then break end
    if b < f.sent + f.sent_len then return f.file end
    delta = (f.file + f.file_len) - (f.sent + f.sent_len)
  end
  return b + delta
end

--- Where character `pos` of part.text (the text sent: placeholders filled,
--- a BOM left out) stands in the file as written: {line=, column=,
--- source_line=, caret=}, the line counted from the top of the file; nil
--- when pos is outside the text.
function M.file_position(part, pos)
  if not pos or pos < 1 then return nil end
  local text = part.text
  if part.fills and #part.fills > 0 then
    local b = utf8.len(text) and utf8.offset(text, pos) or pos
    if not b or b > #text + 1 then b = #text + 1 end
    local fb = M.source_byte(part, b)
    text = part.source
    local chars = utf8.len(text:sub(1, fb - 1))
    pos = chars and chars + 1 or fb
  end
  local at = require("lumi.sqlerror").position(text, { position = pos }, 0)
  if at and part.start > 1 then
    -- lines before the section, when the file has sections
    at.line = at.line + select(2, part.file_text:sub(1, part.start - 1):gsub("\n", ""))
  end
  return at
end

--- Load a Lua migration: the table its file returns, checked.
function M.load_lua(m)
  local env = setmetatable({}, { __index = _G })
  local chunk, err = loadfile(m.path, "t", env)
  if not chunk then errors.raise("config", "cannot load Lua migration " .. err, { file = m.path }) end
  local ok, mod = pcall(chunk)
  if not ok then
    errors.raise("config", string.format("Lua migration %s raised an error while loading: %s", m.path, tostring(mod)),
      { file = m.path })
  end
  if type(mod) ~= "table" or type(mod.up) ~= "function" then
    errors.raise("config", string.format("%s must return a table with an `up` function (and optionally `down`), returned %s",
      m.path, type(mod) == "table" and "a table without up" or type(mod)), { file = m.path })
  end
  if mod.down ~= nil and type(mod.down) ~= "function" then
    errors.raise("config", m.path .. ": `down` must be a function")
  end
  if mod.transaction ~= nil and type(mod.transaction) ~= "boolean" then
    errors.raise("config", m.path .. ": `transaction` must be true or false")
  end
  return mod
end

-- The text without the UTF-8 byte order mark some editors (on Windows)
-- put first: it is neither SQL nor part of a section marker or directive.
-- (Checksums are of the file's bytes, BOM included: see lumi.hash.)
local function without_bom(text)
  if text:sub(1, 3) == "\239\187\191" then return text:sub(4) end
  return text
end

--- Load direction `dir` ("up" or "down") of migration m. Returns
--- {text=, file_text=, start=, path=, directives=} or nil when the
--- migration has no such direction. `start` is where `text` begins in
--- `file_text` (1 unless the file has sections).
function M.load(m, dir, placeholders)
  if m.layout == "lua" then
    local text, err = fs.read(m.path)
    if not text then errors.raise("config", "cannot read migration " .. err, { file = m.path }) end
    local mod = M.load_lua(m)
    if dir == "down" and not mod.down then return nil end
    return { lua = mod, fn = mod[dir], path = m.path, file_text = text, text = text, start = 1,
             directives = { transaction = mod.transaction ~= false } }
  end
  local path = dir == "up" and m.path or m.down_path
  local file_text, err
  if dir == "down" and not path then
    -- a one-file migration may carry its down part as a section
    file_text, err = fs.read(m.path)
    if not file_text then errors.raise("config", "cannot read migration " .. err, { file = m.path }) end
    file_text = without_bom(file_text)
    local s = M.sections(file_text)
    if not s or not s.down then return nil end
    path = m.path
  else
    file_text, err = fs.read(path)
    if not file_text then errors.raise("config", "cannot read migration " .. err, { file = path }) end
    file_text = without_bom(file_text)
  end
  local part = { text = file_text, start = 1 }
  local preamble = ""
  if m.layout == "file" then
    local s = M.sections(file_text)
    if s then
      preamble = s.preamble
      part = s[dir]
      if not part then
        if dir == "up" then
          errors.raise("config", path .. ": has a down section but no up section (-- migrate:up)")
        end
        return nil
      end
    end
  end
  -- placeholders are reported on the line of the whole file
  local lines_before = part.start > 1 and select(2, file_text:sub(1, part.start - 1):gsub("\n", "")) or 0
  local text, fills = M.fill(part.text, placeholders, path, lines_before)
  return {
    text = text,
    source = part.text,
    fills = fills,
    file_text = file_text,
    start = part.start,
    path = path,
    directives = M.directives(preamble .. "\n" .. part.text),
  }
end

return M
