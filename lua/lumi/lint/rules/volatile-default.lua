--- ADD COLUMN with a volatile default on an existing table.
local lint = require "lumi.lint"

-- functions whose value changes per row: the default is computed for
-- every existing row, in a rewrite
local volatile = { random = true, gen_random_uuid = true, uuid_generate_v1 = true, uuid_generate_v1mc = true,
                   uuid_generate_v4 = true, clock_timestamp = true, timeofday = true, nextval = true,
                   txid_current = true, setseed = true }

return {
  id = "volatile-default",
  severity = "error",
  doc = "From PostgreSQL 11 on, ADD COLUMN with a constant (or stable: now()) default is instant: the value "
    .. "is stored once in the catalog. A volatile default (random(), gen_random_uuid(), clock_timestamp(), "
    .. "nextval()) must be computed for each existing row: the table is rewritten under an ACCESS EXCLUSIVE "
    .. "lock. Add the column without a default (or with a constant one), set the default, then backfill in "
    .. "batches.",
  nodes = { "AlterTableStmt" },
  check = function(node, ctx)
    if ctx:is_new(node.relation) then return nil end
    local out = {}
    for _, c in ipairs(lint.commands(node, "AT_AddColumn")) do
      for _, con in ipairs(c.def and c.def.constraints or {}) do
        local e = con.contype == "CONSTR_DEFAULT" and con.raw_expr
        local fn = e and e.node == "FuncCall" and e.funcname[#e.funcname].sval
        if fn and volatile[fn] then
          out[#out + 1] = { message = string.format("ADD COLUMN %s with the volatile default %s() rewrites %s",
            c.def.colname, fn, lint.relname(node.relation)), at = e,
            hint = string.format("ADD COLUMN %s without a default; ALTER COLUMN %s SET DEFAULT %s(); then backfill "
              .. "the existing rows in batches", c.def.colname, c.def.colname, fn) }
        end
      end
    end
    return out
  end,
}
