--- Schemas as a whole: what `lumi fresh` and a scratch database start over with.
local M = {}

--- Drop schema `schema` with everything in it and create it again, with
--- the same owner and privileges: {schema=, owner=, grants=}.
function M.recreate(db, schema)
  local q = db:quote_ident(schema)
  local info = db:one([[SELECT pg_get_userbyid(n.nspowner) AS owner FROM pg_namespace n WHERE n.nspname = $1]], schema)
  local grants = db:query([[
SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS grantee,
       a.privilege_type AS privilege
  FROM pg_namespace n, aclexplode(n.nspacl) a
 WHERE n.nspname = $1 AND a.grantee <> n.nspowner]], schema)
  local sql = { "DROP SCHEMA IF EXISTS " .. q .. " CASCADE;", "CREATE SCHEMA " .. q
    .. (info and (" AUTHORIZATION " .. db:quote_ident(info.owner)) or "") .. ";" }
  for _, g in ipairs(grants) do
    sql[#sql + 1] = string.format("GRANT %s ON SCHEMA %s TO %s;", g.privilege, q, g.grantee)
  end
  db:exec(table.concat(sql, "\n"))
  return { schema = schema, owner = info and info.owner, grants = #grants }
end

return M
