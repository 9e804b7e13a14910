#!/usr/bin/env bash
# Build every fuzz/fuzz_*.c libFuzzer target into $B/fuzz/ and run each for
# FUZZ_SECONDS (default 20) on a temporary copy of its seed corpus, so the
# committed corpus never grows.  Prints one line per target: execs,
# coverage, PASS/FAIL.  Exit 1 when any target crashes, leaks, times out or
# fails to build; the crash input is kept under $B/fuzz/crashes/<target>/.
#
#   make fuzz FUZZ_SECONDS=60
#   B=build FUZZ_SECONDS=5 FUZZ_TARGETS="url exempt" bash fuzz/run.sh
#
# Environment: B (build dir, default build), FUZZ_SECONDS, FUZZ_TARGETS
# (names without fuzz_, default all), FUZZ_JOBS (targets fuzzed at once,
# default the number of CPUs): each target is one process for FUZZ_SECONDS,
# so the whole run takes about targets / FUZZ_JOBS * FUZZ_SECONDS.
set -u -o pipefail

cd "$(dirname "$0")/.." || exit 1
B=${B:-build}
SECS=${FUZZ_SECONDS:-20}
CC_FUZZ=${FUZZ_CC:-clang}
OUT=$B/fuzz
# shellcheck disable=SC2054 # one flag with commas
CFLAGS_FUZZ=(-g -O1 -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer
	-std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude)
YAML_LIBS=$(pkg-config --libs yaml-0.1 2>/dev/null || echo -lyaml)

CORE="resolver/log.c resolver/env.c resolver/table.c resolver/route.c"
CONFIG="resolver/url.c resolver/match.c resolver/config.c resolver/config_yaml.c
	resolver/config_kestra.c resolver/config_file.c resolver/compile.c resolver/dump.c"

# target -> the sources it links (besides fuzz/fuzz_<target>.c), libs,
# and -max_len.
sources() {
	case $1 in
	socks5) echo "proto/socks5.c" ;;
	socks4) echo "proto/socks4.c" ;;
	httpc) echo "proto/httpc.c" ;;
	config) echo "$CORE $CONFIG" ;;
	table) echo "$CORE $CONFIG" ;;
	url) echo "resolver/url.c" ;;
	exempt) echo "$CORE $CONFIG" ;;
	addrinfo) echo "shim/addrinfo.c" ;;
	proxyproto) echo "shim/proxyproto.c resolver/table.c resolver/log.c resolver/env.c" ;;
	xff) echo "shim/xff.c" ;;
	relayreq) echo "proto/relayreq.c proto/httpc.c" ;;
	dnsmsg) echo "proto/dnsmsg.c" ;;
	*) return 1 ;;
	esac
}
libs() {
	case $1 in
	config | table | exempt) echo "$YAML_LIBS" ;;
	*) echo "" ;;
	esac
}
max_len() {
	case $1 in
	httpc) echo 20000 ;;
	config) echo 8192 ;;
	table) echo 65536 ;;
	url) echo 1024 ;;
	exempt) echo 2048 ;;
	addrinfo) echo 64 ;;
	proxyproto) echo 1024 ;;
	xff) echo 8192 ;;
	relayreq) echo 4200 ;;
	dnsmsg) echo 1300 ;;
	*) echo 600 ;;
	esac
}

if [ -n "${FUZZ_TARGETS:-}" ]; then
	read -r -a targets <<<"$FUZZ_TARGETS"
else
	targets=()
	for f in fuzz/fuzz_*.c; do
		t=${f#fuzz/fuzz_}
		targets+=("${t%.c}")
	done
fi

command -v "$CC_FUZZ" >/dev/null || {
	echo "fuzz: $CC_FUZZ not found" >&2
	exit 1
}
mkdir -p "$OUT"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/psfuzz.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

# One target: build, fuzz, and leave its result line in $TMP/$1.res and
# its status in $TMP/$1.rc (0 pass, 1 fail).
fuzz_one() {
	local t=$1 src=fuzz/fuzz_$1.c srcs rc execs cov ft res
	if ! srcs=$(sources "$t"); then
		echo "$t: no source table entry in fuzz/run.sh" >"$TMP/$t.err"
		printf '%-10s %12s %8s %8s  %s\n' "$t" - - - "FAIL (no sources)" >"$TMP/$t.res"
		echo 1 >"$TMP/$t.rc"
		return
	fi
	# shellcheck disable=SC2046,SC2086
	if ! "$CC_FUZZ" "${CFLAGS_FUZZ[@]}" -o "$OUT/fuzz_$t" "$src" $srcs \
		$(libs "$t") 2>"$TMP/$t.build"; then
		cp "$TMP/$t.build" "$TMP/$t.err"
		printf '%-10s %12s %8s %8s  %s\n' "$t" - - - "FAIL (build)" >"$TMP/$t.res"
		echo 1 >"$TMP/$t.rc"
		return
	fi
	mkdir -p "$TMP/corpus/$t" "$OUT/crashes/$t"
	if [ -d "fuzz/corpus/$t" ]; then
		cp -r "fuzz/corpus/$t/." "$TMP/corpus/$t/"
	fi
	# Bounded: libFuzzer stops itself at -max_total_time; timeout(1)
	# is the backstop.  Leaks count as failures (detect_leaks=1).
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		timeout -k 10 $((SECS + 60)) "$OUT/fuzz_$t" \
		-max_total_time="$SECS" -max_len="$(max_len "$t")" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$OUT/crashes/$t/" \
		"$TMP/corpus/$t" >"$TMP/$t.log" 2>&1
	rc=$?
	cp "$TMP/$t.log" "$OUT/fuzz_$t.log"
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$TMP/$t.log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$TMP/$t.log" | tail -n 1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$TMP/$t.log" | tail -n 1 | cut -d' ' -f2)
	if [ "$rc" -eq 0 ]; then
		res=PASS
		echo 0 >"$TMP/$t.rc"
	else
		res="FAIL (rc $rc, log $OUT/fuzz_$t.log, input in $OUT/crashes/$t/)"
		echo 1 >"$TMP/$t.rc"
		grep -m 5 -E 'ERROR|SUMMARY|runtime error|Test unit written' \
			"$TMP/$t.log" >"$TMP/$t.err"
	fi
	printf '%-10s %12s %8s %8s  %s\n' "$t" "${execs:--}" "${cov:--}" \
		"${ft:--}" "$res" >"$TMP/$t.res"
}

JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$JOBS" -ge 1 ] 2>/dev/null || JOBS=1
running=0
for t in "${targets[@]}"; do
	if [ "$running" -ge "$JOBS" ]; then
		wait -n
		running=$((running - 1))
	fi
	fuzz_one "$t" &
	running=$((running + 1))
done
wait

fail=0
printf '%-10s %12s %8s %8s  %s\n' target execs cov ft result
for t in "${targets[@]}"; do
	[ -s "$TMP/$t.err" ] && cat "$TMP/$t.err" >&2
	if [ -s "$TMP/$t.res" ]; then
		cat "$TMP/$t.res"
	else
		printf '%-10s %12s %8s %8s  %s\n' "$t" - - - "FAIL (no result)"
	fi
	[ "$(cat "$TMP/$t.rc" 2>/dev/null)" = 0 ] || fail=1
done
exit "$fail"
