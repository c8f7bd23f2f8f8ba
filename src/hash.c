/*
** lumi.hash — SHA-256 of strings and files, through OpenSSL's EVP interface.
**
**   hash.sha256(s)            -> hex string
**   hash.sha256_file(path)    -> hex string | nil, message, errno
*/
#include <errno.h>
#include <stdio.h>
#include <string.h>

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

/* Digest `len` bytes at `data` (or, when f is not NULL, the whole file f)
** into hex. Returns 1 on success, 0 on an OpenSSL failure, -1 on a read
** error (errno set). */
static int digest(const char *data, size_t len, FILE *f, char *hex) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  int ok = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx == NULL) return 0;
  if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) goto done;
  if (f == NULL) {
    if (EVP_DigestUpdate(ctx, data, len) != 1) goto done;
  } else {
    char buf[CHUNK];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
      if (EVP_DigestUpdate(ctx, buf, n) != 1) goto done;
    if (ferror(f)) { ok = -1; goto done; }
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
  if (digest(s, len, NULL, hex) != 1)
    return luaL_error(L, "lumi.hash: OpenSSL could not compute SHA-256");
  lua_pushstring(L, hex);
  return 1;
}

/* hash.sha256_file(path) -> hex | nil, message, errno */
static int l_sha256_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    int e = errno;
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", path, strerror(e));
    lua_pushinteger(L, e);
    return 3;
  }
  int r = digest(NULL, 0, f, hex);
  int e = errno;
  fclose(f);
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

static const luaL_Reg funcs[] = {
  {"sha256", l_sha256},
  {"sha256_file", l_sha256_file},
  {NULL, NULL}
};

LUMI_API int luaopen_lumi_hash(lua_State *L) {
  luaL_newlib(L, funcs);
  return 1;
}
