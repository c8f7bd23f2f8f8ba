--- Map a PostgreSQL error position onto a migration file: line, column,
--- the offending line and a caret under the spot.
--
-- PostgreSQL reports `position` as a 1-based index in characters into the
-- text it was sent. lumi sends each file's text unchanged, so the position
-- is one in the file (plus `offset` characters when the runner prepended
-- something).
local M = {}

--- Line and column (1-based, in characters) of character `pos` in `text`,
--- and the text of that line.
function M.locate(text, pos)
  local byte
  if utf8.len(text) then
    byte = utf8.offset(text, pos) or #text + 1
  else
    byte = pos            -- not UTF-8: count bytes
  end
  if byte > #text + 1 then byte = #text + 1 end
  local line, line_start = 1, 1
  local i = 1
  while true do
    local nl = text:find("\n", i, true)
    if not nl or nl >= byte then break end
    line = line + 1
    line_start = nl + 1
    i = nl + 1
  end
  local line_end = text:find("\n", line_start, true)
  local line_text = text:sub(line_start, (line_end or #text + 1) - 1):gsub("\r$", "")
  local prefix = text:sub(line_start, byte - 1)
  local col = (utf8.len(prefix) or #prefix) + 1
  return line, col, line_text, prefix
end

--- Where in `text` the database error `err` points, or nil:
--- {line=, column=, source_line=, caret=}
function M.position(text, err, offset)
  local pos = err.position
  if not pos then return nil end
  pos = pos - (offset or 0)
  if pos < 1 then return nil end
  local line, col, line_text, prefix = M.locate(text, pos)
  -- the caret line keeps the tabs of the prefix so that it lines up
  local caret = prefix:gsub("[\128-\191]", ""):gsub("[^\t]", " ") .. "^"
  return { line = line, column = col, source_line = line_text, caret = caret }
end

return M
