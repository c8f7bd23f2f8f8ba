--- A small JSON encoder for --json output (objects with sorted keys, so the
--- output is stable). pg.null and json.null encode as null.
local M = {}

-- json.null, and lumi.pg's NULL sentinel when lumi.pg is loaded (not
-- loaded: no value can be it; output does not wait for the database module)
M.null = setmetatable({}, { __name = "json.null", __tostring = function() return "null" end })

local function is_null(v)
  if v == M.null then return true end
  local pg = package.loaded["lumi.pg"]
  return pg ~= nil and v == pg.null
end

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function encode_string(s)
  local out = s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end)
  if not utf8.len(out) then
    -- not UTF-8 (a Latin-1 file name, say): each byte above 127 as that code point
    out = out:gsub("[\128-\255]", function(c) return string.format("\\u%04x", c:byte()) end)
  end
  return '"' .. out .. '"'
end

local function is_array(t)
  local n = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 then return false end
    n = n + 1
  end
  for i = 1, n do if t[i] == nil then return false end end
  return true, n
end

local function encode(v, out, depth)
  if depth > 64 then error("json: nesting too deep", 0) end
  local ty = type(v)
  if v == nil or is_null(v) then
    out[#out + 1] = "null"
  elseif ty == "boolean" then
    out[#out + 1] = tostring(v)
  elseif ty == "number" then
    if v ~= v or v == math.huge or v == -math.huge then out[#out + 1] = "null"
    elseif math.type(v) == "integer" then out[#out + 1] = tostring(v)
    else out[#out + 1] = string.format("%.14g", v) end
  elseif ty == "string" then
    out[#out + 1] = encode_string(v)
  elseif ty == "table" then
    local arr, n = is_array(v)
    if arr and (n > 0 or getmetatable(v) == M.array_mt) then
      out[#out + 1] = "["
      for i = 1, n do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out, depth + 1)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do
        if type(k) == "string" then keys[#keys + 1] = k end
      end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = encode_string(k)
        out[#out + 1] = ":"
        encode(v[k], out, depth + 1)
      end
      out[#out + 1] = "}"
    end
  else
    out[#out + 1] = encode_string(tostring(v))
  end
end

--- Mark a table as an array, so that an empty one encodes as [] not {}.
M.array_mt = {}
function M.array(t) return setmetatable(t or {}, M.array_mt) end

function M.encode(v)
  local out = {}
  encode(v, out, 0)
  return table.concat(out)
end

return M
