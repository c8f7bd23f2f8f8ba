-- lumi adopt: another tool's history, read (never changed) and recorded in
-- lumi's table. The tools that can be installed here run for real in
-- switch_spec.lua; here the tables of the others are created with the DDL
-- of their own sources and filled as they fill them (golang-migrate:
-- database/postgres/postgres.go; goose: the Postgres dialect's
-- CreateVersionTable; Flyway: createMetaDataTable.sql; ...), with the
-- failures those tools leave behind.
local h = require "support.helper"

describe("lumi adopt", function()
  local GOLANG = {
    ["migrations/1_users.up.sql"] = "CREATE TABLE users (id int);\n",
    ["migrations/1_users.down.sql"] = "DROP TABLE users;\n",
    ["migrations/2_posts.up.sql"] = "CREATE TABLE posts (id int);\n",
    ["migrations/2_posts.down.sql"] = "DROP TABLE posts;\n",
    ["migrations/10_tags.up.sql"] = "CREATE TABLE tags (id int);\n",
    ["migrations/10_tags.down.sql"] = "DROP TABLE tags;\n",
  }
  local GOLANG_DDL = "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)"

  it("golang-migrate: every file up to its one stored version, with the warning that it cannot know more", function()
    h.with_project(GOLANG, 'return { convention = "golang-migrate" }\n', function(p)
      p:query(GOLANG_DDL)
      p:query("INSERT INTO schema_migrations VALUES (2, false)")
      local out, err, code = p:lumi("adopt --apply")
      assert.are.equal(0, code, out .. err)
      assert.truthy(err:find("golang-migrate keeps only its newest version", 1, true), err)
      assert.are.same({ "1", "2" }, h.versions(p.url, "lumi_migrations"))
    end)
  end)

  it("golang-migrate: a dirty version is refused, naming it, and nothing is written", function()
    h.with_project(GOLANG, 'return { convention = "golang-migrate" }\n', function(p)
      p:query(GOLANG_DDL)
      p:query("INSERT INTO schema_migrations VALUES (2, true)")
      local out, err, code = p:lumi("adopt --apply")
      assert.are.equal(3, code, out .. err)
      assert.truthy(err:find("schema_migrations says version 2 is dirty", 1, true), err)
      assert.is_false(h.table_exists(p.url, "lumi_migrations"))
    end)
  end)

  it("goose: the newest row of each version decides, and the time goose applied it is kept", function()
    h.with_project({
      ["migrations/001_users.sql"] = "-- +goose Up\nCREATE TABLE users (id int);\n-- +goose Down\nDROP TABLE users;\n",
      ["migrations/002_posts.sql"] = "-- +goose Up\nCREATE TABLE posts (id int);\n-- +goose Down\nDROP TABLE posts;\n",
    }, function(p)
      p:query("CREATE TABLE goose_db_version (id serial NOT NULL, version_id bigint NOT NULL, "
        .. "is_applied boolean NOT NULL, tstamp timestamp NULL default now(), PRIMARY KEY(id))")
      p:query("INSERT INTO goose_db_version (version_id, is_applied, tstamp) VALUES (0, true, '2024-01-01 00:00:00'), "
        .. "(1, true, '2024-01-02 03:04:05'), (2, true, '2024-01-03 00:00:00'), (2, false, '2024-01-04 00:00:00')")
      local doc, code = p:json("adopt auto --apply")
      assert.are.equal(0, code)
      assert.are.equal("goose", doc.tool)
      assert.are.same({ "001_users.sql" }, h.files(doc.adopted))
      assert.are.equal("2024-01-02 03:04:05", p:value("SELECT to_char(applied_at AT TIME ZONE 'UTC', "
        .. "'YYYY-MM-DD HH24:MI:SS') FROM schema_migrations WHERE version = '001'"))
    end)
  end)

  it("refuses rows without a file, listing them, and a tool whose history is not here", function()
    h.with_project(GOLANG, 'return { convention = "golang-migrate" }\n', function(p)
      p:query("CREATE TABLE gorp_migrations (id text PRIMARY KEY, applied_at timestamptz)")
      p:query("INSERT INTO gorp_migrations VALUES ('1_users.up.sql', now()), ('7_gone.up.sql', now())")
      local out, err, code = p:lumi("adopt sql-migrate --apply")
      assert.are.equal(3, code, out .. err)
      assert.truthy(err:find("sql-migrate applied a migration with no file here: 7_gone.up.sql", 1, true), err)
      assert.is_false(h.table_exists(p.url, "lumi_migrations"))
      out, err, code = p:lumi("adopt flyway")
      assert.are.equal(2, code, out .. err)
      assert.truthy(err:find("there is no flyway history here", 1, true), err)
    end)
  end)

  it("diesel: its versions, with the dashes its directories have", function()
    h.with_project({
      ["migrations/2024-01-31-120000_users/up.sql"] = "CREATE TABLE users (id int);\n",
      ["migrations/2024-01-31-120000_users/down.sql"] = "DROP TABLE users;\n",
      ["migrations/2024-02-01-090000_posts/up.sql"] = "CREATE TABLE posts (id int);\n",
      ["migrations/2024-02-01-090000_posts/down.sql"] = "DROP TABLE posts;\n",
    }, 'return { convention = "diesel" }\n', function(p)
      -- diesel_migrations' own DDL
      p:query("CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, "
        .. "run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)")
      p:query("INSERT INTO __diesel_schema_migrations (version) VALUES ('20240131120000')")
      local doc, code = p:json("adopt --apply")
      assert.are.equal(0, code)
      assert.are.same({ "2024-01-31-120000_users/up.sql" }, h.files(doc.adopted))
      local up = p:json("up")
      assert.are.same({ "2024-02-01-090000_posts/up.sql" }, h.files(up.applied))
    end)
  end)

  it("prisma: an unfinished migration is refused; a file edited since prisma applied it is named", function()
    local files = { ["migrations/20240101000000_init.sql"] = "CREATE TABLE users (id int);\n" }
    h.with_project(files, 'return { naming = "timestamp" }\n', function(p)
      p:query("CREATE TABLE _prisma_migrations (id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL, "
        .. "finished_at timestamptz, migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz, "
        .. "started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0)")
      p:query("INSERT INTO _prisma_migrations (id, checksum, migration_name) VALUES ('a', 'x', '20240101000000_init')")
      local out, err, code = p:lumi("adopt --apply")
      assert.are.equal(3, code, out .. err)
      assert.truthy(err:find("_prisma_migrations has unfinished migrations: 20240101000000_init", 1, true), err)
      p:query("UPDATE _prisma_migrations SET finished_at = now(), checksum = repeat('0', 64)")
      local doc, c2 = p:json("adopt --apply")
      assert.are.equal(0, c2)
      assert.are.equal(1, #doc.adopted)
      assert.truthy(table.concat(doc.warnings, "\n"):find("prisma recorded another checksum for "
        .. "20240101000000_init.sql: edited since prisma applied it", 1, true), table.concat(doc.warnings, "\n"))
    end)
  end)

  it("sqlx: a failed migration is refused; knex: a held lock is refused", function()
    h.with_project({ ["migrations/001_users.sql"] = "CREATE TABLE users (id int);\n" }, function(p)
      p:query("CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, "
        .. "installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, checksum BYTEA NOT NULL, "
        .. "execution_time BIGINT NOT NULL)")
      p:query("INSERT INTO _sqlx_migrations VALUES (1, 'users', now(), false, '\\x00', 1)")
      local out, err, code = p:lumi("adopt sqlx --apply")
      assert.are.equal(3, code, out .. err)
      assert.truthy(err:find("_sqlx_migrations has failed migrations: 1", 1, true), err)
      p:query("CREATE TABLE knex_migrations (id serial PRIMARY KEY, name varchar(255), batch integer, "
        .. "migration_time timestamptz)")
      p:query("CREATE TABLE knex_migrations_lock (index serial PRIMARY KEY, is_locked integer)")
      p:query("INSERT INTO knex_migrations (name, batch, migration_time) VALUES ('001_users.js', 1, now())")
      p:query("INSERT INTO knex_migrations_lock (is_locked) VALUES (1)")
      out, err, code = p:lumi("adopt knex --apply")
      assert.are.equal(3, code, out .. err)
      assert.truthy(err:find("knex_migrations_lock is locked", 1, true), err)
      p:query("UPDATE knex_migrations_lock SET is_locked = 0")
      local doc, c3 = p:json("adopt knex --apply")
      assert.are.equal(0, c3)
      assert.are.same({ "001_users.sql" }, h.files(doc.adopted))
    end)
  end)

  it("rails: told from dbmate's table of the same shape by ar_internal_metadata beside it", function()
    h.with_project({
      ["db/migrate/20240101120000_create_users.sql"] = "CREATE TABLE users (id int);\n",
      ["db/migrate/20240102120000_create_posts.sql"] = "CREATE TABLE posts (id int);\n",
    }, 'return { dir = "db/migrate", naming = "timestamp", table = "lumi_migrations" }\n', function(p)
      -- ActiveRecord's SchemaMigration and InternalMetadata tables
      p:query('CREATE TABLE schema_migrations (version character varying NOT NULL PRIMARY KEY)')
      p:query('CREATE TABLE ar_internal_metadata (key character varying NOT NULL PRIMARY KEY, value character varying, '
        .. 'created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL)')
      p:query("INSERT INTO schema_migrations VALUES ('20240101120000')")
      local doc, code = p:json("adopt --apply")
      assert.are.equal(0, code)
      assert.are.equal("rails", doc.tool)
      assert.are.same({ "20240101120000_create_users.sql" }, h.files(doc.adopted))
      local _, _, c2 = p:lumi("adopt dbmate")
      assert.are.equal(2, c2)
    end)
  end)

  -- Flyway's createMetaDataTable.sql for PostgreSQL
  local FLYWAY_DDL = 'CREATE TABLE flyway_schema_history (installed_rank INT NOT NULL PRIMARY KEY, version VARCHAR(50), '
    .. 'description VARCHAR(200) NOT NULL, type VARCHAR(20) NOT NULL, script VARCHAR(1000) NOT NULL, '
    .. 'checksum INTEGER, installed_by VARCHAR(100) NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT now(), '
    .. 'execution_time INTEGER NOT NULL, success BOOLEAN NOT NULL)'
  -- the checksums Flyway records: CRC-32 of the lines without their breaks,
  -- signed (computed for these texts with Python's zlib.crc32)
  local FLYWAY = {
    ["sql/V1__users.sql"] = "CREATE TABLE users (id int);\n",             -- 336540139
    ["sql/V1.1__posts.sql"] = "CREATE TABLE posts (id int);\r\n",        -- -1877934394
    ["sql/V1.2__tags.sql"] = "CREATE TABLE tags (id int);\n",
    ["sql/R__view.sql"] = "CREATE OR REPLACE VIEW v AS SELECT 2 AS x;\n", -- -45560998 (and 1 AS x: -861875769)
  }

  it("flyway: its checksums verified; a changed repeatable left to run again; an undone version not adopted", function()
    h.with_project(FLYWAY, 'return { convention = "flyway" }\n', function(p)
      p:query(FLYWAY_DDL)
      for _, t in ipairs({ "users", "posts", "tags" }) do p:query("CREATE TABLE " .. t .. " (id int)") end
      p:query("CREATE VIEW v AS SELECT 1 AS x")
      p:query("INSERT INTO flyway_schema_history VALUES "
        .. "(1, '1', 'users', 'SQL', 'V1__users.sql', 336540139, 'deployer', '2024-01-02 03:04:05', 1, true), "
        .. "(2, '1.1', 'posts', 'SQL', 'V1.1__posts.sql', 12345, 'deployer', now(), 1, true), "
        .. "(3, '1.2', 'tags', 'SQL', 'V1.2__tags.sql', 0, 'deployer', now(), 1, true), "
        .. "(4, NULL, 'view', 'SQL', 'R__view.sql', -861875769, 'deployer', now(), 1, true), "
        .. "(5, '1.2', 'tags', 'UNDO_SQL', 'U1.2__tags.sql', 0, 'deployer', now(), 1, true)")
      local doc, code = p:json("adopt --apply")
      assert.are.equal(0, code)
      assert.are.equal("flyway", doc.tool)
      assert.are.same({ "V1__users.sql", "V1.1__posts.sql" }, h.files(doc.adopted))
      local warnings = table.concat(doc.warnings, "\n")
      assert.truthy(warnings:find("flyway recorded another checksum for V1.1__posts.sql: edited since flyway "
        .. "applied it", 1, true), warnings)
      assert.falsy(warnings:find("V1__users.sql", 1, true), warnings)
      assert.truthy(warnings:find("R__view.sql changed since flyway last ran it: not adopted, so `lumi up` runs "
        .. "it again", 1, true), warnings)
      assert.are.equal("deployer", p:value("SELECT applied_by FROM lumi_migrations WHERE version = '1'"))
      assert.are.equal("2024-01-02 03:04:05", p:value("SELECT to_char(applied_at, 'YYYY-MM-DD HH24:MI:SS') "
        .. "FROM lumi_migrations WHERE version = '1'"))
      -- V1.2 was undone: lumi applies it, then the repeatable
      p:query("DROP TABLE tags")
      local up = p:json("up")
      assert.are.same({ "V1.2__tags.sql", "R__view.sql" }, h.files(up.applied))
      assert.are.equal(2, tonumber(p:value("SELECT x FROM v")))
    end)
  end)

  it("flyway: a failed row is refused; a baseline counts every version up to it", function()
    h.with_project(FLYWAY, 'return { convention = "flyway" }\n', function(p)
      p:query(FLYWAY_DDL)
      p:query("INSERT INTO flyway_schema_history VALUES (1, '1.1', '<< Flyway Baseline >>', 'BASELINE', "
        .. "'<< Flyway Baseline >>', NULL, 'deployer', now(), 0, true), "
        .. "(2, '1.2', 'tags', 'SQL', 'V1.2__tags.sql', 0, 'deployer', now(), 1, false)")
      local out, err, code = p:lumi("adopt flyway --apply")
      assert.are.equal(3, code, out .. err)
      assert.truthy(err:find("flyway_schema_history has failed migrations: V1.2__tags.sql", 1, true), err)
      assert.is_false(h.table_exists(p.url, "lumi_migrations"))
      p:query("DELETE FROM flyway_schema_history WHERE installed_rank = 2")
      local doc, c2 = p:json("adopt flyway --apply")
      assert.are.equal(0, c2)
      assert.are.same({ "V1__users.sql", "V1.1__posts.sql" }, h.files(doc.adopted))
    end)
  end)

  it("node-pg-migrate: its names are the files' stems", function()
    h.with_project({ ["migrations/001_users.sql"] = "CREATE TABLE users (id int);\n" }, function(p)
      -- node-pg-migrate's migrations table
      p:query("CREATE TABLE pgmigrations (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL)")
      p:query("INSERT INTO pgmigrations (name, run_on) VALUES ('001_users', now())")
      local doc, code = p:json("adopt --apply")
      assert.are.equal(0, code)
      assert.are.equal("node-pg-migrate", doc.tool)
      assert.are.same({ "001_users.sql" }, h.files(doc.adopted))
    end)
  end)

  it("sqlx: the SHA-384 it recorded is verified against each file", function()
    h.with_project({
      ["migrations/20240101120000_users.sql"] = "CREATE TABLE users (id int);\n",
      ["migrations/20240102120000_posts.up.sql"] = "CREATE TABLE posts (id int);\n",
      ["migrations/20240102120000_posts.down.sql"] = "DROP TABLE posts;\n",
    }, 'return { convention = "sqlx" }\n', function(p)
      -- sqlx-postgres's migrate.rs: the table, and each row's checksum the
      -- SHA-384 of the migration's SQL (here computed by PostgreSQL)
      p:query("CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, "
        .. "installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, checksum BYTEA NOT NULL, "
        .. "execution_time BIGINT NOT NULL)")
      p:query("INSERT INTO _sqlx_migrations VALUES (20240101120000, 'users', now(), true, "
        .. "sha384(convert_to($1, 'UTF8')), 1), (20240102120000, 'posts', now(), true, "
        .. "sha384(convert_to($2, 'UTF8')), 1)", "CREATE TABLE users (id int);\n", "CREATE TABLE posts (id bigint);\n")
      local doc, code = p:json("adopt --apply")
      assert.are.equal(0, code)
      assert.are.same({ "20240101120000_users.sql", "20240102120000_posts.up.sql" }, h.files(doc.adopted))
      assert.are.same({ "sqlx recorded another checksum for 20240102120000_posts.up.sql: edited since sqlx applied it "
        .. "(lumi records the files as they are now)" }, doc.warnings)
    end)
  end)

  -- an Alembic project's version files: never run, only read
  local function alembic_file(rev, down, extra)
    return string.format('"""%s\n\nRevision ID: %s\n"""\nfrom alembic import op\n\n'
      .. 'revision: str = "%s"\ndown_revision: Union[str, Sequence[str], None] = %s\n%s\n'
      .. 'def upgrade() -> None:\n    op.execute("SELECT 1")\n', rev, rev, rev, down, extra or "")
  end

  it("alembic: every ancestor of the stored heads, merges and branches read from the version files", function()
    h.with_project({
      ["alembic.ini"] = "[alembic]\nscript_location = %(here)s/alembic\n",
      ["alembic/versions/a1_users.py"] = alembic_file("a1", "None"),
      ["alembic/versions/b2_posts.py"] = alembic_file("b2", "'a1'"),
      ["alembic/versions/c3_tags.py"] = alembic_file("c3", "'a1'"),
      ["alembic/versions/d4_merge.py"] = alembic_file("d4", "(\n    'b2',\n    'c3',\n)"),
      ["alembic/versions/e5_next.py"] = alembic_file("e5", "'d4'"),
      ["migrations/0001_a1_users.sql"] = "CREATE TABLE users (id int);\n",
      ["migrations/0002_b2_posts.sql"] = "CREATE TABLE posts (id int);\n",
      ["migrations/0003_c3_tags.sql"] = "CREATE TABLE tags (id int);\n",
      ["migrations/0004_d4_merge.sql"] = "SELECT 1;\n",
      ["migrations/0005_e5_next.sql"] = "CREATE TABLE next (id int);\n",
    }, function(p)
      -- alembic's own table (alembic.runtime.migration: version_num varchar(32))
      p:query("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
      p:query("INSERT INTO alembic_version VALUES ('d4')")
      local doc, code = p:json("adopt --apply")
      assert.are.equal(0, code)
      assert.are.equal("alembic", doc.tool)
      assert.are.same({ "0001_a1_users.sql", "0002_b2_posts.sql", "0003_c3_tags.sql", "0004_d4_merge.sql" },
        h.files(doc.adopted))
      -- two heads on branches: each one's ancestors
      p:query("DELETE FROM schema_migrations")
      p:query("UPDATE alembic_version SET version_num = 'b2'")
      p:query("INSERT INTO alembic_version VALUES ('c3')")
      doc = p:json("adopt --apply")
      assert.are.same({ "0001_a1_users.sql", "0002_b2_posts.sql", "0003_c3_tags.sql" }, h.files(doc.adopted))
      -- a head no version file names
      p:query("INSERT INTO alembic_version VALUES ('ffff')")
      local out, err, c2 = p:lumi("adopt alembic")
      assert.are.equal(3, c2, out .. err)
      assert.truthy(err:find("adopt: alembic applied a migration with no file here: ffff", 1, true), err)
    end)
  end)

  it("will not adopt into the tool's own table", function()
    h.with_project(GOLANG, function(p)
      p:query(GOLANG_DDL)
      p:query("INSERT INTO schema_migrations VALUES (1, false)")
      local out, err, code = p:lumi("adopt golang-migrate")
      assert.are.equal(2, code, out .. err)
      assert.truthy(err:find("lumi's tracking table is golang-migrate's own (schema_migrations)", 1, true), err)
    end)
  end)
end)
