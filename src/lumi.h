/* lumi.h — the C modules that the lumi executable links and preloads, and
** that stock lua5.4 loads as lumi/pg.so, lumi/hash.so and lumi/sql.so. */
#ifndef LUMI_H
#define LUMI_H

#include "lua.h"

#if defined(__GNUC__)
#define LUMI_API __attribute__((visibility("default")))
#else
#define LUMI_API
#endif

LUMI_API int luaopen_lumi_pg(lua_State *L);
LUMI_API int luaopen_lumi_hash(lua_State *L);
LUMI_API int luaopen_lumi_sql(lua_State *L);

#endif
