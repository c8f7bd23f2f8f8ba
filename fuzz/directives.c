/*
** fuzz/directives.c — libFuzzer target for lumi's directive reader and
** section splitter (lua/lumi/directives.lua, lua/lumi/prepare.lua), run
** on arbitrary bytes as a migration file's text. Built and run by
** tests/long/fuzz.
**
** One Lua state serves the whole run (see LLVMFuzzerInitialize below),
** with package.path at the repository's lua/ directory
** (-DLUMI_FUZZ_LUA_DIR at build time; the environment variable
** LUMI_FUZZ_LUA_DIR overrides it), lumi's C modules linked in and
** preloaded, and luaposix replaced by stubs: lumi.fs needs it when it
** loads, but neither function under test touches a file (a stub raises if
** it is ever used, which would be a finding).
**
** What is checked (the documented contracts, see the Lua chunk below):
**
**   directives.read(text) -> fields, problems
**     never raises; fields has only transaction = false, lock_timeout and
**     statement_timeout (numbers >= 0, in seconds); problems is an array
**     of {line = n, message = "..."}, n an integer line of the text
**     (1 <= n <= its number of lines), in the order of the text. And
**     what it reads must be usable: the runner turns the timeouts into
**     the SET LOCAL statements that run before the file
**     (lumi.timeouts.sql), so any number read that makes timeouts.sql
**     raise is a finding too (a Lua error there ends `lumi up` with exit
**     70, "a bug in lumi").
**
**   prepare.sections(text) -> nil | {preamble =, up = {text=, start=},
**   down = {text=, start=}}
**     raises only the documented config error "two up|down sections in
**     one file"; otherwise the preamble is the text's beginning, every
**     section's text is the text's bytes at its start, it begins with its
**     marker line (a -- comment naming its direction), and preamble and
**     sections cover the whole text, in order, without overlap; each of
**     them read by directives.read (as prepare.part does) obeys the above.
**
** Lua code is not instrumented by the compiler: a line hook feeds the
** (line, previous line) pairs executed in lumi's Lua sources to libFuzzer
** as extra coverage counters, so that inputs reaching new Lua paths are
** kept in the corpus.
**
** A violation or an unexpected Lua error prints the message with a Lua
** traceback and abort()s: libFuzzer keeps the input as a crash artifact.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

#include "lumi.h"

#ifndef LUMI_FUZZ_LUA_DIR
#error "build with -DLUMI_FUZZ_LUA_DIR='\"/path/to/lumi/lua\"'"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---------------------------------------------------------------------
** The checks, in Lua: the chunk loads lumi's modules and returns the
** function called with each input
** ------------------------------------------------------------------ */

static const char harness[] =
  "local directives = require 'lumi.directives'\n"
  "local prepare = require 'lumi.prepare'\n"
  "local errors = require 'lumi.errors'\n"
  "local timeouts = require 'lumi.timeouts'\n"
  "\n"
  "local function violation(fmt, ...)\n"
  "  error('contract violation: ' .. string.format(fmt, ...), 2)\n"
  "end\n"
  "local function lines_in(s) local _, k = s:gsub('\\n', '') return k + 1 end\n"
  "local FIELDS = { transaction = true, lock_timeout = true, statement_timeout = true }\n"
  "\n"
  "local function check_read(text, what)\n"
  "  local fields, problems = directives.read(text)\n"
  "  if type(fields) ~= 'table' then violation('%s: read returned fields of type %s', what, type(fields)) end\n"
  "  if type(problems) ~= 'table' then violation('%s: read returned problems of type %s', what, type(problems)) end\n"
  "  for k, v in pairs(fields) do\n"
  "    if not FIELDS[k] then violation('%s: read returned an unknown field %q', what, tostring(k)) end\n"
  "    if k == 'transaction' then\n"
  "      if v ~= false then violation('%s: transaction = %s', what, tostring(v)) end\n"
  "    elseif math.type(v) == nil or v ~= v or v < 0 then\n"
  "      violation('%s: %s = %s is not a number of seconds', what, k, tostring(v))\n"
  "    end\n"
  "  end\n"
  "  local n, last, count = lines_in(text), 1, 0\n"
  "  for _ in pairs(problems) do count = count + 1 end\n"
  "  if count ~= #problems then violation('%s: problems is not an array', what) end\n"
  "  for i, p in ipairs(problems) do\n"
  "    if type(p) ~= 'table' then violation('%s: problem %d is a %s', what, i, type(p)) end\n"
  "    if math.type(p.line) ~= 'integer' or p.line < 1 or p.line > n then\n"
  "      violation('%s: problem %d: line %s is not a line of the text (1..%d)', what, i, tostring(p.line), n)\n"
  "    end\n"
  "    if p.line < last then violation('%s: problem %d (line %d) comes after line %d', what, i, p.line, last) end\n"
  "    last = p.line\n"
  "    if type(p.message) ~= 'string' or p.message == '' then violation('%s: problem %d has no message', what, i) end\n"
  "  end\n"
  "  -- what the runner does with them before the file runs (SET LOCAL ...)\n"
  "  local limits = { lock = fields.lock_timeout, statement = fields.statement_timeout }\n"
  "  local ok, err = pcall(timeouts.sql, limits, 'local')\n"
  "  if not ok then\n"
  "    violation('%s: the timeouts read (lock %s, statement %s) make timeouts.sql raise: %s', what,\n"
  "      tostring(limits.lock), tostring(limits.statement), tostring(err))\n"
  "  end\n"
  "end\n"
  "\n"
  "local function handler(e)\n"
  "  if errors.is(e, 'config') and type(e.message) == 'string' then\n"
  "    local dir = e.message:match('^two (%a+) sections in one file$')\n"
  "    if dir == 'up' or dir == 'down' then return { expected = true } end\n"
  "  end\n"
  "  return { trace = debug.traceback(errors.text(e), 2) }\n"
  "end\n"
  "\n"
  "return function(input)\n"
  "check_read(input, 'directives.read(text)')\n"
  "local ok, s = xpcall(prepare.sections, handler, input)\n"
  "if not ok then\n"
  "  if s.expected then return end\n"
  "  error('prepare.sections raised: ' .. s.trace, 0)\n"
  "end\n"
  "if s == nil then return end\n"
  "if type(s) ~= 'table' then violation('sections returned a %s', type(s)) end\n"
  "if type(s.preamble) ~= 'string' then violation('sections: preamble is a %s', type(s.preamble)) end\n"
  "if input:sub(1, #s.preamble) ~= s.preamble then violation('sections: the preamble is not the beginning of the text') end\n"
  "local parts = {}\n"
  "for _, dir in ipairs({ 'up', 'down' }) do\n"
  "  local sec = s[dir]\n"
  "  if sec ~= nil then\n"
  "    if type(sec) ~= 'table' then violation('sections: %s is a %s', dir, type(sec)) end\n"
  "    if type(sec.text) ~= 'string' or sec.text == '' then violation('sections: %s has no text', dir) end\n"
  "    if math.type(sec.start) ~= 'integer' or sec.start < 1 or sec.start > #input then\n"
  "      violation('sections: %s.start = %s is not a byte of the text', dir, tostring(sec.start))\n"
  "    end\n"
  "    if input:sub(sec.start, sec.start + #sec.text - 1) ~= sec.text then\n"
  "      violation('sections: %s.text is not the text at byte %d', dir, sec.start)\n"
  "    end\n"
  "    local marker = sec.text:match('^[^\\n]*')\n"
  "    if not marker:match('^%-%-') or not marker:lower():find(dir, 1, true) then\n"
  "      violation('sections: %s does not begin with its marker line (%q)', dir, marker)\n"
  "    end\n"
  "    parts[#parts + 1] = { dir = dir, start = sec.start, text = sec.text }\n"
  "  end\n"
  "end\n"
  "if #parts == 0 then violation('sections returned a table without an up or a down section') end\n"
  "table.sort(parts, function(a, b) return a.start < b.start end)\n"
  "local at = #s.preamble + 1\n"
  "for _, p in ipairs(parts) do\n"
  "  if p.start ~= at then violation('sections: %s starts at byte %d, not at %d', p.dir, p.start, at) end\n"
  "  at = p.start + #p.text\n"
  "end\n"
  "if at ~= #input + 1 then violation('sections: the text ends at byte %d, the last section at %d', #input, at - 1) end\n"
  "check_read(s.preamble, 'directives.read(preamble)')\n"
  "for _, p in ipairs(parts) do check_read(p.text, 'directives.read(' .. p.dir .. ' section)') end\n"
  "end\n";

/* ---------------------------------------------------------------------
** Lua line coverage as libFuzzer extra counters
** ------------------------------------------------------------------ */

#define NCOUNTERS (1 << 16)
__attribute__((used, section("__libfuzzer_extra_counters")))
static uint8_t counters[NCOUNTERS];

static const char *lua_dir;
static size_t lua_dir_len;

/* A small cache: source string (its address in the state) -> hash, 0
** for sources that are not lumi's. */
#define NCACHE 64
static struct { const char *src; uint32_t hash; } cache[NCACHE];
static uint32_t prev_loc;

static uint32_t source_hash(const char *src) {
  uintptr_t p = (uintptr_t)src;
  size_t slot = (p >> 4) % NCACHE;
  if (cache[slot].src == src) return cache[slot].hash;
  uint32_t h = 0;
  if (src[0] == '@' && strncmp(src + 1, lua_dir, lua_dir_len) == 0) {
    h = 2166136261u;
    for (const char *s = src; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    if (h == 0) h = 1;
  }
  cache[slot].src = src;
  cache[slot].hash = h;
  return h;
}

static void line_hook(lua_State *L, lua_Debug *ar) {
  if (!lua_getinfo(L, "S", ar)) return;
  uint32_t h = source_hash(ar->source);
  if (h == 0) return;
  uint32_t loc = h ^ ((uint32_t)ar->currentline * 2654435761u);
  uint32_t i = (loc ^ (prev_loc >> 1)) % NCOUNTERS;
  if (counters[i] < 255) counters[i]++;
  prev_loc = loc;
}

/* ---------------------------------------------------------------------
** The state
** ------------------------------------------------------------------ */

/* package.preload["posix.*"]: a table that raises when anything in it is
** used (lumi.fs requires luaposix when it loads; the functions under test
** read no files). */
static int posix_stub_index(lua_State *L) {
  return luaL_error(L, "fuzz/directives: %s.%s used, but luaposix is a stub here",
                    lua_tostring(L, lua_upvalueindex(1)), luaL_tolstring(L, 2, NULL));
}

static int posix_stub(lua_State *L) {
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, 1);                      /* the module name */
  lua_pushcclosure(L, posix_stub_index, 1);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  return 1;
}

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Protected: the state's environment, then the harness chunk, which
** loads lumi's modules and returns the check function. */
static int setup(lua_State *L) {
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_lumi_hash);
  lua_setfield(L, -2, "lumi.hash");
  lua_pushcfunction(L, luaopen_lumi_sql);
  lua_setfield(L, -2, "lumi.sql");
  static const char *const posix[] = {"posix.dirent", "posix.glob", "posix.sys.stat", "posix.unistd",
                                      "posix.fcntl", "posix.errno", "posix.stdlib", "posix", NULL};
  for (int i = 0; posix[i]; i++) {
    lua_pushcfunction(L, posix_stub);
    lua_setfield(L, -2, posix[i]);
  }
  lua_pop(L, 1);
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", lua_dir, lua_dir);
  lua_setfield(L, -2, "path");
  lua_pushliteral(L, "");                   /* nothing but what is linked in */
  lua_setfield(L, -2, "cpath");
  lua_pop(L, 1);
  if (luaL_loadbuffer(L, harness, sizeof harness - 1, "=harness (fuzz/directives.c)") != LUA_OK) return lua_error(L);
  lua_call(L, 0, 1);
  return 1;
}

/* One state for the whole run. The functions under test are pure (they
** keep nothing between calls and read no files), so an input gives the
** same result whatever ran before it; a crash artifact is confirmed by
** running it alone (build-fuzz/directives FILE). A full collection after
** every input frees all it allocated, so that libFuzzer's malloc/free
** balance (its cue for a leak check) holds. A fresh state for every
** input, with lumi's modules loaded again, made the target twelve times
** slower (about 500 inputs a second against 6,000). */
static lua_State *state;
static int check_ref;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  lua_dir = getenv("LUMI_FUZZ_LUA_DIR");
  if (lua_dir == NULL || !*lua_dir) lua_dir = LUMI_FUZZ_LUA_DIR;
  lua_dir_len = strlen(lua_dir);
  state = luaL_newstate();
  if (state == NULL) abort();
  lua_pushcfunction(state, msghandler);
  lua_pushcfunction(state, setup);
  if (lua_pcall(state, 0, 1, 1) != LUA_OK) {
    fprintf(stderr, "fuzz/directives: setting up the Lua state failed: %s\n", lua_tostring(state, -1));
    abort();
  }
  check_ref = luaL_ref(state, LUA_REGISTRYINDEX);
  lua_settop(state, 0);
  lua_gc(state, LUA_GCCOLLECT);
  lua_sethook(state, line_hook, LUA_MASKLINE, 0);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = state;
  prev_loc = 0;
  lua_pushcfunction(L, msghandler);
  lua_rawgeti(L, LUA_REGISTRYINDEX, check_ref);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 1) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "fuzz/directives: %s\n", msg != NULL ? msg : "(an error that is not a string)");
    abort();
  }
  lua_settop(L, 0);
  lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
