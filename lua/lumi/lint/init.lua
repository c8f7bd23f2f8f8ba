--- Lint: rules written in Lua over PostgreSQL's parse tree (lumi.sql.parse),
--- run over a migration's statements in order, the way lumi will run them.
--
-- A rule is a table, built-in ones one per file in lua/lumi/lint/rules/,
-- a team's in migrate.lua (lint.rules), all with the same shape:
--
--   { id = "index-not-concurrent", severity = "error" | "warning",
--     doc = "why, and the safe way",
--     nodes = { "IndexStmt", ... },          -- the node types it looks at
--                                            -- ("statement": each statement's tree)
--     check = function(node, ctx) -> nil | finding | {finding, ...} }
--
-- A finding is a message (string) or {message =, hint =, at = node,
-- severity =}: `at` (a node with a location, or a statement; the node
-- checked by default) is where it points; severity, when the rule's is too
-- strong for this case.
-- ctx tells a rule what lumi knows:
--   ctx.file, ctx.in_transaction    the part and whether lumi runs it in a transaction
--   ctx:is_new(rangevar)            created earlier in the same file (lock rules exempt it)
--   ctx.lock_timeout                seconds in force (the file's directive or lumi's
--                                   policy, or a SET lock_timeout before), or nil
--   ctx.pg_version                  the target's major version (lint.pg_version offline)
--   ctx.statement, ctx.index        the statement (its text, start, tree), its place,
--   ctx.count                       and how many the part has
--   ctx.exclusive                   the ACCESS EXCLUSIVE locks held since the
--                                   transaction began: {relation name = statement index}
-- `-- lumi:ignore RULE reason` on the line before a statement acknowledges
-- that rule's findings on it.
local sql = require "lumi.sql"

local M = {}

M.builtin = { "index-not-concurrent", "concurrent-in-transaction", "drop-index-not-concurrent",
              "constraint-not-valid", "set-not-null", "column-type-rewrite", "volatile-default",
              "constraint-builds-index", "add-column-rewrite", "exclude-constraint", "lock-timeout-missing",
              "after-exclusive-lock", "breaking-change", "not-idempotent", "transaction-control" }

--- The rules in force: the built-in ones, then migrate.lua's lint.rules,
--- less lint.off, with lint.severity's overrides.
function M.rules(settings)
  settings = settings or {}
  local off, sev = {}, settings.severity or {}
  for _, id in ipairs(settings.off or {}) do off[id] = true end
  local out = {}
  local function add(r)
    if not off[r.id] then
      out[#out + 1] = setmetatable({ severity = sev[r.id] or r.severity or "error" }, { __index = r })
    end
  end
  for _, id in ipairs(M.builtin) do add(require("lumi.lint.rules." .. id)) end
  for _, r in ipairs(settings.rules or {}) do add(r) end
  return out
end

-- every node table under t (t included), parents before children
local function walk(t, fn)
  if t.node then fn(t) end
  for k, v in pairs(t) do
    if k ~= "node" and type(v) == "table" then walk(v, fn) end
  end
end

--- The qualified name of a RangeVar ("schema.table" or "table").
function M.relname(rv)
  if not rv or not rv.relname then return nil end
  return (rv.schemaname ~= "" and (rv.schemaname .. ".") or "") .. rv.relname
end

--- The name of a TypeName node, without its schema ("int8", "text",
--- "bigserial"), or nil.
function M.type_name(tn)
  local names = tn and tn.names
  local last = names and names[#names]
  return last and last.sval or nil
end

local sql_names = { int8 = "bigint", int4 = "integer", int2 = "smallint", float8 = "double precision",
                    float4 = "real", bool = "boolean", bpchar = "char", timestamptz = "timestamp with time zone" }

--- A type's name as SQL writes it ("bigint" for int8), for messages.
function M.type_display(tn)
  local name = M.type_name(tn)
  return name and (sql_names[name] or name) or "?"
end

--- The ALTER TABLE subcommands of `node` (an AlterTableStmt) of subtype `subtype`.
function M.commands(node, subtype)
  local out = {}
  for _, c in ipairs(node.cmds or {}) do
    if c.subtype == subtype then out[#out + 1] = c end
  end
  return out
end

-- the rule ids `-- lumi:ignore RULE reason` names on the line just
-- before byte `start` of text
local function ignored_at(text, start)
  local before = text:sub(1, start - 1)
  local line = before:match("([^\n]*)\n[ \t]*$")
  local out = {}
  if line then
    for id in line:gmatch("%-%-%s*lumi:ignore%s+([%w_%-]+)") do out[id] = true end
  end
  return out
end

--- The seconds a SET of a time setting (lock_timeout, statement_timeout)
--- gives: SET x = 2000 and '2000' are milliseconds, '2s', '1min' carry their
--- unit; SET x TO DEFAULT and RESET give nil.
function M.setting_seconds(tree)
  if tree.kind ~= "VAR_SET_VALUE" then return nil end
  local a = tree.args and tree.args[1]
  if not a then return nil end
  if a.ival then return a.ival.ival / 1000 end
  local text = a.sval and a.sval.sval
  if not text then return nil end
  if text:match("^%s*%d+%s*$") then return tonumber(text) / 1000 end
  return (require("lumi.timeouts").seconds(text))
end

local Ctx = {}
Ctx.__index = Ctx

function Ctx:is_new(rv)
  local name = M.relname(rv)
  return name ~= nil and (self.created[name] or self.created[rv.relname]) == true
end

-- ALTER TABLE subcommands that take a lock weaker than ACCESS EXCLUSIVE
local weaker = { AT_ValidateConstraint = true, AT_SetStatistics = true, AT_ClusterOn = true,
                 AT_DropCluster = true, AT_SetRelOptions = true, AT_ResetRelOptions = true,
                 AT_AttachPartition = true, AT_DetachPartitionFinalize = true }

--- The relation a statement takes an ACCESS EXCLUSIVE lock on (an
--- existing one: a table created in the same file blocks nobody), or nil.
function M.exclusive_lock(tree, ctx)
  local rv
  if tree.node == "AlterTableStmt" and tree.objtype == "OBJECT_TABLE" then
    for _, c in ipairs(tree.cmds or {}) do
      local fk = c.subtype == "AT_AddConstraint" and c.def and c.def.contype == "CONSTR_FOREIGN"
      if not weaker[c.subtype] and not fk then rv = tree.relation end
    end
  elseif tree.node == "RenameStmt" and (tree.rename_type == "OBJECT_TABLE" or tree.rename_type == "OBJECT_COLUMN") then
    rv = tree.relation
  elseif tree.node == "TruncateStmt" then
    rv = tree.relations and tree.relations[1]
  end
  if rv and not ctx:is_new(rv) then return M.relname(rv) end
  return nil
end

-- what a statement leaves behind for those after it in the file
local function after_statement(ctx, tree)
  local held = M.exclusive_lock(tree, ctx)
  if held and ctx.in_transaction and not ctx.exclusive[held] then ctx.exclusive[held] = ctx.index end
  if tree.node == "CreateStmt" or tree.node == "CreateTableAsStmt" then
    local rv = tree.relation or (tree.into and tree.into.rel)
    local name = M.relname(rv)
    if name then ctx.created[name], ctx.created[rv.relname] = true, true end
  elseif tree.node == "VariableSetStmt" and tree.name == "lock_timeout" then
    ctx.lock_timeout = M.setting_seconds(tree) or ctx.lock_timeout
  elseif tree.node == "TransactionStmt" and (tree.kind == "TRANS_STMT_COMMIT" or tree.kind == "TRANS_STMT_ROLLBACK") then
    ctx.exclusive = {}
  end
end

--- The findings of `rules` on the SQL of a prepared part (lumi.prepare.part):
--- {rule=, severity=, message=, hint=, position = byte in part.text}, in
--- order; nil, err when the text does not parse (validate reports that).
---@param opts table {lock_timeout = seconds|nil, pg_version = n}
function M.check(part, rules, opts)
  -- each statement parsed on its own: one too large for a parse tree (a
  -- big INSERT of a data migration) is passed over, not the whole file
  local pieces, err = sql.split(part.text)
  if not pieces then return nil, err end
  local stmts = {}
  for i, piece in ipairs(pieces) do
    local parsed, perr = sql.parse(piece.text, piece.start - 1)
    if parsed and parsed[1] then
      stmts[i] = parsed[1]
    elseif perr and perr.too_large then
      stmts[i] = { start = piece.start, stop = piece.stop, text = piece.text, tree = { node = "TooLarge" } }
    else
      return nil, perr
    end
  end
  local by_node = {}
  for _, r in ipairs(rules) do
    for _, n in ipairs(r.nodes or {}) do
      by_node[n] = by_node[n] or {}
      table.insert(by_node[n], r)
    end
  end
  local ctx = setmetatable({ file = part.file, in_transaction = part.mode ~= "statements", created = {},
    lock_timeout = opts.lock_timeout, pg_version = opts.pg_version, exclusive = {} }, Ctx)
  local findings = {}
  for i, s in ipairs(stmts) do
    ctx.statement, ctx.index, ctx.count = s, i, #stmts
    local ignored = ignored_at(part.text, s.start)
    local function visit(node, list)
      for _, r in ipairs(list or {}) do
        local got = r.check(node, ctx)
        if type(got) == "string" or (type(got) == "table" and got.message) then got = { got } end
        for _, f in ipairs(got or {}) do
          if type(f) == "string" then f = { message = f } end
          if not ignored[r.id] then
            local at = f.at or node
            findings[#findings + 1] = { rule = r.id, severity = f.severity or r.severity, message = f.message,
              hint = f.hint, doc = r.doc, position = at.location or at.start or s.start, statement = i }
          end
        end
      end
    end
    visit(s.tree, by_node.statement)
    walk(s.tree, function(node) visit(node, by_node[node.node]) end)
    after_statement(ctx, s.tree)
    if not ctx.in_transaction then ctx.exclusive = {} end
  end
  return findings
end

--- The major version lint judges for: lint.pg_version, else the server's
--- when `db` is given, else 15 (the parser's).
function M.pg_version(settings, db)
  if settings and settings.pg_version then return settings.pg_version end
  local num = db and db:info().server_version_num
  return num and num > 0 and num // 10000 or 15
end

--- The findings of the project's rules on prepared parts (the SQL ones),
--- each with its file position: {rule=, severity=, message=, hint=, doc=,
--- file=, path=, line=, column=, source_line=, caret=}.
function M.findings(project, parts, db)
  local prepare = require "lumi.prepare"
  local timeouts = require "lumi.timeouts"
  local cfg = project.config
  local settings = cfg.lint or {}
  local rules = M.rules(settings)
  local policy = timeouts.settings(cfg.timeouts)
  local version = M.pg_version(settings, db)
  local out = {}
  for _, part in ipairs(parts) do
    if not part.lua and not part.large then
      local got = M.check(part, rules, { lock_timeout = timeouts.limits(policy, part).lock, pg_version = version })
      for _, f in ipairs(got or {}) do
        local at = prepare.file_position(part, prepare.chars_before(part, f.position) + 1) or {}
        out[#out + 1] = { rule = f.rule, severity = f.severity, message = f.message, hint = f.hint, doc = f.doc,
          file = part.file, path = part.path, line = at.line, column = at.column, source_line = at.source_line,
          caret = at.caret }
      end
    end
  end
  return out
end

--- Before `up` applies parts: lint.on_up = "warn" reports every finding
--- as a warning; "error" refuses to apply anything when an error-level
--- rule fires (a validation error listing them); "off" (the default) does
--- nothing. It may be a function({name=, env=, protected=}) returning one
--- of them (say, "error" for a protected environment).
function M.before_up(project, parts, db)
  local cfg = project.config
  local mode = (cfg.lint or {}).on_up or "off"
  -- a function of migrate.lua decides per target: function(target) -> mode
  if type(mode) == "function" then
    mode = mode({ name = cfg.name, env = cfg.env, protected = cfg.protected == true }) or "off"
  end
  if mode ~= "error" and mode ~= "warn" and mode ~= "off" then
    require("lumi.errors").raise("config", string.format("lint.on_up returned %s: the answers are \"error\", "
      .. "\"warn\" and \"off\"", tostring(mode)))
  end
  if mode == "off" then return end
  local found = M.findings(project, parts, db)
  local refused = {}
  for _, f in ipairs(found) do
    local line = string.format("%s:%s:%s: %s[%s]: %s", f.path, f.line or "?", f.column or "?", f.severity, f.rule,
      f.message)
    if mode == "error" and f.severity == "error" then refused[#refused + 1] = line else project:warn(line) end
  end
  if #refused > 0 then
    require("lumi.errors").raise("validation", string.format("lint found %d error%s in the migrations to apply "
      .. "(lint.on_up = \"error\"):\n  %s", #refused, #refused == 1 and "" or "s", table.concat(refused, "\n  ")),
      { hint = "fix them, acknowledge one with `-- lumi:ignore RULE reason` on the line before it, or see lumi lint" })
  end
end

return M
