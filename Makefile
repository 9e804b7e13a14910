# proxyshim: one non-recursive GNU Makefile.  Output goes to $(B)/.
#
#   make                 build/proxyshim and the libraries and relay beside it
#   make CC=clang        same with clang
#   make test            deps, build, unit + integration tests
#   make test-asan       unit suites + every integration file under ASan+UBSan
#                        (in build/asan); see docs/robustness.md
#   make bench | bench-https | fuzz | demo | install | uninstall | deb | clean
#   make style

CC ?= cc
.DEFAULT_GOAL := all
B ?= build
PREFIX ?= /usr/local
DESTDIR ?=
SAN ?=
VERSION := 0.1.0

WARN := -Wall -Wextra -Werror -Wshadow -Wconversion -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
CPPFLAGS += -Iinclude -D_GNU_SOURCE -DPS_VERSION='"$(VERSION)"' -MMD -MP
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 $(WARN) -fPIC -fvisibility=hidden -fno-strict-aliasing \
	-ffunction-sections -fdata-sections
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
	resolver/source.c resolver/names.c resolver/relayseg.c \
	resolver/current.c resolver/env.c
# Config reading (libyaml) and compilation; never linked into the shim.
CONFIG_SRCS := resolver/url.c resolver/match.c resolver/config.c \
	resolver/config_yaml.c resolver/config_kestra.c resolver/config_file.c \
	resolver/envcfg.c resolver/compile.c resolver/dump.c
# Handshakes: pure builders/parsers, one I/O helper, and the hop dialler
# that the library, the relay, the probe and the supervisor share.
PROTO_SRCS := proto/socks5.c proto/socks4.c proto/httpc.c proto/io.c \
	proto/dial.c
# The relay's request codec and the kernel's word on a socket's owner.
PROTO_SRCS += proto/relayreq.c proto/sockdiag.c
# libc's connect() and getaddrinfo() for proto/io.c, in every link unit but
# the library (which sets its own: shim/init.c).
PROTO_LIBC_SRCS := proto/io_libc.c
# The DNS stub the supervisor runs for static and Go programs: the
# message codec (pure), the server, and its answer over the name map.
# Links with CORE_SRCS and PROTO_SRCS (io_now_ns); not in the library:
# wrapped programs never serve DNS.
DNS_SRCS := proto/dnsmsg.c dns/stub.c dns/answer.c
# The interposed families and the library's own init.
SHIM_SRCS := shim/init.c shim/state.c shim/tunnel.c shim/connect.c \
	shim/getaddrinfo.c shim/gethostbyname.c shim/getnameinfo.c shim/udp.c \
	shim/proxyproto.c shim/xff.c shim/fdstate.c shim/accept.c
# The getaddrinfo() results the name hooks build; the name map and the
# destinations the hooks share.
SHIM_SRCS += shim/addrinfo.c shim/namemap.c shim/dest.c
# https:// upstreams: finding and starting the TLS relay (no libssl here).
SHIM_SRCS += shim/relay.c
# Live reload: following the config file's table in force.
SHIM_SRCS += shim/reload.c
# Sanitizer builds: lets a preloaded ASan runtime start inside curl and
# wget (shim/asan_compat.c says why).
ifeq ($(SAN),1)
SHIM_SRCS += shim/asan_compat.c
endif
# The loadable compiler the shim dlopen()s when no table is published yet.
COMPILER_SRCS := resolver/compiler_entry.c
# The command links libc only (docs/performance.md#start-up): run is in
# it; check, explain, compile, dump, reload and gc are in a library it
# loads when one of them runs (or run's gc is due); the relay is its own
# program.
CLI_SRCS := cli/main.c cli/opts.c cli/load.c cli/cmd_run.c cli/gc_hold.c \
	cli/reload_start.c cli/supervise.c
TOOLS_SRCS := cli/tools.c cli/opts.c cli/cmd_table.c cli/cmd_probe.c \
	cli/cmd_gc.c cli/gc_hold.c cli/cmd_reload.c
# The TLS relay for https:// upstreams: its own program, the one part that
# loads libssl (never a wrapped program, never the command).
RELAY_SRCS := relay/relay.c relay/dial.c relay/tls.c
SSL_LIBS := $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)
# The seccomp supervisor of static and Go programs under run: its own
# program, started by run, sharing the route lookup and the dialler.
SUPERVISOR_SRCS := supervisor/main.c supervisor/serve.c supervisor/policy.c \
	supervisor/dns.c shim/dest.c
UNIT_SRCS := tests/unit/check_main.c tests/unit/check_url.c \
	tests/unit/check_match.c tests/unit/check_config.c \
	tests/unit/check_envcfg.c tests/unit/check_table.c \
	tests/unit/check_route.c tests/unit/check_proto.c \
	tests/unit/check_shm.c tests/unit/check_names.c \
	tests/unit/check_proxyproto.c tests/unit/check_xff.c \
	tests/unit/check_addrinfo.c \
	shim/proxyproto.c shim/xff.c shim/addrinfo.c
UNIT_SRCS += tests/unit/check_relayreq.c tests/unit/check_sockdiag.c
UNIT_SRCS += tests/unit/check_dnsmsg.c tests/unit/check_dnsstub.c
BENCH_SRCS := bench/lookup.c
# Start-up and connection benchmarks (bench/run.sh); the origin and the two
# clients share nothing with the library.
BENCH_TOOLS := $(B)/bench/startup $(B)/bench/origin $(B)/bench/connect \
	$(B)/bench/aware $(B)/bench/libnull.so $(B)/bench/libnullread.so \
	$(B)/bench/resolve \
	$(B)/bench/accept $(B)/bench/trampoline $(B)/bench/trampoline-static

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

# The static command's libc (see $(CLI) below): MUSL=1 musl, MUSL=0 glibc,
# default musl when its static library and headers are installed.  musl's
# headers leave out the kernel's (linux/, asm/), which the command needs for
# seccomp: $(B)/musl-inc links to the system's.
MUSL ?= auto
MUSL_TRIPLE := $(shell uname -m)-linux-musl
MUSL_LIBDIR ?= /usr/lib/$(MUSL_TRIPLE)
MUSL_INCDIR ?= /usr/include/$(MUSL_TRIPLE)
KERNEL_INCDIR ?= /usr/include
KERNEL_ASMDIR ?= $(firstword $(wildcard \
	$(KERNEL_INCDIR)/$(shell uname -m)-linux-gnu/asm $(KERNEL_INCDIR)/asm))
ifeq ($(MUSL),auto)
MUSL := $(if $(and $(wildcard $(MUSL_LIBDIR)/rcrt1.o),\
	$(wildcard $(MUSL_INCDIR)/stdio.h)),1,0)
endif
ifeq ($(MUSL),1)
STATIC_B := $(B)/obj-musl
STATIC_DEPS := | $(B)/musl-inc/linux
STATIC_CC = $(CC) -nostdinc -isystem $(MUSL_INCDIR) \
	-isystem $(shell $(CC) -print-file-name=include) \
	-idirafter $(B)/musl-inc $(CPPFLAGS) $(CFLAGS) -fPIE
static_link = $(CC) -static-pie -nostdlib $(LDFLAGS) $(1) -o $@ \
	$(MUSL_LIBDIR)/rcrt1.o $(MUSL_LIBDIR)/crti.o \
	$(shell $(CC) -print-file-name=crtbeginS.o) $^ $(MUSL_LIBDIR)/libc.a \
	$(shell $(CC) -print-libgcc-file-name) $(MUSL_LIBDIR)/libc.a \
	$(shell $(CC) -print-file-name=crtendS.o) $(MUSL_LIBDIR)/crtn.o
else
STATIC_B := $(B)/obj
STATIC_DEPS :=
STATIC_CC = $(CC) $(CPPFLAGS) $(CFLAGS)
static_link = $(CC) -static-pie $(LDFLAGS) $(1) -o $@ $^
endif
static_obj = $(patsubst %.c,$(STATIC_B)/%.o,$(1))

$(B)/musl-inc/linux:
	@mkdir -p $(dir $@)
	ln -sfn $(KERNEL_INCDIR)/linux $(B)/musl-inc/linux
	ln -sfn $(KERNEL_INCDIR)/asm-generic $(B)/musl-inc/asm-generic
	ln -sfn $(KERNEL_ASMDIR) $(B)/musl-inc/asm

$(B)/obj-musl/%.o: %.c | $(B)/musl-inc/linux
	@mkdir -p $(dir $@)
	$(STATIC_CC) -c $< -o $@

LIB := $(B)/libproxyshim.so
COMPILER_LIB := $(B)/libproxyshim-compiler.so
TOOLS_LIB := $(B)/libproxyshim-tools.so
RELAY := $(B)/proxyshim-relay
SUPERVISOR := $(B)/proxyshim-supervisor
CLI := $(B)/proxyshim
CLI_DYN := $(B)/proxyshim-dyn
UNIT := $(B)/tests/check_unit

.PHONY: all lint test test-unit test-integration test-asan bench bench-https \
	fuzz demo deps install uninstall deb clean style
all: $(LIB) $(COMPILER_LIB) $(TOOLS_LIB) $(RELAY) $(SUPERVISOR) $(CLI) \
	$(CLI_DYN)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(B)/obj/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CHECK_CFLAGS) $(CFLAGS) -Wno-conversion -c $< -o $@

# One read-only and one writable segment instead of four: fewer mmap()s
# and faults in every wrapped program's start (bench/startup).
LIB_LDFLAGS := -Wl,-z,noseparate-code
CLI_LDFLAGS := $(LIB_LDFLAGS) -Wl,--gc-sections
# What the library runs at every start is linked first, so that its code
# lies near the ELF headers, on pages the loader has already faulted in.
LIB_FIRST := shim/init.c resolver/log.c resolver/env.c resolver/shm.c \
	resolver/table.c
$(LIB): $(call obj,$(LIB_FIRST) $(filter-out $(LIB_FIRST),$(SHIM_SRCS) \
	$(PROTO_SRCS) $(CORE_SRCS)))
	$(CC) -shared $(LDFLAGS) $(LIB_LDFLAGS) -o $@ $^ -ldl -lpthread

$(COMPILER_LIB): $(call obj,$(COMPILER_SRCS) $(CONFIG_SRCS) $(CORE_SRCS))
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(YAML_LIBS)

# The command, dynamically linked: it loads the compiler and the tools
# library when a command needs them.  --as-needed: on a C library with
# dlopen() in libc, -ldl adds nothing.  Two segments like the library's.
$(CLI_DYN): $(call obj,$(CLI_SRCS) $(CORE_SRCS))
	$(CC) $(LDFLAGS) $(LIB_LDFLAGS) -Wl,--gc-sections -o $@ $^ -Wl,--as-needed -ldl

ifeq ($(SAN),1)
# The sanitizers' runtimes are shared libraries: the command stays dynamic.
$(CLI): $(CLI_DYN)
	cp $< $@
else
# The command users run: the same, statically linked (static PIE), so that
# run's start costs no dynamic loading; for what needs a library it execs
# proxyshim-dyn (cli/load.c, docs/performance.md#what-run-does).  Linked
# with musl's libc.a where it is installed (musl-dev), else glibc's: a
# static glibc program does much before main() that musl does not (its
# ifunc relocations, tunables, a malloc() and a readlink() for dlopen()).
# STATIC_CC compiles for that libc (objects under STATIC_B), static_link
# links with it.
$(CLI): $(call static_obj,$(filter-out cli/load.c,$(CLI_SRCS)) \
	$(CORE_SRCS)) $(STATIC_B)/cli/load_static.o
	$(call static_link,$(CLI_LDFLAGS))

$(STATIC_B)/cli/load_static.o: cli/load.c $(STATIC_DEPS)
	@mkdir -p $(dir $@)
	$(STATIC_CC) -DPS_STATIC_FRONT -c $< -o $@
endif

$(TOOLS_LIB): $(call obj,$(TOOLS_SRCS) $(RELAY_SRCS) $(COMPILER_SRCS) $(CONFIG_SRCS) $(CORE_SRCS) $(PROTO_SRCS) $(PROTO_LIBC_SRCS))
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(YAML_LIBS) $(SSL_LIBS) -lpthread

$(RELAY): $(call obj,relay/main.c $(RELAY_SRCS) $(CORE_SRCS) $(PROTO_SRCS) \
	$(PROTO_LIBC_SRCS))
	$(CC) $(LDFLAGS) -o $@ $^ $(SSL_LIBS) -lpthread

$(SUPERVISOR): $(call obj,$(SUPERVISOR_SRCS) $(CORE_SRCS) $(PROTO_SRCS) \
	$(PROTO_LIBC_SRCS) $(DNS_SRCS))
	$(CC) $(LDFLAGS) -o $@ $^ -lpthread

$(UNIT): $(call obj,$(UNIT_SRCS) $(COMPILER_SRCS) $(CONFIG_SRCS) $(CORE_SRCS) $(PROTO_SRCS) \
	$(PROTO_LIBC_SRCS) $(DNS_SRCS))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(YAML_LIBS) $(CHECK_LIBS)

# The DNS stub as the supervisor runs it, for test_dnsstub.sh.
DNSSTUB_SERVE := $(B)/tests/dnsstub_serve
$(DNSSTUB_SERVE): $(call obj,tests/integration/dnsstub_serve.c $(DNS_SRCS) $(CORE_SRCS) $(PROTO_SRCS) \
	$(PROTO_LIBC_SRCS))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lpthread

$(B)/bench/lookup: $(call obj,$(BENCH_SRCS) $(CONFIG_SRCS) $(CORE_SRCS))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(YAML_LIBS)

$(B)/bench/configload: $(call obj,bench/configload.c $(CONFIG_SRCS) $(CORE_SRCS))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(YAML_LIBS)

deps:
	@bash scripts/deps.sh

# The whole suite: cppcheck, clang-format, unit suites, a short run of every fuzz target
# (FUZZ_SECONDS each), then the integration tests with real proxies, whose
# "N passed, N failed" line closes the output.
test: deps
	$(MAKE) all $(UNIT)
	$(MAKE) lint style test-unit
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)
	$(MAKE) test-integration

# cppcheck over the library and the command; it does not know the
# compiler's predefined byte-order macros, so they are given.
lint:
	cppcheck --quiet --error-exitcode=1 --std=c11 \
		--enable=warning,portability,performance -D_GNU_SOURCE \
		-D__BYTE_ORDER__=1234 -D__ORDER_LITTLE_ENDIAN__=1234 \
		-D__x86_64__ -Iinclude resolver proto shim cli dns supervisor

test-unit: $(UNIT)
	CK_DEFAULT_TIMEOUT=60 $(UNIT)

test-integration: all $(DNSSTUB_SERVE)
	B=$(B) bash tests/integration/run.sh

# Under ASan+UBSan: every unit suite and every integration file, the
# library preloaded (after the ASan runtime) into the real clients; the
# harness turns any sanitizer report into a failure (docs/robustness.md).
test-asan: deps
	$(MAKE) B=build/asan SAN=1 CC=gcc all build/asan/tests/check_unit \
		build/asan/tests/dnsstub_serve
	$(MAKE) B=build/asan SAN=1 CC=gcc test-unit
	B=build/asan bash tests/integration/run.sh

$(B)/bench/startup $(B)/bench/origin $(B)/bench/trampoline: $(B)/bench/%: \
		$(B)/obj/bench/%.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

# The same, statically linked: the least a launcher can cost at all (no
# dynamic loader), as the command itself is linked.
$(B)/bench/trampoline-static: $(STATIC_B)/bench/trampoline.o
	@mkdir -p $(dir $@)
	$(call static_link,)

$(B)/bench/connect $(B)/bench/aware: $(B)/bench/%: $(B)/obj/bench/%.o \
		$(B)/obj/bench/client.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

$(B)/bench/resolve: $(B)/obj/bench/resolve.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lpthread

$(B)/bench/accept: $(B)/obj/bench/accept.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lpthread

# As cheap to preload as a library can be (no libc, one read-only and one
# writable segment, no RELRO): the floor under any preloaded library.
$(B)/bench/libnull.so: $(B)/obj/bench/nullpreload.o
	@mkdir -p $(dir $@)
	$(CC) -shared -nostdlib -Wl,-z,noseparate-code,-z,norelro -o $@ $^

# The least a table-reading preload must do (bench/nullread.c), as cheaply
# linked, but with libc.
$(B)/bench/libnullread.so: $(B)/obj/bench/nullread.o
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-z,noseparate-code,-z,norelro -o $@ $^

bench: all $(B)/bench/lookup $(B)/bench/configload $(BENCH_TOOLS)
	B=$(B) bash bench/run.sh

# The https:// upstream section alone (bench/https.sh).
bench-https: all $(BENCH_TOOLS)
	BENCH_SECTIONS=https B=$(B) bash bench/run.sh

FUZZ_SECONDS ?= 20
fuzz:
	B=$(B) FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/run.sh

demo: deps
	$(MAKE) all
	B=$(B) bash scripts/demo.sh

# --- install, uninstall, deb ---------------------------------------------
# The command finds its library at ../lib/proxyshim/ from its own path, so
# an installed tree works wherever it is, also relocated as a whole.
I_BIN = $(DESTDIR)$(PREFIX)/bin
I_LIB = $(DESTDIR)$(PREFIX)/lib/proxyshim
I_MAN = $(DESTDIR)$(PREFIX)/share/man
I_DOC = $(DESTDIR)$(PREFIX)/share/doc/proxyshim
I_COMP = $(DESTDIR)$(PREFIX)/share/bash-completion/completions
MAN_PAGES := man/proxyshim.1 man/proxyshim.yml.5
EXAMPLES := $(wildcard examples/*.yml examples/*.conf examples/*.cfg)
EXAMPLES_SYSTEMD := $(wildcard examples/systemd/*.conf)

install: all
	install -d $(I_BIN) $(I_LIB) $(I_MAN)/man1 $(I_MAN)/man5 \
		$(I_DOC)/examples/systemd $(I_COMP)
	install -m 0755 $(CLI) $(I_BIN)/proxyshim
	install -m 0644 $(LIB) $(COMPILER_LIB) $(TOOLS_LIB) $(I_LIB)/
	install -m 0755 $(RELAY) $(I_LIB)/proxyshim-relay
	install -m 0755 $(SUPERVISOR) $(I_LIB)/proxyshim-supervisor
	install -m 0755 $(CLI_DYN) $(I_LIB)/proxyshim-dyn
	install -m 0644 man/proxyshim.1 $(I_MAN)/man1/proxyshim.1
	install -m 0644 man/proxyshim.yml.5 $(I_MAN)/man5/proxyshim.yml.5
	install -m 0644 README.md docs/behaviour.md $(I_DOC)/
	install -m 0644 $(EXAMPLES) $(I_DOC)/examples/
	install -m 0644 $(EXAMPLES_SYSTEMD) $(I_DOC)/examples/systemd/
	install -m 0644 completions/proxyshim.bash $(I_COMP)/proxyshim

uninstall:
	rm -f $(I_BIN)/proxyshim $(I_MAN)/man1/proxyshim.1 \
		$(I_MAN)/man5/proxyshim.yml.5 $(I_COMP)/proxyshim
	rm -rf $(I_LIB) $(I_DOC)

# A binary package with dpkg-deb: the staging tree is an install with
# PREFIX=/usr, Depends comes from dpkg-shlibdeps (what the ELF files
# really link: libc6, libyaml-0-2, and libssl3 for the relay and the
# tools library).
DEB_ARCH = $(shell dpkg --print-architecture 2>/dev/null)
DEB_DIR = $(B)/deb
DEB_ROOT = $(DEB_DIR)/debian/proxyshim
DEB = $(B)/proxyshim_$(VERSION)_$(DEB_ARCH).deb

deb: all
	rm -rf $(DEB_DIR)
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(DEB_ROOT)) PREFIX=/usr
	gzip -9n $(DEB_ROOT)/usr/share/man/man1/proxyshim.1 \
		$(DEB_ROOT)/usr/share/man/man5/proxyshim.yml.5
	install -d -m 0755 $(DEB_ROOT)/DEBIAN
	printf 'Source: proxyshim\n\nPackage: proxyshim\nArchitecture: any\n' \
		>$(DEB_DIR)/debian/control
	cd $(DEB_DIR) && dpkg-shlibdeps -O -edebian/proxyshim/usr/bin/proxyshim \
		-edebian/proxyshim/usr/lib/proxyshim/libproxyshim.so \
		-edebian/proxyshim/usr/lib/proxyshim/libproxyshim-compiler.so \
		-edebian/proxyshim/usr/lib/proxyshim/libproxyshim-tools.so \
		-edebian/proxyshim/usr/lib/proxyshim/proxyshim-relay \
		-edebian/proxyshim/usr/lib/proxyshim/proxyshim-supervisor \
		-edebian/proxyshim/usr/lib/proxyshim/proxyshim-dyn \
		| sed -n 's/^shlibs:Depends=//p' >depends
	test -s $(DEB_DIR)/depends
	{ echo 'Package: proxyshim'; echo 'Version: $(VERSION)'; \
	  echo 'Architecture: $(DEB_ARCH)'; \
	  echo 'Maintainer: proxyshim maintainers <proxyshim@example.invalid>'; \
	  echo "Installed-Size: $$(du -sk --exclude=DEBIAN $(DEB_ROOT) | cut -f1)"; \
	  echo "Depends: $$(cat $(DEB_DIR)/depends)"; \
	  echo 'Section: net'; echo 'Priority: optional'; \
	  echo 'Homepage: https://example.invalid/proxyshim'; \
	  echo 'Description: make unmodified programs use forward proxies'; \
	  echo ' proxyshim is an LD_PRELOAD library and a command that route the'; \
	  echo ' TCP connections of unmodified Linux programs through HTTP CONNECT,'; \
	  echo ' SOCKS4/4a and SOCKS5 proxies by policy from one YAML file (Coder'"'"'s'; \
	  echo ' proxy block, Kestra service proxies, or the *_proxy variables), and'; \
	  echo ' lets servers behind a reverse proxy see their real clients (PROXY'; \
	  echo ' protocol, X-Forwarded-For).'; \
	} >$(DEB_ROOT)/DEBIAN/control
	dpkg-deb --root-owner-group -Zxz --build $(DEB_ROOT) $(DEB)

style:
	clang-format --dry-run --Werror $(wildcard include/proxyshim/*.h) \
		$(CORE_SRCS) $(CONFIG_SRCS) $(PROTO_SRCS) $(PROTO_LIBC_SRCS) $(SHIM_SRCS) $(CLI_SRCS) \
		$(DNS_SRCS) $(TOOLS_SRCS) $(RELAY_SRCS) relay/main.c $(SUPERVISOR_SRCS) \
		$(wildcard relay/*.h shim/*.h supervisor/*.h)

clean:
	rm -rf build

-include $(shell find $(B)/obj $(B)/obj-musl -name '*.d' 2>/dev/null)
