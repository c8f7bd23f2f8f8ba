/*
** fuzz/split.c — libFuzzer target for lumi.sql (src/sql.c): split and
** parse_ok on arbitrary bytes. Built and run by tests/long/fuzz.
**
** Each input gets a fresh Lua state that is closed at the end, so that
** everything the module allocates must be freed by the time lua_close
** returns (LeakSanitizer sees what is not).
**
** The contract checked (src/sql.c's header and l_split):
**
**   sql.split(text) -> statements | nil, err
**
**   - it never raises for a string argument: text libpg_query refuses
**     (including a NUL byte, which gets its own message and position)
**     comes back as nil, err;
**   - err is a table whose metatable is sql.Error, with a string
**     `message` and an optional integer `position`, a 1-based byte offset
**     in [1, #text + 1]; its __tostring gives a string;
**   - statements is an array of {start = i, stop = j, text = s} with
**     1 <= i <= j <= #text and s == text:sub(i, j), in order and not
**     overlapping; i is a significant byte (not a blank, not the start of
**     a comment), j is not a blank;
**   - nothing significant is dropped: what lies between and around the
**     statements is only blanks, semicolons and comments (empty
**     statements are left out, nothing else is);
**   - split and parse_ok judge the same text the same way (both are "the
**     parser accepts it"): parse_ok is true exactly when split returns
**     statements, and on failure both give the same message and position.
**
**   sql.split(text, "scanner"), where src/sql.c has it (probed at the
**   first input): the same contract for its statements and its errors,
**   and a text the parser splits, the scanner (the parser's first stage)
**   splits too.
**
** A violation prints what was wrong and abort()s: libFuzzer keeps the
** input as a crash artifact.
*/
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

#include "lumi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void violation(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void violation(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("fuzz/split: contract violation: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  abort();
}

/* PostgreSQL's whitespace, as src/sql.c counts it. */
static int is_blank(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Does s[from, to) hold only blanks, semicolons and complete comments?
** (-- to the end of the line; slash-star comments, which nest.) Written
** apart from sql.c's skip_blank on purpose: it is the contract, not the
** implementation. Returns the offset of the first offending byte, or -1. */
static long only_blanks(const char *s, size_t from, size_t to) {
  size_t i = from;
  while (i < to) {
    unsigned char c = (unsigned char)s[i];
    if (is_blank(c) || c == ';') { i++; continue; }
    if (c == '-' && i + 1 < to && s[i + 1] == '-') {
      while (i < to && s[i] != '\n' && s[i] != '\r') i++;
      continue;
    }
    if (c == '/' && i + 1 < to && s[i + 1] == '*') {
      size_t open = i, depth = 1;
      i += 2;
      while (i < to && depth > 0) {
        if (s[i] == '/' && i + 1 < to && s[i + 1] == '*') { depth++; i += 2; }
        else if (s[i] == '*' && i + 1 < to && s[i + 1] == '/') { depth--; i += 2; }
        else i++;
      }
      if (depth > 0) return (long)open;   /* a comment that does not end in the gap */
      continue;
    }
    return (long)i;
  }
  return -1;
}

/* Check an error value at index idx (the second result of split or
** parse_ok) and leave its message and position in *msg / *pos. */
static void check_error(lua_State *L, int idx, const char *who, const char *text, size_t n,
                        const char **msg, lua_Integer *pos) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE) violation("%s: the error is a %s, not a table", who, luaL_typename(L, idx));
  if (!lua_getmetatable(L, idx)) violation("%s: the error has no metatable", who);
  luaL_getmetatable(L, "lumi.sql.Error");
  if (!lua_rawequal(L, -1, -2)) violation("%s: the error's metatable is not sql.Error", who);
  lua_pop(L, 2);
  if (lua_getfield(L, idx, "message") != LUA_TSTRING) violation("%s: err.message is not a string", who);
  *msg = lua_tostring(L, -1);
  lua_pop(L, 1);                      /* still referenced by the error table */
  int t = lua_getfield(L, idx, "position");
  if (t == LUA_TNIL) {
    *pos = 0;
  } else {
    if (!lua_isinteger(L, -1)) violation("%s: err.position is a %s, not an integer", who, luaL_typename(L, -1));
    *pos = lua_tointeger(L, -1);
    if (*pos < 1 || (size_t)*pos > n + 1)
      violation("%s: err.position %lld is outside [1, %zu]", who, (long long)*pos, n + 1);
  }
  lua_pop(L, 1);
  const char *nul = memchr(text, '\0', n);
  if (nul != NULL) {
    if (strcmp(*msg, "SQL text contains a NUL byte") != 0)
      violation("%s: text with a NUL byte: message is \"%s\"", who, *msg);
    if (*pos != (lua_Integer)(nul - text) + 1)
      violation("%s: text with a NUL byte at %zu: position %lld", who, (size_t)(nul - text) + 1, (long long)*pos);
  }
  /* __tostring must work and give a string */
  const char *s = luaL_tolstring(L, idx, NULL);
  if (s == NULL || strstr(s, *msg) != s) violation("%s: tostring(err) does not start with err.message", who);
  lua_pop(L, 1);
}

/* Integer field k of the table at the top, or a violation. */
static lua_Integer int_field(lua_State *L, const char *k, lua_Integer i) {
  if (lua_getfield(L, -1, k) != LUA_TNUMBER || !lua_isinteger(L, -1))
    violation("statement %lld: `%s` is not an integer", (long long)i, k);
  lua_Integer v = lua_tointeger(L, -1);
  lua_pop(L, 1);
  return v;
}

/* Check the statements table at idx (see the contract above). */
static void check_statements(lua_State *L, int idx, const char *who, const char *text, size_t n) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE) violation("%s returned a %s", who, luaL_typename(L, idx));
  lua_Integer count = (lua_Integer)luaL_len(L, idx);
  size_t prev = 0;                                    /* 0-based end (exclusive) of the last statement */
  for (lua_Integer i = 1; i <= count; i++) {
    if (lua_rawgeti(L, idx, i) != LUA_TTABLE) violation("%s: statement %lld is not a table", who, (long long)i);
    lua_Integer start = int_field(L, "start", i), stop = int_field(L, "stop", i);
    if (lua_getfield(L, -1, "text") != LUA_TSTRING) violation("%s: statement %lld: `text` is not a string", who, (long long)i);
    size_t len;
    const char *st = lua_tolstring(L, -1, &len);
    if (start < 1 || stop < start || (size_t)stop > n)
      violation("%s: statement %lld: start %lld, stop %lld outside the text (%zu bytes)", who,
                (long long)i, (long long)start, (long long)stop, n);
    if ((size_t)(start - 1) < prev)
      violation("%s: statement %lld starts at %lld, inside or before statement %lld (ends at %zu)", who,
                (long long)i, (long long)start, (long long)i - 1, prev);
    if (len != (size_t)(stop - start + 1) || memcmp(st, text + start - 1, len) != 0)
      violation("%s: statement %lld: text is not the input's bytes %lld..%lld", who, (long long)i,
                (long long)start, (long long)stop);
    unsigned char first = (unsigned char)st[0], last = (unsigned char)st[len - 1];
    if (is_blank(first) || first == ';' || (len >= 2 && ((st[0] == '-' && st[1] == '-') || (st[0] == '/' && st[1] == '*'))))
      violation("%s: statement %lld starts with a blank, a semicolon or a comment (byte %lld)", who,
                (long long)i, (long long)start);
    if (is_blank(last)) violation("%s: statement %lld ends with a blank (byte %lld)", who, (long long)i, (long long)stop);
    long bad = only_blanks(text, prev, (size_t)start - 1);
    if (bad >= 0)
      violation("%s: byte %ld, before statement %lld, is in no statement and is neither a blank, "
                "a semicolon nor in a comment", who, bad + 1, (long long)i);
    prev = (size_t)stop;
    lua_pop(L, 2);
  }
  long bad = only_blanks(text, prev, n);
  if (bad >= 0)
    violation("%s: byte %ld, after the last statement, is in no statement and is neither a blank, "
              "a semicolon nor in a comment", who, bad + 1);
}

/* Call sql[fn](text [, how]) (the module at index sql), leaving 2 results. */
static void call(lua_State *L, int sql, const char *fn, int text, const char *how) {
  lua_getfield(L, sql, fn);
  lua_pushvalue(L, text);
  if (how != NULL) lua_pushstring(L, how);
  lua_call(L, how != NULL ? 2 : 1, 2);
}

/* Does this src/sql.c have the scanner's split (sql.split(text,
** "scanner"))? -1: not known yet. An older split ignores its second
** argument, so the probe is a text only the scanner splits. */
static int has_scanner = -1;

/* Protected: arg 1 is the text. Any error that escapes is a finding. */
static int run(lua_State *L) {
  size_t n;
  const char *text = luaL_checklstring(L, 1, &n);
  luaL_requiref(L, "lumi.sql", luaopen_lumi_sql, 0);   /* sql */
  int sql = lua_gettop(L);

  /* split, by the parser */
  call(L, sql, "split", 1, NULL);                       /* stmts|nil, err */
  int res = sql + 1;
  int split_ok = !lua_isnil(L, res);
  const char *split_msg = NULL;
  lua_Integer split_pos = 0;
  if (!split_ok) {
    check_error(L, res + 1, "split", text, n, &split_msg, &split_pos);
  } else {
    if (!lua_isnil(L, res + 1)) violation("split returned statements and a second value");
    check_statements(L, res, "split", text, n);
  }

  /* parse_ok: the same verdict */
  call(L, sql, "parse_ok", 1, NULL);                    /* ok, err */
  int ok = res + 2;
  if (!lua_isboolean(L, ok)) violation("parse_ok returned a %s", luaL_typename(L, ok));
  if (lua_toboolean(L, ok) != split_ok)
    violation("parse_ok says %s, split %s", lua_toboolean(L, ok) ? "true" : "false",
              split_ok ? "returned statements" : "returned nil, err");
  if (!split_ok) {
    const char *msg;
    lua_Integer pos;
    check_error(L, ok + 1, "parse_ok", text, n, &msg, &pos);
    if (strcmp(msg, split_msg) != 0 || pos != split_pos)
      violation("split and parse_ok disagree on the error: \"%s\" at %lld / \"%s\" at %lld",
                split_msg, (long long)split_pos, msg, (long long)pos);
  } else if (!lua_isnil(L, ok + 1)) {
    violation("parse_ok returned true and a second value");
  }

  /* split, by the scanner: the same shape of statements; and a text the
  ** parser accepts, the scanner (the parser's own first stage) accepts */
  if (has_scanner < 0) {
    lua_pushliteral(L, "SELEC 1");
    call(L, sql, "split", lua_gettop(L), "scanner");
    has_scanner = lua_istable(L, -2);
    lua_pop(L, 3);
  }
  if (has_scanner) {
    call(L, sql, "split", 1, "scanner");
    int sc = ok + 2;
    if (lua_isnil(L, sc)) {
      const char *msg;
      lua_Integer pos;
      check_error(L, sc + 1, "split(text, \"scanner\")", text, n, &msg, &pos);
      if (split_ok) violation("the parser splits the text, the scanner fails: \"%s\"", msg);
    } else {
      if (!lua_isnil(L, sc + 1)) violation("split(text, \"scanner\") returned statements and a second value");
      check_statements(L, sc, "split(text, \"scanner\")", text, n);
    }
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = luaL_newstate();
  if (L == NULL) abort();
  lua_pushcfunction(L, run);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "fuzz/split: lumi.sql raised an error: %s\n", msg != NULL ? msg : "(not a string)");
    abort();
  }
  lua_close(L);
  return 0;
}
