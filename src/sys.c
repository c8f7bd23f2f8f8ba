/*
** lumi.sys — the few system calls of lumi's start-up, linked into the
** executable.
**
**   sys.list(path)   -> names, kinds | nil, message, errno
**   sys.kind(path)   -> "file" | "directory" | "other" | nil, message, errno
**   sys.cwd()        -> the working directory | nil, message, errno
**   sys.isatty(fd)   -> boolean
**
** list: the entries' names in byte order, without "." and ".."; kinds:
** {name = "directory"} for the entries that are directories (or symbolic
** links to one); other entries are absent from it. kind follows symbolic
** links, as stat does.
**
** Everything else about files goes through luaposix. These are here
** because a migrations directory holds hundreds or thousands of files
** (listing, sorting and sorting out the subdirectories of them from Lua
** costs more than the rest of `lumi status` put together), and because
** every command needs the others before it connects: luaposix's modules
** are shared libraries, and opening one waits while the host's loader
** thread is opening libpq (see modules.c).
*/
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <limits.h>

#include "lua.h"
#include "lauxlib.h"

#include "lumi.h"

typedef struct Entry {
  char *name;
  int is_dir;
} Entry;

typedef struct Listing {
  Entry *v;
  size_t n, cap;
} Listing;

static void listing_free(Listing *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i].name);
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const Entry *)a)->name, ((const Entry *)b)->name);
}

/* Read every entry of path into l; 0 on success, an errno otherwise. */
static int read_listing(const char *path, Listing *l) {
  DIR *d = opendir(path);
  if (d == NULL) return errno ? errno : EIO;
  int fd = dirfd(d);
  struct dirent *e;
  int err = 0;
  for (;;) {
    errno = 0;
    e = readdir(d);
    if (e == NULL) { err = errno; break; }
    const char *n = e->d_name;
    if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'))) continue;
    if (l->n == l->cap) {
      size_t cap = l->cap ? 2 * l->cap : 256;
      Entry *v = realloc(l->v, cap * sizeof *v);
      if (v == NULL) { err = ENOMEM; break; }
      l->v = v;
      l->cap = cap;
    }
    int is_dir = 0;
    if (e->d_type == DT_DIR) {
      is_dir = 1;
    } else if (e->d_type == DT_UNKNOWN || e->d_type == DT_LNK) {
      /* the file system does not say, or a link: ask, following links */
      struct stat st;
      is_dir = fstatat(fd, n, &st, 0) == 0 && S_ISDIR(st.st_mode);
    }
    char *copy = strdup(n);
    if (copy == NULL) { err = ENOMEM; break; }
    l->v[l->n].name = copy;
    l->v[l->n].is_dir = is_dir;
    l->n++;
  }
  closedir(d);
  if (err != 0) return err;
  if (l->n > 1) qsort(l->v, l->n, sizeof *l->v, by_name);
  return 0;
}

#define LISTING_MT "lumi.sys.Listing"

static int listing_gc(lua_State *L) {
  listing_free(luaL_checkudata(L, 1, LISTING_MT));
  return 0;
}

static int l_list(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  /* the C copies live in a userdata whose __gc frees them, so that they
  ** are freed even if Lua runs out of memory while building the tables */
  Listing *l = lua_newuserdatauv(L, sizeof *l, 0);
  memset(l, 0, sizeof *l);
  luaL_setmetatable(L, LISTING_MT);
  int err = read_listing(path, l);
  if (err != 0) {
    listing_free(l);
    luaL_pushfail(L);
    lua_pushstring(L, err == ENOENT ? "no such directory"
                      : err == ENOTDIR ? "not a directory" : strerror(err));
    lua_pushinteger(L, err);
    return 3;
  }
  lua_createtable(L, l->n > (size_t)0x7fffffff ? 0 : (int)l->n, 0);
  lua_newtable(L);
  for (size_t i = 0; i < l->n; i++) {
    lua_pushstring(L, l->v[i].name);
    if (l->v[i].is_dir) {
      lua_pushvalue(L, -1);
      lua_pushliteral(L, "directory");
      lua_rawset(L, -4);
    }
    lua_rawseti(L, -3, (lua_Integer)i + 1);
  }
  listing_free(l);
  return 2;
}

/* nil, message, errno */
static int fail_errno(lua_State *L, int err) {
  luaL_pushfail(L);
  lua_pushstring(L, strerror(err));
  lua_pushinteger(L, err);
  return 3;
}

static int l_kind(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  if (stat(path, &st) != 0) return fail_errno(L, errno);
  if (S_ISREG(st.st_mode)) lua_pushliteral(L, "file");
  else if (S_ISDIR(st.st_mode)) lua_pushliteral(L, "directory");
  else lua_pushliteral(L, "other");
  return 1;
}

static int l_cwd(lua_State *L) {
  char buf[PATH_MAX];
  if (getcwd(buf, sizeof buf) == NULL) return fail_errno(L, errno);
  lua_pushstring(L, buf);
  return 1;
}

static int l_isatty(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  lua_pushboolean(L, fd >= 0 && fd <= INT_MAX && isatty((int)fd) == 1);
  return 1;
}

static const luaL_Reg funcs[] = {
  {"list", l_list},
  {"kind", l_kind},
  {"cwd", l_cwd},
  {"isatty", l_isatty},
  {NULL, NULL}
};

LUMI_API int luaopen_lumi_sys(lua_State *L) {
  if (luaL_newmetatable(L, LISTING_MT)) {
    lua_pushcfunction(L, listing_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  return 1;
}
