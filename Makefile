# proxyshim: one non-recursive GNU Makefile.  Output goes to $(B)/.
#
#   make                 build/libproxyshim.so build/proxyshim
#   make CC=clang        same with clang
#   make test            deps, build, unit + integration tests
#   make test-asan       the same under ASan+UBSan (in build/asan)
#   make bench | fuzz | demo | install | clean | style

CC ?= cc
B ?= build
PREFIX ?= /usr/local
DESTDIR ?=
SAN ?=
VERSION := 0.1.0

WARN := -Wall -Wextra -Werror -Wshadow -Wconversion -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
CPPFLAGS += -Iinclude -D_GNU_SOURCE -DPS_VERSION='"$(VERSION)"' -MMD -MP
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 $(WARN) -fPIC -fvisibility=hidden -fno-strict-aliasing
LDFLAGS += -Wl,-z,relro,-z,now

ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
CPPFLAGS += -DPS_DEBUG_LOG
endif
ifeq ($(DEBUG),1)
CPPFLAGS += -DPS_DEBUG_LOG
endif

YAML_LIBS := $(shell pkg-config --libs yaml-0.1 2>/dev/null || echo -lyaml)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt -lpthread)

# --- explicit source lists ----------------------------------------------
# Shared by everything: logging, table view + lookup, shared memory.
CORE_SRCS := resolver/log.c resolver/table.c resolver/route.c resolver/shm.c \
	resolver/source.c resolver/names.c
# Config reading (libyaml) and compilation; never linked into the shim.
CONFIG_SRCS := resolver/url.c resolver/match.c resolver/config.c \
	resolver/envcfg.c resolver/compile.c resolver/dump.c
# Handshakes: pure builders/parsers plus one I/O helper.
PROTO_SRCS := shim/socks5.c shim/socks4.c shim/httpc.c shim/io.c
# The interposed families and the library's own init.
SHIM_SRCS := shim/init.c shim/state.c shim/tunnel.c shim/connect.c \
	shim/getaddrinfo.c shim/gethostbyname.c shim/getnameinfo.c shim/udp.c
# The loadable compiler the shim dlopen()s when no table is published yet.
COMPILER_SRCS := resolver/compiler_entry.c
CLI_SRCS := cli/main.c cli/cmd_run.c cli/cmd_table.c
UNIT_SRCS := tests/unit/check_main.c tests/unit/check_url.c \
	tests/unit/check_match.c tests/unit/check_config.c \
	tests/unit/check_envcfg.c tests/unit/check_table.c \
	tests/unit/check_route.c tests/unit/check_proto.c \
	tests/unit/check_shm.c tests/unit/check_names.c
BENCH_SRCS := bench/lookup.c
# Start-up and connection benchmarks (bench/run.sh); the origin and the two
# clients share nothing with the library.
BENCH_TOOLS := $(B)/bench/startup $(B)/bench/origin $(B)/bench/connect \
	$(B)/bench/aware $(B)/bench/libnull.so $(B)/bench/resolve

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

LIB := $(B)/libproxyshim.so
COMPILER_LIB := $(B)/libproxyshim-compiler.so
CLI := $(B)/proxyshim
UNIT := $(B)/tests/check_unit

.PHONY: all lint test test-unit test-integration test-asan bench fuzz demo deps \
	install uninstall clean style
all: $(LIB) $(COMPILER_LIB) $(CLI)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(B)/obj/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CHECK_CFLAGS) $(CFLAGS) -Wno-conversion -c $< -o $@

$(LIB): $(call obj,$(SHIM_SRCS) $(PROTO_SRCS) $(CORE_SRCS))
	$(CC) -shared $(LDFLAGS) -o $@ $^ -ldl -lpthread

$(COMPILER_LIB): $(call obj,$(COMPILER_SRCS) $(CONFIG_SRCS) $(CORE_SRCS))
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(YAML_LIBS)

$(CLI): $(call obj,$(CLI_SRCS) $(COMPILER_SRCS) $(CONFIG_SRCS) $(CORE_SRCS) $(PROTO_SRCS))
	$(CC) $(LDFLAGS) -o $@ $^ $(YAML_LIBS)

$(UNIT): $(call obj,$(UNIT_SRCS) $(COMPILER_SRCS) $(CONFIG_SRCS) $(CORE_SRCS) $(PROTO_SRCS))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(YAML_LIBS) $(CHECK_LIBS)

$(B)/bench/lookup: $(call obj,$(BENCH_SRCS) $(CONFIG_SRCS) $(CORE_SRCS))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(YAML_LIBS)

deps:
	@bash scripts/deps.sh

test: deps
	$(MAKE) all $(UNIT)
	$(MAKE) lint test-unit test-integration

# cppcheck over the library and the command; it does not know the
# compiler's predefined byte-order macros, so they are given.
lint:
	cppcheck --quiet --error-exitcode=1 --std=c11 \
		--enable=warning,portability,performance -D_GNU_SOURCE \
		-D__BYTE_ORDER__=1234 -D__ORDER_LITTLE_ENDIAN__=1234 \
		-D__x86_64__ -Iinclude resolver shim cli

test-unit: $(UNIT)
	CK_DEFAULT_TIMEOUT=60 $(UNIT)

test-integration: all
	B=$(B) bash tests/integration/run.sh

test-asan: deps
	$(MAKE) B=build/asan SAN=1 CC=gcc all build/asan/tests/check_unit
	$(MAKE) B=build/asan SAN=1 CC=gcc test-unit test-integration

$(B)/bench/startup $(B)/bench/origin: $(B)/bench/%: $(B)/obj/bench/%.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

$(B)/bench/connect $(B)/bench/aware: $(B)/bench/%: $(B)/obj/bench/%.o \
		$(B)/obj/bench/client.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

$(B)/bench/resolve: $(B)/obj/bench/resolve.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lpthread

$(B)/bench/libnull.so: $(B)/obj/bench/nullpreload.o
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -o $@ $^

bench: all $(B)/bench/lookup $(BENCH_TOOLS)
	B=$(B) bash bench/run.sh

fuzz:
	B=$(B) bash fuzz/run.sh

demo: deps
	$(MAKE) all
	B=$(B) bash scripts/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/proxyshim
	install -m 0755 $(CLI) $(DESTDIR)$(PREFIX)/bin/proxyshim
	install -m 0644 $(LIB) $(COMPILER_LIB) $(DESTDIR)$(PREFIX)/lib/proxyshim/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/proxyshim
	rm -rf $(DESTDIR)$(PREFIX)/lib/proxyshim

style:
	clang-format --dry-run --Werror $(wildcard include/proxyshim/*.h) \
		$(CORE_SRCS) $(CONFIG_SRCS) $(PROTO_SRCS) $(SHIM_SRCS) $(CLI_SRCS)

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
