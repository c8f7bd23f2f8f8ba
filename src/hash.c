/*
** lumi.hash — SHA-256 of strings and files, through OpenSSL's EVP interface.
**
**   hash.sha256(s)            -> hex string
**   hash.sha256_file(path)    -> hex string | nil, message, errno
**   hash.start(paths)         -> job: hash many files on worker threads
**   job:wait()                -> {path = hex | false, ...}, {path = message}
**
** The worker threads touch no Lua state: they read C copies of the paths
** and write into C buffers that job:wait() turns into Lua tables.
*/
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "lua.h"
#include "lauxlib.h"

#include "lumi.h"

#define CHUNK 32768

static void to_hex(const unsigned char *md, unsigned int n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (unsigned int i = 0; i < n; i++) {
    out[2 * i] = digits[md[i] >> 4];
    out[2 * i + 1] = digits[md[i] & 15];
  }
  out[2 * n] = '\0';
}

/* The SHA-256 implementation is fetched once per Lua state (an implicit
** fetch on every EVP_DigestInit_ex costs more than hashing a small file)
** and kept in a userdata, upvalue 1 of every function here, whose __gc
** frees it. A job takes its own reference for its worker threads. */
#define MD_MT "lumi.hash.MD"

static EVP_MD *md_of(lua_State *L) {
  EVP_MD **box = lua_touserdata(L, lua_upvalueindex(1));
  if (box == NULL || *box == NULL) luaL_error(L, "lumi.hash: OpenSSL has no SHA-256");
  return *box;
}

static int md_gc(lua_State *L) {
  EVP_MD **box = luaL_checkudata(L, 1, MD_MT);
  if (*box != NULL) { EVP_MD_free(*box); *box = NULL; }
  return 0;
}

/* Digest `len` bytes at `data` (or, when fd >= 0, everything read from fd)
** into hex. Returns 1 on success, 0 on an OpenSSL failure, -1 on a read
** error (errno set). */
static int digest(EVP_MD *alg, const char *data, size_t len, int fd, char *hex) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  int ok = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx == NULL) return 0;
  if (EVP_DigestInit_ex(ctx, alg, NULL) != 1) goto done;
  if (fd < 0) {
    if (EVP_DigestUpdate(ctx, data, len) != 1) goto done;
  } else {
    char buf[CHUNK];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        ok = -1;
        goto done;
      }
      if (n == 0) break;
      if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) goto done;
    }
  }
  if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1) goto done;
  to_hex(md, mdlen, hex);
  ok = 1;
done:
  EVP_MD_CTX_free(ctx);
  return ok;
}

/* hash.sha256(s) -> hex */
static int l_sha256(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  if (digest(md_of(L), s, len, -1, hex) != 1)
    return luaL_error(L, "lumi.hash: OpenSSL could not compute SHA-256");
  lua_pushstring(L, hex);
  return 1;
}

/* hash.sha256_file(path) -> hex | nil, message, errno */
static int l_sha256_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", path, strerror(e));
    lua_pushinteger(L, e);
    return 3;
  }
  int r = digest(md_of(L), NULL, 0, fd, hex);
  int e = errno;
  close(fd);
  if (r == 0) return luaL_error(L, "lumi.hash: OpenSSL could not compute SHA-256");
  if (r < 0) {
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", path, strerror(e));
    lua_pushinteger(L, e);
    return 3;
  }
  lua_pushstring(L, hex);
  return 1;
}

/* ---------------------------------------------------------------------
** Background hashing of many files
** ------------------------------------------------------------------ */

#define JOB_MT "lumi.hash.Job"
#define MAX_WORKERS 2

typedef struct Job {
  EVP_MD *md;             /* this job's reference to SHA-256 */
  int n;                  /* number of paths */
  char **paths;           /* C copies */
  char (*hex)[2 * EVP_MAX_MD_SIZE + 1];
  int *err;               /* errno per path, 0 when hashed */
  int nthreads;           /* threads started and not yet joined */
  pthread_t threads[MAX_WORKERS];
  int first[MAX_WORKERS + 1];
} Job;

typedef struct Slice { Job *job; int from, to; } Slice;

static void *worker(void *arg) {
  Job *j = ((Slice *)arg)->job;
  int from = ((Slice *)arg)->from, to = ((Slice *)arg)->to;
  free(arg);
  for (int i = from; i < to; i++) {
    int fd = open(j->paths[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0) { j->err[i] = errno ? errno : EIO; continue; }
    int r = digest(j->md, NULL, 0, fd, j->hex[i]);
    if (r != 1) j->err[i] = r < 0 ? (errno ? errno : EIO) : EPROTO;
    close(fd);
  }
  return NULL;
}

static void job_join(Job *j) {
  for (int t = 0; t < j->nthreads; t++) pthread_join(j->threads[t], NULL);
  j->nthreads = 0;
}

static void job_free(Job *j) {
  job_join(j);
  if (j->paths != NULL) {
    for (int i = 0; i < j->n; i++) free(j->paths[i]);
    free(j->paths);
  }
  free(j->hex);
  free(j->err);
  if (j->md != NULL) EVP_MD_free(j->md);
  j->paths = NULL; j->hex = NULL; j->err = NULL; j->n = 0; j->md = NULL;
}

static int job_gc(lua_State *L) {
  job_free(luaL_checkudata(L, 1, JOB_MT));
  return 0;
}

/* hash.start(paths) -> job
** Starts hashing the files named in the array `paths` on worker threads and
** returns at once; the caller does other work (waits for the database) in
** the meantime. */
static int l_start(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer n = luaL_len(L, 1);
  if (n < 0 || n > 10000000) return luaL_error(L, "hash.start: bad number of paths");
  Job *j = lua_newuserdatauv(L, sizeof *j, 0);
  memset(j, 0, sizeof *j);
  luaL_setmetatable(L, JOB_MT);
  if (n == 0) return 1;
  EVP_MD *md = md_of(L);
  if (EVP_MD_up_ref(md) != 1) return luaL_error(L, "hash.start: OpenSSL refused a reference to SHA-256");
  j->md = md;
  j->paths = calloc((size_t)n, sizeof *j->paths);
  j->hex = calloc((size_t)n, sizeof *j->hex);
  j->err = calloc((size_t)n, sizeof *j->err);
  if (j->paths == NULL || j->hex == NULL || j->err == NULL) {
    job_free(j);
    return luaL_error(L, "hash.start: not enough memory");
  }
  j->n = (int)n;
  for (int i = 0; i < j->n; i++) {
    lua_rawgeti(L, 1, i + 1);
    const char *p = lua_tostring(L, -1);
    if (p == NULL) {
      job_free(j);
      return luaL_error(L, "hash.start: paths[%d] is not a string", i + 1);
    }
    j->paths[i] = strdup(p);
    lua_pop(L, 1);
    if (j->paths[i] == NULL) {
      job_free(j);
      return luaL_error(L, "hash.start: not enough memory");
    }
  }
  int workers = j->n >= 4096 ? MAX_WORKERS : 1;
  for (int t = 0; t < workers; t++) {
    Slice *s = malloc(sizeof *s);
    if (s == NULL) break;
    s->job = j;
    s->from = (int)((long long)j->n * t / workers);
    s->to = (int)((long long)j->n * (t + 1) / workers);
    if (pthread_create(&j->threads[j->nthreads], NULL, worker, s) != 0) {
      /* no thread: do this slice right here */
      worker(s);
      continue;
    }
    j->nthreads++;
  }
  return 1;
}

/* job:wait() -> sums, failures
** sums maps each path to its hex digest (false when it could not be read);
** failures maps the unreadable paths to a message. */
static int job_wait(lua_State *L) {
  Job *j = luaL_checkudata(L, 1, JOB_MT);
  job_join(j);
  lua_createtable(L, 0, j->n);
  lua_newtable(L);
  for (int i = 0; i < j->n; i++) {
    if (j->err[i] == 0) {
      lua_pushstring(L, j->hex[i]);
      lua_setfield(L, -3, j->paths[i]);
    } else {
      lua_pushboolean(L, 0);
      lua_setfield(L, -3, j->paths[i]);
      lua_pushfstring(L, "%s: %s", j->paths[i], strerror(j->err[i]));
      lua_setfield(L, -2, j->paths[i]);
    }
  }
  return 2;
}

static const luaL_Reg funcs[] = {
  {"start", l_start},
  {"sha256", l_sha256},
  {"sha256_file", l_sha256_file},
  {NULL, NULL}
};

LUMI_API int luaopen_lumi_hash(lua_State *L) {
  if (luaL_newmetatable(L, JOB_MT)) {
    lua_pushcfunction(L, job_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, job_gc);
    lua_setfield(L, -2, "__close");
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, job_wait);
    lua_setfield(L, -2, "wait");
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  luaL_newlibtable(L, funcs);
  EVP_MD **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  if (luaL_newmetatable(L, MD_MT)) {
    lua_pushcfunction(L, md_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  *box = EVP_MD_fetch(NULL, "SHA256", NULL);
  if (*box == NULL) return luaL_error(L, "lumi.hash: OpenSSL has no SHA-256 implementation");
  luaL_setfuncs(L, funcs, 1);
  return 1;
}
