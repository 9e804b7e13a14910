#!/usr/bin/env bash
# bench/run.sh: `make bench`.  Benchmarks, not tests: nothing here passes or
# fails on a figure; a run fails only when a benchmark cannot run or a
# connection goes wrong.  Prints a markdown report (also written to
# $B/bench/results.md) ready for the README, with the command that made it.
#
#   make bench                     full run, 1.5 to 2 minutes
#   BENCH_QUICK=1 make bench       about 45 s, fewer and shorter rounds
#   make bench-https               the https:// upstream section alone
#                                  (BENCH_SECTIONS=https)
#
# Knobs (environment): BENCH_ROUNDS, BENCH_CONNS (connections per cell),
# BENCH_STARTUP_RUNS, BENCH_PIN=none|client|one|split (CPU placement, see
# below), BENCH_LOOKUP=0 (skip bench/lookup), BENCH_LIB_B=PATH (another
# build of libproxyshim.so, measured in the same run as variants named
# "B ...": to see what a change to the library does), BENCH_RUN_B=PATH
# (another build's proxyshim command, its start-up measured beside run's
# as "run B"), BENCH_VARIANTS="a b"
# (run only these connection variants; names as in the report),
# BENCH_SECTIONS="connect https" (run only these sections: lookup
# configload resolve startup connect accept https go; default all).
#
# Sections:
#  1. bench/lookup, when it is built: its own output; then
#     bench/configload: reading 100k and 1M exempt entries in both forms.
#  2. bench/startup: fork+execve+waitpid of /bin/true, bare against
#     preloaded with PROXYSHIM_TABLE and with PROXYSHIM_CONFIG, and started
#     by proxyshim run, proxychains4 and torsocks, interleaved; each as a
#     ratio to its floor (an empty preload; a launcher that only execs).
#  3. connections per second: bench/origin (HTTP/1.0 on loopback) reached
#     through microsocks (SOCKS5) and tinyproxy (HTTP CONNECT) by
#     bench/aware (speaks the proxy protocol itself), bench/connect (plain)
#     under proxychains4, bench/connect under proxyshim; bench/connect
#     direct with and without proxyshim (the origin exempt); and, through
#     dante (microsocks cannot take a pipelined greeting), bench/aware with
#     and without SOCKS5 pipelining.  Variants run interleaved: each round
#     runs every variant once, in a rotated order; the figure is the median
#     over rounds.  Every connection checks that the origin saw it come from
#     the proxy it was meant to cross (each proxy binds its outgoing side to
#     its own 127.0.0.x), or from 127.0.0.1 when direct.
#  4. accepted connections per second: bench/accept's server under
#     the shim behind haproxy send-proxy-v2, against it without the shim
#     behind haproxy sending no header; interleaved rounds, medians
#     (BENCH_ACCEPT_SECS, BENCH_ACCEPT_CONC; skipped without haproxy).
#  5. through an https:// upstream (bench/https.sh): curl with its
#     own https-proxy support, curl under proxyshim (the TLS relay) and
#     curl under proxychains4 to an stunnel client, through stunnel in
#     front of tinyproxy: conn/s and bulk MB/s, interleaved rounds,
#     medians (BENCH_HTTPS_*; skipped without stunnel4, curl or openssl).
#  6. a Go client (bench/go.sh): conn/s through microsocks under
#     proxyshim run (the seccomp supervisor) against the same client with
#     Go's own SOCKS5 support, and under proxychains4 (which Go bypasses:
#     direct); interleaved rounds, medians (skipped without go).
#
# Servers run on loopback ephemeral ports; exactly the PIDs started here are
# stopped on exit, and the tables published here are removed.

set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
B=${B:-build}
# Paths in the report are relative to the repository (nothing of this
# machine's layout in a README).
BD=${B#"$ROOT"/}
[[ $B == /* ]] || B=$ROOT/$B
export LC_ALL=C
case ":$PATH:" in
*:/usr/sbin:*) ;;
*) PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin ;;
esac
unset http_proxy https_proxy all_proxy no_proxy HTTP_PROXY HTTPS_PROXY \
	ALL_PROXY NO_PROXY PROXYSHIM_CONFIG PROXYSHIM_TABLE PROXYSHIM_LOG \
	PROXYSHIM_LOG_FILE LD_PRELOAD

QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then
	ROUNDS=${BENCH_ROUNDS:-5}
	CONNS=${BENCH_CONNS:-1000}
	STARTUP_RUNS=${BENCH_STARTUP_RUNS:-500}
	LOOKUP_ARGS=(100000 100000)
else
	ROUNDS=${BENCH_ROUNDS:-10}
	CONNS=${BENCH_CONNS:-2000}
	STARTUP_RUNS=${BENCH_STARTUP_RUNS:-2000}
	LOOKUP_ARGS=()
fi
ALL_SECTIONS="lookup configload resolve startup connect accept https go"
SECTIONS=${BENCH_SECTIONS:-$ALL_SECTIONS}
for s in $SECTIONS; do
	[[ " $ALL_SECTIONS " == *" $s "* ]] ||
		{ echo "bench: BENCH_SECTIONS: no section $s ($ALL_SECTIONS)" >&2; exit 1; }
done
section_on() {
	[[ " $SECTIONS " == *" $1 "* ]]
}
CELL_TIMEOUT=120 # seconds for one client run; a stuck proxy fails the run

LIB=$B/libproxyshim.so
PS=$B/proxyshim
CONNECT=$B/bench/connect
AWARE=$B/bench/aware
ORIGIN_BIN=$B/bench/origin
STARTUP=$B/bench/startup
NULL_LIB=$B/bench/libnull.so
NULLREAD_LIB=$B/bench/libnullread.so
LIB_B=${BENCH_LIB_B:-}
if [[ -n $LIB_B ]]; then
	[[ -f $LIB_B ]] || { echo "bench: BENCH_LIB_B=$LIB_B: no such file" >&2; exit 1; }
	LIB_B=$(realpath "$LIB_B")
fi
RUN_B=${BENCH_RUN_B:-}
if [[ -n $RUN_B ]]; then
	[[ -x $RUN_B ]] || { echo "bench: BENCH_RUN_B=$RUN_B: not executable" >&2; exit 1; }
	RUN_B=$(realpath "$RUN_B")
fi
RESULTS=$B/bench/results.md

for f in "$LIB" "$PS" "$CONNECT" "$AWARE" "$ORIGIN_BIN" "$STARTUP" \
	"$NULL_LIB" "$NULLREAD_LIB" "$B/bench/trampoline"; do
	if [[ ! -x $f && ! -f $f ]]; then
		echo "bench: $f is missing: run 'make bench'" >&2
		exit 1
	fi
done

for c in microsocks tinyproxy proxychains4 ss timeout; do
	if ! command -v "$c" >/dev/null; then
		echo "bench: $c is missing: run scripts/deps.sh (or make test)" >&2
		exit 1
	fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/proxyshim-bench.XXXXXX") || exit 1
# Daemons that drop to nobody must reach their files here.
chmod 0711 "$T"
PIDS=()
TABLES=()

cleanup() {
	local pid name
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	# The tables and what the library keeps beside them (-state, -names).
	for name in "${TABLES[@]}"; do
		rm -f "/dev/shm/${name#/}" "/dev/shm/${name#/}"-*
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

note() {
	printf 'bench: %s\n' "$*" >&2
}

die() {
	note "$*"
	exit 1
}

# CPU placement, the same for every variant (BENCH_PIN):
#   none    the scheduler decides;
#   client  the clients on CPU 0, the servers anywhere;
#   one     (default) clients and servers all on CPU 0: the exchange is
#           serialized anyway (one connection at a time), so every CPU
#           microsecond any party spends shows, cross-CPU wake-ups (slow
#           in a VM, and the main source of noise when unpinned) vanish,
#           and the other CPUs take the load of whatever else runs;
#   split   clients on CPU 0, servers on the other CPUs.
CLIENT_PIN=()
SERVER_PIN=()
NCPU=$(nproc)
PIN=${BENCH_PIN:-one}
case $PIN in
none) ;;
client) CLIENT_PIN=(taskset -c 0) ;;
one) CLIENT_PIN=(taskset -c 0) SERVER_PIN=(taskset -c 0) ;;
split)
	((NCPU >= 2)) || die "BENCH_PIN=split needs two CPUs"
	CLIENT_PIN=(taskset -c 0)
	SERVER_PIN=(taskset -c 1-$((NCPU - 1)))
	;;
*) die "BENCH_PIN: none, client, one or split" ;;
esac
if ((${#CLIENT_PIN[@]})) && ! command -v taskset >/dev/null; then
	die "taskset (util-linux) is missing; or set BENCH_PIN=none"
fi

# The user's supervisor (docs/behaviour.md#one-supervisor-per-user) lives
# on between runs, on the CPUs of whichever run started it: one of ours,
# pinned, or an unpinned one before the benchmark.  Its work (taking each
# tree, serving the Go client) counted on CPU 0 in one run and on another
# CPU in the next: 0.05-0.07 of the exec floor in run's start.  So it is
# placed as a server, whoever started it: sup_place, after a run that
# makes sure it is there, in each section that uses run.
case $PIN in
one) SUP_CPUS=0 ;;
split) SUP_CPUS=1-$((NCPU - 1)) ;;
*) SUP_CPUS=0-$((NCPU - 1)) ;;
esac
sup_place() { # CONFIG
	local exe p n=0
	"${CLIENT_PIN[@]}" "$PS" run -q -c "$1" -- true ||
		die "proxyshim run failed with $1"
	command -v taskset >/dev/null || return 0
	exe=$(realpath "$B/proxyshim-supervisor") || return 0
	for p in $(pgrep -x proxyshim-super); do
		[[ $(readlink "/proc/$p/exe" 2>/dev/null) == "$exe" ]] || continue
		taskset -a -p -c "$SUP_CPUS" "$p" >/dev/null 2>&1 && n=$((n + 1))
	done
	note "supervisor placed on CPU(s) $SUP_CPUS ($n process(es))"
}

# A port nobody listens on, below the ephemeral range.
free_port() {
	local p i
	for i in $(seq 1 100); do
		p=$((20000 + RANDOM % 12000))
		if ! ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

wait_listen() { # PORT PID
	local i
	for i in $(seq 1 100); do
		kill -0 "$2" 2>/dev/null || return 1
		ss -Hltn "sport = :$1" 2>/dev/null | grep -q . && return 0
		sleep 0.05
	done
	return 1
}

# start NAME PORT CMD...: run a server in the foreground of a background
# job, remember its PID, wait for PORT to listen.
start() {
	local name=$1 port=$2 pid
	shift 2
	"${SERVER_PIN[@]}" "$@" >"$T/$name.log" 2>&1 </dev/null &
	pid=$!
	PIDS+=("$pid")
	if ! wait_listen "$port" "$pid"; then
		note "$name did not listen on $port:"
		cat "$T/$name.log" >&2
		return 1
	fi
}

median() {
	printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 }
		END { if (NR == 0) print "nan";
		      else if (NR % 2) print a[(NR + 1) / 2];
		      else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# stats LIST: "median min max" of a space-separated list (one per round).
stats() {
	# shellcheck disable=SC2086 # word splitting of the list is wanted
	printf '%s %s\n' "$(median $1)" "$(printf '%s\n' $1 | sort -g |
		awk 'NR == 1 { a = $1 } { b = $1 } END { print a, b }')"
}

# ratio LIST_A LIST_B: "of-medians median-per-round": median(A)/median(B),
# and the median of the per-round ratios (the two ran in the same round,
# so drift cancels).
ratio() {
	local a b per=() i
	read -r -a a <<<"$1"
	read -r -a b <<<"$2"
	for i in "${!a[@]}"; do
		per+=("$(awk -v x="${a[$i]}" -v y="${b[$i]}" 'BEGIN { printf "%.4f", x / y }')")
	done
	# shellcheck disable=SC2086 # word splitting of the lists is wanted
	awk -v x="$(median $1)" -v y="$(median $2)" -v p="$(median "${per[@]}")" \
		'BEGIN { printf "%.3f %.3f\n", x / y, p }'
}

# proxychains4: strict chain, quiet, libc DNS (no proxy_dns line), and no
# localnet line, so 127.0.0.1 is proxied like anything else.
# start_tinyproxy NAME PORT BIND: tinyproxy on 127.0.0.1:PORT, its
# outgoing side bound to BIND (so the origin can tell who it came through),
# CONNECT to any port.
start_tinyproxy() {
	{
		echo "Port $2"
		echo "Listen 127.0.0.1"
		echo "Bind $3"
		echo "Timeout 60"
		echo "LogLevel Critical"
		echo "MaxClients 1024"
		echo "Allow 127.0.0.1"
		echo "DisableViaHeader Yes"
		# No ConnectPort line: CONNECT to any port (else only 443 and 563).
		if ((EUID == 0)); then
			echo "User nobody"
			echo "Group $(id -gn nobody)"
		fi
	} >"$T/$1.conf"
	start "$1" "$2" tinyproxy -d -c "$T/$1.conf"
}

pc_conf() { # FILE TYPE PORT
	printf '%s\n' strict_chain quiet_mode "tcp_read_time_out 15000" \
		"tcp_connect_time_out 8000" "[ProxyList]" "$2 127.0.0.1 $3" >"$1"
}

pkg_ver() {
	dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"
}

# -------------------------------------------------------------- report

exec 3>&1
mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS"
out() {
	printf '%s\n' "$*" | tee -a "$RESULTS" >&3
}

cmdline="make bench"
for v in $(compgen -v BENCH_ | sort); do
	cmdline="$v=${!v} $cmdline"
done
out "## Benchmarks"
out ""
out "Produced by \`$cmdline\` (bench/run.sh) on $(date -u +%Y-%m-%d), $NCPU CPUs" \
	"($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), Linux $(uname -r)," \
	"load average at start $(cut -d' ' -f1-3 /proc/loadavg)."
case $PIN in
none) out "No CPU pinning (BENCH_PIN=none)." ;;
client) out "Clients pinned to CPU 0, servers unpinned (BENCH_PIN=client)." ;;
one) out "Clients and servers all pinned to CPU 0 (BENCH_PIN=one)." ;;
split) out "Clients pinned to CPU 0, servers to CPU 1-$((NCPU - 1)) (BENCH_PIN=split)." ;;
esac
out ""

# -------------------------------------------------------------- lookup

if section_on lookup && [[ ${BENCH_LOOKUP:-1} == 1 && -x $B/bench/lookup ]]; then
	note "lookup ${LOOKUP_ARGS[*]}"
	out "### Route lookup: \`$BD/bench/lookup ${LOOKUP_ARGS[*]}\`"
	out ""
	if ! lookup_out=$("$B/bench/lookup" "${LOOKUP_ARGS[@]}" 2>&1); then
		printf '%s\n' "$lookup_out" >&2
		die "bench/lookup failed"
	fi
	out '```'
	out "$lookup_out"
	out '```'
	out ""
fi

# ----------------------------------------------------------- configload

# Reading a large exempt list, string and list forms at 100k and 1M
# entries: libyaml's share, ours, page faults and the reader's own work
# count (docs/performance.md#reading-large-configs).
if section_on configload && [[ -x $B/bench/configload ]]; then
	note "configload"
	out "### Reading large exempt lists: \`$BD/bench/configload\`"
	out ""
	if ! cl_out=$("$B/bench/configload" 2>&1); then
		printf '%s\n' "$cl_out" >&2
		die "bench/configload failed"
	fi
	out "$cl_out"
	out ""
fi

# -------------------------------------------------------------- resolve

# getaddrinfo() under the shim for a name that gets a fake address (dns:
# remote, a socks5h upstream: no query leaves), against plain glibc for a
# name from /etc/hosts; 1 and 8 threads.  Nothing listens on the upstream:
# resolving never connects.
if section_on resolve && [[ -x $B/bench/resolve ]]; then
	printf 'proxy:\n  http: socks5h://127.0.0.1:9\n  dns: remote\n' \
		>"$T/resolve.yml"
	TABLES+=("$("$PS" compile -c "$T/resolve.yml")") # removed at exit
	RES_N=${BENCH_RESOLVE_N:-200000}
	((QUICK)) && RES_N=50000
	out "### Name resolution: \`$BD/bench/resolve NAME $RES_N THREADS\`"
	out ""
	out "| variant | threads | getaddrinfo calls/s |"
	out "|---|---:|---:|"
	for th in 1 8; do
		fake=$(LD_PRELOAD=$LIB PROXYSHIM_CONFIG=$T/resolve.yml \
			"$B/bench/resolve" fake.bench.invalid "$RES_N" "$th") ||
			die "bench/resolve (shim) failed"
		plain=$("$B/bench/resolve" localhost "$RES_N" "$th") ||
			die "bench/resolve (glibc) failed"
		out "| proxyshim, fake address | $th | ${fake##*calls_per_s } |"
		out "| glibc, /etc/hosts name | $th | ${plain##*calls_per_s } |"
	done
	out ""
fi

# -------------------------------------------------------------- startup

# The user-space instructions of one start of each variant, counted by
# callgrind: the same on every machine and under any load, so a change's
# effect shows where the timings above drown in noise.  A launcher's count
# stops at its execve() (--dump-before); what it starts is counted as the
# preloaded or bare /bin/true.  The kernel's share of a start (exec, mmap,
# page faults), most of the time above, is not in these counts.
startup_ir() { # VAR [NAME=VALUE...] CMD...: the count into VAR
	local -n ir_out=$1
	local envs=()
	shift
	while [[ $1 == *=* ]]; do
		envs+=("$1")
		shift
	done
	rm -f "$T"/cg.out*
	(cd "$T" && env "${envs[@]}" valgrind --tool=callgrind \
		--dump-before=execve --callgrind-out-file="$T/cg.out" "$@" \
		>/dev/null 2>&1) || true
	ir_out=$(cat "$T"/cg.out* 2>/dev/null | sed -n 's/^summary: \([0-9]*\)$/\1/p' |
		head -n1)
	[[ -n $ir_out ]] || die "callgrind counted nothing for: $*"
}

startup_work() {
	local bare null nread table table_b tramp run
	if ! command -v valgrind >/dev/null; then
		note "valgrind not installed: no instruction counts of start-up"
		return 0
	fi
	startup_ir bare /bin/true
	startup_ir null LD_PRELOAD="$NULL_LIB" /bin/true
	startup_ir nread LD_PRELOAD="$NULLREAD_LIB" \
		PROXYSHIM_TABLE="$startup_table" /bin/true
	startup_ir table LD_PRELOAD="$LIB" PROXYSHIM_TABLE="$startup_table" \
		/bin/true
	[[ -n $LIB_B ]] && startup_ir table_b LD_PRELOAD="$LIB_B" \
		PROXYSHIM_TABLE="$startup_table" /bin/true
	startup_ir tramp "$B/bench/trampoline" /bin/true
	startup_ir run "$PS" run -q -c "$T/startup.yml" -- /bin/true
	out "User-space instructions of one start (\`valgrind --tool=callgrind\`;" \
		"launchers up to their execve(), the same on any machine; not the" \
		"kernel's share of a start, which is most of its time):"
	out ""
	out "| variant | instructions | over its floor |"
	out "|---|---:|---:|"
	out "| bare \`/bin/true\` | $bare | |"
	out "| null-preload | $null | floor |"
	out "| null-read | $nread | +$((nread - null)) |"
	out "| table | $table | +$((table - null)) |"
	[[ -n $LIB_B ]] && out "| B table | $table_b | +$((table_b - null)) |"
	out "| exec-floor launcher, to its exec | $tramp | floor |"
	out "| run, to its exec | $run | +$((run - tramp)) |"
	out ""
}

if section_on startup; then
	# A config of the usual size: two upstreams, an exempt list, a few rules.
	cat >"$T/startup.yml" <<'EOF'
proxy:
  http: localhost:3128
  https: https://proxy.corp:3129
  exempt: "cluster.local,example.com,.internal,10.0.0.0/8,192.168.0.0/16"
  https_ports: [443, 8443]
  rules:
    - match: ["api.kestra.io", "*.internal.example"]
      via: socks5://user:pass@10.10.10.10:1080
    - match: 192.168.0.0/16
      via: direct
EOF
	startup_table=$("$PS" compile -c "$T/startup.yml") ||
		die "proxyshim compile failed"
	TABLES+=("$startup_table")
	startup_cmd=("$STARTUP" -n "$STARTUP_RUNS" -l "$LIB" -t "$startup_table"
		-c "$T/startup.yml" -z "$NULL_LIB" -e "null-read=$NULLREAD_LIB")
	[[ -n $LIB_B ]] && startup_cmd+=(-e "B table=$LIB_B")
	# The launchers, each against the exec floor (a program that only
	# execv()s its arguments): proxyshim run with its table published
	# (compiled above), proxychains4 and torsocks when installed.
	# filter-floor: the same, with a seccomp notification filter
	# installed before the exec (the least a supervising launcher costs);
	# launch-floor: that, and the empty library preloaded into the
	# command (the least a launcher that supervises and preloads costs);
	# lib-floor: that with libproxyshim.so and run's table (all that run
	# hands its command, without run's own work); static-lib-floor: the
	# same from the trampoline linked statically, as the command is.
	startup_cmd+=(-T "$B/bench/trampoline"
		-x "filter-floor=$B/bench/trampoline -s"
		-x "launch-floor=$B/bench/trampoline -s -E LD_PRELOAD=$NULL_LIB"
		-x "lib-floor=$B/bench/trampoline -s -E LD_PRELOAD=$LIB -E PROXYSHIM_TABLE=$startup_table"
		-x "static-lib-floor=$B/bench/trampoline-static -s -E LD_PRELOAD=$LIB -E PROXYSHIM_TABLE=$startup_table"
		-x "run=$PS run -q -c $T/startup.yml --")
	[[ -n $RUN_B ]] && startup_cmd+=(-x "run B=$RUN_B run -q -c $T/startup.yml --")
	if command -v proxychains4 >/dev/null; then
		pc_conf "$T/pc-startup.conf" socks5 9
		startup_cmd+=(-x "proxychains4=$(command -v proxychains4) -q -f $T/pc-startup.conf")
	fi
	command -v torsocks >/dev/null &&
		startup_cmd+=(-x "torsocks=$(command -v torsocks)")
	sup_place "$T/startup.yml"
	note "startup: ${startup_cmd[*]}"
	# From the temp dir: no ./proxyshim.yml there to configure "unconfigured".
	startup_out=$(cd "$T" && "${CLIENT_PIN[@]}" "${startup_cmd[@]}") ||
		die "bench/startup failed"
	out "### Start-up"
	out ""
	out "$startup_out"
	out ""
	# run against the floors of a launcher that supervises (and
	# preloads), and where its start goes, step by step.
	med() { awk -F'|' -v v="$1" '$2 ~ "^ *" v " *$" {print $3}' <<<"$startup_out"; }
	div() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
	frac() { awk -v a="$1" -v b="$2" -v c="$3" 'BEGIN {printf "%.3f", (a - b) / c}'; }
	ef=$(med exec-floor) ff=$(med filter-floor) lf=$(med launch-floor)
	bf=$(med lib-floor) sf=$(med static-lib-floor) rr=$(med run)
	if [[ -n $ef && -n $ff && -n $lf && -n $bf && -n $sf && -n $rr ]]; then
		out "run ÷ filter-floor: $(div "$rr" "$ff"); run ÷ launch-floor:" \
			"$(div "$rr" "$lf"); run ÷ lib-floor: $(div "$rr" "$bf");" \
			"run ÷ static-lib-floor: $(div "$rr" "$sf")."
		out ""
		out "Where run's start goes, as fractions of exec-floor: the filter" \
			"$(frac "$ff" "$ef" "$ef"), preloading an empty library" \
			"$(frac "$lf" "$ff" "$ef"), proxyshim's library and table beyond" \
			"that $(frac "$bf" "$lf" "$ef"), a static launcher instead of a" \
			"dynamic one $(frac "$sf" "$bf" "$ef"), run's own work and" \
			"joining the supervisor $(frac "$rr" "$sf" "$ef")." \
			"(filter-floor: bench/trampoline -s, which installs a seccomp" \
			"notification filter and execs, as run must before its command;" \
			"launch-floor: the same with the empty library preloaded;" \
			"lib-floor: with libproxyshim.so and run's table instead;" \
			"static-lib-floor: that from bench/trampoline linked statically," \
			"as the command is.)"
		out ""
	fi
	out "\`table\`: \`LD_PRELOAD=libproxyshim.so PROXYSHIM_TABLE=<name>\` (what" \
		"\`proxyshim run\` exports); \`config\`: \`PROXYSHIM_CONFIG=FILE\` by hand," \
		"table already published; \`null-preload\`: an empty library linked" \
		"as cheaply as the loader allows (its price for any preload at all);" \
		"\`null-read\`: the same plus a constructor that only opens, fstat()s," \
		"reads and closes the table (the least any table-reading preload" \
		"does); \`unconfigured\`: the library with nothing configured;" \
		"\`exec-floor\`: the program started by one that only execv()s it" \
		"(bench/trampoline.c), the least any launcher costs; \`run\`:" \
		"\`proxyshim run -q -c FILE --\` with the table published." \
		"× floor: preloads to null-preload, launchers to exec-floor." \
		"Targets: run ≤ 1.15× exec-floor, table ≤ 1.06× null-preload."
	out ""
	startup_work
fi

# -------------------------------------------------------------- connect

if section_on connect; then
	note "starting origin and proxies"
	"${SERVER_PIN[@]}" "$ORIGIN_BIN" -t 1800 >"$T/origin.port" 2>"$T/origin.log" &
	PIDS+=("$!")
	for _ in $(seq 1 100); do
		[[ -s $T/origin.port ]] && break
		sleep 0.05
	done
	ORIGIN_PORT=$(head -n1 "$T/origin.port")
	[[ -n $ORIGIN_PORT ]] || die "origin did not start: $(cat "$T/origin.log")"
	ORIGIN=127.0.0.1:$ORIGIN_PORT

	MS_PORT=$(free_port) || die "no free port"
	start microsocks "$MS_PORT" microsocks -i 127.0.0.1 -p "$MS_PORT" \
		-b 127.0.0.2 || exit 1

	TP_PORT=$(free_port) || die "no free port"
	start_tinyproxy tinyproxy "$TP_PORT" 127.0.0.3 || exit 1

	DANTE_PORT=
	if command -v danted >/dev/null && ((EUID == 0)); then
		DANTE_PORT=$(free_port) || die "no free port"
		cat >"$T/danted.conf" <<EOF
logoutput: $T/danted.log
internal: 127.0.0.1 port = $DANTE_PORT
external: 127.0.0.4
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
EOF
		start dante "$DANTE_PORT" danted -f "$T/danted.conf" || exit 1
	else
		note "dante (danted, as root) unavailable: no pipelining figures"
	fi

	pc_conf "$T/pc-socks5.conf" socks5 "$MS_PORT"
	pc_conf "$T/pc-http.conf" http "$TP_PORT"

	# proxyshim: proxy_loopback so that the loopback origin is proxied.
	shim_conf() { # FILE UPSTREAM [EXEMPT]
		{
			echo "proxy:"
			echo "  http: $2"
			echo "  proxy_loopback: true"
			[[ -n ${3:-} ]] && echo "  exempt: \"$3\""
		} >"$1"
		name=$("$PS" compile -c "$1") || die "proxyshim compile $1 failed"
		TABLES+=("$name")
	}
	shim_conf "$T/shim-socks5.yml" "socks5://127.0.0.1:$MS_PORT"
	shim_conf "$T/shim-http.yml" "http://127.0.0.1:$TP_PORT"
	shim_conf "$T/shim-exempt.yml" "socks5://127.0.0.1:$MS_PORT" 127.0.0.0/8
	[[ -n $DANTE_PORT ]] &&
		shim_conf "$T/shim-dante.yml" "socks5://127.0.0.1:$DANTE_PORT"

	# The routes must be what the variants claim.
	expect_route() { # FILE WORD
		local r
		r=$("$PS" explain -c "$1" "$ORIGIN" | head -n1)
		[[ $r == "$2"* ]] || die "$1: route to $ORIGIN is '$r', expected $2"
	}
	expect_route "$T/shim-socks5.yml" via
	expect_route "$T/shim-http.yml" via
	expect_route "$T/shim-exempt.yml" direct

	VARIANTS=(no-shim proxyshim-exempt
		aware-socks5 proxychains4-socks5 proxyshim-socks5
		aware-http proxychains4-http proxyshim-http
		preload-exempt preload-socks5 preload-http
		filtered-exempt filtered-socks5 filtered-http)
	[[ -n $DANTE_PORT ]] &&
		VARIANTS+=(aware-dante aware-dante-pipelined proxyshim-dante)
	if [[ -n $LIB_B ]]; then
		VARIANTS+=(B-exempt B-socks5 B-http)
		[[ -n $DANTE_PORT ]] && VARIANTS+=(B-dante)
	fi
	if [[ -n ${BENCH_VARIANTS:-} ]]; then
		read -r -a want <<<"$BENCH_VARIANTS"
		for v in "${want[@]}"; do
			[[ " ${VARIANTS[*]} " == *" $v "* ]] || die "BENCH_VARIANTS: no variant $v"
		done
		VARIANTS=("${want[@]}")
	fi
	has_variant() {
		[[ " ${VARIANTS[*]} " == *" $1 "* ]]
	}

	# cell_cmd VARIANT N: the client command line, in CMDV.
	cell_cmd() {
		local v=$1 n=$2 ms=127.0.0.1:$MS_PORT tp=127.0.0.1:$TP_PORT
		local da=127.0.0.1:${DANTE_PORT:-0}
		case $v in
		no-shim) CMDV=("$CONNECT" -n "$n" "$ORIGIN") ;;
		proxyshim-exempt)
			CMDV=("$PS" run -c "$T/shim-exempt.yml" -- "$CONNECT" -n "$n"
				"$ORIGIN") ;;
		aware-socks5)
			CMDV=("$AWARE" -n "$n" -e 127.0.0.2 socks5 "$ms" "$ORIGIN") ;;
		proxychains4-socks5)
			CMDV=(proxychains4 -q -f "$T/pc-socks5.conf" "$CONNECT" -n "$n"
				-e 127.0.0.2 "$ORIGIN") ;;
		proxyshim-socks5)
			CMDV=("$PS" run -c "$T/shim-socks5.yml" -- "$CONNECT" -n "$n"
				-e 127.0.0.2 "$ORIGIN") ;;
		aware-http)
			CMDV=("$AWARE" -n "$n" -e 127.0.0.3 http "$tp" "$ORIGIN") ;;
		proxychains4-http)
			CMDV=(proxychains4 -q -f "$T/pc-http.conf" "$CONNECT" -n "$n"
				-e 127.0.0.3 "$ORIGIN") ;;
		proxyshim-http)
			CMDV=("$PS" run -c "$T/shim-http.yml" -- "$CONNECT" -n "$n"
				-e 127.0.0.3 "$ORIGIN") ;;
		aware-dante)
			CMDV=("$AWARE" -n "$n" -e 127.0.0.4 socks5 "$da" "$ORIGIN") ;;
		aware-dante-pipelined)
			CMDV=("$AWARE" -n "$n" -e 127.0.0.4 -s socks5 "$da" "$ORIGIN") ;;
		proxyshim-dante)
			CMDV=("$PS" run -c "$T/shim-dante.yml" -- "$CONNECT" -n "$n"
				-e 127.0.0.4 "$ORIGIN") ;;
		preload-exempt | preload-socks5 | preload-http)
			# The library by hand, no run: no seccomp filter.
			cell_cmd "proxyshim-${v#preload-}" "$n"
			CMDV=(env "LD_PRELOAD=$LIB" "PROXYSHIM_CONFIG=${CMDV[3]}"
				"${CMDV[@]:5}") ;;
		filtered-exempt | filtered-socks5 | filtered-http)
			# The same under a filter like run's that nothing serves
			# (bench/trampoline -s), the library's connects marked:
			# the kernel's share of supervision, the floor of run.
			cell_cmd "preload-${v#filtered-}" "$n"
			CMDV=("$B/bench/trampoline" -s "$(command -v env)"
				"${CMDV[@]:1:2}" PROXYSHIM_SUPERVISED=1 "${CMDV[@]:3}") ;;
		B-*)
			cell_cmd "proxyshim-${v#B-}" "$n"
			CMDV=(env "PROXYSHIM_LIB=$LIB_B" "${CMDV[@]}") ;;
		*) die "unknown variant $v" ;;
		esac
	}

	# run_cell VARIANT N: prints "CONN_PER_S P50_US".
	run_cell() {
		local line
		cell_cmd "$1" "$2"
		if ! line=$(timeout "$CELL_TIMEOUT" "${CLIENT_PIN[@]}" "${CMDV[@]}" \
			2>"$T/cell.err"); then
			note "variant $1 failed: ${CMDV[*]}"
			cat "$T/cell.err" >&2
			return 1
		fi
		sed -n 's/.*conn_per_s=\([0-9.]*\) p50_us=\([0-9.]*\).*/\1 \2/p' \
			<<<"$line"
	}

	declare -A CPS=() P50=()
	sup_place "$T/shim-exempt.yml"
	note "connect: sanity pass (50 connections per variant)"
	for v in "${VARIANTS[@]}"; do
		run_cell "$v" 50 >/dev/null || exit 1
	done
	nv=${#VARIANTS[@]}
	for ((r = 0; r < ROUNDS; r++)); do
		note "connect: round $((r + 1))/$ROUNDS, $CONNS connections per variant"
		for ((k = 0; k < nv; k++)); do
			v=${VARIANTS[$(((r + k) % nv))]}
			res=$(run_cell "$v" "$CONNS") || exit 1
			CPS[$v]+=" ${res% *}"
			P50[$v]+=" ${res#* }"
		done
	done

	declare -A MEDP=()
	out "### Connections per second"
	out ""
	out "$CONNS sequential connections per run (connect, HTTP/1.0 GET, whole" \
		"reply, close) to a loopback origin; $ROUNDS interleaved rounds; median" \
		"conn/s over the rounds, with the slowest and fastest round, and the" \
		"median of the per-connection median latency."
	out ""
	out "| variant | conn/s (median) | min | max | latency p50 µs |"
	out "|---|---:|---:|---:|---:|"
	for v in "${VARIANTS[@]}"; do
		read -r med mn mx < <(stats "${CPS[$v]}")
		# shellcheck disable=SC2086 # word splitting of the list is wanted
		MEDP[$v]=$(median ${P50[$v]})
		out "| $v | $med | $mn | $mx | ${MEDP[$v]} |"
	done
	out ""

	# Rows whose variants were not run are left out.
	ratio_row() { # LABEL A B TARGET
		local rm rp rl ok
		has_variant "$2" && has_variant "$3" || return 0
		read -r rm rp < <(ratio "${CPS[$2]}" "${CPS[$3]}")
		rl=$(awk -v x="${MEDP[$3]}" -v y="${MEDP[$2]}" 'BEGIN { printf "%.3f", x / y }')
		ok=$(awk -v r="$rm" -v t="$4" 'BEGIN { print (r >= t) ? "yes" : "no" }')
		out "| $1 | $rm | $rp | $rl | ≥ $4 | $ok |"
	}
	out "Ratios of conn/s: of the medians (the figure held against the target)," \
		"the median of the per-round ratios, and the inverse ratio of the p50" \
		"latencies (least sensitive to stalls caused by other load)."
	out ""
	out "| ratio | of medians | median per round | by p50 latency | target | met |"
	out "|---|---:|---:|---:|---:|---|"
	ratio_row "proxyshim / aware, SOCKS5 (microsocks)" proxyshim-socks5 aware-socks5 0.97
	ratio_row "proxyshim / proxychains4, SOCKS5 (microsocks)" proxyshim-socks5 proxychains4-socks5 1.1
	ratio_row "proxyshim / aware, HTTP CONNECT (tinyproxy)" proxyshim-http aware-http 0.97
	ratio_row "proxyshim / proxychains4, HTTP CONNECT (tinyproxy)" proxyshim-http proxychains4-http 1.1
	ratio_row "exempt-direct under proxyshim / no shim" proxyshim-exempt no-shim 0.98
	ratio_row "run (supervised) / preload (not), exempt" proxyshim-exempt preload-exempt 0.98
	ratio_row "run (supervised) / preload (not), SOCKS5" proxyshim-socks5 preload-socks5 0.98
	ratio_row "run (supervised) / preload (not), HTTP CONNECT" proxyshim-http preload-http 0.98
	ratio_row "preload under a bare filter / preload, exempt" filtered-exempt preload-exempt 0.98
	ratio_row "run (supervised) / preload under a bare filter, exempt" proxyshim-exempt filtered-exempt 0.98
	ratio_row "run (supervised) / preload under a bare filter, SOCKS5" proxyshim-socks5 filtered-socks5 0.98
	ratio_row "run (supervised) / preload under a bare filter, HTTP CONNECT" proxyshim-http filtered-http 0.98
	if [[ -n $DANTE_PORT ]]; then
		ratio_row "aware pipelined / aware, SOCKS5 (dante)" aware-dante-pipelined aware-dante 1.0
		ratio_row "proxyshim / aware, SOCKS5 (dante)" proxyshim-dante aware-dante 0.97
	fi
	if [[ -n $LIB_B ]]; then
		ratio_row "B / aware, SOCKS5 (microsocks)" B-socks5 aware-socks5 0.97
		ratio_row "B / proxychains4, SOCKS5 (microsocks)" B-socks5 proxychains4-socks5 1.1
		ratio_row "B / aware, HTTP CONNECT (tinyproxy)" B-http aware-http 0.97
		ratio_row "B / proxychains4, HTTP CONNECT (tinyproxy)" B-http proxychains4-http 1.1
		ratio_row "B exempt-direct / no shim" B-exempt no-shim 0.98
		ratio_row "B / proxyshim, SOCKS5 (microsocks)" B-socks5 proxyshim-socks5 1.0
		ratio_row "B / proxyshim, HTTP CONNECT (tinyproxy)" B-http proxyshim-http 1.0
		ratio_row "B / aware, SOCKS5 (dante)" B-dante aware-dante 0.97
		ratio_row "B / proxyshim, SOCKS5 (dante)" B-dante proxyshim-dante 1.0
	fi
	out ""
	out "aware: \`bench/aware\` speaks SOCKS5 / CONNECT itself with the bytes" \
		"proxyshim sends; proxychains4: \`bench/connect\` under proxychains4" \
		"(strict_chain, quiet_mode, no proxy_dns, no localnet);" \
		"proxyshim: \`bench/connect\` under \`proxyshim run\` (\`proxy_loopback:" \
		"true\`; under its seccomp supervision); preload: the same" \
		"library by hand with \`LD_PRELOAD\` (no filter); filtered: that" \
		"under a seccomp filter nothing serves, the library's connects" \
		"marked past it (\`bench/trampoline -s\`: the kernel's share of" \
		"supervision); exempt: the" \
		"origin in \`exempt\`. microsocks cannot take a" \
		"pipelined greeting (it drops the request sent with it and the" \
		"connection stalls), so pipelining is measured through dante." \
		"Versions: microsocks $(pkg_ver microsocks), tinyproxy" \
		"$(pkg_ver tinyproxy), dante-server $(pkg_ver dante-server)," \
		"proxychains4 $(pkg_ver proxychains4)."
	[[ -n $LIB_B ]] && out "" && out "B: the same under \`BENCH_LIB_B=$LIB_B\`."
fi

# -------------------------------------------------------------- accept

# The reverse-proxy side: bench/accept's server (accept, read a
# byte, answer, close; one connection at a time) under the shim with
# `headers: [PROXY]` behind haproxy send-proxy-v2, against the same server
# without the shim behind a second haproxy that sends no header.  Both pairs
# stay up; each round drives both, in alternating order, for ACC_SECS with
# ACC_CONC client threads from 127.0.0.5; every answer is checked (the shim
# server must have seen 127.0.0.5, the bare one 127.0.0.1).
ACCEPT_BIN=$B/bench/accept
ACC_SECS=${BENCH_ACCEPT_SECS:-2}
((QUICK)) && ACC_SECS=${BENCH_ACCEPT_SECS:-1}
ACC_CONC=${BENCH_ACCEPT_CONC:-8}
if ! section_on accept; then
	: # not asked for (BENCH_SECTIONS)
elif [[ ! -x $ACCEPT_BIN ]]; then
	note "$ACCEPT_BIN is missing: no accept figures"
elif ! command -v haproxy >/dev/null; then
	note "haproxy is missing: no accept figures"
else
	printf 'reverseProxy:\n  trustedOrigins: [127.0.0.1]\n  headers: [PROXY]\n' \
		>"$T/accept.yml"
	TABLES+=("$("$PS" compile -c "$T/accept.yml")") # removed at exit
	# acc_server NAME [ENV...]: bench/accept serve; sets ACC_PORT.
	acc_server() {
		local name=$1
		shift
		"${SERVER_PIN[@]}" env "$@" "$ACCEPT_BIN" serve "$T/$name.port" \
			>"$T/$name.log" 2>&1 </dev/null &
		PIDS+=("$!")
		for _ in $(seq 1 100); do
			[[ -s $T/$name.port ]] && break
			sleep 0.05
		done
		ACC_PORT=$(head -n1 "$T/$name.port" 2>/dev/null)
		[[ -n $ACC_PORT ]] || die "$name did not start: $(cat "$T/$name.log")"
	}
	# acc_haproxy NAME BACKEND_PORT [SERVER_OPTS]: as tests/integration/
	# lib.sh starts it (TCP mode, foreground); sets ACC_PORT.
	acc_haproxy() {
		local name=$1 port
		port=$(free_port) || die "no free port"
		cat >"$T/$name.cfg" <<HAP
global
	maxconn 4096
defaults
	mode tcp
	timeout connect 5s
	timeout client 30s
	timeout server 30s
listen fe
	bind 127.0.0.1:$port
	server s1 127.0.0.1:$2 ${3:-}
HAP
		start "$name" "$port" haproxy -f "$T/$name.cfg" -db || exit 1
		ACC_PORT=$port
	}
	note "accept: starting servers and haproxies"
	acc_server acc-shim LD_PRELOAD="$LIB" PROXYSHIM_CONFIG="$T/accept.yml"
	acc_haproxy hap-pp2 "$ACC_PORT" send-proxy-v2
	declare -A ACC_TO=([shim]=$ACC_PORT) ACC_WANT=([shim]=5 [bare]=1)
	acc_server acc-bare
	acc_haproxy hap-plain "$ACC_PORT"
	ACC_TO[bare]=$ACC_PORT
	# acc_cell VARIANT SECONDS: prints conn/s.
	acc_cell() {
		local line
		if ! line=$(timeout "$CELL_TIMEOUT" "${CLIENT_PIN[@]}" "$ACCEPT_BIN" \
			drive -s "$2" -c "$ACC_CONC" -w "${ACC_WANT[$1]}" \
			"${ACC_TO[$1]}" 2>&1); then
			note "accept $1: $line"
			return 1
		fi
		sed -n 's/.*conn_per_s=\([0-9.]*\).*/\1/p' <<<"$line"
	}
	note "accept: sanity pass (0.3 s per variant)"
	acc_cell shim 0.3 >/dev/null || die "accept: the shim server answered wrong"
	acc_cell bare 0.3 >/dev/null || die "accept: the bare server answered wrong"
	declare -A ACPS=()
	for ((r = 0; r < ROUNDS; r++)); do
		note "accept: round $((r + 1))/$ROUNDS, $ACC_SECS s per variant"
		if ((r % 2)); then order=(bare shim); else order=(shim bare); fi
		for v in "${order[@]}"; do
			res=$(acc_cell "$v" "$ACC_SECS") || exit 1
			ACPS[$v]+=" $res"
		done
	done
	out ""
	out "### Accepted connections per second (reverse-proxy side)"
	out ""
	out "\`$BD/bench/accept drive -s $ACC_SECS -c $ACC_CONC\`: $ACC_CONC client" \
		"threads from 127.0.0.5 through haproxy (TCP mode) to a loopback" \
		"server that accepts, reads a byte, answers and closes, one" \
		"connection at a time; $ROUNDS interleaved rounds (alternating" \
		"order) of $ACC_SECS s; median conn/s over the rounds, with the" \
		"slowest and fastest round. Every answer is checked: the shim" \
		"server saw 127.0.0.5, the bare one 127.0.0.1."
	out ""
	out "| variant | conn/s (median) | min | max |"
	out "|---|---:|---:|---:|"
	for v in shim bare; do
		read -r med mn mx < <(stats "${ACPS[$v]}")
		case $v in
		shim) label="under proxyshim, haproxy send-proxy-v2" ;;
		bare) label="no shim, haproxy without header" ;;
		esac
		out "| $label | $med | $mn | $mx |"
	done
	out ""
	read -r rm_ rp < <(ratio "${ACPS[shim]}" "${ACPS[bare]}")
	ok=$(awk -v r="$rm_" 'BEGIN { print (r >= 0.9) ? "yes" : "no" }')
	out "| ratio | of medians | median per round | target | met |"
	out "|---|---:|---:|---:|---|"
	out "| shim + PROXY v2 / no shim | $rm_ | $rp | ≥ 0.9 | $ok |"
	out ""
	out "haproxy $(pkg_ver haproxy). The PROXY v2 header is read and consumed" \
		"inside accept() (peek, parse, recv of exactly the header)."
fi

# -------------------------------------------------------------- https

# https:// upstreams through the TLS relay: bench/https.sh.
if section_on https; then
	# shellcheck source=bench/https.sh
	. "$ROOT/bench/https.sh"
	https_section
fi
# A Go client under the seccomp supervisor: bench/go.sh.
if section_on go; then
	# shellcheck source=bench/go.sh
	. "$ROOT/bench/go.sh"
fi
note "done; report in $RESULTS"

