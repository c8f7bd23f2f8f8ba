/*
** main.c — the lumi executable.
**
** Lua owns main: this file finds lumi's files, creates the state,
** preloads the C modules linked into it (lumi.pg, lumi.hash, lumi.sql),
** points package.path at lumi's Lua sources, and calls
** require("lumi.cli").main(arg) under a message handler, as Lua's own lua.c
** runs a script. What that returns is the exit status. Everything else —
** argv, configuration, discovery, ordering, locking, output — is Lua.
**
** Where lumi's files are found, first match wins:
**   $LUMI_HOME                      a checkout (lua/, build/, deps/) or a prefix
**   <dir of the executable>         running from a source checkout
**   <dir of the executable>/..      make install or a LuaRocks tree, moved anywhere
**   LUMI_LUADIR, LUMI_CDIR          compiled in (an installed lumi)
*/
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
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

/* ---------------------------------------------------------------------
** Where lumi's files are
** ------------------------------------------------------------------ */

typedef struct {
  char lua[PATH_MAX];      /* lumi's Lua sources: <lua>/lumi/cli.lua */
  char c[PATH_MAX];        /* C modules: <c>/lumi/pg.so ("" if unknown) */
  char bytecode[PATH_MAX]; /* compiled twins of the sources */
  char deps[PATH_MAX];     /* a checkout's bundled luaposix ("" if none) */
} Layout;

/* Use root's layout if lumi's Lua sources are there (lua and c relative to
** root). Returns 1 if used. */
static int try_layout(Layout *lay, const char *root, const char *lua, const char *c) {
  char probe[PATH_MAX + 64];
  snprintf(probe, sizeof probe, "%s/%s/lumi/cli.lua", root, lua);
  if (access(probe, R_OK) != 0) return 0;
  snprintf(lay->lua, sizeof lay->lua, "%s/%s", root, lua);
  snprintf(lay->c, sizeof lay->c, "%s/%s", root, c);
  snprintf(lay->bytecode, sizeof lay->bytecode, "%s/%s/luac", root, c);
  return 1;
}

/* A source checkout (lua/lumi/cli.lua, modules and bytecode in build/,
** luaposix in deps/) or an install prefix (make install: share/lumi/lua
** and lib/lumi; a LuaRocks tree: share/lua/5.4 and lib/lua/5.4). */
static int try_root(Layout *lay, const char *root) {
  if (try_layout(lay, root, "lua", "build")) {
    snprintf(lay->deps, sizeof lay->deps, "%s", root);
    return 1;
  }
  return try_layout(lay, root, "share/lumi/lua", "lib/lumi") ||
         try_layout(lay, root, "share/lua/5.4", "lib/lua/5.4");
}

/* First match wins: $LUMI_HOME; the executable's directory (a checkout);
** its parent (make install or a LuaRocks tree, wherever it was moved);
** LUMI_LUADIR/LUMI_CDIR, compiled in. */
static void find_layout(Layout *lay) {
  memset(lay, 0, sizeof *lay);
  const char *home = getenv("LUMI_HOME");
  if (home != NULL && *home && try_root(lay, home)) return;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash != NULL) {
      *slash = '\0';
      char up[PATH_MAX + 4];
      snprintf(up, sizeof up, "%s/..", exe);
      if (try_root(lay, exe) || try_root(lay, up)) return;
    }
  }
  snprintf(lay->lua, sizeof lay->lua, "%s", LUMI_LUADIR);
  snprintf(lay->c, sizeof lay->c, "%s", LUMI_CDIR);
  snprintf(lay->bytecode, sizeof lay->bytecode, "%s/luac", LUMI_CDIR);
}

/* Prepend `dirs` (a ;-separated template list) to package[field]. */
static void prepend_path(lua_State *L, const char *field, const char *dirs) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, field);
  lua_pushfstring(L, "%s;%s", dirs, lua_tostring(L, -1));
  lua_setfield(L, -3, field);
  lua_pop(L, 2);
}

/* Point package.path/cpath at the layout, before Lua's own default paths. */
static void set_paths(lua_State *L, const Layout *lay) {
  if (lay->deps[0]) {
    lua_pushfstring(L, "%s/deps/share/lua/5.4/?.lua;%s/deps/share/lua/5.4/?/init.lua", lay->deps, lay->deps);
    prepend_path(L, "path", lua_tostring(L, -1));
    lua_pushfstring(L, "%s/deps/lib/lua/5.4/?.so", lay->deps);
    prepend_path(L, "cpath", lua_tostring(L, -1));
    lua_pop(L, 2);
  }
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", lay->lua, lay->lua);
  prepend_path(L, "path", lua_tostring(L, -1));
  /* the layout's C directory, then the compiled-in one (make install
  ** LIBDIR=...): where an installed luaposix is */
  lua_pushfstring(L, "%s/?.so;%s/?.so", lay->c, LUMI_CDIR);
  prepend_path(L, "cpath", lua_tostring(L, -1));
  lua_pop(L, 2);
  use_bytecode(L, lay->lua, lay->bytecode);
}

/* ---------------------------------------------------------------------
** Running lumi.cli.main
** ------------------------------------------------------------------ */

static int error_exit_code = EXIT_INTERNAL;   /* set by msghandler */

/* Message handler, as lua.c's: the error object becomes a message string,
** rendered here, inside the protected call, so that a __tostring that
** raises is an error like any other rather than a panic. An error table's
** integer `exit_code` (read raw: no metamethod runs) is kept for main. A
** table without __tostring, or anything else, is a bug: it gets a traceback. */
static int msghandler(lua_State *L) {
  if (lua_type(L, 1) == LUA_TTABLE) {
    lua_pushliteral(L, "exit_code");
    if (lua_rawget(L, 1) == LUA_TNUMBER && lua_isinteger(L, -1)) {
      lua_Integer code = lua_tointeger(L, -1);
      if (code > 0 && code < 256) error_exit_code = (int)code;
    }
    lua_pop(L, 1);
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
  }
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Protected main: build the state's environment and run lumi.cli.main. */
static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  const Layout *lay = lua_touserdata(L, 3);
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_lumi_pg);
  lua_setfield(L, -2, "lumi.pg");
  lua_pushcfunction(L, luaopen_lumi_hash);
  lua_setfield(L, -2, "lumi.hash");
  lua_pushcfunction(L, luaopen_lumi_sql);
  lua_setfield(L, -2, "lumi.sql");
  lua_pop(L, 1);
  set_paths(L, lay);
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

/* Stack for libpg_query: writing a parse tree out recurses about 2 KB per
** level of nesting (lumi.sql.parse bounds a statement at 16 KB, up to 8,000
** levels). The soft limit is raised to 64 MB when it is lower and the hard
** limit allows: Linux grows the main thread's stack up to the limit in force
** at the time, and keeps at least 128 MB free below it for that. */
static void reserve_stack(void) {
  struct rlimit rl;
  const rlim_t want = (rlim_t)64 << 20;
  if (getrlimit(RLIMIT_STACK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want) return;
  rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want) ? want : rl.rlim_max;
  (void)setrlimit(RLIMIT_STACK, &rl);   /* refused: the usual 8 MB, enough for all but the longest chains */
}

int main(int argc, char **argv) {
  static Layout lay;
  reserve_stack();
  find_layout(&lay);
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "lumi: cannot create the Lua state: not enough memory\n");
    return EXIT_INTERNAL;
  }
  lua_pushcfunction(L, msghandler);
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  lua_pushlightuserdata(L, &lay);
  int code;
  if (lua_pcall(L, 3, 1, 1) == LUA_OK) {
    code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : (lua_toboolean(L, -1) ? 0 : 1);
  } else {
    code = error_exit_code;
    const char *msg = lua_tostring(L, -1);  /* the handler made it a string */
    fprintf(stderr, "lumi: %s\n", msg != NULL ? msg : "(error while reporting an error)");
  }
#ifdef LUMI_CLOSE_STATE
  /* sanitizer builds: free everything, so that LeakSanitizer sees real leaks */
  lua_close(L);
  return code;
#else
  /* The command has closed its connections. Freeing the state's objects
  ** one by one (tens of thousands after a status of a thousand migrations)
  ** would only delay an exit that returns all the memory at once: flush
  ** the streams (Lua's files are C streams) and leave. */
  fflush(NULL);
  _exit(code);
#endif
}
