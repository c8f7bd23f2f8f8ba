/*
** lumi.hash — SHA-256 through OpenSSL's EVP interface.
**
**   hash.sha256(s)           -> hex string
**   hash.sha256_file(path)   -> hex string | nil, message, errno
**   hash.sha256_stream()     -> h: h:update(s) (returns h), h:hex() (ends it)
**   hash.digest(name, s)     -> hex string of another digest ("sha1",
**                               "sha384", ...: OpenSSL's names), for the
**                               checksums other tools recorded
**
** Misuse (a wrong argument) and an OpenSSL failure raise; a file that
** cannot be opened or read returns nil, message, errno, as io.open does.
*/
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "lua.h"
#include "lauxlib.h"

#include "lumi.h"

#define MD_MT "lumi.hash.MD"
#define CHUNK 65536
#define HEX_LEN (2 * EVP_MAX_MD_SIZE + 1)

/* The SHA-256 implementation, fetched once per Lua state (an implicit
** fetch in every EVP_DigestInit_ex costs more than hashing a small file)
** and owned by a userdata, upvalue 1 of every function here, whose __gc
** frees it. */
static EVP_MD *md_of(lua_State *L) {
  EVP_MD **box = lua_touserdata(L, lua_upvalueindex(1));
  if (*box == NULL) *box = EVP_MD_fetch(NULL, "SHA256", NULL);
  if (*box == NULL) luaL_error(L, "lumi.hash: OpenSSL has no SHA-256 implementation");
  return *box;
}

static int md_gc(lua_State *L) {
  EVP_MD **box = luaL_checkudata(L, 1, MD_MT);
  if (*box != NULL) { EVP_MD_free(*box); *box = NULL; }
  return 0;
}

/* An EVP_MD_CTX owned by Lua (box first, fill second): a raise between
** its creation and its end cannot leak it. */
#define CTX_MT "lumi.hash.Context"

static int ctx_gc(lua_State *L) {
  EVP_MD_CTX **box = luaL_checkudata(L, 1, CTX_MT);
  if (*box != NULL) { EVP_MD_CTX_free(*box); *box = NULL; }
  return 0;
}

/* Push a box holding a context initialised for SHA-256; returns the box. */
static EVP_MD_CTX **new_ctx(lua_State *L) {
  EVP_MD *md = md_of(L);
  EVP_MD_CTX **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  luaL_setmetatable(L, CTX_MT);
  *box = EVP_MD_CTX_new();
  if (*box == NULL || EVP_DigestInit_ex(*box, md, NULL) != 1)
    luaL_error(L, "lumi.hash: OpenSSL could not start a SHA-256 digest");
  return box;
}

/* Push the digest md (n bytes) in hex. */
static void push_hex(lua_State *L, const unsigned char *md, unsigned int n) {
  static const char digits[] = "0123456789abcdef";
  char hex[HEX_LEN];
  for (unsigned int i = 0; i < n; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  lua_pushlstring(L, hex, 2 * (size_t)n);
}

/* hash.sha256(s) -> hex   (one call into OpenSSL: nothing to own) */
static int l_sha256(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(s, len, md, &n, md_of(L), NULL) != 1) return luaL_error(L, "lumi.hash: OpenSSL could not compute SHA-256");
  push_hex(L, md, n);
  return 1;
}

/* hash.digest(name, s) -> hex   (OpenSSL's built-in digest of that name:
** a static table entry, nothing to own) */
static int l_digest(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  const EVP_MD *md_type = EVP_get_digestbyname(name);
  if (md_type == NULL) return luaL_argerror(L, 1, lua_pushfstring(L, "no digest named %s", name));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(s, len, md, &n, md_type, NULL) != 1) return luaL_error(L, "lumi.hash: OpenSSL could not compute %s", name);
  push_hex(L, md, n);
  return 1;
}

/* nil, "path: reason", errno */
static int fail_errno(lua_State *L, const char *path, int e) {
  luaL_pushfail(L);
  lua_pushfstring(L, "%s: %s", path, strerror(e));
  lua_pushinteger(L, e);
  return 3;
}

/* hash.sha256_file(path) -> hex | nil, message, errno */
static int l_sha256_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  EVP_MD_CTX **box = new_ctx(L);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno(L, path, errno);
  char buf[CHUNK];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      return fail_errno(L, path, e);
    }
    if (n == 0) break;
    if (EVP_DigestUpdate(*box, buf, (size_t)n) != 1) {
      close(fd);
      return luaL_error(L, "lumi.hash: OpenSSL could not compute SHA-256");
    }
  }
  close(fd);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(*box, md, &n) != 1) return luaL_error(L, "lumi.hash: OpenSSL could not finish SHA-256");
  EVP_MD_CTX_free(*box);                  /* now, not at the next collection */
  *box = NULL;
  push_hex(L, md, n);
  return 1;
}

/* hash.sha256_stream() -> a digest fed piece by piece */
static int l_sha256_stream(lua_State *L) {
  new_ctx(L);
  return 1;
}

static EVP_MD_CTX *check_stream(lua_State *L) {
  EVP_MD_CTX **box = luaL_checkudata(L, 1, CTX_MT);
  if (*box == NULL) luaL_error(L, "lumi.hash: this digest has ended (hex was called)");
  return *box;
}

/* h:update(s) -> h */
static int stream_update(lua_State *L) {
  EVP_MD_CTX *ctx = check_stream(L);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  if (EVP_DigestUpdate(ctx, s, len) != 1) return luaL_error(L, "lumi.hash: OpenSSL could not compute SHA-256");
  lua_settop(L, 1);
  return 1;
}

/* h:hex() -> the digest of everything given to update, in hex */
static int stream_hex(lua_State *L) {
  EVP_MD_CTX *ctx = check_stream(L);
  EVP_MD_CTX **box = lua_touserdata(L, 1);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx, md, &n) != 1) return luaL_error(L, "lumi.hash: OpenSSL could not finish SHA-256");
  EVP_MD_CTX_free(ctx);
  *box = NULL;
  push_hex(L, md, n);
  return 1;
}

static const luaL_Reg stream_methods[] = {
  {"update", stream_update},
  {"hex", stream_hex},
  {NULL, NULL}
};

static const luaL_Reg funcs[] = {
  {"sha256", l_sha256},
  {"sha256_file", l_sha256_file},
  {"sha256_stream", l_sha256_stream},
  {"digest", l_digest},
  {NULL, NULL}
};

LUMI_API int luaopen_lumi_hash(lua_State *L) {
  if (luaL_newmetatable(L, CTX_MT)) {
    lua_pushcfunction(L, ctx_gc);
    lua_setfield(L, -2, "__gc");
    luaL_newlib(L, stream_methods);
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
