/*
** main.c — the lumi executable.
**
** Lua owns main: this file creates the state, preloads the C modules
** (lumi.pg, lumi.hash), points package.path at lumi's Lua sources, and
** calls require("lumi.cli").main(arg) under a message handler. What that
** returns is the exit status. Everything else — argv, configuration,
** discovery, ordering, locking, output — is Lua.
**
** Where the Lua sources are found, first match wins:
**   $LUMI_HOME/lua                  (and $LUMI_HOME/deps for luaposix)
**   <dir of the executable>/lua     (running from a source checkout)
**   LUMI_LUADIR, compiled in        (an installed lumi)
*/
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

#include "lumi.h"

#ifndef LUMI_LUADIR
#define LUMI_LUADIR "/usr/local/share/lumi/lua"
#endif
#ifndef LUMI_CDIR
#define LUMI_CDIR "/usr/local/lib/lumi"
#endif

#define EXIT_INTERNAL 70   /* a bug in lumi or in migrate.lua's Lua: see README */

static int file_exists(const char *path) {
  return access(path, R_OK) == 0;
}

/* ---------------------------------------------------------------------
** Precompiled Lua: lumi's modules compiled by `make` (luac) load about
** eight times faster than their sources. The searcher below, placed before
** Lua's own, takes <bytecode dir>/<module>.luac when it is at least as new
** as <source dir>/<module>.lua, and otherwise lets the source be found as
** usual, so an edited source is never shadowed by stale bytecode.
** ------------------------------------------------------------------ */

static char src_dir[PATH_MAX];   /* lumi's Lua sources ("" when unknown) */
static char bc_dir[PATH_MAX];    /* their compiled twins */

static int bytecode_searcher(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  if (!src_dir[0] || strncmp(name, "lumi", 4) != 0) return 0;
  char rel[256];
  size_t n = strlen(name);
  if (n + 16 > sizeof rel) return 0;
  for (size_t i = 0; i <= n; i++) rel[i] = name[i] == '.' ? '/' : name[i];
  static const char *const tails[] = {"", "/init"};
  for (int t = 0; t < 2; t++) {
    char src[PATH_MAX + 300], bc[PATH_MAX + 300];
    struct stat ss, bs;
    snprintf(src, sizeof src, "%s/%s%s.lua", src_dir, rel, tails[t]);
    snprintf(bc, sizeof bc, "%s/%s%s.luac", bc_dir, rel, tails[t]);
    if (stat(bc, &bs) != 0) continue;
    if (stat(src, &ss) != 0) continue;                /* only twins of sources */
    if (bs.st_mtim.tv_sec < ss.st_mtim.tv_sec ||
        (bs.st_mtim.tv_sec == ss.st_mtim.tv_sec && bs.st_mtim.tv_nsec < ss.st_mtim.tv_nsec))
      return 0;                                       /* stale: use the source */
    if (luaL_loadfilex(L, bc, "b") != LUA_OK) return 0;
    lua_pushstring(L, src);                           /* report the source's name */
    return 2;
  }
  return 0;
}

static void use_bytecode(lua_State *L, const char *src, const char *bc) {
  snprintf(src_dir, sizeof src_dir, "%s", src);
  snprintf(bc_dir, sizeof bc_dir, "%s", bc);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");                   /* package searchers */
  for (lua_Integer i = (lua_Integer)luaL_len(L, -1); i >= 2; i--) {
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushcfunction(L, bytecode_searcher);
  lua_rawseti(L, -2, 2);
  lua_pop(L, 2);
}

/* Prepend `dirs` (a ;-separated template list) to package[field]. */
static void prepend_path(lua_State *L, const char *field, const char *dirs) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, field);
  lua_pushfstring(L, "%s;%s", dirs, lua_tostring(L, -1));
  lua_setfield(L, -3, field);
  lua_pop(L, 2);
}

/* Use root's layout if lumi's Lua sources are there: `lua` is the Lua
** directory (relative to root), `c` the C-module one. Returns 1 if used. */
static int try_layout(lua_State *L, const char *root, const char *lua, const char *c) {
  char probe[PATH_MAX + 64];
  snprintf(probe, sizeof probe, "%s/%s/lumi/cli.lua", root, lua);
  if (!file_exists(probe)) return 0;
  lua_pushfstring(L, "%s/%s/?.lua;%s/%s/?/init.lua", root, lua, root, lua);
  prepend_path(L, "path", lua_tostring(L, -1));
  lua_pop(L, 1);
  lua_pushfstring(L, "%s/%s/?.so", root, c);
  prepend_path(L, "cpath", lua_tostring(L, -1));
  lua_pop(L, 1);
  return 1;
}

/* Is root a source checkout (lua/lumi/cli.lua in it)? */
static int is_checkout(const char *root) {
  char probe[PATH_MAX + 64];
  snprintf(probe, sizeof probe, "%s/lua/lumi/cli.lua", root);
  return file_exists(probe);
}

/* The luaposix that scripts/deps bundles into a checkout's deps/. */
static void add_deps(lua_State *L, const char *root) {
  lua_pushfstring(L, "%s/deps/share/lua/5.4/?.lua;%s/deps/share/lua/5.4/?/init.lua", root, root);
  prepend_path(L, "path", lua_tostring(L, -1));
  lua_pop(L, 1);
  lua_pushfstring(L, "%s/deps/lib/lua/5.4/?.so", root);
  prepend_path(L, "cpath", lua_tostring(L, -1));
  lua_pop(L, 1);
}

/* Point package.path/cpath at lumi's Lua sources and bundled luaposix:
**   $LUMI_HOME                      a source checkout or install prefix
**   <exe dir>                       running from a source checkout
**   <exe dir>/..                    `make install` or LuaRocks tree, wherever it was moved
**   LUMI_LUADIR/LUMI_CDIR           compiled in
** then Lua's own default paths. */
static void set_paths(lua_State *L) {
  char exe[PATH_MAX];
  const char *home = getenv("LUMI_HOME");
  if (home != NULL && *home) {
    if (is_checkout(home)) {
      add_deps(L, home);
      try_layout(L, home, "lua", "build");
      lua_pushfstring(L, "%s/lua", home);
      lua_pushfstring(L, "%s/build/luac", home);
      use_bytecode(L, lua_tostring(L, -2), lua_tostring(L, -1));
      lua_pop(L, 2);
      return;
    }
    if (try_layout(L, home, "share/lumi/lua", "lib/lumi")) return;
    if (try_layout(L, home, "share/lua/5.4", "lib/lua/5.4")) return;
  }
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash != NULL) *slash = '\0';
    if (is_checkout(exe)) {
      add_deps(L, exe);
      try_layout(L, exe, "lua", "build");
      lua_pushfstring(L, "%s/lua", exe);
      lua_pushfstring(L, "%s/build/luac", exe);
      use_bytecode(L, lua_tostring(L, -2), lua_tostring(L, -1));
      lua_pop(L, 2);
      return;
    }
    if (try_layout(L, exe, "../share/lumi/lua", "../lib/lumi")) {
      lua_pushfstring(L, "%s/../share/lumi/lua", exe);
      lua_pushfstring(L, "%s/../lib/lumi/luac", exe);
      use_bytecode(L, lua_tostring(L, -2), lua_tostring(L, -1));
      lua_pop(L, 2);
      return;
    }
    if (try_layout(L, exe, "../share/lua/5.4", "../lib/lua/5.4")) {
      lua_pushfstring(L, "%s/../share/lua/5.4", exe);
      lua_pushfstring(L, "%s/../lib/lua/5.4/luac", exe);
      use_bytecode(L, lua_tostring(L, -2), lua_tostring(L, -1));
      lua_pop(L, 2);
      return;
    }
  }
  prepend_path(L, "path", LUMI_LUADIR "/?.lua;" LUMI_LUADIR "/?/init.lua");
  prepend_path(L, "cpath", LUMI_CDIR "/?.so");
  use_bytecode(L, LUMI_LUADIR, LUMI_CDIR "/luac");
}

static void preload(lua_State *L, const char *name, lua_CFunction open) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, open);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

/* Message handler: error tables (lumi and pg errors) pass through for
** their __tostring; anything else gets a traceback, since it is a bug. */
static int msghandler(lua_State *L) {
  if (lua_type(L, 1) == LUA_TTABLE) return 1;
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Protected main: build the state's environment and run lumi.cli.main. */
static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  luaL_openlibs(L);
  preload(L, "lumi.pg", luaopen_lumi_pg);
  preload(L, "lumi.hash", luaopen_lumi_hash);
  preload(L, "lumi.sql", luaopen_lumi_sql);
  preload(L, "lumi.dir", luaopen_lumi_dir);
  set_paths(L);
  lua_createtable(L, argc, 1);            /* arg, as lua.c builds it */
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_pushvalue(L, -1);
  lua_setglobal(L, "arg");
  lua_getglobal(L, "require");
  lua_pushliteral(L, "lumi.cli");
  lua_call(L, 1, 1);                      /* arg cli */
  lua_getfield(L, -1, "main");
  lua_pushvalue(L, -3);
  lua_call(L, 1, 1);                      /* arg cli status */
  return 1;
}

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "lumi: cannot create the Lua state: not enough memory\n");
    return EXIT_INTERNAL;
  }
  lua_pushcfunction(L, msghandler);
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 1, 1);
  int code;
  if (status == LUA_OK) {
    code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : (lua_toboolean(L, -1) ? 0 : 1);
  } else {
    code = EXIT_INTERNAL;
    if (lua_type(L, -1) == LUA_TTABLE) {
      lua_getfield(L, -1, "exit_code");
      if (lua_isinteger(L, -1)) code = (int)lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
    const char *msg = luaL_tolstring(L, -1, NULL);
    fprintf(stderr, "lumi: %s\n", msg);
    lua_pop(L, 1);
  }
  fflush(stdout);
#ifdef LUMI_CLOSE_STATE
  /* sanitizer builds: free everything, so that LeakSanitizer sees real leaks */
  lua_close(L);
#else
  /* The command has closed its connection; freeing thousands of small Lua
  ** objects one by one would only delay an exit that returns them all. */
  (void)L;
#endif
  return code;
}
