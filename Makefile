# lumi — a PostgreSQL schema-migration tool: a small C host, policy in Lua.
#
#   make                 build ./lumi and the Lua C modules (build/lumi/*.so)
#   make demo            build, start a throwaway PostgreSQL, migrate the example, show status
#   make test            the whole test suite against a real, throwaway PostgreSQL
#   make test-sanitize   the same under AddressSanitizer and UndefinedBehaviorSanitizer
#   make bench           the benchmarks in bench/ (figures in README.md)
#   make test-long       the long fault suite: fault injection at full counts, fuzzing, valgrind (tests/long/run)
#   make install PREFIX=/usr/local [DESTDIR=...]
#
# Every variable can be overridden: make CC=clang CFLAGS=-O0 ...

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LUADIR  ?= $(PREFIX)/share/lumi/lua
LIBDIR  ?= $(PREFIX)/lib/lumi
DESTDIR ?=

CC      ?= cc
PKG_CONFIG ?= pkg-config

# Lua 5.4 goes by several pkg-config names across distributions.
LUA_PC  ?= $(firstword $(foreach p,lua5.4 lua-5.4 lua54 lua,$(shell $(PKG_CONFIG) --exists $(p) 2>/dev/null && echo $(p))))
LUA_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags $(LUA_PC))
LUA_LIBS   ?= $(shell $(PKG_CONFIG) --libs $(LUA_PC))
PQ_CFLAGS  ?= $(shell $(PKG_CONFIG) --cflags libpq)
PQ_LIBS    ?= $(shell $(PKG_CONFIG) --libs libpq)
SSL_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags libcrypto)
SSL_LIBS   ?= $(shell $(PKG_CONFIG) --libs libcrypto)
# libpg_query (Debian: libpg-query-dev) ships no pkg-config file; its
# static archive is linked in (one shared library fewer to map at start-up:
# PGQ_LIBS=-lpg_query links the shared one instead).
PGQ_LIBS   ?= -l:libpg_query.a

WARN    = -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wcast-qual -Wstrict-prototypes -Wmissing-prototypes
OPT     ?= -O2 -g
CFLAGS  ?= $(OPT)
ALL_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -fPIC -fvisibility=hidden \
          $(WARN) $(CFLAGS) $(LUA_CFLAGS) $(PQ_CFLAGS) $(SSL_CFLAGS) -Isrc \
          -DLUMI_LUADIR='"$(LUADIR)"' -DLUMI_CDIR='"$(LIBDIR)"'
# -Wl,-E: luaposix's modules, loaded at run time, resolve Lua's API against the binary.
LDFLAGS ?=
ALL_LDFLAGS = -Wl,-E $(LDFLAGS)

BUILD   ?= build
MODULES = pg hash sql
LUAC    ?= $(firstword $(shell command -v luac5.4 luac54 luac 2>/dev/null))
LUA_SRC = $(wildcard lua/lumi/*.lua lua/lumi/*/*.lua lua/lumi/*/*/*.lua)
LUA_BC  = $(if $(LUAC),$(LUA_SRC:lua/%.lua=$(BUILD)/luac/%.luac))
OBJS    = $(MODULES:%=$(BUILD)/%.o)
SOS     = $(MODULES:%=$(BUILD)/lumi/%.so)
LUMI    ?= lumi

.PHONY: all deps demo test test-sanitize test-long bench install uninstall clean

all: $(LUMI) $(SOS) $(BUILD)/.deps $(LUA_BC)

# precompiled twins of the Lua sources (main.c uses them when not stale)
$(BUILD)/luac/%.luac: lua/%.lua
	@mkdir -p $(dir $@)
	@$(LUAC) -o $@ $<

$(BUILD)/.deps: scripts/deps
	@mkdir -p $(BUILD)
	@scripts/deps
	@touch $@

deps: $(BUILD)/.deps

# the other migration tools the switching specs run (scripts/peers)
$(BUILD)/.peers: scripts/peers peers/package.json
	@mkdir -p $(BUILD)
	@scripts/peers
	@touch $@

$(BUILD)/%.o: src/%.c src/lumi.h | $(BUILD)/.deps
	@mkdir -p $(BUILD)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# main.o has the install directories compiled in: rebuild it when they change
$(BUILD)/paths: FORCE
	@mkdir -p $(BUILD)
	@echo '$(LUADIR) $(LIBDIR)' | cmp -s - $@ || echo '$(LUADIR) $(LIBDIR)' > $@
$(BUILD)/main.o: $(BUILD)/paths
.PHONY: FORCE

# The executable links the modules' objects and preloads them.
$(LUMI): $(BUILD)/main.o $(OBJS)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(LUA_LIBS) $(PGQ_LIBS) $(PQ_LIBS) $(SSL_LIBS) -lm

# The same objects as loadable modules for stock lua5.4: require "lumi.pg".
# MODULE_LIBS: what one module alone links against.
$(BUILD)/lumi/sql.so: MODULE_LIBS = $(PGQ_LIBS)
# (their objects are kept, not removed as intermediate files)
.SECONDARY: $(OBJS)
$(BUILD)/lumi/%.so: $(BUILD)/%.o
	@mkdir -p $(BUILD)/lumi
	$(CC) -shared -o $@ $< $(LDFLAGS) $(MODULE_LIBS) $(PQ_LIBS) $(SSL_LIBS) -lm

demo: all
	@scripts/demo

test: all $(BUILD)/.peers
	@tests/run

# ASan + UBSan: a separate build tree; the suite drives both the sanitized
# binary and the sanitized modules (loaded into lua5.4 with libasan preloaded).
test-sanitize: $(BUILD)/.peers
	$(MAKE) BUILD=build-san LUMI=build-san/lumi-bin OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -DLUMI_CLOSE_STATE" \
	  LDFLAGS="-fsanitize=address,undefined" all
	@LUMI_SANITIZE=1 LUMI_BUILD=build-san tests/run

test-long: all
	@tests/long/run

bench: all
	@bench/run

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LUADIR) $(DESTDIR)$(LIBDIR)/lumi
	install -m 755 $(LUMI) $(DESTDIR)$(BINDIR)/lumi
	@# every Lua module, in its directory (commands/, naming/, conventions/, lint/rules/, ...)
	@cd lua && find lumi -name '*.lua' | while read -r f; do \
	  install -D -m 644 "$$f" "$(DESTDIR)$(LUADIR)/$$f"; done
	install -m 755 $(SOS) $(DESTDIR)$(LIBDIR)/lumi/
	@if [ -n "$(LUA_BC)" ]; then \
	  for f in $(LUA_BC); do d=$(DESTDIR)$(LIBDIR)/luac/$${f#$(BUILD)/luac/}; \
	    install -d $$(dirname $$d); install -m 644 $$f $$d; done; \
	fi
	@if [ -d deps/lib/lua/5.4/posix ]; then \
	  echo "installing the bundled luaposix into $(LIBDIR) and $(LUADIR)"; \
	  cp -r deps/lib/lua/5.4/posix $(DESTDIR)$(LIBDIR)/; \
	  cp -r deps/share/lua/5.4/posix $(DESTDIR)$(LUADIR)/; \
	fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/lumi
	rm -rf $(DESTDIR)$(LUADIR) $(DESTDIR)$(LIBDIR)

clean:
	rm -rf build build-san build-fuzz build-vg lumi tests/.tmp
