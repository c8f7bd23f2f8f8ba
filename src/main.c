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

/* Prepend `dirs` (a ;-separated template list) to package[field]. */
static void prepend_path(lua_State *L, const char *field, const char *dirs) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, field);
  lua_pushfstring(L, "%s;%s", dirs, lua_tostring(L, -1));
  lua_setfield(L, -3, field);
  lua_pop(L, 2);
}

/* Point package.path/cpath at lumi's Lua sources and bundled luaposix. */
static void set_paths(lua_State *L) {
  char root[PATH_MAX];
  const char *home = getenv("LUMI_HOME");
  char probe[PATH_MAX + 64];
  int found = 0;
  if (home != NULL && *home) {
    snprintf(root, sizeof root, "%s", home);
    found = 1;
  } else {
    ssize_t n = readlink("/proc/self/exe", root, sizeof root - 1);
    if (n > 0) {
      root[n] = '\0';
      char *slash = strrchr(root, '/');
      if (slash != NULL) *slash = '\0';
      snprintf(probe, sizeof probe, "%s/lua/lumi/cli.lua", root);
      found = file_exists(probe);
    }
  }
  if (found) {
    lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;"
                       "%s/deps/share/lua/5.4/?.lua;%s/deps/share/lua/5.4/?/init.lua",
                    root, root, root, root);
    prepend_path(L, "path", lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_pushfstring(L, "%s/deps/lib/lua/5.4/?.so", root);
    prepend_path(L, "cpath", lua_tostring(L, -1));
    lua_pop(L, 1);
  } else {
    prepend_path(L, "path", LUMI_LUADIR "/?.lua;" LUMI_LUADIR "/?/init.lua");
    prepend_path(L, "cpath", LUMI_CDIR "/?.so");
  }
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
  lua_close(L);
  return code;
}
