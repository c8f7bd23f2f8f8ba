/*
** lumi.hash — SHA-256 of strings and files, through OpenSSL's EVP interface.
**
**   hash.sha256(s)            -> hex string
**   hash.sha256_file(path)    -> hex string | nil, message, errno
**   hash.start(paths [, cache]) -> job: hash many files on worker threads
**   job:wait()                -> {path = hex | false, ...}, {path = message},
**                                {hashed = n, cached = n}
**   job:cancel()              -> stop and join the workers (results dropped)
**
** The worker threads touch no Lua state: they read C copies of the paths
** and write into C buffers that job:wait() turns into Lua tables.
**
** With `cache` (a file name), the worker reads SHA-256s from that file for
** the paths whose stat data (device, inode, size, mtime and ctime to the
** nanosecond) are what they were when the file was last hashed, and hashes
** the rest; then it rewrites the file. The ctime cannot be set by a user
** (touch, utimes and tar all leave it at "now"), so an edit that keeps a
** file's size and mtime is still seen. A file whose ctime is within two
** seconds of the moment the job began is never cached, so that a later
** write stamped with the same (coarse) time cannot hide behind an unchanged
** timestamp (git's "racy" entries): two seconds cover the timestamp
** granularity of every file system Linux mounts, FAT's included.
*/
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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
** frees it. It is fetched when first needed, not when the module loads:
** the first fetch initialises OpenSSL (reading its configuration), about a
** millisecond that a job spends on its worker thread instead (a job started
** before any fetch fetches its own). */
#define MD_MT "lumi.hash.MD"

static EVP_MD *md_of(lua_State *L) {
  EVP_MD **box = lua_touserdata(L, lua_upvalueindex(1));
  if (box == NULL) luaL_error(L, "lumi.hash: no SHA-256 box");
  if (*box == NULL) *box = EVP_MD_fetch(NULL, "SHA256", NULL);
  if (*box == NULL) luaL_error(L, "lumi.hash: OpenSSL has no SHA-256 implementation");
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
#define HEX_LEN (2 * EVP_MAX_MD_SIZE + 1)
#define CACHE_HEADER "lumi checksums 1\n"
#define CACHE_MAX (64 << 20)      /* a bigger cache file is ignored */
#define RACY_NS 2000000000LL      /* files changed more recently are not cached */

typedef struct Job {
  EVP_MD *md;             /* this job's reference to SHA-256 */
  int n;                  /* number of paths */
  char **paths;           /* C copies */
  char (*hex)[HEX_LEN];
  int *err;               /* errno per path, 0 when hashed */
  char *cache;            /* the cache file, or NULL */
  struct StatKey *key;    /* stat data per path (cacheable when .ok) */
  int cached;             /* paths whose digest came from the cache */
  int cancelled;          /* set by job:cancel (atomically): workers stop */
  int nthreads;           /* threads started and not yet joined */
  pthread_t threads[MAX_WORKERS];
} Job;

typedef struct Slice { Job *job; int from, to; } Slice;

/* The stat data a cache entry is valid for: device, inode, size, mtime
** and ctime (seconds and nanoseconds), in the order the file writes them. */
typedef struct StatKey { unsigned long long v[7]; int ok; } StatKey;

static void stat_key(const struct stat *st, StatKey *k) {
  k->v[0] = (unsigned long long)st->st_dev;
  k->v[1] = (unsigned long long)st->st_ino;
  k->v[2] = (unsigned long long)st->st_size;
  k->v[3] = (unsigned long long)st->st_mtim.tv_sec;
  k->v[4] = (unsigned long long)st->st_mtim.tv_nsec;
  k->v[5] = (unsigned long long)st->st_ctim.tv_sec;
  k->v[6] = (unsigned long long)st->st_ctim.tv_nsec;
  k->ok = 1;
}

static int same_key(const StatKey *a, const StatKey *b) {
  return memcmp(a->v, b->v, sizeof a->v) == 0;
}

/* Hash one file into j->hex[i]; with `key`, also note its stat data there
** (fstat of the descriptor read, taken before reading). */
static void hash_one(Job *j, EVP_MD *md, int i, StatKey *key, const struct timespec *now) {
  /* O_NONBLOCK: a FIFO among the files must not hang the job; anything but
  ** a regular file (or a directory, which read() refuses) is an error */
  int fd = open(j->paths[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) { j->err[i] = errno ? errno : EIO; return; }
  struct stat st;
  if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
    j->err[i] = S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)
                ? EINVAL : (errno ? errno : EIO);
    close(fd);
    return;
  }
  int have_stat = key != NULL;
  int r = digest(md, NULL, 0, fd, j->hex[i]);
  if (r != 1) j->err[i] = r < 0 ? (errno ? errno : EIO) : EPROTO;
  close(fd);
  if (have_stat && r == 1 && S_ISREG(st.st_mode)) {
    /* cacheable only when the last change is at least RACY_NS old */
    long long age_ns = (long long)(now->tv_sec - st.st_ctim.tv_sec) * 1000000000LL
                       + (now->tv_nsec - st.st_ctim.tv_nsec);
    if (age_ns >= RACY_NS)
      stat_key(&st, key);
  }
}

/* ---- the checksum cache: a text file, one line per file:
**   <sha256 hex> <dev> <ino> <size> <mtime s.ns> <ctime s.ns> <path>
** read into an open-addressing table keyed by path. Anything malformed
** makes the whole file count as empty. */

typedef struct Entry { const char *path, *hex; StatKey key; int used; } Entry;
typedef struct Cache { char *buf; Entry *slots; size_t cap, count; } Cache;

static size_t path_hash(const char *s) {
  size_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static void cache_free(Cache *c) {
  free(c->buf); free(c->slots);
  c->buf = NULL; c->slots = NULL; c->cap = c->count = 0;
}

static int is_hex64(const char *s) {
  unsigned bad = 0;
  for (int i = 0; i < 64; i++) {
    unsigned char ch = (unsigned char)s[i];
    bad |= !((unsigned)(ch - '0') < 10u || (unsigned)(ch - 'a') < 6u);
  }
  return !bad;
}

/* Read a decimal number at *p into *out and step past it and the
** separator `sep` after it; 0 when there is none or it is malformed. */
static int take_number(char **p, char sep, unsigned long long *out) {
  char *q = *p;
  unsigned long long v = 0;
  int digits = 0;
  while ((unsigned)(*q - '0') < 10u && digits < 20) { v = v * 10 + (unsigned)(*q - '0'); q++; digits++; }
  if (digits == 0 || *q != sep) return 0;
  *out = v;
  *p = q + 1;
  return 1;
}

/* Load the cache file; returns 1 with c filled, 0 (c empty) otherwise. */
static int cache_load(Cache *c, const char *file) {
  memset(c, 0, sizeof *c);
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > CACHE_MAX) {
    close(fd);
    return 0;
  }
  size_t size = (size_t)st.st_size, got = 0;
  c->buf = malloc(size + 1);
  if (c->buf == NULL) { close(fd); return 0; }
  while (got < size) {
    ssize_t r = read(fd, c->buf + got, size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  c->buf[got] = '\0';
  size_t hl = strlen(CACHE_HEADER);
  if (got != size || got < hl || memcmp(c->buf, CACHE_HEADER, hl) != 0) goto bad;
  size_t lines = 0;
  for (const char *x = c->buf + hl; (x = memchr(x, '\n', (size_t)(c->buf + got - x))) != NULL; x++) lines++;
  c->cap = 16;
  while (c->cap < 2 * lines + 2) c->cap *= 2;
  c->slots = calloc(c->cap, sizeof *c->slots);
  if (c->slots == NULL) goto bad;
  char *p = c->buf + hl, *end = c->buf + got;
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL || nl - p < 66 || !is_hex64(p) || p[64] != ' ') goto bad;
    *nl = '\0';
    p[64] = '\0';
    Entry e;
    e.used = 0;
    char *q = p + 65;
    static const char seps[7] = { ' ', ' ', ' ', '.', ' ', '.', ' ' };
    for (int f = 0; f < 7; f++)                     /* dev ino size mtime ctime */
      if (!take_number(&q, seps[f], &e.key.v[f])) goto bad;
    e.key.ok = 1;
    e.path = q;
    e.hex = p;
    if (*e.path == '\0') goto bad;
    size_t h = path_hash(e.path) & (c->cap - 1);
    int twice = 0;                   /* a path listed twice: the first counts */
    while (c->slots[h].path != NULL) {
      if (strcmp(c->slots[h].path, e.path) == 0) { twice = 1; break; }
      h = (h + 1) & (c->cap - 1);
    }
    if (!twice) {
      c->slots[h] = e;
      c->count++;
    }
    p = nl + 1;
  }
  return 1;
bad:
  cache_free(c);
  return 0;
}

static Entry *cache_find(const Cache *c, const char *path) {
  if (c->cap == 0) return NULL;
  size_t h = path_hash(path) & (c->cap - 1);
  while (c->slots[h].path != NULL) {
    if (strcmp(c->slots[h].path, path) == 0) return &c->slots[h];
    h = (h + 1) & (c->cap - 1);
  }
  return NULL;
}

/* mkdir -p of the directory part of file (mode 0700: it is a user's cache). */
static void make_parents(const char *file) {
  char *d = strdup(file);
  if (d == NULL) return;
  for (char *p = d + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(d, 0700) != 0 && errno != EEXIST) { free(d); return; }
    *p = '/';
  }
  free(d);
}

/* Write the cache for this job's paths: a temporary file renamed over the
** old one, so that a reader sees the old cache or the new one, whole.
** Failing to write it only costs the next run some hashing. */
static void cache_save(Job *j) {
  make_parents(j->cache);
  size_t n = strlen(j->cache) + 32;
  char *tmp = malloc(n);
  if (tmp == NULL) return;
  snprintf(tmp, n, "%s.%ld.tmp", j->cache, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (f == NULL) {
    if (fd >= 0) { close(fd); unlink(tmp); }
    free(tmp);
    return;
  }
  int ok = fputs(CACHE_HEADER, f) >= 0;
  for (int i = 0; ok && i < j->n; i++) {
    const StatKey *k = &j->key[i];
    if (j->err[i] != 0 || !k->ok || strchr(j->paths[i], '\n') != NULL) continue;
    ok = fprintf(f, "%s %llu %llu %llu %llu.%09llu %llu.%09llu %s\n", j->hex[i],
                 k->v[0], k->v[1], k->v[2], k->v[3], k->v[4], k->v[5], k->v[6], j->paths[i]) > 0;
  }
  if (fclose(f) != 0) ok = 0;
  if (!ok || rename(tmp, j->cache) != 0) unlink(tmp);
  free(tmp);
}

/* The digest for a worker: the job's reference, or (the state had fetched
** none) one fetched here, off the main thread, on first use. */
typedef struct Digest { Job *job; EVP_MD *own; } Digest;

static EVP_MD *digest_of(Digest *d) {
  if (d->job->md != NULL) return d->job->md;
  if (d->own == NULL) d->own = EVP_MD_fetch(NULL, "SHA256", NULL);
  return d->own;
}

/* Hash path i, or record why not. */
static void hash_or_fail(Digest *d, int i, StatKey *key, const struct timespec *now) {
  EVP_MD *md = digest_of(d);
  if (md == NULL) { d->job->err[i] = EPROTO; return; }
  hash_one(d->job, md, i, key, now);
}

/* The worker of a job with a cache: stat every path, take the SHA-256 of
** those whose stat data match the cache, hash the others, save. */
static void work_cached(Job *j, Digest *d) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  Cache c;
  cache_load(&c, j->cache);
  int dirty = 0;
  size_t used = 0;                 /* distinct entries still of use */
  for (int i = 0; i < j->n; i++) {
    if (__atomic_load_n(&j->cancelled, __ATOMIC_RELAXED)) { cache_free(&c); return; }
    Entry *e = cache_find(&c, j->paths[i]);
    if (e != NULL) {
      struct stat st;
      if (stat(j->paths[i], &st) == 0) {
        StatKey key;
        stat_key(&st, &key);
        if (same_key(&key, &e->key)) {
          memcpy(j->hex[i], e->hex, 65);
          j->key[i] = key;
          if (!e->used) { e->used = 1; used++; }
          j->cached++;
          continue;
        }
      }
    }
    hash_or_fail(d, i, &j->key[i], &now);
    dirty = 1;
  }
  /* rewrite only for a change: a new or changed file, or entries gone
  ** (nothing cacheable and no old cache: nothing to write either) */
  int cacheable = 0;
  for (int i = 0; i < j->n && !cacheable; i++) cacheable = j->key[i].ok && j->err[i] == 0;
  if ((dirty || used != c.count) && (cacheable || c.count > 0)) cache_save(j);
  cache_free(&c);
}

static void *worker(void *arg) {
  Job *j = ((Slice *)arg)->job;
  int from = ((Slice *)arg)->from, to = ((Slice *)arg)->to;
  free(arg);
  Digest d = { j, NULL };
  if (j->cache != NULL) work_cached(j, &d);
  else for (int i = from; i < to && !__atomic_load_n(&j->cancelled, __ATOMIC_RELAXED); i++)
    hash_or_fail(&d, i, NULL, NULL);
  if (d.own != NULL) EVP_MD_free(d.own);
  return NULL;
}

static void job_join(Job *j) {
  for (int t = 0; t < j->nthreads; t++) pthread_join(j->threads[t], NULL);
  j->nthreads = 0;
}

static void job_cancel(Job *j) {
  __atomic_store_n(&j->cancelled, 1, __ATOMIC_RELAXED);
  job_join(j);
}

static void job_free(Job *j) {
  job_cancel(j);
  if (j->paths != NULL) {
    for (int i = 0; i < j->n; i++) free(j->paths[i]);
    free(j->paths);
  }
  free(j->hex);
  free(j->err);
  free(j->key);
  free(j->cache);
  if (j->md != NULL) EVP_MD_free(j->md);
  j->paths = NULL; j->hex = NULL; j->err = NULL; j->key = NULL; j->cache = NULL;
  j->n = 0; j->md = NULL;
}

static int job_gc(lua_State *L) {
  job_free(luaL_checkudata(L, 1, JOB_MT));
  return 0;
}

/* job:cancel() — stop the workers (each finishes the file in hand) and
** join them; the job's results are gone. A process must not exit while a
** worker runs: OpenSSL's exit handlers would pull the digest from under it. */
static int job_cancel_l(lua_State *L) {
  job_cancel(luaL_checkudata(L, 1, JOB_MT));
  return 0;
}

/* hash.start(paths [, cache]) -> job
** Starts hashing the files named in the array `paths` on worker threads and
** returns at once; the caller does other work (waits for the database) in
** the meantime. `cache`: the checksum cache file (see the top). */
static int l_start(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *cache = luaL_optstring(L, 2, NULL);
  lua_Integer n = luaL_len(L, 1);
  if (n < 0 || n > 10000000) return luaL_error(L, "hash.start: bad number of paths");
  Job *j = lua_newuserdatauv(L, sizeof *j, 0);
  memset(j, 0, sizeof *j);
  luaL_setmetatable(L, JOB_MT);
  if (n == 0) return 1;
  EVP_MD **box = lua_touserdata(L, lua_upvalueindex(1));
  if (box != NULL && *box != NULL) {
    if (EVP_MD_up_ref(*box) != 1) return luaL_error(L, "hash.start: OpenSSL refused a reference to SHA-256");
    j->md = *box;
  }
  j->paths = calloc((size_t)n, sizeof *j->paths);
  j->hex = calloc((size_t)n, sizeof *j->hex);
  j->err = calloc((size_t)n, sizeof *j->err);
  if (cache != NULL) {
    j->cache = strdup(cache);
    j->key = calloc((size_t)n, sizeof *j->key);
  }
  if (j->paths == NULL || j->hex == NULL || j->err == NULL
      || (cache != NULL && (j->cache == NULL || j->key == NULL))) {
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
  /* one worker with a cache (mostly stat calls), two for many files without */
  int workers = (cache == NULL && j->n >= 4096) ? MAX_WORKERS : 1;
  for (int t = 0; t < workers; t++) {
    Slice *s = malloc(sizeof *s);
    if (s == NULL) break;
    s->job = j;
    s->from = (int)((long long)j->n * t / workers);
    s->to = (int)((long long)j->n * (t + 1) / workers);
    if (lumi_thread_create(&j->threads[j->nthreads], NULL, worker, s) != 0) {
      /* no thread: do this slice right here */
      worker(s);
      continue;
    }
    j->nthreads++;
  }
  return 1;
}

/* job:wait() -> sums, failures, counts
** sums maps each path to its hex digest (false when it could not be read);
** failures maps the unreadable paths to a message; counts is
** {hashed = files read, cached = files whose digest came from the cache}. */
static int job_wait(lua_State *L) {
  Job *j = luaL_checkudata(L, 1, JOB_MT);
  if (j->cancelled) return luaL_error(L, "job:wait: the job was cancelled");
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
  int failed = 0;
  for (int i = 0; i < j->n; i++) failed += j->err[i] != 0;
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, j->n - j->cached - failed);
  lua_setfield(L, -2, "hashed");
  lua_pushinteger(L, j->cached);
  lua_setfield(L, -2, "cached");
  return 3;
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
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, job_wait);
    lua_setfield(L, -2, "wait");
    lua_pushcfunction(L, job_cancel_l);
    lua_setfield(L, -2, "cancel");
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
  luaL_setfuncs(L, funcs, 1);
  return 1;
}
