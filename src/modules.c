/*
** modules.c — the C modules that link large libraries, loaded at run time.
**
** lumi.pg links libpq, which brings two dozen libraries with it (libssl,
** libcrypto, Kerberos, LDAP, GnuTLS, ...); lumi.hash links libcrypto;
** lumi.sql links libpg_query. Linked into the executable, they would be
** mapped and relocated (Debian builds them with BIND_NOW) before main()
** runs: about 3.5 ms on every start, most of what `psql --version` costs.
** So they are the shared objects that stock lua5.4 loads too
** (<dir>/lumi/pg.so, ...), and the executable loads them itself:
**
**   lumi_modules_preload  puts a loader for each module in package.preload,
**                       and the module lumi.host;
**   lumi.host.load_soon(name, ...)  (Lua) has a thread load those modules
**                       while the main thread goes on: the command line
**                       asks for lumi.pg and lumi.hash as soon as it knows
**                       its command will connect, so that libpq is mapped
**                       while migrate.lua is read. `require` then waits for
**                       that thread only if it is still loading the module;
**                       a module nobody asked for loads on first require
**                       (lumi.sql, needed only for files run statement by
**                       statement; everything, in `lumi list` and `new`).
**
** A module is looked for as <dir>/lumi/<name>.so in the directories the
** host gives (its own build or install directories), then on
** package.cpath, so that LUA_CPATH can point elsewhere.
**
** While that thread is inside dlopen, any dlopen or dlsym on the main
** thread waits for it (glibc holds one loader lock): hence the luaopen_
** functions are looked up by the thread, and what every command needs
** before it connects (listing, stat, isatty, getcwd) is lumi.sys, linked in,
** rather than luaposix's shared libraries.
*/
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lua.h"
#include "lauxlib.h"

#include "lumi.h"

typedef struct {
  const char *name;        /* module name for require */
  const char *file;        /* <dir>/lumi/<file>.so */
  const char *open;        /* its luaopen_ function */
  int wanted;              /* asked for by load_soon (guarded by mu) */
  int claimed;             /* a thread has begun loading it (mu) */
  int done;                /* that load is over (mu) */
  void *handle;            /* dlopen handle, or NULL */
  lua_CFunction luaopen;   /* its luaopen_ function, found when loaded */
  char error[512];         /* why not, when a file was found but not loaded */
} Module;

static Module modules[] = {
  {"lumi.pg", "pg", "luaopen_lumi_pg", 0, 0, 0, NULL, NULL, ""},
  {"lumi.hash", "hash", "luaopen_lumi_hash", 0, 0, 0, NULL, NULL, ""},
  {"lumi.sql", "sql", "luaopen_lumi_sql", 0, 0, 0, NULL, NULL, ""},
};
#define NMODULES (sizeof modules / sizeof modules[0])

#define MAX_DIRS 6
static char dirs[MAX_DIRS][PATH_MAX];
static int ndirs;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t loaded = PTHREAD_COND_INITIALIZER;
#ifndef LUMI_CLOSE_STATE
static int loader_running;               /* a load_soon thread is at work (mu) */
#endif

/* Find and dlopen one module; sets handle and luaopen, or error. No lock
** held: each module is loaded by the one thread that claimed it. Its
** luaopen_ function is looked up here too: dlsym, like dlopen, waits while
** another thread is loading a library. */
static void load(Module *m) {
  for (int i = 0; i < ndirs; i++) {
    char path[PATH_MAX + 64];
    int n = snprintf(path, sizeof path, "%s/lumi/%s.so", dirs[i], m->file);
    if (n < 0 || (size_t)n >= sizeof path || access(path, R_OK) != 0) continue;
    m->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (m->handle == NULL) {
      /* dlerror names the library that is missing, or what is wrong */
      const char *e = dlerror();
      snprintf(m->error, sizeof m->error, "%.500s", e ? e : path);
      return;
    }
    m->luaopen = (lua_CFunction)(void (*)(void))dlsym(m->handle, m->open);
    if (m->luaopen == NULL) {
      snprintf(m->error, sizeof m->error, "%.400s has no %s", path, m->open);
      dlclose(m->handle);
      m->handle = NULL;
    }
    return;
  }
}

/* The module m, claimed by the calling thread (mu held): load it with mu
** released, then tell the threads waiting for it. */
static void load_claimed(Module *m) {
  pthread_mutex_unlock(&mu);
  load(m);
  pthread_mutex_lock(&mu);
  m->done = 1;
  pthread_cond_broadcast(&loaded);
}

#ifndef LUMI_CLOSE_STATE
/* The load_soon thread: the modules asked for and not yet claimed, in the
** order of the table, until there are none. */
static void *loader_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  for (;;) {
    Module *next = NULL;
    for (size_t i = 0; i < NMODULES && next == NULL; i++)
      if (modules[i].wanted && !modules[i].claimed) next = &modules[i];
    if (next == NULL) break;
    next->claimed = 1;
    load_claimed(next);
  }
  loader_running = 0;
  pthread_mutex_unlock(&mu);
  return NULL;
}
#endif

void lumi_modules_dirs(const char *const *search, int n) {
  ndirs = 0;
  for (int i = 0; i < n && ndirs < MAX_DIRS; i++) {
    if (search[i] == NULL || !search[i][0]) continue;
    int seen = 0;
    for (int k = 0; k < ndirs; k++) seen |= strcmp(dirs[k], search[i]) == 0;
    if (!seen) snprintf(dirs[ndirs++], PATH_MAX, "%s", search[i]);
  }
}

/* Load m now on this thread, or wait while another thread loads it; 1 if
** it has a handle. */
static int ensure_loaded(Module *m) {
  pthread_mutex_lock(&mu);
  if (!m->claimed) {
    m->claimed = 1;
    load_claimed(m);
  }
  while (!m->done) pthread_cond_wait(&loaded, &mu);
  pthread_mutex_unlock(&mu);
  return m->handle != NULL;
}

/* lumi.host.load_soon(name, ...): load these modules on a thread of their
** own, from now; unknown names are ignored. Returns nothing. Sanitizer
** builds (LUMI_CLOSE_STATE) load every module on first require instead:
** LeakSanitizer's tracer crashed now and then at exit after instrumented
** libraries had been loaded on another thread. */
static int host_load_soon(lua_State *L) {
  int n = lua_gettop(L);
  for (int i = 1; i <= n; i++) luaL_checkstring(L, i);
#ifndef LUMI_CLOSE_STATE
  pthread_mutex_lock(&mu);
  int added = 0;
  for (int i = 1; i <= n; i++) {
    const char *name = lua_tostring(L, i);
    for (size_t k = 0; k < NMODULES; k++) {
      Module *m = &modules[k];
      if (strcmp(m->name, name) == 0 && !m->wanted && !m->claimed) m->wanted = added = 1;
    }
  }
  if (added && !loader_running) {
    pthread_t t;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) == 0) {
      if (pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0
          && lumi_thread_create(&t, &attr, loader_main, NULL) == 0)
        loader_running = 1;
      pthread_attr_destroy(&attr);
    }
    /* no thread: each module loads on first require, as if never asked */
  }
  pthread_mutex_unlock(&mu);
#endif
  return 0;
}

static int luaopen_lumi_host(lua_State *L) {
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, host_load_soon);
  lua_setfield(L, -2, "load_soon");
  return 1;
}

/* package.preload loader (upvalue: index in modules). */
static int load_module(lua_State *L) {
  Module *m = &modules[lua_tointeger(L, lua_upvalueindex(1))];
  if (ensure_loaded(m) && m->luaopen != NULL) {
    lua_pushcfunction(L, m->luaopen);
    lua_pushstring(L, m->name);
    lua_call(L, 1, 1);
    return 1;
  }
  if (m->error[0])
    return luaL_error(L, "cannot load the C module %s: %s (is the library it names installed?)", m->name, m->error);
  /* not in lumi's own directories: package.cpath, as for any C module */
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchpath");
  lua_pushstring(L, m->name);
  lua_getfield(L, -3, "cpath");
  lua_call(L, 2, 2);                                /* path | nil, why */
  if (lua_isnil(L, -2)) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; i < ndirs; i++) {
      lua_pushfstring(L, "\n\tno file '%s/lumi/%s.so'", dirs[i], m->file);
      luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    return luaL_error(L, "cannot find the C module %s: build it (make) or install lumi again%s\n\t%s",
                      m->name, lua_tostring(L, -1), lua_tostring(L, -2));
  }
  lua_pop(L, 1);
  const char *path = lua_tostring(L, -1);
  lua_getfield(L, -2, "loadlib");
  lua_pushvalue(L, -2);
  lua_pushstring(L, m->open);
  lua_call(L, 2, 2);                                /* open | nil, why */
  if (lua_isnil(L, -2)) return luaL_error(L, "cannot load %s from %s: %s", m->name, path, lua_tostring(L, -1));
  lua_pop(L, 1);
  lua_pushstring(L, m->name);
  lua_call(L, 1, 1);
  return 1;
}

void lumi_modules_preload(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (size_t i = 0; i < NMODULES; i++) {
    lua_pushinteger(L, (lua_Integer)i);
    lua_pushcclosure(L, load_module, 1);
    lua_setfield(L, -2, modules[i].name);
  }
  lua_pushcfunction(L, luaopen_lumi_host);
  lua_setfield(L, -2, "lumi.host");
  lua_pop(L, 1);
}
