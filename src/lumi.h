/* lumi.h — declarations shared by the host and its C modules. */
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
LUMI_API int luaopen_lumi_sys(lua_State *L);

/* modules.c: the modules above that link large libraries, loaded by the
** host at run time (search: directories holding lumi/<name>.so). */
void lumi_modules_dirs(const char *const *search, int n);
void lumi_modules_preload(lua_State *L);

#endif
