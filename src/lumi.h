/* lumi.h — declarations shared by the host and its C modules. */
#ifndef LUMI_H
#define LUMI_H

#include <pthread.h>
#include <signal.h>

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

/* Block SIGINT and SIGTERM in the calling thread; *old gets the mask to
** restore (pthread_sigmask(SIG_SETMASK, old, NULL)). 0 on success. */
static inline int lumi_block_interrupts(sigset_t *old) {
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  return pthread_sigmask(SIG_BLOCK, &block, old);
}

/* pthread_create for lumi's worker threads (handshake, hashing, module
** loading): the thread never receives SIGINT or SIGTERM, so that they reach
** the Lua thread, where pg.cancel_on_interrupt's handler cancels queries. */
static inline int lumi_thread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
  sigset_t old;
  if (lumi_block_interrupts(&old) != 0) return pthread_create(t, attr, fn, arg);
  int r = pthread_create(t, attr, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return r;
}

#endif
