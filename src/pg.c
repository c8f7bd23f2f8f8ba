/*
** lumi.pg — PostgreSQL through libpq.
**
** Two tiers of failure, as in Lua's own io library:
**   - misuse (a wrong argument, a closed or busy connection) raises;
**   - a server or network failure returns nil, err where err is a table
**     with the fields of the server's error report and a readable
**     __tostring (metatable pg.Error).
** The row iterator is the one exception: a `for` loop has no place for
** nil, err, so it raises the same error table.
**
** No Lua code runs inside a libpq callback, and nothing unwinds through a
** libpq frame. Every PGresult is owned by a box on the Lua stack from the
** moment it exists (see "Results owned by Lua"). Notices are copied by the
** notice receiver and handed to Lua by conn:notices().
*/
#include <errno.h>
#include <poll.h>
#include <time.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "lua.h"
#include "lauxlib.h"

#include "lumi.h"

#define CONN_MT  "lumi.pg.Connection"
#define ROWS_MT  "lumi.pg.Rows"
#define ERROR_MT "lumi.pg.Error"
#define NULL_KEY "lumi.pg.null"

/* PostgreSQL type OIDs (server/catalog/pg_type.h) that map to Lua types. */
#define BOOLOID   16
#define INT8OID   20
#define INT2OID   21
#define INT4OID   23
#define OIDOID    26
#define FLOAT4OID 700
#define FLOAT8OID 701

/* ---------------------------------------------------------------------
** Connection box
** ------------------------------------------------------------------ */

typedef struct Notice {
  struct Notice *next;
  char *severity, *sqlstate, *message, *detail, *hint;
} Notice;

typedef struct Rows Rows;

typedef struct Conn {
  PGconn *pg;           /* NULL once closed */
  Notice *notices;      /* collected by the receiver, oldest first */
  Notice **tail;
  Rows *streaming;      /* the open row iterator, if any */
  int awaiting;         /* a query sent by conn:send, result not yet taken */
  PGcancel *cancel;     /* its entry in the interrupt handler's list */
} Conn;

struct Rows {
  Conn *conn;           /* NULL once finished */
};

static char *dup_or_null(const char *s) {
  if (s == NULL) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d != NULL) memcpy(d, s, n);
  return d;
}

static void free_notice(Notice *n) {
  free(n->severity); free(n->sqlstate); free(n->message);
  free(n->detail); free(n->hint); free(n);
}

static void free_notices(Conn *c) {
  Notice *n = c->notices;
  while (n != NULL) { Notice *next = n->next; free_notice(n); n = next; }
  c->notices = NULL;
  c->tail = &c->notices;
}

/* libpq notice receiver: copy the fields, run no Lua. A notice that cannot
** be copied for lack of memory is dropped. */
static void on_notice(void *arg, const PGresult *res) {
  Conn *c = arg;
  Notice *n = calloc(1, sizeof *n);
  if (n == NULL) return;
  n->severity = dup_or_null(PQresultErrorField(res, PG_DIAG_SEVERITY));
  n->sqlstate = dup_or_null(PQresultErrorField(res, PG_DIAG_SQLSTATE));
  n->message = dup_or_null(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
  n->detail = dup_or_null(PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));
  n->hint = dup_or_null(PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
  *c->tail = n;
  c->tail = &n->next;
}

/* ---------------------------------------------------------------------
** Interrupts: with pg.cancel_on_interrupt, SIGINT or SIGTERM sends a
** cancel request for the statement running on every open connection (as
** psql does on Ctrl-C), so that the server rolls it back now rather than
** running it to its end after the client has gone. Then the process ends
** as the signal would, unless Lua has asked to wind down by itself
** (pg.defer_interrupts(true): a run that changes the database, which
** records the failure and releases its lock); pg.interrupted() tells it.
** A second signal, or one that finds no connection open, always ends the
** process.
**
** The list is changed with both signals blocked, so the handler never
** sees it half changed.
** ------------------------------------------------------------------ */

#define MAX_CANCELS 32
static PGcancel *cancels[MAX_CANCELS];
static volatile sig_atomic_t interrupted_by;
static volatile sig_atomic_t deferring;      /* pg.defer_interrupts */

/* Block SIGINT and SIGTERM; *old gets the mask to restore. 1 on success. */
static int block_interrupts(sigset_t *old) {
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  return sigprocmask(SIG_BLOCK, &block, old) == 0;
}

/* c has just connected: its cancel handle joins the list. */
static void track_cancel(Conn *c) {
  if (c->cancel != NULL || c->pg == NULL) return;
  PGcancel *k = PQgetCancel(c->pg);
  if (k == NULL) return;
  sigset_t old;
  int blocked = block_interrupts(&old);
  for (int i = 0; i < MAX_CANCELS; i++)
    if (cancels[i] == NULL) { cancels[i] = k; c->cancel = k; break; }
  if (blocked) sigprocmask(SIG_SETMASK, &old, NULL);
  if (c->cancel == NULL) PQfreeCancel(k);      /* list full: not cancellable */
}

static void untrack_cancel(Conn *c) {
  if (c->cancel == NULL) return;
  sigset_t old;
  int blocked = block_interrupts(&old);
  for (int i = 0; i < MAX_CANCELS; i++)
    if (cancels[i] == c->cancel) cancels[i] = NULL;
  if (blocked) sigprocmask(SIG_SETMASK, &old, NULL);
  PQfreeCancel(c->cancel);
  c->cancel = NULL;
}

static void on_interrupt(int sig) {
  int saved = errno;
  int any = 0;
  if (!interrupted_by) {
    interrupted_by = sig;
    for (int i = 0; i < MAX_CANCELS; i++) {
      if (cancels[i] == NULL) continue;
      char buf[256];
      (void)PQcancel(cancels[i], buf, sizeof buf);   /* async-signal-safe */
      any = 1;
    }
  }
  if (!any || !deferring) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    raise(sig);              /* delivered, and fatal, when the handler returns */
  }
  errno = saved;
}

/* pg.cancel_on_interrupt() — install the handler for SIGINT and SIGTERM,
** except for a signal the process was started with ignored (a background
** job of a non-interactive shell ignores SIGINT, and so does lumi then). */
static int l_cancel_on_interrupt(lua_State *L) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGINT);
  sigaddset(&sa.sa_mask, SIGTERM);
  sa.sa_flags = SA_RESTART;
  const int sigs[] = {SIGINT, SIGTERM};
  for (int i = 0; i < 2; i++) {
    struct sigaction old;
    if (sigaction(sigs[i], NULL, &old) != 0 || (old.sa_handler != SIG_IGN && sigaction(sigs[i], &sa, NULL) != 0))
      return luaL_error(L, "cannot install the interrupt handler: %s", strerror(errno));
  }
  return 0;
}

/* pg.defer_interrupts(on) — while on, a first signal cancels the running
** statements and leaves the process to Lua (see above). */
static int l_defer_interrupts(lua_State *L) {
  deferring = lua_toboolean(L, 1);
  return 0;
}

/* pg.interrupted() -> "SIGINT" | "SIGTERM" | nil */
static int l_interrupted(lua_State *L) {
  int sig = interrupted_by;
  if (sig == SIGINT) lua_pushliteral(L, "SIGINT");
  else if (sig == SIGTERM) lua_pushliteral(L, "SIGTERM");
  else lua_pushnil(L);
  return 1;
}

static Conn *checkconn(lua_State *L, int idx) {
  Conn *c = luaL_checkudata(L, idx, CONN_MT);
  if (c->pg == NULL) luaL_error(L, "attempt to use a closed connection");
  return c;
}

static Conn *checkidle(lua_State *L, int idx) {
  Conn *c = checkconn(L, idx);
  if (c->streaming != NULL)
    luaL_error(L, "connection is busy: a row iterator over it is still open "
                  "(finish the loop or close the iterator first)");
  if (c->awaiting)
    luaL_error(L, "connection is busy: take the result of conn:send with conn:receive first");
  return c;
}

/* ---------------------------------------------------------------------
** Errors
** ------------------------------------------------------------------ */

static void setfield_str(lua_State *L, const char *k, const char *v) {
  if (v == NULL) return;
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

static void setfield_int(lua_State *L, const char *k, const char *v) {
  if (v != NULL) { lua_pushinteger(L, strtol(v, NULL, 10)); lua_setfield(L, -2, k); }
}

/* Strip the trailing newline libpq leaves on its messages. */
static void push_trimmed(lua_State *L, const char *s) {
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ')) n--;
  lua_pushlstring(L, s, n);
}

/* Push an error table built from a failed result. */
static void push_result_error(lua_State *L, const PGresult *res, PGconn *pg) {
  lua_createtable(L, 0, 14);
  setfield_str(L, "severity", PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED));
  if (PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED) == NULL)
    setfield_str(L, "severity", PQresultErrorField(res, PG_DIAG_SEVERITY));
  setfield_str(L, "sqlstate", PQresultErrorField(res, PG_DIAG_SQLSTATE));
  /* libpq's own result for a connection that went away has no SQLSTATE
  ** (and a failed write leaves the status OK until input is read: reading
  ** finds the end): 08006 connection_failure, as push_conn_error says */
  if (PQresultErrorField(res, PG_DIAG_SQLSTATE) == NULL
      && (PQstatus(pg) == CONNECTION_BAD || !PQconsumeInput(pg) || PQstatus(pg) == CONNECTION_BAD))
    setfield_str(L, "sqlstate", "08006");
  const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  if (msg != NULL) setfield_str(L, "message", msg);
  else {
    push_trimmed(L, PQresultErrorMessage(res));
    lua_setfield(L, -2, "message");
  }
  setfield_str(L, "detail", PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));
  setfield_str(L, "hint", PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
  setfield_int(L, "position", PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION));
  setfield_int(L, "internal_position", PQresultErrorField(res, PG_DIAG_INTERNAL_POSITION));
  setfield_str(L, "internal_query", PQresultErrorField(res, PG_DIAG_INTERNAL_QUERY));
  setfield_str(L, "where", PQresultErrorField(res, PG_DIAG_CONTEXT));
  setfield_str(L, "schema", PQresultErrorField(res, PG_DIAG_SCHEMA_NAME));
  setfield_str(L, "table", PQresultErrorField(res, PG_DIAG_TABLE_NAME));
  setfield_str(L, "column", PQresultErrorField(res, PG_DIAG_COLUMN_NAME));
  setfield_str(L, "datatype", PQresultErrorField(res, PG_DIAG_DATATYPE_NAME));
  setfield_str(L, "constraint", PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME));
  luaL_setmetatable(L, ERROR_MT);
}

/* Push an error table for a failure with no result: a lost connection,
** a refused connection, a failed send. */
static void push_conn_error(lua_State *L, PGconn *pg, const char *fallback) {
  const char *m = pg != NULL ? PQerrorMessage(pg) : NULL;
  lua_createtable(L, 0, 3);
  lua_pushliteral(L, "FATAL");
  lua_setfield(L, -2, "severity");
  /* 08006 connection_failure, 08001 unable to establish a connection */
  if (pg == NULL || PQstatus(pg) == CONNECTION_BAD) {
    lua_pushliteral(L, "08006");
    lua_setfield(L, -2, "sqlstate");
  }
  push_trimmed(L, (m != NULL && *m) ? m : fallback);
  lua_setfield(L, -2, "message");
  luaL_setmetatable(L, ERROR_MT);
}

/* return nil, err (err on top of the stack) */
static int fail_with_top(lua_State *L) {
  luaL_pushfail(L);
  lua_insert(L, -2);
  return 2;
}

/* Error:__tostring -> "ERROR 42P01: message\nDETAIL: ...\nHINT: ..." */
static int error_tostring(lua_State *L) {
  luaL_Buffer b;
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_buffinit(L, &b);
  lua_getfield(L, 1, "severity");
  luaL_addstring(&b, lua_isstring(L, -1) ? lua_tostring(L, -1) : "ERROR");
  lua_pop(L, 1);
  lua_getfield(L, 1, "sqlstate");
  if (lua_isstring(L, -1)) { luaL_addchar(&b, ' '); luaL_addstring(&b, lua_tostring(L, -1)); }
  lua_pop(L, 1);
  luaL_addstring(&b, ": ");
  lua_getfield(L, 1, "message");
  luaL_addstring(&b, lua_isstring(L, -1) ? lua_tostring(L, -1) : "(no message)");
  lua_pop(L, 1);
  static const char *const extra[][2] = {{"detail", "DETAIL"}, {"hint", "HINT"}, {"where", "CONTEXT"}};
  for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
    lua_getfield(L, 1, extra[i][0]);
    if (lua_isstring(L, -1)) {
      luaL_addchar(&b, '\n');
      luaL_addstring(&b, extra[i][1]);
      luaL_addstring(&b, ": ");
      luaL_addstring(&b, lua_tostring(L, -1));
    }
    lua_pop(L, 1);
  }
  luaL_pushresult(&b);
  return 1;
}

/* ---------------------------------------------------------------------
** Values
** ------------------------------------------------------------------ */

/* The string at idx, refusing an embedded NUL: libpq takes C strings, and
** everything after a NUL would silently not be sent. */
static const char *check_text(lua_State *L, int idx, const char *what) {
  size_t n;
  const char *s = luaL_checklstring(L, idx, &n);
  size_t z = strlen(s);
  if (z != n)
    luaL_error(L, "%s contains a NUL byte (at byte %d): PostgreSQL cannot take it", what, (int)z + 1);
  return s;
}

static void push_null(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, NULL_KEY);
}

static int is_null(lua_State *L, int idx) {
  if (lua_isnil(L, idx)) return 1;
  push_null(L);
  int r = lua_rawequal(L, idx < 0 ? idx - 1 : idx, -1);
  lua_pop(L, 1);
  return r;
}

/* Push field (row, col) of res as a typed Lua value. */
static void push_value(lua_State *L, const PGresult *res, int row, int col) {
  if (PQgetisnull(res, row, col)) { push_null(L); return; }
  const char *v = PQgetvalue(res, row, col);
  int len = PQgetlength(res, row, col);
  switch (PQftype(res, col)) {
    case BOOLOID:
      lua_pushboolean(L, v[0] == 't');
      return;
    case INT2OID: case INT4OID: case INT8OID: case OIDOID:
      if (lua_stringtonumber(L, v) != 0) return;
      break;
    case FLOAT4OID: case FLOAT8OID: {
      char *end;
      errno = 0;
      double d = strtod(v, &end);
      if (*end == '\0' && end != v) { lua_pushnumber(L, d); return; }
      break;
    }
    default:
      break;
  }
  lua_pushlstring(L, v, (size_t)len);
}

/* Push the array of column names of res. */
static void push_columns(lua_State *L, const PGresult *res) {
  int n = PQnfields(res);
  lua_createtable(L, n, 0);
  for (int j = 0; j < n; j++) {
    lua_pushstring(L, PQfname(res, j));
    lua_rawseti(L, -2, j + 1);
  }
}

/* Push row `row` of res as a table keyed by column name. `names` is the
** stack index of the array of column names (push_columns), or 0. */
static void push_row_named(lua_State *L, const PGresult *res, int row, int names) {
  int n = PQnfields(res);
  lua_createtable(L, 0, n);
  for (int j = 0; j < n; j++) {
    if (names) {
      lua_rawgeti(L, names, j + 1);       /* the name, made once per result */
      push_value(L, res, row, j);
      lua_rawset(L, -3);
    } else {
      push_value(L, res, row, j);
      lua_setfield(L, -2, PQfname(res, j));
    }
  }
}

static void push_affected(lua_State *L, PGresult *res) {
  const char *t = PQcmdTuples(res);
  if (t != NULL && *t) lua_pushinteger(L, strtoll(t, NULL, 10));
  else lua_pushinteger(L, 0);
}

/* Convert the Lua values at stack indices first..last into text parameters.
** The strings stay on the stack (pushed after `last`) until the caller
** returns; the pointer array lives in a userdata, so a raise frees it. */
static const char *const *collect_params(lua_State *L, int first, int last, int *nparams) {
  int n = last >= first ? last - first + 1 : 0;
  *nparams = n;
  if (n == 0) return NULL;
  if (n > 65535) luaL_error(L, "too many query parameters (%d; PostgreSQL takes at most 65535)", n);
  const char **values = lua_newuserdatauv(L, sizeof(char *) * (size_t)n, 0);
  luaL_checkstack(L, n, "too many query parameters");
  for (int i = 0; i < n; i++) {
    int idx = first + i;
    switch (lua_type(L, idx)) {
      case LUA_TNIL:
        values[i] = NULL;
        break;
      case LUA_TBOOLEAN:
        values[i] = lua_toboolean(L, idx) ? "t" : "f";
        break;
      case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
          values[i] = lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, idx));
        } else {
          double d = lua_tonumber(L, idx);
          if (isnan(d)) values[i] = "NaN";
          else if (isinf(d)) values[i] = d > 0 ? "Infinity" : "-Infinity";
          else {
            char buf[64];
            snprintf(buf, sizeof buf, "%.17g", d);
            values[i] = lua_pushstring(L, buf);
          }
        }
        break;
      case LUA_TSTRING: {
        size_t len;
        const char *v = lua_tolstring(L, idx, &len);
        if (strlen(v) != len)
          luaL_error(L, "query parameter $%d contains a NUL byte: send binary data as hex or base64 text", i + 1);
        values[i] = v;
        break;
      }
      default:
        if (is_null(L, idx)) { values[i] = NULL; break; }
        luaL_error(L, "bad query parameter $%d: cannot send a %s (send a string, number, boolean, nil or pg.null)",
                   i + 1, luaL_typename(L, idx));
    }
  }
  return values;
}

/* ---------------------------------------------------------------------
** Results owned by Lua
**
** Every PGresult (and anything else libpq allocates for us) goes into a
** box on the stack before anything that can raise runs, as Lua's liolib
** does with its files: a memory error while rows are pushed unwinds
** through the box's __gc instead of leaking the result. One box serves a
** whole call (each result is cleared before the next is put in it) and is
** removed from the stack before the call returns.
** ------------------------------------------------------------------ */

#define OWNED_MT "lumi.pg.Owned"

typedef struct Owned {
  void *p;                    /* NULL when empty */
  void (*release)(void *);
} Owned;

static void release_result(void *p) { PQclear(p); }
static void release_options(void *p) { PQconninfoFree(p); }
static void release_mem(void *p) { PQfreemem(p); }

static void owned_clear(Owned *o) {
  if (o->p != NULL) { o->release(o->p); o->p = NULL; }
}

static int owned_gc(lua_State *L) {
  owned_clear(luaL_checkudata(L, 1, OWNED_MT));
  return 0;
}

/* Push an empty box whose contents `release` frees. */
static Owned *new_owned(lua_State *L, void (*release)(void *)) {
  Owned *o = lua_newuserdatauv(L, sizeof *o, 0);
  o->p = NULL;
  o->release = release;
  luaL_setmetatable(L, OWNED_MT);
  return o;
}

/* ---------------------------------------------------------------------
** pg.connect
** ------------------------------------------------------------------ */

/* pg.connect([conninfo]) -> conn | nil, err
** conninfo is a URL (postgres://...) or "key=value ..." string; what it
** leaves out comes from the PG* environment variables, as with psql.
** The box is made before libpq is called, and holds the PGconn from the
** moment it exists. */
static int l_connect(lua_State *L) {
  const char *info = luaL_optstring(L, 1, NULL);
  const char *keys[5], *vals[5];
  int k = 0;
  keys[k] = "fallback_application_name"; vals[k++] = "lumi";
  keys[k] = "client_encoding"; vals[k++] = "UTF8";
  keys[k] = "connect_timeout"; vals[k++] = "10";
  if (info != NULL && *info) { keys[k] = "dbname"; vals[k++] = info; }
  keys[k] = NULL; vals[k] = NULL;
  Conn *c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  c->tail = &c->notices;
  luaL_setmetatable(L, CONN_MT);
  c->pg = PQconnectdbParams(keys, vals, 1);
  if (c->pg == NULL) {
    push_conn_error(L, NULL, "out of memory while connecting");
    return fail_with_top(L);
  }
  if (PQstatus(c->pg) != CONNECTION_OK) {
    push_conn_error(L, c->pg, "could not connect");
    PQfinish(c->pg);
    c->pg = NULL;
    return fail_with_top(L);
  }
  PQsetNoticeReceiver(c->pg, on_notice, c);
  track_cancel(c);
  return 1;
}

/* pg.conninfo_parse(s) -> {keyword = value, ...} | nil, message
** A URL or conninfo string parsed by libpq's own rules (PQconninfoParse):
** the keywords it sets, with their values decoded. Nothing is looked up
** in the environment and nothing connects. */
static int l_conninfo_parse(lua_State *L) {
  const char *s = luaL_checkstring(L, 1);
  Owned *opts = new_owned(L, release_options);
  Owned *err = new_owned(L, release_mem);
  char *msg = NULL;
  opts->p = PQconninfoParse(s, &msg);
  err->p = msg;
  if (opts->p == NULL) {
    luaL_pushfail(L);
    if (msg != NULL) push_trimmed(L, msg);
    else lua_pushliteral(L, "out of memory");
    owned_clear(err);
    return 2;
  }
  lua_newtable(L);
  for (PQconninfoOption *o = opts->p; o->keyword != NULL; o++) {
    if (o->val == NULL) continue;
    lua_pushstring(L, o->val);
    lua_setfield(L, -2, o->keyword);
  }
  owned_clear(opts);
  owned_clear(err);
  return 1;
}

/* ---------------------------------------------------------------------
** Connection methods
** ------------------------------------------------------------------ */

static void finish_streaming(Conn *c);

/* conn:close() — idempotent; also __gc and __close. */
static int conn_close(lua_State *L) {
  Conn *c = luaL_checkudata(L, 1, CONN_MT);
  if (c->streaming != NULL) finish_streaming(c);
  c->awaiting = 0;
  untrack_cancel(c);
  if (c->pg != NULL) { PQfinish(c->pg); c->pg = NULL; }
  free_notices(c);
  return 0;
}

static int conn_tostring(lua_State *L) {
  Conn *c = luaL_checkudata(L, 1, CONN_MT);
  if (c->pg == NULL) lua_pushliteral(L, "pg connection (closed)");
  else lua_pushfstring(L, "pg connection (%s@%s/%s)", PQuser(c->pg), PQhost(c->pg), PQdb(c->pg));
  return 1;
}

/* Push the rows table of a tuples/command result (as conn:query returns). */
static void push_rows(lua_State *L, PGresult *res) {
  int nrows = PQntuples(res);
  lua_createtable(L, nrows, 3);
  push_columns(L, res);                   /* rows names */
  int names = lua_gettop(L);
  for (int i = 0; i < nrows; i++) {
    push_row_named(L, res, i, names);
    lua_rawseti(L, -3, i + 1);
  }
  lua_setfield(L, -2, "columns");
  lua_pushstring(L, PQcmdStatus(res));
  lua_setfield(L, -2, "command");
  push_affected(L, res);
  lua_setfield(L, -2, "affected");
}

/* Take every result of the query just sent, through the boxes o (each in
** turn) and keep (the last good one). A script's COPY FROM STDIN is ended
** (there is no data channel here) and a COPY TO STDOUT drained. Pushes the
** first error, or else the last result: its rows (with_rows) or only
** {command=, affected=}. Returns 1 on success, 0 on failure. */
static int take_results(lua_State *L, Conn *c, Owned *o, Owned *keep, int with_rows) {
  int failed = 0;
  while ((o->p = PQgetResult(c->pg)) != NULL) {
    ExecStatusType st = PQresultStatus(o->p);
    if (st == PGRES_COPY_IN) {
      PQputCopyEnd(c->pg, "COPY FROM STDIN needs data: use conn:copy_from");
    } else if (st == PGRES_COPY_OUT) {
      char *buf;
      while (PQgetCopyData(c->pg, &buf, 0) > 0) PQfreemem(buf);
    } else if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK && st != PGRES_EMPTY_QUERY) {
      if (!failed) { push_result_error(L, o->p, c->pg); failed = 1; }   /* the first error */
    } else if (!failed) {
      owned_clear(keep);
      keep->p = o->p;
      o->p = NULL;
    }
    owned_clear(o);
    if (PQstatus(c->pg) == CONNECTION_BAD) break;
  }
  if (failed) return 0;
  if (keep->p == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
    push_conn_error(L, c->pg, "connection lost while waiting for a result");
    return 0;
  }
  if (with_rows) {
    push_rows(L, keep->p);
  } else {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, PQcmdStatus(keep->p));
    lua_setfield(L, -2, "command");
    push_affected(L, keep->p);
    lua_setfield(L, -2, "affected");
  }
  owned_clear(keep);
  return 1;
}

/* Drain what is left of the query in flight, through box o. */
static void discard_results(Conn *c, Owned *o) {
  while ((o->p = PQgetResult(c->pg)) != NULL) owned_clear(o);
}

/* conn:exec(sql) -> {command=, affected=} | nil, err
** Runs a whole script, several statements separated by semicolons, in one
** round trip (simple query protocol). Takes no parameters. Returns what
** its last statement did, or its first error. */
static int conn_exec(lua_State *L) {
  Conn *c = checkidle(L, 1);
  const char *sql = check_text(L, 2, "the SQL text");
  lua_settop(L, 2);
  Owned *o = new_owned(L, release_result);
  Owned *keep = new_owned(L, release_result);
  if (!PQsendQuery(c->pg, sql)) {
    push_conn_error(L, c->pg, "could not send query");
    return fail_with_top(L);
  }
  return take_results(L, c, o, keep, 0) ? 1 : fail_with_top(L);
}

/* conn:query(sql, ...) -> rows | nil, err
** One statement with parameters $1, $2 ... sent out of band. rows is an
** array of tables keyed by column name, with fields `columns` (names in
** order), `command` and `affected`. (COPY ... STDIN/STDOUT has no data
** channel here: it fails; conn:copy_from feeds one.) */
static int conn_query(lua_State *L) {
  Conn *c = checkidle(L, 1);
  const char *sql = check_text(L, 2, "the SQL text");
  int nparams;
  const char *const *params = collect_params(L, 3, lua_gettop(L), &nparams);
  Owned *o = new_owned(L, release_result);
  Owned *keep = new_owned(L, release_result);
  if (!PQsendQueryParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0)) {
    push_conn_error(L, c->pg, "could not send query");
    return fail_with_top(L);
  }
  return take_results(L, c, o, keep, 1) ? 1 : fail_with_top(L);
}

/* conn:pipeline({ {sql, p1, p2, ...}, {sql, ...}, ... }) -> results | nil, err, index
** Sends every statement (one each, with parameters) in one round trip
** through libpq's pipeline mode and returns the array of their rows tables.
** On the first failure the rest are skipped by the server; err is that
** failure and index the statement's position. In an explicit transaction
** the statements run in it; otherwise the pipeline is one implicit
** transaction. A statement's table may say how many parameters it has with
** n (as table.pack does), so that trailing nils count. */
typedef struct Queued { const char *sql; int nparams; const char *const *params; } Queued;

static int conn_pipeline(lua_State *L) {
  Conn *c = checkidle(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  int n = (int)luaL_len(L, 2);
  if (n < 1) return luaL_error(L, "conn:pipeline needs at least one statement");
  /* every statement made ready (what can raise, raises now) before
  ** pipeline mode is entered; their texts and parameters stay on the stack */
  Queued *q = lua_newuserdatauv(L, sizeof *q * (size_t)n, 0);
  for (int i = 0; i < n; i++) {
    luaL_checkstack(L, 4, "too many statements");
    if (lua_rawgeti(L, 2, i + 1) != LUA_TTABLE)
      return luaL_error(L, "conn:pipeline: statement %d is not a table {sql, params...}", i + 1);
    int stmt = lua_gettop(L);
    int np = lua_getfield(L, stmt, "n") == LUA_TNUMBER ? (int)lua_tointeger(L, -1) - 1 : (int)luaL_len(L, stmt) - 1;
    lua_pop(L, 1);
    if (np < 0) np = 0;
    if (np > 65535) return luaL_error(L, "conn:pipeline: statement %d has too many parameters", i + 1);
    if (lua_rawgeti(L, stmt, 1) != LUA_TSTRING)
      return luaL_error(L, "conn:pipeline: statement %d has no SQL string at [1]", i + 1);
    q[i].sql = check_text(L, -1, "the SQL text");
    luaL_checkstack(L, np + 1, "too many query parameters");
    for (int k = 2; k <= np + 1; k++) lua_rawgeti(L, stmt, k);
    q[i].params = collect_params(L, stmt + 2, stmt + 1 + np, &q[i].nparams);
  }
  Owned *o = new_owned(L, release_result);
  if (PQenterPipelineMode(c->pg) != 1) {
    push_conn_error(L, c->pg, "could not enter pipeline mode");
    return fail_with_top(L);
  }
  int sent_ok = 1;
  for (int i = 0; i < n && sent_ok; i++)
    sent_ok = PQsendQueryParams(c->pg, q[i].sql, q[i].nparams, NULL, q[i].params, NULL, NULL, 0) == 1;
  if (!sent_ok || PQpipelineSync(c->pg) != 1) {
    push_conn_error(L, c->pg, "could not send the pipeline");
    /* leave pipeline mode as well as we can */
    while (PQstatus(c->pg) == CONNECTION_OK && (o->p = PQgetResult(c->pg)) != NULL) owned_clear(o);
    PQexitPipelineMode(c->pg);
    return fail_with_top(L);
  }
  lua_createtable(L, n, 0);               /* results */
  int results = lua_gettop(L);
  int failed_at = 0, done = 0, i = 1;
  while (!done) {
    PGresult *res = o->p = PQgetResult(c->pg);
    if (res == NULL) {                    /* end of one statement's results */
      if (PQstatus(c->pg) == CONNECTION_BAD) break;
      i++;
      continue;
    }
    switch (PQresultStatus(res)) {
      case PGRES_PIPELINE_SYNC:
        done = 1;
        break;
      case PGRES_PIPELINE_ABORTED:
        break;
      case PGRES_TUPLES_OK: case PGRES_COMMAND_OK: case PGRES_EMPTY_QUERY:
        push_rows(L, res);
        lua_rawseti(L, results, i);
        break;
      default:
        if (!failed_at) {
          failed_at = i;
          push_result_error(L, res, c->pg);      /* results err */
        }
        break;
    }
    owned_clear(o);
  }
  if (!done || PQexitPipelineMode(c->pg) != 1) {
    push_conn_error(L, c->pg, done ? "could not leave pipeline mode" : "connection lost during a pipeline");
    return fail_with_top(L);
  }
  if (failed_at) {                        /* results err */
    luaL_pushfail(L);
    lua_replace(L, results);              /* nil err */
    lua_pushinteger(L, failed_at);
    return 3;
  }
  lua_settop(L, results);
  return 1;
}

/* conn:send(sql, ...) -> true | nil, err
** Sends the query and returns without waiting; the server works on it
** while the caller does something else (conn:wait, conn:receive). With
** parameters it is one statement ($1, $2 ... sent out of band); without,
** a script of any number of statements, as conn:exec runs them. Take the
** result with conn:receive() before any other use of the connection. */
static int conn_send(lua_State *L) {
  Conn *c = checkidle(L, 1);
  const char *sql = check_text(L, 2, "the SQL text");
  int nparams;
  const char *const *params = collect_params(L, 3, lua_gettop(L), &nparams);
  int sent = nparams == 0 ? PQsendQuery(c->pg, sql) : PQsendQueryParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
  if (!sent) {
    push_conn_error(L, c->pg, "could not send query");
    return fail_with_top(L);
  }
  c->awaiting = 1;
  lua_pushboolean(L, 1);
  return 1;
}

/* conn:wait(seconds) -> true | false | nil, err
** Waits for the result of conn:send: true once it has arrived (conn:receive
** then returns at once), false when `seconds` passed first or a signal came
** (look, then wait again), nil, err when the connection is lost. */
static int conn_wait(lua_State *L) {
  Conn *c = checkconn(L, 1);
  double seconds = luaL_checknumber(L, 2);
  if (!c->awaiting) return luaL_error(L, "conn:wait: nothing was sent with conn:send");
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    if (PQconsumeInput(c->pg) == 0) {
      push_conn_error(L, c->pg, "connection lost while waiting for a result");
      return fail_with_top(L);
    }
    if (!PQisBusy(c->pg)) { lua_pushboolean(L, 1); return 1; }
    clock_gettime(CLOCK_MONOTONIC, &t);
    double left = seconds - ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9);
    struct pollfd p = {PQsocket(c->pg), POLLIN, 0};
    int r = left > 0 ? poll(&p, 1, (int)(left * 1000) + 1) : 0;
    if (r == 0 || (r < 0 && errno == EINTR)) { lua_pushboolean(L, 0); return 1; }
    if (r < 0) {
      push_conn_error(L, c->pg, strerror(errno));
      return fail_with_top(L);
    }
  }
}

/* conn:receive() -> rows | nil, err
** The result of conn:send: its rows (of the last statement of a script),
** or the first error. */
static int conn_receive(lua_State *L) {
  Conn *c = checkconn(L, 1);
  if (!c->awaiting) return luaL_error(L, "conn:receive: nothing was sent with conn:send");
  c->awaiting = 0;
  lua_settop(L, 1);
  Owned *o = new_owned(L, release_result);
  Owned *keep = new_owned(L, release_result);
  return take_results(L, c, o, keep, 1) ? 1 : fail_with_top(L);
}

/* ---------------------------------------------------------------------
** Streaming rows (single-row mode)
** ------------------------------------------------------------------ */

/* Abandon an unfinished stream: cancel the query and drain its results.
** (No Lua runs here: it is also called from __gc.) */
static void finish_streaming(Conn *c) {
  Rows *r = c->streaming;
  if (r == NULL) return;
  if (c->pg != NULL) {
    PGcancel *cancel = PQgetCancel(c->pg);
    if (cancel != NULL) {
      char errbuf[256];
      (void)PQcancel(cancel, errbuf, sizeof errbuf);
      PQfreeCancel(cancel);
    }
    PGresult *res;
    while ((res = PQgetResult(c->pg)) != NULL) PQclear(res);
  }
  r->conn = NULL;
  c->streaming = NULL;
}

/* iterator step: rows_next(state) -> row | nil; raises err on failure */
static int rows_next(lua_State *L) {
  Rows *r = luaL_checkudata(L, 1, ROWS_MT);
  Conn *c = r->conn;
  if (c == NULL || c->pg == NULL) return 0;
  lua_settop(L, 1);
  Owned *o = new_owned(L, release_result);   /* index 2 */
  PGresult *res = o->p = PQgetResult(c->pg);
  if (res == NULL) {                      /* no final result: connection trouble */
    r->conn = NULL; c->streaming = NULL;
    push_conn_error(L, c->pg, "connection lost while streaming rows");
    return lua_error(L);
  }
  ExecStatusType st = PQresultStatus(res);
  if (st == PGRES_SINGLE_TUPLE) {
    push_row_named(L, res, 0, 0);
    owned_clear(o);
    return 1;
  }
  /* the end: PGRES_TUPLES_OK with zero rows, or an error */
  int failed = (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK);
  r->conn = NULL; c->streaming = NULL;
  if (failed) push_result_error(L, res, c->pg);
  owned_clear(o);
  discard_results(c, o);
  if (failed) return lua_error(L);
  return 0;
}

/* rows state: __close / __gc — stop the query if the loop ended early */
static int rows_close(lua_State *L) {
  Rows *r = luaL_checkudata(L, 1, ROWS_MT);
  if (r->conn != NULL) finish_streaming(r->conn);
  return 0;
}

/* conn:rows(sql, ...) -> iterator, state, nil, state
** for row in conn:rows("select ...", p1) do ... end
** Rows arrive one at a time (single-row mode): memory stays constant
** whatever the size of the result. Breaking out of the loop cancels the
** query. A server error raises the error table. */
static int conn_rows(lua_State *L) {
  Conn *c = checkidle(L, 1);
  const char *sql = check_text(L, 2, "the SQL text");
  int nparams;
  int top = lua_gettop(L);
  const char *const *params = collect_params(L, 3, top, &nparams);
  /* the iterator's state first: once the query is sent, nothing may raise
  ** before the connection knows it is streaming */
  lua_pushcfunction(L, rows_next);
  Rows *r = lua_newuserdatauv(L, sizeof *r, 1);
  r->conn = NULL;
  luaL_setmetatable(L, ROWS_MT);
  lua_pushvalue(L, 1);                    /* keep the connection alive */
  lua_setiuservalue(L, -2, 1);
  lua_pushnil(L);
  lua_pushvalue(L, -2);                   /* closing value */
  if (!PQsendQueryParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0)) {
    push_conn_error(L, c->pg, "could not send query");
    return lua_error(L);
  }
  if (!PQsetSingleRowMode(c->pg)) {
    PGresult *res;
    while ((res = PQgetResult(c->pg)) != NULL) PQclear(res);
    return luaL_error(L, "could not switch the connection to single-row mode");
  }
  r->conn = c;
  c->streaming = r;
  return 4;
}

/* ---------------------------------------------------------------------
** COPY FROM STDIN
** ------------------------------------------------------------------ */

/* conn:copy_from(sql, source [, {wait = false}]) -> {command=, affected=} | true | nil, err
** sql is a COPY ... FROM STDIN statement. source is an array of strings or
** a function returning the next chunk (nil at the end); each chunk is data
** in the COPY format the statement names (text: tab-separated, one line a
** row). If source raises, the COPY is aborted and the error re-raised.
** With {wait = false} it returns true once the data is sent, without
** waiting for the server to finish; conn:receive() takes the result. */
static int conn_copy_from(lua_State *L) {
  Conn *c = checkidle(L, 1);
  const char *sql = check_text(L, 2, "the SQL text");
  int is_fn = lua_isfunction(L, 3);
  if (!is_fn) luaL_checktype(L, 3, LUA_TTABLE);
  int nowait = lua_istable(L, 4) && (lua_getfield(L, 4, "wait"), lua_isboolean(L, -1) && !lua_toboolean(L, -1));
  lua_settop(L, 3);
  Owned *o = new_owned(L, release_result);   /* index 4 */
  PGresult *res = o->p = PQexec(c->pg, sql);
  if (res == NULL) {
    push_conn_error(L, c->pg, "out of memory");
    return fail_with_top(L);
  }
  if (PQresultStatus(res) != PGRES_COPY_IN) {
    int failed = PQresultStatus(res) == PGRES_FATAL_ERROR || PQresultStatus(res) == PGRES_NONFATAL_ERROR;
    if (failed) push_result_error(L, res, c->pg);
    owned_clear(o);
    discard_results(c, o);
    if (failed) return fail_with_top(L);
    return luaL_error(L, "conn:copy_from needs a COPY ... FROM STDIN statement");
  }
  owned_clear(o);
  int ok = 1, raised = 0;
  for (lua_Integer i = 1; ok; i++) {
    if (is_fn) {
      lua_pushvalue(L, 3);
      if (lua_pcall(L, 0, 1, 0) != LUA_OK) { raised = 1; break; }
    } else {
      lua_rawgeti(L, 3, i);
    }
    if (lua_isnil(L, -1)) { lua_pop(L, 1); break; }
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    if (s == NULL) {
      const char *tn = luaL_typename(L, -1);
      lua_pushfstring(L, "conn:copy_from: chunk %I is a %s, not a string", (LUAI_UACINT)i, tn);
      lua_remove(L, -2);
      raised = 1;
      break;
    }
    if (n > 0 && PQputCopyData(c->pg, s, (int)n) != 1) {
      lua_pop(L, 1);
      push_conn_error(L, c->pg, "could not send COPY data");
      ok = 0;
      break;
    }
    lua_pop(L, 1);
  }
  if (raised || !ok) {
    /* abort the COPY, drain, then report: the Lua error or the send error */
    PQputCopyEnd(c->pg, raised ? "aborted: the Lua data source raised an error" : "aborted");
    discard_results(c, o);
    if (raised) return lua_error(L);
    return fail_with_top(L);
  }
  if (PQputCopyEnd(c->pg, NULL) != 1) {
    push_conn_error(L, c->pg, "could not end COPY");
    discard_results(c, o);
    return fail_with_top(L);
  }
  if (nowait) {
    /* the server ingests the data while the caller goes on; its result is
    ** taken by conn:receive() (which the next use of the handle must call) */
    c->awaiting = 1;
    lua_pushboolean(L, 1);
    return 1;
  }
  Owned *keep = new_owned(L, release_result);
  return take_results(L, c, o, keep, 0) ? 1 : fail_with_top(L);
}

/* ---------------------------------------------------------------------
** Small methods
** ------------------------------------------------------------------ */

/* Push s (argument 2) quoted by libpq's `quote` (identifier or literal). */
static int push_quoted(lua_State *L, char *(*quote)(PGconn *, const char *, size_t), const char *what) {
  Conn *c = checkconn(L, 1);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  char *q = quote(c->pg, s, n);
  if (q == NULL) return luaL_error(L, "cannot quote %s: %s", what, PQerrorMessage(c->pg));
  lua_pushstring(L, q);
  PQfreemem(q);
  return 1;
}

/* conn:escape_identifier(s) -> quoted identifier */
static int conn_escape_identifier(lua_State *L) { return push_quoted(L, PQescapeIdentifier, "identifier"); }

/* conn:escape_literal(s) -> quoted literal */
static int conn_escape_literal(lua_State *L) { return push_quoted(L, PQescapeLiteral, "literal"); }

/* conn:notices() -> array of {severity, sqlstate, message, detail, hint},
** the notices received since the last call, oldest first. */
static int conn_notices(lua_State *L) {
  Conn *c = luaL_checkudata(L, 1, CONN_MT);
  lua_newtable(L);
  int i = 0;
  for (Notice *n = c->notices; n != NULL; n = n->next) {
    lua_createtable(L, 0, 5);
    setfield_str(L, "severity", n->severity);
    setfield_str(L, "sqlstate", n->sqlstate);
    setfield_str(L, "message", n->message);
    setfield_str(L, "detail", n->detail);
    setfield_str(L, "hint", n->hint);
    lua_rawseti(L, -2, ++i);
  }
  free_notices(c);
  return 1;
}

/* conn:info() -> {server_version=, user=, database=, host=, port=, pid=,
**                 transaction=} ; never the password */
static int conn_info(lua_State *L) {
  Conn *c = checkconn(L, 1);
  static const char *const tx[] = {"idle", "active", "intrans", "inerror", "unknown"};
  PGTransactionStatusType ts = PQtransactionStatus(c->pg);
  lua_createtable(L, 0, 8);
  lua_pushinteger(L, PQserverVersion(c->pg));
  lua_setfield(L, -2, "server_version_num");
  setfield_str(L, "server_version", PQparameterStatus(c->pg, "server_version"));
  setfield_str(L, "user", PQuser(c->pg));
  setfield_str(L, "database", PQdb(c->pg));
  setfield_str(L, "host", PQhost(c->pg));
  setfield_str(L, "port", PQport(c->pg));
  lua_pushinteger(L, PQbackendPID(c->pg));
  lua_setfield(L, -2, "pid");
  lua_pushstring(L, tx[ts <= PQTRANS_UNKNOWN ? ts : PQTRANS_UNKNOWN]);
  lua_setfield(L, -2, "transaction");
  return 1;
}

/* conn:is_closed() -> boolean */
static int conn_is_closed(lua_State *L) {
  Conn *c = luaL_checkudata(L, 1, CONN_MT);
  lua_pushboolean(L, c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD);
  return 1;
}

static const luaL_Reg conn_methods[] = {
  {"exec", conn_exec},
  {"query", conn_query},
  {"rows", conn_rows},
  {"copy_from", conn_copy_from},
  {"pipeline", conn_pipeline},
  {"send", conn_send},
  {"receive", conn_receive},
  {"wait", conn_wait},
  {"escape_identifier", conn_escape_identifier},
  {"escape_literal", conn_escape_literal},
  {"notices", conn_notices},
  {"info", conn_info},
  {"is_closed", conn_is_closed},
  {"close", conn_close},
  {NULL, NULL}
};

static const luaL_Reg conn_meta[] = {
  {"__gc", conn_close},
  {"__close", conn_close},
  {"__tostring", conn_tostring},
  {"__index", NULL},
  {NULL, NULL}
};

static const luaL_Reg rows_meta[] = {
  {"__gc", rows_close},
  {"__close", rows_close},
  {NULL, NULL}
};

/* pg.is_error(v) -> boolean */
static int l_is_error(lua_State *L) {
  int r = 0;
  if (lua_getmetatable(L, 1)) {
    luaL_getmetatable(L, ERROR_MT);
    r = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
  }
  lua_pushboolean(L, r);
  return 1;
}

static int null_tostring(lua_State *L) {
  lua_pushliteral(L, "pg.null");
  return 1;
}

static const luaL_Reg funcs[] = {
  {"connect", l_connect},
  {"conninfo_parse", l_conninfo_parse},
  {"cancel_on_interrupt", l_cancel_on_interrupt},
  {"interrupted", l_interrupted},
  {"defer_interrupts", l_defer_interrupts},
  {"is_error", l_is_error},
  {NULL, NULL}
};

LUMI_API int luaopen_lumi_pg(lua_State *L) {
  luaL_newlib(L, funcs);

  luaL_newmetatable(L, CONN_MT);
  luaL_setfuncs(L, conn_meta, 0);
  luaL_newlib(L, conn_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);

  luaL_newmetatable(L, OWNED_MT);
  lua_pushcfunction(L, owned_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  luaL_newmetatable(L, ROWS_MT);
  luaL_setfuncs(L, rows_meta, 0);
  lua_pop(L, 1);

  luaL_newmetatable(L, ERROR_MT);
  lua_pushcfunction(L, error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_setfield(L, -2, "Error");           /* pg.Error: the error metatable */

  /* pg.null: one sentinel for SQL NULL, a unique empty table */
  lua_getfield(L, LUA_REGISTRYINDEX, NULL_KEY);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, null_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "pg.null");
    lua_setfield(L, -2, "__name");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, NULL_KEY);
  }
  lua_setfield(L, -2, "null");

  lua_pushstring(L, PQlibVersion() >= 100000 ? "libpq" : "libpq (old)");
  lua_setfield(L, -2, "client");
  lua_pushinteger(L, PQlibVersion());
  lua_setfield(L, -2, "libpq_version");
  return 1;
}
