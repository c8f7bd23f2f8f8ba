/*
** lumi.sql — SQL text through libpg_query (the PostgreSQL 15 parser).
**
**   sql.split(text [, how])    -> statements | nil, err   (how: "parser", "scanner")
**   sql.parse(text [, base])   -> statements with their parse trees | nil, err
**   sql.parse_ok(text)         -> true | false, err
**   sql.Error                  the metatable of err
**
** A statement is {start = i, stop = j, text = text:sub(i, j)}: 1-based byte
** offsets of its first significant byte (leading blanks and comments
** skipped) and of its last non-blank byte (the terminating ';' and the
** blanks before it left out).
**
** err is a table {message = ..., position = <1-based byte offset> | nil}
** with a __tostring. libpg_query counts its positions in characters
** (UTF-8); they are turned into byte offsets here, like every other offset
** this module hands out.
**
** Two tiers, as in lumi.pg: a wrong argument raises; text that libpg_query
** refuses comes back as nil, err (false, err for parse_ok).
**
** libpg_query needs no per-thread initialisation (pg_query_init is
** deprecated: its memory context is set up on first use, per thread) and
** catches its own errors: nothing unwinds through its frames. Each result
** is kept in a box with a __gc while Lua copies what it needs, so that a
** memory error raised by Lua on the way cannot leak it; on every other
** path it is freed before the function returns.
*/
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include "lua.h"
#include "lauxlib.h"

#include "lumi.h"

#define ERROR_MT "lumi.sql.Error"
#define BOX_MT   "lumi.sql.Box"

/* The PostgreSQL scanner allocates len + 2 bytes and refuses more than
** MaxAllocSize (1 GB - 1); its offsets are ints. */
#define MAX_TEXT ((size_t)0x3fffffff - 2)

/* ---------------------------------------------------------------------
** Results in a box
** ------------------------------------------------------------------ */

typedef struct Span { size_t start, stop; } Span;   /* 0-based, [start, stop) */

typedef struct Box {
  int has_split;
  PgQuerySplitResult split;
  int has_parse;
  PgQueryProtobufParseResult parse;
  PgQuery__ParseResult *tree;     /* parse, unpacked */
  Span *spans;            /* malloc'd, what split hands to Lua */
  size_t nspans;
} Box;

static void box_free_results(Box *b) {
  if (b->has_split) { pg_query_free_split_result(b->split); b->has_split = 0; }
  if (b->tree != NULL) { protobuf_c_message_free_unpacked(&b->tree->base, NULL); b->tree = NULL; }
  if (b->has_parse) { pg_query_free_protobuf_parse_result(b->parse); b->has_parse = 0; }
}

static void box_free(Box *b) {
  box_free_results(b);
  free(b->spans);
  b->spans = NULL;
  b->nspans = 0;
}

static int box_gc(lua_State *L) {
  box_free(luaL_checkudata(L, 1, BOX_MT));
  return 0;
}

/* Push an empty box (before anything is allocated that it must own). */
static Box *new_box(lua_State *L) {
  Box *b = lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b);
  luaL_setmetatable(L, BOX_MT);
  return b;
}

/* ---------------------------------------------------------------------
** Errors
** ------------------------------------------------------------------ */

/* Push {message = msg, position = pos} (pos 0: no position). */
static void push_error(lua_State *L, const char *msg, size_t pos) {
  lua_createtable(L, 0, 2);
  lua_pushstring(L, msg);
  lua_setfield(L, -2, "message");
  if (pos > 0) {
    lua_pushinteger(L, (lua_Integer)pos);
    lua_setfield(L, -2, "position");
  }
  luaL_setmetatable(L, ERROR_MT);
}

/* Byte length of the character at s, as PostgreSQL's pg_utf_mblen counts
** it: from the lead byte alone, 1 for anything that is not a lead byte. */
static size_t utf8_len(unsigned char c) {
  if ((c & 0x80) == 0) return 1;
  if ((c & 0xe0) == 0xc0) return 2;
  if ((c & 0xf0) == 0xe0) return 3;
  if ((c & 0xf8) == 0xf0) return 4;
  return 1;
}

/* libpg_query's cursorpos (1-based, in characters; 0 when none) -> 1-based
** byte offset in text (0 when none). The end of the text is n + 1. */
static size_t byte_position(const char *text, size_t n, int cursorpos) {
  if (cursorpos <= 0) return 0;
  size_t b = 0;
  for (int k = 1; k < cursorpos && b < n; k++) b += utf8_len((unsigned char)text[b]);
  if (b > n) b = n;
  return b + 1;
}

/* Push the error table for a libpg_query error about text. */
static void push_pgq_error(lua_State *L, const char *text, size_t n, const PgQueryError *e) {
  push_error(L, e->message != NULL ? e->message : "libpg_query failed without a message",
             byte_position(text, n, e->cursorpos));
}

/* Text libpg_query cannot take as it is: push an error table and return 1.
** It reads a C string, so a NUL byte would silently end the text there. */
static int bad_text(lua_State *L, const char *text, size_t n) {
  const char *nul = memchr(text, '\0', n);
  if (nul != NULL) {
    push_error(L, "SQL text contains a NUL byte", (size_t)(nul - text) + 1);
    return 1;
  }
  if (n > MAX_TEXT) {
    lua_pushfstring(L, "SQL text is too long for libpg_query: %I bytes (at most %I)",
                    (lua_Integer)n, (lua_Integer)MAX_TEXT);
    push_error(L, lua_tostring(L, -1), 0);
    lua_remove(L, -2);
    return 1;
  }
  return 0;
}

/* return nil, err (err on top of the stack) */
static int fail_with_top(lua_State *L) {
  luaL_pushfail(L);
  lua_insert(L, -2);
  return 2;
}

/* Error:__tostring -> "message (at byte N)" */
static int error_tostring(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "message");
  const char *msg = lua_isstring(L, -1) ? lua_tostring(L, -1) : "(no message)";
  lua_getfield(L, 1, "position");
  if (lua_isinteger(L, -1))
    lua_pushfstring(L, "%s (at byte %I)", msg, (lua_Integer)lua_tointeger(L, -1));
  else
    lua_pushstring(L, msg);
  return 1;
}

/* ---------------------------------------------------------------------
** Blanks and comments
** ------------------------------------------------------------------ */

/* PostgreSQL's whitespace ([ \t\n\r\f\v]). */
static int is_blank(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Index of the first byte of s[i, n) that is neither blank nor in a
** comment (-- to the end of the line, or slash-star comments, which nest
** in PostgreSQL); n when there is none. With semis, ';' counts as blank. */
static size_t skip_blank(const char *s, size_t i, size_t n, int semis) {
  while (i < n) {
    unsigned char c = (unsigned char)s[i];
    if (is_blank(c) || (semis && c == ';')) {
      i++;
    } else if (c == '-' && i + 1 < n && s[i + 1] == '-') {
      i += 2;
      while (i < n && s[i] != '\n' && s[i] != '\r') i++;
    } else if (c == '/' && i + 1 < n && s[i + 1] == '*') {
      size_t depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') { depth++; i += 2; }
        else if (s[i] == '*' && i + 1 < n && s[i + 1] == '/') { depth--; i += 2; }
        else i++;
      }
    } else {
      break;
    }
  }
  return i;
}

/* End (exclusive) of s[start, stop) without its trailing blanks (and
** semicolons, with semis). */
static size_t trim_end(const char *s, size_t start, size_t stop, int semis) {
  while (stop > start && (is_blank((unsigned char)s[stop - 1]) || (semis && s[stop - 1] == ';')))
    stop--;
  return stop;
}

/* ---------------------------------------------------------------------
** Splitting
** ------------------------------------------------------------------ */

/* Add s[from, to) to the spans when something significant is in it.
** A statement region from libpg_query runs from just after the previous
** ';' to just before its own. A gap between two of them holds only
** semicolons, blanks and comments (the text parsed), which are dropped. */
static void add_span(Box *b, const char *s, size_t from, size_t to, int gap) {
  size_t start = skip_blank(s, from, to, gap);
  size_t stop = trim_end(s, start, to, gap);
  if (start >= stop) return;
  b->spans[b->nspans].start = start;
  b->spans[b->nspans].stop = stop;
  b->nspans++;
}

/* Turn the split result in b into spans; 0 on success, -1 when libpg_query
** returned offsets outside the text or out of order, -2 without memory. */
static int make_spans(Box *b, const char *text, size_t n) {
  const PgQuerySplitResult *r = &b->split;
  if (r->n_stmts < 0 || (r->n_stmts > 0 && r->stmts == NULL)) return -1;
  /* a gap before each statement, the statement, a gap at the end */
  b->spans = malloc(sizeof *b->spans * (2 * (size_t)r->n_stmts + 1));
  if (b->spans == NULL) return -2;
  size_t pos = 0;
  for (int i = 0; i < r->n_stmts; i++) {
    const PgQuerySplitStmt *st = r->stmts[i];
    if (st == NULL || st->stmt_location < 0 || st->stmt_len < 0) return -1;
    size_t loc = (size_t)st->stmt_location, len = (size_t)st->stmt_len;
    if (loc < pos || loc > n || len > n - loc) return -1;
    add_span(b, text, pos, loc, 1);
    add_span(b, text, loc, loc + len, 0);
    pos = loc + len;
  }
  add_span(b, text, pos, n, 1);
  return 0;
}

/* sql.split(text [, how]) -> statements | nil, err
** statements: an array of {start = i, stop = j, text = text:sub(i, j)}, one
** per top-level statement, in order; empty statements left out. */
static int l_split(lua_State *L) {
  static const char *const hows[] = {"parser", "scanner", NULL};
  size_t n;
  const char *text = luaL_checklstring(L, 1, &n);
  int scanner = luaL_checkoption(L, 2, "parser", hows);
  if (bad_text(L, text, n)) return fail_with_top(L);
  Box *b = new_box(L);
  /* The parser's split: it knows SQL-standard function bodies (BEGIN
  ** ATOMIC ... END) that a scanner would cut at every semicolon. Text the
  ** parser rejects is not split at all (nil, err): a guess at statements
  ** of text that does not parse is how a file changes meaning. The
  ** scanner's split (twice as fast) only knows tokens: it is for finding
  ** where a piece of a large file may end. It fails on an unterminated
  ** string or comment, and on what no token can be ("1abc"). */
  b->split = scanner ? pg_query_split_with_scanner(text) : pg_query_split_with_parser(text);
  b->has_split = 1;
  if (b->split.error != NULL) {
    push_pgq_error(L, text, n, b->split.error);
    box_free(b);
    return fail_with_top(L);
  }
  int r = make_spans(b, text, n);
  box_free_results(b);
  if (r != 0) {
    box_free(b);
    if (r == -2) return luaL_error(L, "sql.split: not enough memory");
    return luaL_error(L, "sql.split: libpg_query returned statement offsets outside the text");
  }
  if (b->nspans > INT_MAX) {
    box_free(b);
    return luaL_error(L, "sql.split: too many statements");
  }
  lua_createtable(L, (int)b->nspans, 0);
  for (size_t i = 0; i < b->nspans; i++) {
    const Span *sp = &b->spans[i];
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)sp->start + 1);
    lua_setfield(L, -2, "start");
    lua_pushinteger(L, (lua_Integer)sp->stop);
    lua_setfield(L, -2, "stop");
    lua_pushlstring(L, text + sp->start, sp->stop - sp->start);
    lua_setfield(L, -2, "text");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  box_free(b);
  return 1;
}

/* ---------------------------------------------------------------------
** Parse trees
** ------------------------------------------------------------------ */

/* Deeper than this, a tree is refused rather than risk the C stack. A
** statement within PARSE_MAX_STATEMENT cannot reach it (a level takes at
** least a byte of text, two tables here): it is a safety net. */
#define MAX_DEPTH 40000

static void push_message(lua_State *L, const ProtobufCMessage *m, int depth, lua_Integer base);

/* Is f a location field ("location", "stmt_location", ...)? Those are
** byte offsets into the text, 0-based, -1 when unknown. */
static int is_location(const ProtobufCFieldDescriptor *f) {
  size_t n = strlen(f->name);
  return n >= 8 && strcmp(f->name + n - 8, "location") == 0;
}

/* Push the value at p, of field f's type (one element, for a repeated
** field); nothing pushed (returns 0) for an absent message or an unknown
** location. */
static int push_value(lua_State *L, const ProtobufCFieldDescriptor *f, const void *p, int depth, lua_Integer base) {
  switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32: {
      int32_t v = *(const int32_t *)p;
      if (is_location(f)) {
        if (v < 0) return 0;
        lua_pushinteger(L, (lua_Integer)v + 1 + base);
        return 1;
      }
      lua_pushinteger(L, v);
      return 1;
    }
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
      lua_pushinteger(L, (lua_Integer)*(const uint32_t *)p); return 1;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
      lua_pushinteger(L, (lua_Integer)*(const int64_t *)p); return 1;
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
      lua_pushinteger(L, (lua_Integer)*(const uint64_t *)p); return 1;
    case PROTOBUF_C_TYPE_BOOL:
      lua_pushboolean(L, *(const protobuf_c_boolean *)p); return 1;
    case PROTOBUF_C_TYPE_FLOAT:
      lua_pushnumber(L, *(const float *)p); return 1;
    case PROTOBUF_C_TYPE_DOUBLE:
      lua_pushnumber(L, *(const double *)p); return 1;
    case PROTOBUF_C_TYPE_ENUM: {
      int v = *(const int *)p;
      const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
      if (ev != NULL) lua_pushstring(L, ev->name); else lua_pushinteger(L, v);
      return 1;
    }
    case PROTOBUF_C_TYPE_STRING: {
      const char *str = *(char *const *)p;
      lua_pushstring(L, str != NULL ? str : "");
      return 1;
    }
    case PROTOBUF_C_TYPE_BYTES: {
      const ProtobufCBinaryData *bd = p;
      lua_pushlstring(L, (const char *)bd->data, bd->len);
      return 1;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
      const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
      if (sub == NULL) return 0;
      push_message(L, sub, depth + 1, base);
      return !lua_isnil(L, -1) || (lua_pop(L, 1), 0);
    }
  }
  return 0;
}

/* Size of one element of a repeated field of type t. */
static size_t element_size(ProtobufCType t) {
  switch (t) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: return 4;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: return 8;
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
  }
  return 0;
}

/* Push message m as a table: {node = its type, field = value, ...}, every
** field there (at its default when the parser left it so); a Node (the
** parser's union of every node type) is the table of the one it holds, or
** nil when it holds none. */
static void push_message(lua_State *L, const ProtobufCMessage *m, int depth, lua_Integer base) {
  if (depth > MAX_DEPTH) luaL_error(L, "sql.parse: the statement nests deeper than %d levels", MAX_DEPTH);
  luaL_checkstack(L, 4, "sql.parse: parse tree too deep");
  const ProtobufCMessageDescriptor *d = m->descriptor;
  if (d == &pg_query__node__descriptor) {
    const PgQuery__Node *node = (const PgQuery__Node *)m;
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, (unsigned)node->node_case);
    const ProtobufCMessage *inner = f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE
      ? *(ProtobufCMessage *const *)((const char *)m + f->offset) : NULL;
    if (inner == NULL) lua_pushnil(L);
    else push_message(L, inner, depth + 1, base);
    return;
  }
  lua_createtable(L, 0, (int)d->n_fields + 1);
  lua_pushstring(L, d->short_name);
  lua_setfield(L, -2, "node");
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    const char *member = (const char *)m + f->offset;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      if (*(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id) continue;
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t count = *(const size_t *)((const char *)m + f->quantifier_offset);
      const char *arr = *(const char *const *)member;
      size_t size = element_size(f->type);
      lua_createtable(L, count > INT_MAX ? INT_MAX : (int)count, 0);
      lua_Integer k = 0;
      for (size_t j = 0; j < count && arr != NULL; j++) {
        if (push_value(L, f, arr + j * size, depth, base)) lua_rawseti(L, -2, ++k);
      }
    } else if (!push_value(L, f, member, depth, base)) {
      continue;
    }
    lua_setfield(L, -2, f->name);
  }
}

/* libpg_query writes the tree out, and protobuf-c reads it back, by a
** recursion of about 2 KB of stack per level of nesting, and a chain such
** as 1 + 1 + ... nests a level per operator: a statement longer than this
** is refused (the lumi binary keeps 64 MB of stack for what this allows). */
#define PARSE_MAX_STATEMENT 16384

/* sql.parse(text [, base]) -> statements | nil, err
** statements: for each top-level statement, in order, {start = i, stop =
** j, text = text:sub(i, j), tree = node}: start and stop as sql.split
** gives them, tree the statement's parse tree (see push_message), its
** location fields 1-based byte offsets into text, plus base (default 0:
** for a statement cut from a larger text, its offset there). A statement
** longer than 16 KB is refused (err.too_large = true), found by the
** parser's split first, which writes no tree. */
static int l_parse(lua_State *L) {
  size_t n;
  const char *text = luaL_checklstring(L, 1, &n);
  lua_Integer base = luaL_optinteger(L, 2, 0);
  if (bad_text(L, text, n)) return fail_with_top(L);
  Box *b = new_box(L);
  b->split = pg_query_split_with_parser(text);
  b->has_split = 1;
  if (b->split.error != NULL) {
    push_pgq_error(L, text, n, b->split.error);
    box_free(b);
    return fail_with_top(L);
  }
  for (int i = 0; i < b->split.n_stmts; i++) {
    const PgQuerySplitStmt *st = b->split.stmts[i];
    if (st != NULL && st->stmt_len > PARSE_MAX_STATEMENT) {
      size_t at = st->stmt_location < 0 ? 0 : (size_t)st->stmt_location;
      int len = st->stmt_len;
      at = skip_blank(text, at, n, 0);
      box_free(b);                                  /* st is gone with it */
      lua_pushfstring(L, "a statement of %d bytes: too large for a parse tree (at most %d)",
                      len, PARSE_MAX_STATEMENT);
      push_error(L, lua_tostring(L, -1), at + 1);
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "too_large");
      lua_remove(L, -2);
      return fail_with_top(L);
    }
  }
  box_free_results(b);
  b->parse = pg_query_parse_protobuf(text);
  b->has_parse = 1;
  if (b->parse.error != NULL) {
    push_pgq_error(L, text, n, b->parse.error);
    box_free(b);
    return fail_with_top(L);
  }
  b->tree = pg_query__parse_result__unpack(NULL, b->parse.parse_tree.len, (const uint8_t *)b->parse.parse_tree.data);
  if (b->tree == NULL) {
    box_free(b);
    return luaL_error(L, "sql.parse: could not read libpg_query's parse tree");
  }
  const PgQuery__ParseResult *r = b->tree;
  lua_createtable(L, r->n_stmts > INT_MAX ? INT_MAX : (int)r->n_stmts, 0);
  lua_Integer k = 0;
  for (size_t i = 0; i < r->n_stmts; i++) {
    const PgQuery__RawStmt *raw = r->stmts[i];
    if (raw == NULL || raw->stmt == NULL || raw->stmt_location < 0 || raw->stmt_len < 0
        || (size_t)raw->stmt_location > n) continue;
    size_t loc = (size_t)raw->stmt_location;
    size_t end = raw->stmt_len == 0 ? n : loc + (size_t)raw->stmt_len;
    if (end > n) end = n;
    size_t start = skip_blank(text, loc, end, 0);
    size_t stop = trim_end(text, start, end, 0);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)start + 1 + base);
    lua_setfield(L, -2, "start");
    lua_pushinteger(L, (lua_Integer)stop + base);
    lua_setfield(L, -2, "stop");
    lua_pushlstring(L, text + start, stop - start);
    lua_setfield(L, -2, "text");
    push_message(L, &raw->stmt->base, 0, base);
    lua_setfield(L, -2, "tree");
    lua_rawseti(L, -2, ++k);
  }
  box_free(b);
  return 1;
}

/* ---------------------------------------------------------------------
** Validation
** ------------------------------------------------------------------ */

/* sql.parse_ok(text) -> true | false, err
** Whether the PostgreSQL 15 grammar accepts text (every statement in it).
** Only the grammar: names, types and permissions are the server's. */
static int l_parse_ok(lua_State *L) {
  size_t n;
  const char *text = luaL_checklstring(L, 1, &n);
  if (bad_text(L, text, n)) {
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
  }
  Box *b = new_box(L);
  /* The parser's split runs the grammar over every statement, which is
  ** all this asks; pg_query_parse would also turn the tree into JSON, by a
  ** recursion that a deeply nested expression overflows. */
  b->split = pg_query_split_with_parser(text);
  b->has_split = 1;
  if (b->split.error != NULL) {
    lua_pushboolean(L, 0);
    push_pgq_error(L, text, n, b->split.error);
    box_free(b);
    return 2;
  }
  box_free(b);
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg funcs[] = {
  {"split", l_split},
  {"parse", l_parse},
  {"parse_ok", l_parse_ok},
  {NULL, NULL}
};

LUMI_API int luaopen_lumi_sql(lua_State *L) {
  luaL_newlib(L, funcs);

  if (luaL_newmetatable(L, BOX_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);

  if (luaL_newmetatable(L, ERROR_MT)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_setfield(L, -2, "Error");           /* sql.Error: the error metatable */
  return 1;
}
