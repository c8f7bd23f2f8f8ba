rockspec_format = "3.0"
package = "lumi"
version = "scm-1"
source = {
   url = "git+file:///work/main",
}
description = {
   summary = "PostgreSQL schema migrations: a small C host, every policy in Lua",
   detailed = [[
lumi applies NNN_name.sql (or dated, or your own) migrations to PostgreSQL,
each in a transaction with its tracking row, under an advisory lock, with
checksums. Naming, ordering, tracking and hooks are Lua that a project
overrides in migrate.lua. The rock installs the `lumi` command and the Lua
API (require "lumi", "lumi.pg", "lumi.hash", "lumi.sql").
It links libpq, OpenSSL (libcrypto) and libpg_query (Debian: libpg-query-dev).
luaposix is needed at run time; it is not declared as a dependency so that
`luarocks make` works offline: install it from your distribution (Debian
trixie / Ubuntu 24.04: lua-posix) or let the Makefile bundle it (scripts/deps).]],
   license = "MIT",
}
dependencies = {
   "lua >= 5.4",
}
build = {
   type = "make",
   -- libpq and OpenSSL (libcrypto) are found by the Makefile through
   -- pkg-config, which knows distribution layouts (Debian keeps libpq-fe.h
   -- in /usr/include/postgresql).
   build_variables = {
      CFLAGS = "$(CFLAGS)",
      LUA_CFLAGS = "-I$(LUA_INCDIR)",
      LUADIR = "$(LUADIR)",
      LIBDIR = "$(LIBDIR)",
      BINDIR = "$(BINDIR)",
   },
   install_variables = {
      PREFIX = "$(PREFIX)",
      LUADIR = "$(LUADIR)",
      LIBDIR = "$(LIBDIR)",
      BINDIR = "$(BINDIR)",
   },
}
test = {
   type = "command",
   command = "make test",
}
