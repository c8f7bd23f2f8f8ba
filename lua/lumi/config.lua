--- Configuration: defaults ⊕ migrate.lua ⊕ environment ⊕ flags.
--
-- migrate.lua is plain Lua with the whole standard library (and luaposix,
-- and lumi's own modules through require). It returns a table; every key
-- is checked against the schema below, so a typo is an error that names
-- the key and suggests the nearest known one, not a silently ignored line.
local errors = require "lumi.errors"
local conninfo = require "lumi.conninfo"
local fs = require "lumi.fs"

local M = {}

M.defaults = {
  dir = "migrations",
  naming = "sequential",
  table = "schema_migrations",
  layout = "file",
  lock_wait = 60,
  large_file = 32 * 1024 * 1024,
  out_of_order = "stop",
  on_changed = "stop",
  no_transaction = "put `-- lumi: no-transaction` first in the file",
}

local function is_name(v) return type(v) == "string" and v:match("^[%a_][%w_$]*$") ~= nil end

local function check_table_name(v)
  local schema, name = v:match("^([^.]+)%.([^.]+)$")
  if schema then
    if is_name(schema) and is_name(name) then return true end
  elseif is_name(v) then
    return true
  end
  return false, "must be \"name\" or \"schema.name\" made of letters, digits and underscores"
end

local fields = { version = true, name = true, file = true, stem = true, checksum = true, applied_at = true,
                 execution_ms = true, applied_by = true, state = true, error = true }

local fn = { ["function"] = true }

--- The keys of `tracking`: the state table's name and columns.
M.tracking_schema = {
  table = { types = { string = true }, doc = "state table, \"name\" or \"schema.name\"", check = check_table_name },
  columns = {
    types = { table = true },
    doc = "lumi field -> column name (fields: version, name, file, stem, checksum, applied_at, "
      .. "execution_ms, applied_by, state, error)",
    check = function(v)
      for k, col in pairs(v) do
        if not fields[k] then
          local hint = type(k) == "string" and M.suggest(k, fields)
          return false, string.format("names an unknown field %q%s", tostring(k),
            hint and string.format(" (did you mean %q?)", hint) or "")
        end
        if type(col) ~= "string" then return false, "maps " .. tostring(k) .. " to a " .. type(col) .. ", not a column name" end
      end
      return true
    end,
  },
  identity = {
    types = { string = true }, doc = "what matches a file to a row: \"version\", \"file\" or \"stem\"",
    check = function(v) return v == "version" or v == "file" or v == "stem", "must be \"version\", \"file\" or \"stem\"" end,
  },
  where = { types = { table = true }, doc = "constant columns that pick this target's rows in a shared table" },
  log = { types = { string = true, boolean = true }, doc = "the event log table, or false for none",
    check = function(v) if v == true then return false, "must be a table name or false" end
      if v == false then return true end return check_table_name(v) end },
  create = { types = { boolean = true, string = true }, doc = "create the table when missing (or the SQL to do it)" },
  -- what is read and written: each returns the statements {sql, params...}
  -- to run (see lumi.store); the built-in ones use `columns`
  read = { types = fn, doc = "function(store) -> the SELECT of the applied migrations {sql, params...}" },
  applied = { types = fn, doc = "function(store, record) -> statements recording a migration as applied" },
  unfinished = { types = fn, doc = "function(store, record) -> statements recording a migration as unfinished" },
  failed = { types = fn, doc = "function(store, record) -> statements run after a failed migration was rolled back" },
  reverted = { types = fn, doc = "function(store, record) -> statements recording a migration as reverted" },
}

--- The conventions of other tools lumi knows (lua/lumi/conventions/NAME.lua).
M.conventions = { "dbmate", "diesel", "flyway", "golang-migrate", "goose", "node-pg-migrate", "prisma", "sql-migrate",
  "sqitch", "sqlx" }

--- The keys migrate.lua may set (at the top and in each target): type(s)
--- accepted and a check.
M.schema = {
  name = { types = { string = true }, doc = "the target's name (for --target and output)" },
  convention = {
    types = { string = true },
    doc = "another tool's way of laying out migrations, as the defaults of these settings: "
      .. table.concat(M.conventions, ", ") .. " (lua/lumi/conventions/)",
    check = function(v)
      local known = false
      for _, c in ipairs(M.conventions) do known = known or c == v end
      return known, "is not a convention lumi knows (known: " .. table.concat(M.conventions, ", ") .. ")"
    end,
  },
  env = { types = { string = true }, doc = "(set by lumi: the environment chosen)" },
  database = {
    types = { string = true, ["function"] = true },
    doc = "connection URL or conninfo string (or a function returning one)",
  },
  direct_url = {
    types = { string = true, ["function"] = true },
    doc = "a connection that bypasses any connection pooler (or a function returning one): when set, lumi "
      .. "connects there instead of `database`",
  },
  drift = {
    types = { table = true },
    doc = "drift settings: on_up = \"error\"|\"warn\"|\"off\" or function(target) (compare the schema with the "
      .. "recorded fingerprint before up applies anything; \"error\" by default in a protected environment), "
      .. "keep_snapshots = true (keep the canonical lines too), record = false (record no fingerprint), "
      .. "judge = function(diff, ctx) -> the differences that count",
    check = function(v)
      for k in pairs(v) do
        if k ~= "on_up" and k ~= "keep_snapshots" and k ~= "record" and k ~= "judge" then
          return false, string.format("has no key %q (keys: on_up, keep_snapshots, record, judge)", tostring(k))
        end
      end
      if v.judge ~= nil and type(v.judge) ~= "function" then
        return false, "judge must be a function(diff, ctx) returning the differences that count"
      end
      local o = v.on_up
      if o ~= nil and o ~= "error" and o ~= "warn" and o ~= "off" and type(o) ~= "function" then
        return false, "on_up must be \"error\", \"warn\", \"off\" or a function(target) returning one"
      end
      return true
    end,
  },
  snapshot = {
    types = { table = true },
    doc = "the schema fingerprint's policy: schemas = {...} (default: `schemas`, else every schema that is not "
      .. "the system's), "
      .. "ignore = function(line, schema) -> true to leave a line out",
    check = function(v)
      for k in pairs(v) do
        if k ~= "schemas" and k ~= "ignore" then
          return false, string.format("has no key %q (keys: schemas, ignore)", tostring(k))
        end
      end
      if v.ignore ~= nil and type(v.ignore) ~= "function" then return false, "ignore must be a function" end
      if v.schemas ~= nil and type(v.schemas) ~= "table" then return false, "schemas must be a list of names" end
      return true
    end,
  },
  shadow = {
    types = { string = true },
    doc = "a scratch database for `lumi locks` (never the target; without it lumi creates one on the same "
      .. "server and drops it)",
  },
  locks = {
    types = { table = true },
    doc = "lock report settings: verdict = function(statement, ctx) -> nil | {severity=, message=} "
      .. "(the built-in one: lumi.locks.verdict), large = rows from which a table counts as large",
    check = function(v)
      for k in pairs(v) do
        if k ~= "verdict" and k ~= "large" then
          return false, string.format("has no key %q (keys: verdict, large)", tostring(k))
        end
      end
      if v.verdict ~= nil and type(v.verdict) ~= "function" then return false, "verdict must be a function" end
      return true
    end,
  },
  pooler = {
    types = { string = true },
    doc = "what a run does through a connection pooler in transaction mode: \"refuse\" (the default: use "
      .. "direct_url) or \"lease\" (its lock is a row in <table>_lock)",
    check = function(v) return v == "refuse" or v == "lease", "must be \"refuse\" or \"lease\"" end,
  },
  dir = { types = { string = true }, doc = "directory of migration files, relative to migrate.lua" },
  naming = {
    types = { string = true, table = true },
    doc = "naming scheme: \"sequential\", \"dated\", \"timestamp\", or a table of functions",
  },
  layout = {
    types = { string = true },
    doc = "what `lumi new` creates: \"file\", \"sections\", \"pair\" or \"directory\"",
    check = function(v)
      return v == "file" or v == "sections" or v == "pair" or v == "directory",
        "must be \"file\", \"sections\", \"pair\" or \"directory\""
    end,
  },
  discover = { types = fn, doc = "function(dir, scheme) finding the migrations (see README)" },
  ignore = {
    types = { table = true, ["function"] = true },
    doc = "files beside the migrations that are not migrations: patterns ({\"README.md\", \"*.txt\"}) "
      .. "or function(file) -> true",
    check = function(v)
      if type(v) == "function" then return true end
      for i, p in ipairs(v) do
        if type(p) ~= "string" then return false, string.format("must hold patterns (strings); [%d] is a %s", i, type(p)) end
      end
      return true
    end,
  },
  lint = {
    types = { table = true },
    doc = "lint settings: rules = {rule...} (added), off = {id...}, severity = {id = \"error\"|\"warning\"}, "
      .. "pg_version = n (without a database), on_up = \"error\"|\"warn\"|\"off\" (lint before up applies)",
    check = function(v)
      for k in pairs(v) do
        if k ~= "rules" and k ~= "off" and k ~= "severity" and k ~= "pg_version" and k ~= "on_up" then
          return false, string.format("has no key %q (keys: rules, off, severity, pg_version, on_up)", tostring(k))
        end
      end
      if v.on_up ~= nil and v.on_up ~= "error" and v.on_up ~= "warn" and v.on_up ~= "off"
         and type(v.on_up) ~= "function" then
        return false, "on_up must be \"error\", \"warn\", \"off\" or a function(target) returning one"
      end
      for i, r in ipairs(v.rules or {}) do
        if type(r) ~= "table" or type(r.id) ~= "string" or type(r.check) ~= "function" or type(r.nodes) ~= "table" then
          return false, string.format("rules[%d] must be a table with id (a string), nodes (a list) and check "
            .. "(a function)", i)
        end
      end
      return true
    end,
  },
  no_transaction = {
    types = { string = true },
    doc = "how a file says it runs without a transaction, for the advice of messages "
      .. "(a convention says its tool's way)",
  },
  directives = {
    types = fn,
    doc = "function(text, part) -> {transaction = false?}, problems: reads a file's directives "
      .. "(default: require(\"lumi.directives\").read)",
  },
  table = { types = { string = true }, doc = "tracking table, \"name\" or \"schema.name\"", check = check_table_name },
  tracking = { types = { table = true }, doc = "the tracking table's name and columns", fields = M.tracking_schema },
  placeholders = { types = { table = true }, doc = "values for ${name} in SQL files" },
  schemas = { types = { table = true }, doc = "the schemas lumi manages: `lumi fresh` drops and re-creates them "
    .. "(default: public), the fingerprint reads them (default: every schema that is not the system's)" },
  protected = { types = { boolean = true }, doc = "refuse destructive commands (fresh, down) on this target" },
  timeouts = {
    types = { table = true },
    doc = "PostgreSQL's lock_timeout and statement_timeout for migrations, and the retries of a lock "
      .. "timeout: {lock = 1, statement = nil, retries = 10, budget = 300, ...} (see README)",
    check = function(v) return require("lumi.timeouts").check(v) end,
  },
  on_lock_timeout = {
    types = fn,
    doc = "function(ctx) deciding a migration's retry after a lock timeout: \"retry\", \"fail\" or seconds to wait",
  },
  large_file = {
    types = { number = true },
    doc = "bytes over which a SQL file is read and run a piece at a time, never whole in memory "
      .. "(default 32 MiB)",
    check = function(v) return math.type(v) == "integer" and v >= 1024, "must be a whole number of bytes, 1024 or more" end,
  },
  lock_wait = {
    types = { number = true },
    doc = "seconds to wait for another lumi run's migration lock before giving up",
    check = function(v) return v >= 0, "must be zero or more seconds" end,
  },
  out_of_order = {
    types = { string = true, ["function"] = true },
    doc = "\"stop\", \"apply\" or function(migration) -> boolean: what `up` does with a pending "
      .. "migration older than the newest applied one",
    check = function(v) return type(v) == "function" or v == "stop" or v == "apply", "must be \"stop\" or \"apply\"" end,
  },
  on_changed = {
    types = { string = true },
    doc = "\"stop\" or \"warn\": what `up` does when an applied file has changed",
    check = function(v) return v == "stop" or v == "warn", "must be \"stop\" or \"warn\"" end,
  },
  targets = { types = { table = true }, doc = "several databases or schemas, each a table of these settings" },
  on_error = {
    types = fn,
    doc = "function(ctx) called when a migration fails (ctx.error); returning \"applied\" records it as applied",
  },
  before_all = { types = fn, doc = "function(ctx) run before `up` applies anything" },
  environments = {
    types = { table = true },
    doc = "named overrides chosen with --env NAME or LUMI_ENV: {production = {database = ..., protected = true}}",
  },
  confirm = { types = { boolean = true }, doc = "`up` asks for the environment's name before applying (or needs --yes)" },
  after_all = { types = fn, doc = "function(ctx) run after `up` applied everything (ctx.result)" },
  before_each = { types = fn, doc = "function(ctx) run inside each migration's transaction, before it" },
  after_each = { types = fn, doc = "function(ctx) run inside each migration's transaction, after it" },
}

--- Keys that were renamed: the old name is an error that names the new one.
M.renamed = {
  lock_timeout = { "lock_wait", "seconds to wait for another lumi run's lock; PostgreSQL's own lock_timeout is "
    .. "another thing" },
}

--- Keys that are gone, and why.
M.removed = {
  checksum_cache = "lumi no longer keeps checksums between runs: it reads and hashes the applied files each time",
}

-- Levenshtein distance, for "did you mean".
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

--- The known key nearest to `key`, if it is near enough to be a typo.
function M.suggest(key, known)
  local best, bestd
  for k in pairs(known) do
    local d = distance(key:lower(), k:lower())
    if not bestd or d < bestd or (d == bestd and k < best) then best, bestd = k, d end
  end
  if best and bestd <= math.max(2, #key // 3) then return best end
end

--- Check a config table against a schema; raise a config error at the
--- first problem, naming the key path (prefix .. key).
function M.check(t, schema, prefix, source)
  prefix = prefix or ""
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local v = t[k]
    local path = prefix .. tostring(k)
    local spec = type(k) == "string" and schema[k]
    local renamed = schema == M.schema and M.renamed[k]
    if renamed then
      errors.raise("config", string.format("%s: key %q was renamed %q (%s)", source, path, prefix .. renamed[1],
        renamed[2]), { key = path, suggestion = prefix .. renamed[1] })
    end
    if schema == M.schema and M.removed[k] then
      errors.raise("config", string.format("%s: key %q is no longer a setting: %s; remove it", source, path,
        M.removed[k]), { key = path })
    end
    if not spec then
      local hint = type(k) == "string" and M.suggest(k, schema)
      errors.raise("config", string.format("%s: unknown key %q%s", source, path,
        hint and string.format(" (did you mean %q?)", prefix .. hint) or ""),
        { key = path, suggestion = hint and prefix .. hint })
    end
    if not spec.types[type(v)] then
      local want = {}
      for ty in pairs(spec.types) do want[#want + 1] = ty end
      table.sort(want)
      errors.raise("config", string.format("%s: key %q must be a %s (%s), got %s",
        source, path, table.concat(want, " or "), spec.doc, type(v)), { key = path })
    end
    if spec.fields and type(v) == "table" then
      M.check(v, spec.fields, path .. ".", source)
    end
    if spec.check then
      local ok, why = spec.check(v)
      if not ok then
        -- the value when it can be shown (a table's address says nothing)
        local got = type(v) == "string" and string.format("%q", v) or type(v) ~= "table" and tostring(v) or nil
        errors.raise("config", string.format("%s: key %q %s%s", source, path, why, got and (", got " .. got) or ""),
          { key = path })
      end
    end
  end
end

--- Load migrate.lua (or another file) and return its table, or raise.
function M.load_file(path)
  local env = setmetatable({}, { __index = _G })
  local chunk, err = loadfile(path, "t", env)
  if not chunk then
    -- Lua's own "cannot open/read FILE" says it already
    errors.raise("config", err:match("^cannot ") and err or ("cannot load " .. err), { file = path })
  end
  local ok, result = pcall(chunk)
  if not ok then
    if errors.is(result) then error(result, 0) end
    errors.raise("config", string.format("%s raised an error: %s", path, tostring(result)), { file = path })
  end
  if type(result) ~= "table" then
    errors.raise("config", string.format("%s must return a table of settings, returned %s", path, type(result)),
      { file = path })
  end
  return result
end

-- Resolve a database setting (`database`, `direct_url`) that may be a function.
local function resolve_database(cfg, where, key)
  if type(cfg[key]) == "function" then
    local ok, v = pcall(cfg[key], cfg)
    if not ok or type(v) ~= "string" then
      errors.raise("config", string.format("%s: the `%s` function %s", where, key,
        ok and ("returned " .. type(v) .. ", not a string") or ("raised: " .. tostring(v))))
    end
    cfg[key] = v
  end
end

-- The tracking spec of a config (`tracking` with `table` as a shorthand).
local function tracking_of(cfg)
  local t = {}
  for k, v in pairs(cfg.tracking or {}) do t[k] = v end
  t.table = t.table or cfg.table
  return t
end

--- Build the configuration.
---@param opts table {config=path?, cwd=dir?, getenv=fn?, flags=table?, target=name?, env=name?}
---   flags: values from the command line (database, dir, ...) — they win.
---@return table config: the settings of the first (or only, or chosen)
---   target, with .targets = every target's settings in order, .root (the
---   directory of migrate.lua, or cwd) and .file
function M.load(opts)
  opts = opts or {}
  local getenv = opts.getenv or os.getenv
  local cwd = opts.cwd or "."
  local base = {}
  for k, v in pairs(M.defaults) do base[k] = v end

  local file = opts.config
  if file then
    if not fs.kind(file) then
      errors.raise("config", string.format("config file %s does not exist", file), { file = file })
    end
  else
    local candidate = fs.join(cwd, "migrate.lua")
    if fs.exists(candidate) then file = candidate end
  end
  local root = cwd
  local t = {}
  if file then
    t = M.load_file(file)
    M.check(t, M.schema, "", file)
    root = fs.dirname(file)
  end
  -- a convention's settings stand in for the defaults: migrate.lua's own win
  if t.convention then
    for k, v in pairs(require("lumi.conventions." .. t.convention)) do base[k] = v end
  end
  for k, v in pairs(t) do if k ~= "targets" and k ~= "environments" then base[k] = v end end

  -- every environment is checked, the chosen one or not: a typo in
  -- `production` is found before the deploy
  if type(t.environments) == "table" then
    for name, e in pairs(t.environments) do
      local where = "environments." .. tostring(name) .. "."
      if type(e) ~= "table" then
        errors.raise("config", string.format("%s: %s must be a table of settings, got %s", file, where:sub(1, -2), type(e)))
      end
      local plain = {}
      for k, v in pairs(e) do if k ~= "targets" then plain[k] = v end end
      M.check(plain, M.schema, where, file)
    end
  end
  -- the environment: --env NAME or LUMI_ENV picks a table of overrides
  local envname = opts.env or getenv("LUMI_ENV")
  if envname == "" then envname = nil end
  local env_targets = {}
  local env_database
  if envname then
    local envs = t.environments or {}
    local e = envs[envname]
    if type(e) ~= "table" then
      local names, set = {}, {}
      for k in pairs(envs) do names[#names + 1] = k; set[k] = true end
      table.sort(names)
      local hint = M.suggest(envname, set)
      errors.raise("usage", string.format("no environment named %q in %s (environments: %s)%s", envname,
        file or "migrate.lua", #names > 0 and table.concat(names, ", ") or "none",
        hint and string.format("; did you mean %q?", hint) or ""))
    end
    local plain = {}
    for k, v in pairs(e) do if k ~= "targets" then plain[k] = v end end
    M.check(plain, M.schema, "environments." .. envname .. ".", file)
    for k, v in pairs(plain) do base[k] = v end
    env_database = plain.database
    if type(e.targets) == "table" then
      for name, o in pairs(e.targets) do
        M.check(o, M.schema, "environments." .. envname .. ".targets." .. tostring(name) .. ".", file)
        env_targets[name] = o
      end
    end
    base.env = envname
  end

  local url = getenv("DATABASE_URL")
  if url and url ~= "" then base.database = url end
  -- an environment chosen by name that names its database keeps it
  if env_database ~= nil then base.database = env_database end

  -- every target: the top-level settings, then its own
  local list = {}
  if t.targets then
    for i, target in ipairs(t.targets) do
      local where = string.format("targets[%d]", i)
      if type(target) ~= "table" then
        errors.raise("config", string.format("%s: %s must be a table of settings, got %s", file, where, type(target)))
      end
      M.check(target, M.schema, where .. ".", file)
      if target.targets then errors.raise("config", string.format("%s: %s cannot have targets of its own", file, where)) end
      if not target.name then
        errors.raise("config", string.format("%s: %s needs a name (name = \"...\")", file, where))
      end
      local cfg = {}
      for k, v in pairs(base) do cfg[k] = v end
      for k, v in pairs(target) do cfg[k] = v end
      for k, v in pairs(env_targets[target.name] or {}) do cfg[k] = v end
      list[#list + 1] = cfg
    end
    if #list == 0 then errors.raise("config", string.format("%s: targets is empty", file)) end
  else
    base.name = base.name or "default"
    list[1] = base
  end

  local flags = opts.flags or {}
  for k in pairs(flags) do
    if not M.schema[k] then errors.raise("usage", string.format("unknown setting %q", k)) end
  end
  M.check(flags, M.schema, "", "command line")

  local chosen
  local names = {}
  for _, cfg in ipairs(list) do
    names[#names + 1] = cfg.name
    if opts.target == cfg.name then chosen = cfg end
  end
  if opts.target and not chosen then
    local set = {}
    for _, n in ipairs(names) do set[n] = true end
    local hint = M.suggest(opts.target, set)
    errors.raise("usage", string.format("no target named %q (targets: %s)%s", opts.target, table.concat(names, ", "),
      hint and string.format("; did you mean %q?", hint) or ""))
  end
  if chosen then list = { chosen } end
  if #list > 1 and flags.database then
    errors.raise("usage", "--database names one database, and migrate.lua has several targets: add --target NAME")
  end

  for _, cfg in ipairs(list) do
    for k, v in pairs(flags) do if v ~= nil then cfg[k] = v end end
    -- --database names the connection; --direct (or direct_url) wins over it
    if flags.database and not flags.direct_url then cfg.direct_url = nil end
    resolve_database(cfg, file or "migrate.lua", "database")
    resolve_database(cfg, file or "migrate.lua", "direct_url")
    conninfo.remember(cfg.database)
    if cfg.direct_url == "" then cfg.direct_url = nil end
    if cfg.direct_url then
      conninfo.remember(cfg.direct_url)
      cfg.database = cfg.direct_url
    end
    cfg.root, cfg.file = root, file
    cfg.migrations_dir = fs.join(root, cfg.dir)
    cfg.tracking = tracking_of(cfg)
  end
  local first = list[1]
  first.targets = list
  first.all_targets = names
  return first
end

return M
