# shellcheck shell=bash
# Variables set here are for the test files that source this:
# shellcheck disable=SC2034
# tests/integration/lib.sh: the harness every tests/integration/test_*.sh
# sources.  It starts real servers and proxies on loopback, on ephemeral
# ports, in a per-test temporary directory; it stops exactly the PIDs it
# started; it counts results and prints `N passed, N failed`.
#
# A test file looks like:
#
#   #!/usr/bin/env bash
#   # shellcheck source=tests/integration/lib.sh
#   . "$(dirname "$0")/lib.sh"
#   start_origin web || it_done
#   start_microsocks ms || it_done
#   out=$(curl -sS --max-time 10 --proxy "socks5h://${SRV_ADDR[ms]}" \
#         "${SRV_URL[web]}/hello.txt")
#   assert_eq "$HELLO_BODY" "$out" "hello through microsocks"
#   assert_crossed ms "${SRV_PORT[web]}"
#   it_done
#
# Servers are named by the caller (NAME: [A-Za-z_][A-Za-z0-9_]*) and
# described by these associative arrays, indexed by NAME:
#   SRV_KIND  microsocks|dante|tinyproxy|squid|sshsocks|origin|banner|silent|garbage
#             |blackhole
#   SRV_PID   the PID we started (the daemon itself, never a wrapper)
#   SRV_HOST  127.0.0.1 or ::1 (the listening address)
#   SRV_PORT  the listening port
#   SRV_ADDR  host:port, IPv6 in brackets ([::1]:PORT)
#   SRV_URL   proxies: proxy URL with credentials (socks5://u:p@h:p, http://h:p);
#             origin: http://h:p (no trailing slash); others: empty
#   SRV_USER, SRV_PASS  credentials ('' without auth)
#   SRV_LOG   the log that records connections (see assert_crossed)
#   SRV_DIR   the server's own directory (config, logs)
#
# Every start_* function takes NAME and then key=value options:
#   host=127.0.0.1|::1 (default 127.0.0.1)   port=N (default: a free one)
#   user=U pass=P (auth)   out=127.0.0.N (source address of the proxy's
#   outgoing connections: the origin then sees it)   hosts=NAME=IP,NAME=IP
#   (names only this server resolves, for remote-DNS tests; needs root)
#   start_origin also takes dir=PATH (the directory it serves).
# A start_* returns 0 when the server listens; on failure it records a FAIL
# (with the server's log) and returns 1; when a prerequisite is missing it
# records a SKIP with the reason and returns 2.
#
# The library sets `set -u -o pipefail`, unsets every *_proxy variable and
# PROXYSHIM_* / LD_PRELOAD, and points XDG_CONFIG_HOME into the temp dir.

set -u -o pipefail

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$IT_DIR/../.." && pwd)
B=${B:-build}
[[ $B == /* ]] || B=$ROOT/$B
SHIM_LIB=$B/libproxyshim.so
SHIM_CMD=$B/proxyshim
IT_NAME=$(basename "$0" .sh)
export LC_ALL=C
# The daemons live in sbin, which a non-root PATH may lack.
case ":$PATH:" in
*:/usr/sbin:*) ;;
*) PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin ;;
esac

unset http_proxy https_proxy ftp_proxy all_proxy no_proxy \
	HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY NO_PROXY \
	PROXYSHIM_CONFIG PROXYSHIM_TABLE PROXYSHIM_LOG PROXYSHIM_LOG_FILE \
	LD_PRELOAD

# The per-test temp dir.  0711: daemons that drop to `nobody` must be able
# to reach their own subdirectory, but not list ours.
# Under run.sh it lives in run.sh's cache dir, which run.sh removes even when
# a test file was killed before its own cleanup.
T=$(mktemp -d "${IT_CACHE:-${TMPDIR:-/tmp}}/proxyshim-it.$IT_NAME.XXXXXX") || {
	echo "FAIL - mktemp -d" >&2
	exit 1
}
chmod 0711 "$T"
mkdir -p "$T/xdg"
export XDG_CONFIG_HOME=$T/xdg

# Sanitizer builds (B=build/asan, make test-asan): the library is
# instrumented, so every program it is preloaded into runs the ASan runtime
# (shim_preload_value and `proxyshim run` put it first in LD_PRELOAD).
# Host programs' own leaks are not ours (detect_leaks=0).  Reports go to
# files under $T/asan, which the EXIT trap turns into failures, so a report
# counts even where a test ignores the client's exit status or output.
# IT_SLOW (2 for a sanitizer build, else 1) scales the upper time bounds that
# a sanitizer build's slower process start and connect path could break
# under load; lower bounds (a timeout did wait) are never scaled.
# (Not `ldd | grep -q`: under pipefail, grep's early exit can kill ldd
# with SIGPIPE and the test says "no", now and then.)
IT_ASAN=0
IT_ASAN_RT=
_it_ldd=$(ldd "$SHIM_LIB" 2>/dev/null) || _it_ldd=
if [[ $_it_ldd =~ [[:space:]](/[^[:space:]]*/libasan\.so[^[:space:]]*) ]]; then
	IT_ASAN=1
	IT_ASAN_RT=${BASH_REMATCH[1]}
	mkdir -p "$T/asan"
	# Wrapped programs that run as another user (daemons dropping to
	# nobody) write their reports here too; they cannot list it.
	chmod 1733 "$T/asan"
	export ASAN_OPTIONS=${IT_ASAN_OPTIONS:-detect_leaks=0}:log_path=$T/asan/asan
	export UBSAN_OPTIONS=print_stacktrace=1:log_path=$T/asan/ubsan
fi
IT_SLOW=${IT_SLOW:-$((IT_ASAN ? 2 : 1))}

IT_PASS=0
IT_FAIL=0
IT_SKIP=0
_IT_DONE=0
_IT_PIDS=()
_IT_NAMES=()
declare -gA SRV_KIND=() SRV_PID=() SRV_HOST=() SRV_PORT=() SRV_ADDR=() \
	SRV_URL=() SRV_USER=() SRV_PASS=() SRV_LOG=() SRV_DIR=() SRV_MARK=()

# How long a daemon may take to listen, and to stop, in seconds; and how
# long the log checks (assert_crossed, assert_log) wait for a line to show
# up.  These only bound a hang, so they are generous: a loaded machine
# makes a daemon slow to start or to flush its log, never wrong.
IT_START_TIMEOUT=${IT_START_TIMEOUT:-$((20 * IT_SLOW))}
IT_STOP_TIMEOUT=${IT_STOP_TIMEOUT:-10}
IT_LOG_WAIT_MS=${IT_LOG_WAIT_MS:-15000}
# Size of the big test file (MiB); its sha256 is BIG_SHA256.
IT_BIG_MB=${IT_BIG_MB:-64}
HELLO_BODY="hello from the proxyshim origin"

# curl as the tests use it by default (bounded, errors shown, HTTP errors fail).
CURL=(curl -sS --fail --max-time 30)

# ---------------------------------------------------------------- results

pass() {
	IT_PASS=$((IT_PASS + 1))
	printf 'ok - %s\n' "$*"
}

fail() {
	IT_FAIL=$((IT_FAIL + 1))
	printf 'FAIL - %s\n' "$*"
}

skip() {
	IT_SKIP=$((IT_SKIP + 1))
	printf 'SKIP - %s\n' "$*"
}

# section TITLE: a header line in the output.
section() {
	printf '# %s\n' "$*"
}

# assert_eq EXPECTED ACTUAL [MSG]
assert_eq() {
	local msg=${3:-"'$2' == '$1'"}
	if [[ $1 == "$2" ]]; then
		pass "$msg"
	else
		fail "$msg: expected '$1', got '$2'"
	fi
}

# assert_ne UNEXPECTED ACTUAL [MSG]
assert_ne() {
	local msg=${3:-"'$2' != '$1'"}
	if [[ $1 != "$2" ]]; then
		pass "$msg"
	else
		fail "$msg: got '$2'"
	fi
}

# assert_contains FILE STRING [MSG]: FILE has the fixed STRING.
assert_contains() {
	local msg=${3:-"$1 contains '$2'"}
	if [[ -f $1 ]] && grep -qF -- "$2" "$1"; then
		pass "$msg"
	else
		fail "$msg: '$2' not in $1"
	fi
}

# assert_not_contains FILE STRING [MSG]
assert_not_contains() {
	local msg=${3:-"$1 does not contain '$2'"}
	if [[ -f $1 ]] && grep -qF -- "$2" "$1"; then
		fail "$msg: '$2' found in $1"
	else
		pass "$msg"
	fi
}

# assert_match FILE REGEX [MSG]: FILE has a line matching the ERE.
assert_match() {
	local msg=${3:-"$1 matches /$2/"}
	if [[ -f $1 ]] && grep -qE -- "$2" "$1"; then
		pass "$msg"
	else
		fail "$msg: no line of $1 matches /$2/"
	fi
}

# assert_re STRING ERE [MSG]: STRING (not a file) matches the bash ERE.
assert_re() {
	local msg=${3:-"'$1' matches /$2/"}
	if [[ $1 =~ $2 ]]; then
		pass "$msg"
	else
		fail "$msg: '$1' does not match /$2/"
	fi
}

# assert_ok MSG CMD [ARG...]: CMD exits 0.
assert_ok() {
	local msg=$1 rc=0
	shift
	"$@" || rc=$?
	if ((rc == 0)); then
		pass "$msg"
	else
		fail "$msg: '$*' exited $rc"
	fi
}

# assert_fails MSG CMD [ARG...]: CMD exits non-zero.
assert_fails() {
	local msg=$1 rc=0
	shift
	"$@" || rc=$?
	if ((rc != 0)); then
		pass "$msg"
	else
		fail "$msg: '$*' succeeded"
	fi
}

# assert_exit CODE MSG CMD [ARG...]: CMD exits with exactly CODE.
assert_exit() {
	local want=$1 msg=$2 rc=0
	shift 2
	"$@" || rc=$?
	if ((rc == want)); then
		pass "$msg"
	else
		fail "$msg: '$*' exited $rc, expected $want"
	fi
}

# assert_sha256 FILE SHA [MSG]
assert_sha256() {
	local msg=${3:-"sha256 of $1"} got=""
	[[ -f $1 ]] && got=$(sha256sum <"$1") && got=${got%% *}
	assert_eq "$2" "$got" "$msg"
}

# wait_for_log_count FILE ERE N [TIMEOUT_S]: poll (every 50 ms) until N
# lines of FILE match; 0 if they did.  TIMEOUT_S (fractional allowed; by
# default 60 s, scaled by IT_SLOW) only bounds a hang.
wait_for_log_count() {
	local file=$1 re=$2 n=$3 deadline
	deadline=$(($(_it_ms) + $(_it_sec2ms "${4:-$((60 * IT_SLOW))}")))
	while :; do
		[[ -f $file ]] && (($(grep -cE -- "$re" "$file" || true) >= n)) && return 0
		(($(_it_ms) >= deadline)) && return 1
		sleep 0.05
	done
}

# wait_for_log FILE ERE [TIMEOUT_S]: the same for one line (default 3 s).
wait_for_log() {
	wait_for_log_count "$1" "$2" 1 "${3:-3}"
}

# it_done: print this file's `N passed, N failed` line and exit (1 when
# anything failed).  Every test file ends with it; a file that exits without
# it counts one failure.
it_done() {
	_IT_DONE=1
	exit 0
}

# ----------------------------------------------------------- small helpers

# Milliseconds since the epoch (no fork).
_it_ms() {
	local t=${EPOCHREALTIME//[.,]/}
	echo $((10#$t / 1000))
}

# _it_sec2ms SECONDS: "1.5" -> 1500 (no fork, no floating point).
_it_sec2ms() {
	local i=${1%%.*} f=000
	[[ $1 == *.* ]] && f=${1#*.}000
	echo $((10#${i:-0} * 1000 + 10#${f:0:3}))
}

# free_port [HOST]: print a port that nothing listens on right now (the
# kernel's choice for a bind to port 0).  Racy by nature: start_* retry.
# free_port53 NET [AVOID]: an address NET.x.y (NET two octets of
# 127.0.0.0/8) whose port 53 is free for UDP and TCP, picked at random so
# that two runs on one machine do not meet (resolv.conf takes no port);
# never AVOID.  Fails after eight tries.
free_port53() {
	local try ip
	for try in 1 2 3 4 5 6 7 8; do
		ip=$1.$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
		[[ $ip == "${2:-}" ]] && continue
		if python3 -c 'import socket, sys
for t in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
    socket.socket(socket.AF_INET, t).bind((sys.argv[1], 53))' "$ip" 2>/dev/null; then
			echo "$ip"
			return 0
		fi
	done
	return 1
}

free_port() {
	python3 - "${1:-127.0.0.1}" <<'EOF'
import socket, sys
h = sys.argv[1]
s = socket.socket(socket.AF_INET6 if ":" in h else socket.AF_INET)
s.bind((h, 0))
print(s.getsockname()[1])
EOF
}

# hostport HOST PORT: "h:p", IPv6 in brackets.
hostport() {
	if [[ $1 == *:* ]]; then
		printf '[%s]:%s\n' "$1" "$2"
	else
		printf '%s:%s\n' "$1" "$2"
	fi
}

# write_file NAME: stdin to $T/NAME; prints the path.
#   cfg=$(write_file shim.yml <<EOF ... EOF)
write_file() {
	mkdir -p "$(dirname "$T/$1")"
	cat >"$T/$1"
	printf '%s\n' "$T/$1"
}

# run_bounded SECONDS CMD [ARG...]: CMD under timeout(1) (exit 124 on
# timeout, KILL 2 s later if it ignores TERM).
run_bounded() {
	local s=$1
	shift
	timeout -k 2 "$s" "$@"
}

# is_root: 0 when we run as root.
is_root() {
	((EUID == 0))
}

# ------------------------------------------------------------ the shim

# need_shim: records a FAIL and returns 1 unless $B has the library and the
# command (make test-integration builds them first).
need_shim() {
	if [[ -f $SHIM_LIB && -x $SHIM_CMD ]]; then
		return 0
	fi
	fail "shim not built: $SHIM_LIB / $SHIM_CMD missing (run make)"
	return 1
}

# shim_preload_value: the LD_PRELOAD value for the shim.  A sanitizer build
# (make test-asan) needs its runtime loaded first into uninstrumented
# programs, so the runtime's path is put before the shim (what `proxyshim
# run` of that build does too).
shim_preload_value() {
	if ((IT_ASAN)); then
		printf '%s %s\n' "$IT_ASAN_RT" "$SHIM_LIB"
	else
		printf '%s\n' "$SHIM_LIB"
	fi
}

# shim_run CONFIG CMD [ARG...]: `proxyshim run -c CONFIG -- CMD ...`
shim_run() {
	local cfg=$1
	shift
	_it_asan_env "$SHIM_CMD" run -c "$cfg" -- "$@"
}

# shim_preload CONFIG CMD [ARG...]: the same by hand, with LD_PRELOAD and
# PROXYSHIM_CONFIG.
shim_preload() {
	local cfg=$1
	shift
	_it_asan_env env LD_PRELOAD="$(shim_preload_value)" \
		PROXYSHIM_CONFIG="$cfg" "$@"
}

# _it_asan_env CMD [ARG...]: CMD as it is.  Kept for the callers: the
# sanitizer options are exported for the whole file (see IT_ASAN above).
_it_asan_env() {
	"$@"
}

# _it_asan_reports: one FAIL per sanitizer report left under $T/asan, with
# its head.
_it_asan_reports() {
	local f
	((IT_ASAN)) || return 0
	for f in "$T"/asan/*; do
		[[ -s $f ]] || continue
		fail "sanitizer report ${f##*/}"
		head -n 40 "$f" | sed 's/^/#   /'
	done
}

# build_client NAME: compile tests/integration/clients/NAME.c (C11,
# -Werror, -pthread; $CC or cc) to $T/NAME.  Records a FAIL with the
# compiler's output and returns 1 when it does not build.
build_client() {
	local cc out
	read -ra cc <<<"${CC:-cc}"
	if out=$("${cc[@]}" -std=c11 -O2 -Wall -Wextra -Werror -pthread \
		-o "$T/$1" "$IT_DIR/clients/$1.c" 2>&1); then
		return 0
	fi
	fail "build client $1"
	printf '%s\n' "$out" | tail -n 20 | sed 's/^/#   /'
	return 1
}

# ------------------------------------------- failure tests through errloop

# proxy_cfg NAME [YAML-LINE...]: cfg/NAME.yml, a proxy: block with those
# lines; prints its path.
proxy_cfg() {
	local n=$1 l
	shift
	{
		echo "proxy:"
		for l in "$@"; do echo "  $l"; done
	} | write_file "cfg/$n.yml"
}

# upstream_cfg NAME URL [YAML-LINE...]: every destination through URL, plus
# the extra lines of `proxy:` given; unless they set timeouts, short ones
# (connect 5 s: a refusal must come long before it; handshake 1 s).
upstream_cfg() {
	local n=$1 url=$2
	shift 2
	[[ " $* " == *" timeouts:"* ]] ||
		set -- "$@" "timeouts: {connect: 5s, handshake: 1s}"
	proxy_cfg "$n" "http: \"$url\"" "proxy_loopback: true" "$@"
}

# errno_try CFG [HOST PORT]: one blocking connect under the shim with
# clients/errloop.c (build_client errloop first; Python cannot tell
# ETIMEDOUT from its own timeout) to HOST:PORT (default 127.0.0.1 and
# $ERRNO_PORT); sets ERR (OK or the errno name).  The shim logs
# everything (debug) to $SHIMLOG.
errno_try() {
	ERR=$(PROXYSHIM_LOG=debug PROXYSHIM_LOG_FILE=$SHIMLOG shim_run "$1" \
		timeout 20 "$T/errloop" once "${2:-127.0.0.1}" "${3:-$ERRNO_PORT}" 2>&1)
	[[ -n $ERR ]] || ERR="(no output: crashed?)"
}

# errno_expect ERRNO MSG CFG [HOST PORT]: errno_try, then ERR must be
# ERRNO.  How long it took is not judged (errno_try's `timeout 20` only
# bounds a hang); where a test is about which deadline applied, it uses
# deadline_expect.
errno_expect() {
	local want=$1 msg=$2
	shift 2
	errno_try "$@"
	assert_eq "$want" "$ERR" "$msg: $want"
}

# poll_max_ms TRACE: the longest wait asked of poll()/ppoll() in an strace
# output file, in ms (-1 when one waited without a limit, empty when none).
poll_max_ms() {
	{
		grep -oE '(^|[^p])poll\(\[[^]]*\], [0-9]+, -?[0-9]+' "$1" |
			sed -E 's/.*, (-?[0-9]+)$/\1/'
		grep -oE 'ppoll\(\[[^]]*\], [0-9]+, (NULL|\{tv_sec=[0-9]+, tv_nsec=[0-9]+\})' "$1" |
			sed -E 's/.*NULL$/-1/; s/.*tv_sec=([0-9]+), tv_nsec=([0-9]+)\}$/\1 \2/' |
			awk 'NF == 1 { print; next } { print $1 * 1000 + int($2 / 1000000) }'
	} | awk 'BEGIN { m = "" } $1 == -1 { inf = 1 } m == "" || $1 > m { m = $1 }
		END { if (inf) print -1; else print m }'
}

# deadline_expect ERRNO MS MSG CFG [HOST PORT]: errno_expect with the
# client under strace; the longest wait the library asked poll() for must
# be 1..MS ms: the configured timeout applied, not a default and not an
# unbounded wait.  Read off the system calls, not timed, so a loaded
# machine cannot fail it.  Skipped without strace.
deadline_expect() {
	local want=$1 ms=$2 msg=$3 cfg=$4 trace=$T/deadline.trace max
	shift 4
	if ! command -v strace >/dev/null 2>&1; then
		skip "$msg: no strace to read the deadline off"
		errno_expect "$want" "$msg" "$cfg" "$@"
		return
	fi
	rm -f "$trace"
	ERR=$(PROXYSHIM_LOG=debug PROXYSHIM_LOG_FILE=$SHIMLOG shim_run "$cfg" \
		timeout 20 strace -f -qq -e trace=poll,ppoll -e signal=none -o "$trace" \
		"$T/errloop" once "${1:-127.0.0.1}" "${2:-$ERRNO_PORT}" 2>&1)
	[[ -n $ERR ]] || ERR="(no output: crashed?)"
	assert_eq "$want" "$ERR" "$msg: $want"
	max=$(poll_max_ms "$trace")
	if [[ -n $max ]] && ((max >= 1 && max <= ms)); then
		pass "$msg: the library waited at most ${max} ms at a time (limit ${ms})"
	else
		fail "$msg: longest poll() wait '${max:-none}' ms, want 1..${ms}"
	fi
}

# --------------------------------------------------- shared-memory litter

# The shim's tables and their companion segments (-state, -names, ...)
# live in /dev/shm as proxyshim-<uid>-*.  Under run.sh as root each file
# has a /dev/shm of its own (IT_SHM_PRIVATE=1), emptied at exit, and
# run.sh fails a file that leaves a segment there.  Otherwise the names
# there when this file was sourced are kept; at exit, a new table compiled
# from a config under $T (its source path is in the table) is removed
# with its companions (TABLE-*).  Objects of other
# users of this machine (a benchmark, another test run) are never touched,
# even when they appear while this file runs.
declare -gA _IT_SHM_BEFORE=()
_it_shm_snapshot() {
	local f
	for f in /dev/shm/proxyshim-"$EUID"-*; do
		[[ -e $f ]] && _IT_SHM_BEFORE[${f##*/}]=1
	done
	return 0
}
_it_shm_snapshot

_it_shm_cleanup() {
	local f
	# A /dev/shm of this file's own (run.sh, as root): everything in it
	# is this file's, any user's (nobody's in the attack tests).
	if [[ ${IT_SHM_PRIVATE:-0} == 1 ]]; then
		rm -f /dev/shm/proxyshim-*
		return 0
	fi
	for f in /dev/shm/proxyshim-"$EUID"-*; do
		[[ -f $f && -z ${_IT_SHM_BEFORE[${f##*/}]:-} ]] || continue
		[[ ${f##*/} =~ ^proxyshim-[0-9]+-v[0-9]+-[0-9a-f]+$ ]] || continue
		if grep -qaF -- "$T/" "$f" 2>/dev/null; then
			rm -f -- "$f" "$f"-*
		fi
	done
	# The current segments of live reload are named after a config
	# file's path (docs/behaviour.md#live-reload): those of files in $T.
	local h
	while read -r h; do
		for f in /dev/shm/proxyshim-"$EUID"-v*-"$h"-current; do
			[[ -f $f && -z ${_IT_SHM_BEFORE[${f##*/}]:-} ]] || continue
			rm -f -- "$f"
		done
	done < <(find "$T" -type f -print0 2>/dev/null | python3 -c '
import os, sys
for p in sys.stdin.buffer.read().split(b"\0"):
    if not p:
        continue
    h = 0xcbf29ce484222325
    for b in b"current:" + os.path.realpath(p):
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    print("%016x" % h)
' 2>/dev/null)
	return 0
}

# ------------------------------------------------------ process control

# The state of PID from /proc: R, S, Z, ... or nothing when it is gone.
_it_state() {
	local s
	{ s=$(<"/proc/$1/stat"); } 2>/dev/null || return 0
	s=${s##*) }
	printf '%s' "${s%% *}"
}

# _it_alive PID: running (not gone, not a zombie).
_it_alive() {
	local st
	st=$(_it_state "$1")
	[[ -n $st && $st != Z ]]
}

# The start time of PID (field 22 of /proc/PID/stat), to tell it from a
# later process that reuses the PID.
_it_starttime() {
	local s f
	{ s=$(<"/proc/$1/stat"); } 2>/dev/null || return 1
	s=${s##*) }
	read -ra f <<<"$s"
	printf '%s\n' "${f[19]}"
}

# _it_register NAME KIND PID HOST PORT DIR LOG
_it_register() {
	local name=$1
	SRV_KIND[$name]=$2
	SRV_PID[$name]=$3
	SRV_HOST[$name]=$4
	SRV_PORT[$name]=$5
	SRV_ADDR[$name]=$(hostport "$4" "$5")
	SRV_DIR[$name]=$6
	SRV_LOG[$name]=$7
	SRV_MARK[$name]=0
	SRV_URL[$name]=${SRV_URL[$name]:-}
	SRV_USER[$name]=${SRV_USER[$name]:-}
	SRV_PASS[$name]=${SRV_PASS[$name]:-}
}

# _it_spawn OUTFILE CMD [ARG...]: start CMD in the background as a child of
# this shell, stdin from /dev/null; sets _IT_LAST_PID.  The PID is recorded
# at once (for stop_all and for run.sh's leak check).
_it_spawn() {
	local out=$1
	shift
	"$@" </dev/null >>"$out" 2>&1 &
	_IT_LAST_PID=$!
	_IT_PIDS+=("$_IT_LAST_PID")
	if [[ -n ${IT_PIDS_FILE:-} ]]; then
		printf '%s %s\n' "$_IT_LAST_PID" "$(_it_starttime "$_IT_LAST_PID")" \
			>>"$IT_PIDS_FILE"
	fi
}

# _it_stop_pids PID...: SIGTERM each live one, poll until all are gone
# (bounded), SIGKILL what is left, reap them all.
_it_stop_pids() {
	local pid deadline left
	for pid in "$@"; do
		_it_alive "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	deadline=$(($(_it_ms) + IT_STOP_TIMEOUT * 1000))
	while :; do
		left=()
		for pid in "$@"; do
			_it_alive "$pid" && left+=("$pid")
		done
		((${#left[@]} == 0)) && break
		if (($(_it_ms) >= deadline)); then
			echo "# stop: SIGKILL to ${left[*]} after ${IT_STOP_TIMEOUT}s"
			kill -KILL "${left[@]}" 2>/dev/null
			break
		fi
		sleep 0.05
	done
	for pid in "$@"; do
		wait "$pid" 2>/dev/null
	done
	return 0
}

# _it_forget PID: drop PID from the list stop_all stops.
_it_forget() {
	local p keep=()
	for p in "${_IT_PIDS[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	_IT_PIDS=("${keep[@]}")
}

# stop_server NAME: stop that server now (e.g. to test "upstream down").
stop_server() {
	local pid=${SRV_PID[$1]:-}
	[[ -n $pid ]] || return 0
	_it_stop_pids "$pid"
	_it_forget "$pid"
}

# stop_all: stop every process this test started, in parallel, and wait
# for them.  Runs from the EXIT trap; safe to call more than once.
stop_all() {
	((${#_IT_PIDS[@]} == 0)) && return 0
	_it_stop_pids "${_IT_PIDS[@]}"
	_IT_PIDS=()
}

# _it_wait_listen PID PORT: poll until PID listens on PORT (TCP, as `ss`
# reports it: no connection is made, so no proxy logs a probe).  1 when PID
# died or IT_START_TIMEOUT passed.
_it_wait_listen() {
	local pid=$1 port=$2 deadline
	deadline=$(($(_it_ms) + IT_START_TIMEOUT * 1000))
	while :; do
		_it_alive "$pid" || return 1
		ss -Hltnp "sport = :$port" 2>/dev/null | grep -q "pid=$pid," && return 0
		(($(_it_ms) >= deadline)) && return 1
		sleep 0.02
	done
}

# _it_wait_portfile PID FILE: poll until FILE (written by our python
# servers once they listen) holds the port; print it.
_it_wait_portfile() {
	local pid=$1 file=$2 deadline port=""
	deadline=$(($(_it_ms) + IT_START_TIMEOUT * 1000))
	while :; do
		if [[ -s $file ]]; then
			read -r port <"$file"
			printf '%s\n' "$port"
			return 0
		fi
		_it_alive "$pid" || return 1
		(($(_it_ms) >= deadline)) && return 1
		sleep 0.02
	done
}

# _it_start_failed NAME WHAT LOG...: record a FAIL with the logs' tails.
_it_start_failed() {
	local name=$1 what=$2 f
	shift 2
	fail "start $what '$name'"
	for f in "$@"; do
		[[ -s $f ]] || continue
		echo "# --- tail of $f"
		tail -n 15 "$f" | sed 's/^/#   /'
	done
	return 1
}

# ------------------------------------------------------- option parsing

# _it_opts KEY=VALUE... [-- REST...]: sets _o_host _o_port _o_user _o_pass
# _o_out _o_hosts _o_banner and the array _o_rest.
_it_opts() {
	_o_host=127.0.0.1 _o_port="" _o_user="" _o_pass="" _o_out=""
	_o_hosts="" _o_banner="" _o_dir=""
	_o_rest=()
	while (($# > 0)); do
		case $1 in
		host=*) _o_host=${1#host=} ;;
		port=*) _o_port=${1#port=} ;;
		user=*) _o_user=${1#user=} ;;
		pass=*) _o_pass=${1#pass=} ;;
		out=*) _o_out=${1#out=} ;;
		hosts=*) _o_hosts=${1#hosts=} ;;
		banner=*) _o_banner=${1#banner=} ;;
		dir=*) _o_dir=${1#dir=} ;;
		--)
			shift
			_o_rest=("$@")
			break
			;;
		*)
			echo "lib.sh: unknown option '$1'" >&2
			return 1
			;;
		esac
		shift
	done
	case $_o_host in
	127.* | ::1) ;;
	*)
		echo "lib.sh: host=$_o_host is not loopback" >&2
		return 1
		;;
	esac
	if [[ -n $_o_out && $_o_out != 127.* ]]; then
		echo "lib.sh: out=$_o_out is not in 127.0.0.0/8" >&2
		return 1
	fi
	if [[ -n $_o_user$_o_pass && (-z $_o_user || -z $_o_pass) ]]; then
		echo "lib.sh: user= and pass= go together" >&2
		return 1
	fi
}

# _it_new NAME KIND: check NAME, make the server's directory; sets _dir.
_it_new() {
	if [[ ! $1 =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
		echo "lib.sh: bad server name '$1'" >&2
		return 1
	fi
	if [[ -n ${SRV_PID[$1]:-} ]] && _it_alive "${SRV_PID[$1]}"; then
		echo "lib.sh: server '$1' is already running" >&2
		return 1
	fi
	_dir=$T/$1
	rm -rf "$_dir"
	mkdir -p "$_dir"
	SRV_URL[$1]=""
	SRV_USER[$1]=$_o_user
	SRV_PASS[$1]=$_o_pass
	_IT_NAMES+=("$1")
}

# _it_userinfo: "user:pass@" or "".
_it_userinfo() {
	[[ -n $_o_user ]] && printf '%s:%s@' "$_o_user" "$_o_pass"
	return 0
}

# Give the unprivileged user the daemon drops to ownership of its dir.
_it_give_dir() {
	is_root && chown -R nobody:"$(id -gn nobody)" "$1"
	return 0
}

# A private mount namespace for one daemon is possible (root, unshare).
_it_can_ns() {
	if [[ -z ${_IT_CAN_NS:-} ]]; then
		_IT_CAN_NS=no
		if is_root && command -v unshare >/dev/null 2>&1 &&
			unshare --mount --propagation private -- true 2>/dev/null; then
			_IT_CAN_NS=yes
		fi
	fi
	[[ $_IT_CAN_NS == yes ]]
}

# _it_hosts_file FILE: /etc/hosts plus the hosts=NAME=IP,... entries.
_it_hosts_file() {
	local e
	cat /etc/hosts >"$1" 2>/dev/null
	IFS=, read -ra e <<<"$_o_hosts"
	for e in "${e[@]}"; do
		[[ $e == *=* ]] && printf '%s %s\n' "${e#*=}" "${e%%=*}" >>"$1"
	done
}

# _it_wrap BIND...: sets the array _wrap: a prefix that runs the daemon in
# its own mount namespace with each "SRC DST" pair bind-mounted, plus the
# hosts= file when asked for.  Empty when nothing needs binding.
_it_wrap() {
	local b
	_wrap=()
	if [[ -n $_o_hosts ]]; then
		_it_hosts_file "$_dir/hosts"
		set -- "$@" "$_dir/hosts /etc/hosts"
	fi
	(($# == 0)) && return 0
	_wrap=(unshare --mount --propagation private -- bash "$IT_DIR/nswrap.sh")
	for b in "$@"; do
		_wrap+=(--bind "${b% *}" "${b#* }")
	done
	_wrap+=(--)
}

# _it_daemon NAME KIND PORTFIXED LOG OUT CMD...: spawn CMD (config already
# written with _o_port), wait until it listens; on an early death with an
# automatic port, the caller retries with another port (returns 3).
_it_daemon() {
	local name=$1 kind=$2 fixed=$3 log=$4 out=$5
	shift 5
	_it_spawn "$out" "$@"
	if _it_wait_listen "$_IT_LAST_PID" "$_o_port"; then
		_it_register "$name" "$kind" "$_IT_LAST_PID" "$_o_host" "$_o_port" \
			"$_dir" "$log"
		return 0
	fi
	local pid=$_IT_LAST_PID
	_it_stop_pids "$pid"
	_it_forget "$pid"
	# Lost the race for an automatic port: someone else listens there now,
	# or the daemon said so.
	if [[ -z $fixed ]] &&
		{ [[ -n $(ss -Hltn "sport = :$_o_port" 2>/dev/null) ]] ||
			grep -qiE 'in use' "$out" "$log" 2>/dev/null; }; then
		return 3
	fi
	return 1
}

# _it_start_loop NAME KIND WRITER: up to 3 tries (a new free port each
# time when none was given) of WRITER (writes the config and sets _cmd,
# _log, _out) and _it_daemon.
_it_start_loop() {
	local name=$1 kind=$2 writer=$3 fixed=$_o_port try rc
	for try in 1 2 3; do
		[[ -n $fixed ]] || _o_port=$(free_port "$_o_host")
		"$writer" || return 1
		rc=0
		_it_daemon "$name" "$kind" "$fixed" "$_log" "$_out" "${_cmd[@]}" || rc=$?
		((rc == 0)) && return 0
		((rc == 3)) || break
		echo "# $kind '$name': port $_o_port taken, retry $try"
	done
	_it_start_failed "$name" "$kind" "$_dir"/*.log "$_dir"/*.out
}

# --------------------------------------------------------------- proxies

# start_microsocks NAME [host=] [port=] [user= pass=] [out=]
#   SOCKS5; log lines `client[N] ADDR: connected to HOST:PORT`.
start_microsocks() {
	local name=$1
	shift
	_it_opts "$@" && _it_new "$name" || return 1
	command -v microsocks >/dev/null || {
		skip "microsocks not installed"
		return 2
	}
	_it_start_loop "$name" microsocks _it_cfg_microsocks || return 1
	SRV_URL[$name]="socks5://$(_it_userinfo)${SRV_ADDR[$name]}"
}

_it_cfg_microsocks() {
	_log=$_dir/microsocks.log _out=$_dir/microsocks.log
	_cmd=(microsocks -i "$_o_host" -p "$_o_port")
	[[ -n $_o_user ]] && _cmd+=(-u "$_o_user" -P "$_o_pass")
	[[ -n $_o_out ]] && _cmd+=(-b "$_o_out")
	_it_wrap
	_cmd=("${_wrap[@]}" "${_cmd[@]}")
}

# start_dante NAME [host=] [port=] [user= pass=] [out=] [hosts=]
#   SOCKS5 and SOCKS4 (not 4a).  With user=: the `username` method against
#   a private passwd/shadow bind-mounted for danted alone (needs root).
#   Log: `pass(1): tcp/connect [: CLIENT PROXY -> OUT DEST` (ADDR.PORT).
start_dante() {
	local name=$1
	shift
	_it_opts "$@" && _it_new "$name" || return 1
	command -v danted >/dev/null || {
		skip "dante-server (danted) not installed"
		return 2
	}
	if [[ -n $_o_user || -n $_o_hosts ]] && ! _it_can_ns; then
		skip "dante '$name': user=/hosts= need root and a mount namespace"
		return 2
	fi
	_it_start_loop "$name" dante _it_cfg_dante || return 1
	SRV_URL[$name]="socks5://$(_it_userinfo)${SRV_ADDR[$name]}"
}

_it_cfg_dante() {
	local binds=() method=none
	_log=$_dir/danted.log _out=$_dir/danted.out
	if [[ -n $_o_user ]]; then
		method=username
		_it_dante_users
		binds=("$_dir/passwd /etc/passwd" "$_dir/shadow /etc/shadow")
	fi
	{
		echo "logoutput: $_log"
		echo "internal: $_o_host port = $_o_port"
		if [[ -n $_o_out ]]; then
			echo "external: $_o_out"
			echo "external: ::1"
		else
			echo "external: lo"
		fi
		echo "socksmethod: $method"
		echo "clientmethod: none"
		if is_root; then
			echo "user.privileged: root"
			echo "user.unprivileged: nobody"
		fi
		# Only loopback destinations: nothing can leave through a test proxy.
		cat <<'EOF'
client pass {
	from: 0/0 to: 0/0
	log: error
}
socks pass {
	from: 0/0 to: 127.0.0.0/8
	command: connect
	log: connect disconnect error
}
socks pass {
	from: 0/0 to: ::1/128
	command: connect
	log: connect disconnect error
}
EOF
	} >"$_dir/danted.conf"
	_cmd=(danted -f "$_dir/danted.conf")
	_it_wrap "${binds[@]}"
	_cmd=("${_wrap[@]}" "${_cmd[@]}")
}

# A passwd with root, nobody and the test user, and a shadow with the test
# user's password (SHA-512 crypt): dante's `username` method checks them.
_it_dante_users() {
	local hash
	hash=$(printf '%s\n' "$_o_pass" | openssl passwd -6 -stdin)
	{
		getent passwd root nobody
		printf '%s:x:64999:65534:proxyshim test:/nonexistent:/usr/sbin/nologin\n' \
			"$_o_user"
	} >"$_dir/passwd"
	(
		umask 077
		printf 'root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n'
		printf '%s:%s:19000:0:99999:7:::\n' "$_o_user" "$hash"
	) >"$_dir/shadow"
}

# start_tinyproxy NAME [host=] [port=] [user= pass=] [out=] [hosts=]
#   HTTP proxy (CONNECT to any port, and plain GET).  BasicAuth with user=.
#   Log: `opensock: opening connection to HOST:PORT` once it connects out.
start_tinyproxy() {
	local name=$1
	shift
	_it_opts "$@" && _it_new "$name" || return 1
	command -v tinyproxy >/dev/null || {
		skip "tinyproxy not installed"
		return 2
	}
	if [[ -n $_o_hosts ]] && ! _it_can_ns; then
		skip "tinyproxy '$name': hosts= needs root and a mount namespace"
		return 2
	fi
	_it_start_loop "$name" tinyproxy _it_cfg_tinyproxy || return 1
	SRV_URL[$name]="http://$(_it_userinfo)${SRV_ADDR[$name]}"
}

_it_cfg_tinyproxy() {
	_log=$_dir/tinyproxy.log _out=$_dir/tinyproxy.out
	: >"$_log"
	{
		echo "Port $_o_port"
		echo "Listen $_o_host"
		echo "Timeout 60"
		echo "LogFile \"$_log\""
		echo "LogLevel Info"
		echo "MaxClients 256"
		echo "Allow 127.0.0.0/8"
		echo "Allow ::1"
		echo "DisableViaHeader Yes"
		# No ConnectPort line at all: CONNECT to every port is allowed.
		[[ -n $_o_user ]] && echo "BasicAuth $_o_user $_o_pass"
		[[ -n $_o_out ]] && echo "Bind $_o_out"
		if is_root; then
			echo "User nobody"
			echo "Group $(id -gn nobody)"
		fi
	} >"$_dir/tinyproxy.conf"
	# It opens its log after dropping to nobody.
	_it_give_dir "$_dir"
	_cmd=(tinyproxy -d -c "$_dir/tinyproxy.conf")
	_it_wrap
	_cmd=("${_wrap[@]}" "${_cmd[@]}")
}

# start_squid NAME [host=] [port=] [user= pass=] [out=] [hosts=]
#   HTTP proxy (CONNECT to any port, and plain GET), no cache.  Basic auth
#   (basic_ncsa_auth) with user=.  Only loopback clients and destinations.
#   Log (access.log, written when a transaction ENDS):
#   `TIME ELAPSED CLIENT TCP_TUNNEL/200 BYTES CONNECT HOST:PORT ...`.
start_squid() {
	local name=$1
	shift
	_it_opts "$@" && _it_new "$name" || return 1
	command -v squid >/dev/null || {
		skip "squid not installed"
		return 2
	}
	if [[ -n $_o_user ]] && [[ -z $(_it_squid_helper) ]]; then
		skip "squid '$name': basic_ncsa_auth helper not found"
		return 2
	fi
	_it_start_loop "$name" squid _it_cfg_squid || return 1
	SRV_URL[$name]="http://$(_it_userinfo)${SRV_ADDR[$name]}"
}

# The path of squid's basic_ncsa_auth, from the package's file list
# (squid-openssl, or the GnuTLS-built squid it replaces).
_it_squid_helper() {
	local h
	h=$(dpkg -L squid-openssl squid 2>/dev/null | grep -m1 '/basic_ncsa_auth$')
	[[ -x $h ]] && printf '%s\n' "$h"
}

_it_cfg_squid() {
	local d=$_dir listen=$_o_host
	_log=$d/access.log _out=$d/squid.out
	[[ $listen == *:* ]] && listen="[$listen]"
	{
		if [[ -n ${_sq_tls_cert:-} ]]; then
			# Copies in its own dir: squid may read them as nobody.
			cp "$_sq_tls_cert" "$d/tls.crt" && cp "$_sq_tls_key" "$d/tls.key"
			echo "https_port $listen:$_o_port tls-cert=$d/tls.crt tls-key=$d/tls.key"
		else
			echo "http_port $listen:$_o_port"
		fi
		echo "visible_hostname proxyshim-test"
		echo "pid_filename $d/squid.pid"
		echo "access_log stdio:$_log"
		echo "cache_log $d/cache.log"
		echo "cache_store_log none"
		echo "coredump_dir $d"
		echo "netdb_filename none"
		echo "pinger_enable off"
		echo "cache deny all"
		echo "cache_mem 8 MB"
		echo "shutdown_lifetime 0 seconds"
		# Names come from the hosts file; DNS, if ever asked, stays local.
		echo "dns_nameservers 127.0.0.1"
		if [[ -n $_o_hosts ]]; then
			_it_hosts_file "$d/hosts"
			echo "hosts_file $d/hosts"
		fi
		echo "acl lo_src src 127.0.0.0/8 ::1"
		echo "acl lo_dst dst 127.0.0.0/8 ::1"
		echo "http_access deny !lo_src"
		echo "http_access deny !lo_dst"
		if [[ -n $_o_user ]]; then
			printf '%s:%s\n' "$_o_user" \
				"$(printf '%s\n' "$_o_pass" | openssl passwd -apr1 -stdin)" \
				>"$d/htpasswd"
			echo "auth_param basic program $(_it_squid_helper) $d/htpasswd"
			echo "auth_param basic realm proxyshim-test"
			echo "auth_param basic children 2 startup=1"
			echo "acl authed proxy_auth REQUIRED"
			echo "http_access deny !authed"
		fi
		echo "http_access allow all"
		[[ -n $_o_out ]] && echo "tcp_outgoing_address $_o_out"
		if is_root; then
			echo "cache_effective_user nobody"
			echo "cache_effective_group $(id -gn nobody)"
		fi
	} >"$d/squid.conf"
	_it_give_dir "$d"
	_cmd=(squid -N -f "$d/squid.conf")
}

# start_squid_tls NAME CERT KEY [host=] [port=] [user= pass=] [out=]
#   squid as an https:// proxy: `https_port ... tls-cert= tls-key=` (TLS
#   from the client to squid, then CONNECT inside it); SRV_URL is
#   https://[user:pass@]HOST:PORT.  Needs squid built with OpenSSL
#   (Debian's squid-openssl); skips otherwise.  Log as start_squid.
start_squid_tls() {
	local name=$1 rc=0
	_sq_tls_cert=$2 _sq_tls_key=$3
	shift 3
	if command -v squid >/dev/null && ! squid -v 2>/dev/null | grep -q -- '--with-openssl'; then
		_sq_tls_cert="" _sq_tls_key=""
		skip "squid '$name': not built with OpenSSL (install squid-openssl)"
		return 2
	fi
	start_squid "$name" "$@" || rc=$?
	_sq_tls_cert="" _sq_tls_key=""
	((rc == 0)) || return "$rc"
	SRV_URL[$name]="https://$(_it_userinfo)${SRV_ADDR[$name]}"
}

# start_sshsocks NAME [host=] [port=] [hosts=]
#   OpenSSH's dynamic forwarding (`ssh -D`): SOCKS4, SOCKS4a and SOCKS5
#   without auth.  No sshd listens: ssh runs `sshd -i` as its ProxyCommand.
#   Needs root.  Log: `dynamic request: socks4 host HOST port PORT` (ssh
#   says socks4 for 4a too; HOST is the name for 4a).
start_sshsocks() {
	local name=$1 sshd
	shift
	_it_opts "$@" && _it_new "$name" || return 1
	sshd=$(command -v sshd)
	if [[ -z $sshd ]] || ! command -v ssh >/dev/null ||
		! command -v ssh-keygen >/dev/null; then
		skip "sshsocks '$name': openssh-client/openssh-server not installed"
		return 2
	fi
	if [[ -n $_o_user ]]; then
		echo "lib.sh: sshsocks has no SOCKS auth" >&2
		return 1
	fi
	if ! is_root || { [[ -n $_o_hosts ]] && ! _it_can_ns; }; then
		skip "sshsocks '$name': needs root (sshd -i)"
		return 2
	fi
	# sshd insists on its privilege separation directory (the Debian
	# service creates it at start; no service runs here).
	[[ -d /run/sshd ]] || install -d -m 0755 /run/sshd
	_it_start_loop "$name" sshsocks _it_cfg_sshsocks || return 1
	SRV_URL[$name]="socks5://${SRV_ADDR[$name]}"
}

_it_cfg_sshsocks() {
	local d=$_dir listen=$_o_host
	_log=$d/ssh.log _out=$d/ssh.log
	[[ $listen == *:* ]] && listen="[$listen]"
	if [[ ! -f $d/hostkey ]]; then
		ssh-keygen -q -t ed25519 -N '' -f "$d/hostkey" &&
			ssh-keygen -q -t ed25519 -N '' -f "$d/userkey" &&
			cp "$d/userkey.pub" "$d/authorized_keys" || return 1
	fi
	cat >"$d/sshd_config" <<EOF
HostKey $d/hostkey
AuthorizedKeysFile $d/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
PermitOpen any
PidFile none
LogLevel VERBOSE
EOF
	_cmd=(ssh -N -vv -F none -D "$listen:$_o_port" -i "$d/userkey"
		-o IdentitiesOnly=yes -o BatchMode=yes -o ExitOnForwardFailure=yes
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
		-o "ProxyCommand=$(command -v sshd) -i -f $d/sshd_config -E $d/sshd.log"
		"$(id -un)@proxyshim-test")
	_it_wrap
	_cmd=("${_wrap[@]}" "${_cmd[@]}")
}

# --------------------------------------------------------------- servers

# it_www: make (once) the directory the origins serve: hello.txt
# ($HELLO_BODY) and big.bin (IT_BIG_MB MiB of random bytes, sha256 in
# BIG_SHA256).  Shared between test files when run.sh sets IT_CACHE.
it_www() {
	IT_WWW=${IT_CACHE:-$T}/www
	if [[ ! -f $IT_WWW/big.sha256 ]]; then
		local tmp
		tmp=$(mktemp -d "${IT_CACHE:-$T}/www.XXXXXX") || return 1
		printf '%s\n' "$HELLO_BODY" >"$tmp/hello.txt"
		head -c $((IT_BIG_MB * 1024 * 1024)) /dev/urandom >"$tmp/big.bin"
		sha256sum <"$tmp/big.bin" | cut -d' ' -f1 >"$tmp/big.sha256"
		chmod 0755 "$tmp"
		if ! mv -T "$tmp" "$IT_WWW" 2>/dev/null; then
			rm -rf "$tmp" # someone else made it first
		fi
	fi
	BIG_SHA256=$(<"$IT_WWW/big.sha256")
	BIG_SIZE=$((IT_BIG_MB * 1024 * 1024))
}

# _it_pyserver NAME KIND SCRIPT ARG...: a python server of ours; it binds
# port 0 itself (or port=) and reports the port, so there is no race.
_it_pyserver() {
	local name=$1 kind=$2 script=$3 port
	shift 3
	_it_spawn "$_dir/$kind.log" python3 -u -B "$IT_DIR/$script" \
		--host "$_o_host" --port "${_o_port:-0}" \
		--port-file "$_dir/port" "$@"
	if ! port=$(_it_wait_portfile "$_IT_LAST_PID" "$_dir/port"); then
		local pid=$_IT_LAST_PID
		_it_stop_pids "$pid"
		_it_forget "$pid"
		_it_start_failed "$name" "$kind" "$_dir/$kind.log"
		return 1
	fi
	_it_register "$name" "$kind" "$_IT_LAST_PID" "$_o_host" "$port" \
		"$_dir" "$_dir/$kind.log"
}

# start_origin NAME [host=] [port=] [dir=PATH]
#   HTTP origin serving $IT_WWW (hello.txt, big.bin), or PATH with dir=
#   (BIG_SHA256 and HELLO_BODY still describe $IT_WWW), plus /whoami (the
#   peer it saw: "ADDR PORT") and /headers.  SRV_URL[NAME]=http://h:p.
#   Log: `ADDR PORT "GET /path HTTP/1.1" 200 SIZE`.
start_origin() {
	local name=$1
	shift
	_it_opts "$@" && _it_new "$name" && it_www || return 1
	_it_pyserver "$name" origin origin_server.py --dir "${_o_dir:-$IT_WWW}" ||
		return 1
	SRV_URL[$name]="http://${SRV_ADDR[$name]}"
}

# start_banner NAME [host=] [port=] [banner=TEXT]
#   Sends "TEXT\r\n" on accept, before reading, then echoes.  The line is in
#   SRV_BANNER[NAME].  Log: `accept ADDR PORT`, `close ADDR PORT BYTES`.
declare -gA SRV_BANNER=()
start_banner() {
	local name=$1
	shift
	_it_opts "$@" && _it_new "$name" || return 1
	SRV_BANNER[$name]=${_o_banner:-"220 proxyshim-banner $name ready"}
	_it_pyserver "$name" banner banner_server.py \
		--banner "${SRV_BANNER[$name]}"
}

# start_silent NAME [host=] [port=]
#   Accepts, reads, never writes (handshake timeouts).
start_silent() {
	local name=$1
	shift
	_it_opts "$@" && _it_new "$name" || return 1
	_it_pyserver "$name" silent silent_server.py
}

# start_garbage NAME [host=] [port=] [-- garbage_server.py options]
#   Answers junk, or the scripted replies given after --, e.g.
#   start_garbage g -- --reply-hex 0500 --reply-hex 05050001000000000000
start_garbage() {
	local name=$1
	shift
	_it_opts "$@" && _it_new "$name" || return 1
	_it_pyserver "$name" garbage garbage_server.py "${_o_rest[@]}"
}

# start_blackhole NAME [host=] [port=]
#   A port where connect() hangs (SYNs dropped: a full accept queue that is
#   never drained) until the client's own timeout.  For connect timeouts
#   and failover.  Server in clients/blackhole.py.
start_blackhole() {
	local name=$1
	shift
	_it_opts "$@" && _it_new "$name" || return 1
	_it_pyserver "$name" blackhole clients/blackhole.py
}

# ------------------------------------------------- did it cross the proxy?

# The ERE that matches a log line of server NAME recording a connection to
# destination port PORT.
_it_conn_re() {
	local p=$2
	case ${SRV_KIND[$1]:-} in
	microsocks) echo "connected to .*:$p\$" ;;
	dante) echo "tcp/connect \\[: .* -> .* [^ ]*\\.$p\$" ;;
	tinyproxy) echo "opensock: opening connection to .*:$p\$" ;;
	squid) echo "/2[0-9][0-9] [0-9]+ [A-Z]+ ([a-z]+://)?[^ ]*:$p([/ ]|\$)" ;;
	sshsocks) echo "dynamic request: socks[45a]* host [^ ]+ port $p command" ;;
	*) echo "^\$NEVER" ;;
	esac
}

# mark NAME: later log checks of NAME (assert_crossed, conn_count,
# assert_log) only look at lines logged after this point.
mark() {
	local n=0
	[[ -f ${SRV_LOG[$1]} ]] && n=$(wc -l <"${SRV_LOG[$1]}")
	SRV_MARK[$1]=$n
}

# _it_since NAME: NAME's log lines after its mark.
_it_since() {
	tail -n +"$((${SRV_MARK[$1]:-0} + 1))" "${SRV_LOG[$1]}" 2>/dev/null
}

# conn_count NAME PORT: connections to destination PORT that proxy NAME
# logged since its mark.
conn_count() {
	_it_since "$1" | grep -cE -- "$(_it_conn_re "$1" "$2")"
}

# assert_crossed NAME PORT [MSG] [MIN]: proxy NAME logged at least MIN
# (default 1) connections to destination port PORT since its mark.  Polls
# up to IT_LOG_WAIT_MS (squid logs a tunnel when it closes).
assert_crossed() {
	local name=$1 port=$2 msg=${3:-"traffic to port $2 crossed $1"}
	local min=${4:-1} n=0 deadline
	deadline=$(($(_it_ms) + IT_LOG_WAIT_MS))
	while :; do
		n=$(conn_count "$name" "$port")
		((n >= min)) && break
		(($(_it_ms) >= deadline)) && break
		sleep 0.05
	done
	if ((n >= min)); then
		pass "$msg"
	else
		fail "$msg: $n connection(s) to port $port in ${SRV_LOG[$name]}, want >= $min"
	fi
}

# assert_not_crossed NAME PORT [MSG]: no connection to PORT through NAME
# since its mark (waits 0.3 s for late log lines first).
assert_not_crossed() {
	local name=$1 port=$2 msg=${3:-"nothing to port $2 crossed $1"} n
	sleep 0.3
	n=$(conn_count "$name" "$port")
	if ((n == 0)); then
		pass "$msg"
	else
		fail "$msg: $n connection(s) to port $port in ${SRV_LOG[$name]}"
	fi
}

# assert_log NAME ERE [MSG]: a line of NAME's log since its mark matches
# (polls up to IT_LOG_WAIT_MS).  E.g. that an origin saw a proxy's out= address:
#   assert_log web '^127\.0\.0\.5 [0-9]+ "GET /hello.txt '
assert_log() {
	local name=$1 re=$2 msg=${3:-"$1 logged /$2/"} deadline
	deadline=$(($(_it_ms) + IT_LOG_WAIT_MS))
	while :; do
		if _it_since "$name" | grep -qE -- "$re"; then
			pass "$msg"
			return 0
		fi
		(($(_it_ms) >= deadline)) && break
		sleep 0.05
	done
	fail "$msg: no line of ${SRV_LOG[$name]} (after line ${SRV_MARK[$name]}) matches /$re/"
}

# ------------------------------------------------------------------ exit

# On exit: stop what we started, print the summary, report counts to
# run.sh, show the servers' logs when something failed, remove $T.
_it_exit() {
	local rc=$? name f
	trap - EXIT INT TERM
	stop_all
	_it_asan_reports
	if ((_IT_DONE == 0)); then
		fail "$IT_NAME ended early (exit status $rc) before it_done"
	fi
	if ((IT_FAIL > 0)); then
		for name in "${_IT_NAMES[@]}"; do
			for f in "${SRV_LOG[$name]:-}" "$T/$name"/*.out; do
				[[ -s $f ]] || continue
				echo "# --- $name: tail of $f"
				tail -n 15 "$f" | sed 's/^/#   /'
			done
		done
	fi
	local line="$IT_PASS passed, $IT_FAIL failed"
	((IT_SKIP > 0)) && line+=", $IT_SKIP skipped"
	echo "$IT_NAME: $line"
	if [[ -n ${IT_RESULT_FILE:-} ]]; then
		echo "$IT_PASS $IT_FAIL $IT_SKIP" >"$IT_RESULT_FILE"
	fi
	_it_shm_cleanup
	if [[ ${IT_KEEP:-0} == 1 ]]; then
		echo "# kept $T"
	else
		rm -rf "$T"
	fi
	((IT_FAIL > 0)) && exit 1
	exit 0
}

trap _it_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------- reverse proxies

# start_haproxy NAME [host=] [port=] -- BACKEND_ADDR [SERVER_OPTS...]
#   HAProxy in TCP mode in front of BACKEND_ADDR (host:port), e.g.
#   `-- 127.0.0.1:8080 send-proxy-v2`.  Foreground (-db), no logging.
#   It connects to the backend from 127.0.0.1.
start_haproxy() {
	local name=$1
	shift
	_it_opts "$@" && _it_new "$name" || return 1
	command -v haproxy >/dev/null || {
		skip "haproxy not installed"
		return 2
	}
	if ((${#_o_rest[@]} < 1)); then
		echo "lib.sh: start_haproxy needs -- BACKEND_ADDR" >&2
		return 1
	fi
	_it_start_loop "$name" haproxy _it_cfg_haproxy
}

_it_cfg_haproxy() {
	local listen=$_o_host
	_log=$_dir/haproxy.out _out=$_dir/haproxy.out
	[[ $listen == *:* ]] && listen="[$listen]"
	cat >"$_dir/haproxy.cfg" <<HAP
global
	maxconn 256
defaults
	mode tcp
	timeout connect 5s
	timeout client 30s
	timeout server 30s
listen fe
	bind $listen:$_o_port
	server s1 ${_o_rest[*]}
HAP
	_cmd=(haproxy -f "$_dir/haproxy.cfg" -db)
}

# start_nginx NAME [host=] [port=] -- BACKEND_ADDR
#   nginx as an HTTP reverse proxy in front of BACKEND_ADDR (host:port):
#   `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`,
#   `proxy_buffering off` (streams such as Server-Sent Events pass as they
#   come), HTTP/1.1 to the backend.  Foreground, one worker, everything
#   (pid, logs, temp paths) in its directory.  Log: access.log with
#   `$remote_addr "$request" $status "$http_x_forwarded_for"`.
start_nginx() {
	local name=$1
	shift
	_it_opts "$@" && _it_new "$name" || return 1
	command -v nginx >/dev/null || {
		skip "nginx not installed"
		return 2
	}
	if ((${#_o_rest[@]} != 1)); then
		echo "lib.sh: start_nginx needs -- BACKEND_ADDR" >&2
		return 1
	fi
	_it_start_loop "$name" nginx _it_cfg_nginx
}

_it_cfg_nginx() {
	local d=$_dir listen=$_o_host
	_log=$d/access.log _out=$d/nginx.out
	[[ $listen == *:* ]] && listen="[$listen]"
	mkdir -p "$d/tmp"
	{
		# As root the worker would switch to nobody, which cannot
		# reach our temp dirs; stay root (loopback only, test only).
		is_root && echo "user root;"
		echo "worker_processes 1;"
		echo "pid $d/nginx.pid;"
		echo "error_log $d/error.log info;"
		echo "events { worker_connections 256; }"
		echo "http {"
		echo "  log_format t '\$remote_addr \"\$request\" \$status \"\$http_x_forwarded_for\"';"
		echo "  access_log $d/access.log t;"
		for t in client_body proxy fastcgi uwsgi scgi; do
			echo "  ${t}_temp_path $d/tmp/$t;"
		done
		echo "  server {"
		echo "    listen $listen:$_o_port;"
		echo "    location / {"
		echo "      proxy_pass http://${_o_rest[0]};"
		echo "      proxy_http_version 1.1;"
		echo "      proxy_set_header Connection \"\";"
		echo "      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;"
		echo "      proxy_buffering off;"
		echo "    }"
		echo "  }"
		echo "}"
	} >"$d/nginx.conf"
	_cmd=(nginx -p "$d" -c "$d/nginx.conf" -g 'daemon off;')
}

# ------------------------------------------------- TLS (https:// upstreams)

# make_test_ca DIR: a test CA (DIR/ca.crt), a server certificate it signed
# for 127.0.0.1 and localhost (DIR/server.crt, DIR/server.key), and a
# second, unrelated CA (DIR/other-ca.crt) for the wrong-CA case.
make_test_ca() {
	local d=$1 c
	mkdir -p "$d"
	for c in ca other-ca; do
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
			-subj "/CN=proxyshim test $c" -keyout "$d/$c.key" \
			-out "$d/$c.crt" >/dev/null 2>&1 || return 1
	done
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1 || return 1
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/san.ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/san.ext" \
		-out "$d/server.crt" >/dev/null 2>&1
}

# start_stunnel NAME BACKEND_HOST:PORT CERT KEY [host=] [port=]
#   A TLS server in front of BACKEND (e.g. a tinyproxy): SRV_URL is
#   https://HOST:PORT.  Log: DIR/stunnel.log.
start_stunnel() {
	local name=$1
	_st_backend=$2 _st_cert=$3 _st_key=$4
	shift 4
	_it_opts "$@" && _it_new "$name" || return 1
	command -v stunnel4 >/dev/null || command -v stunnel >/dev/null || {
		skip "stunnel4 not installed"
		return 2
	}
	_it_start_loop "$name" stunnel _it_cfg_stunnel || return 1
	SRV_URL[$name]="https://${SRV_ADDR[$name]}"
}

_it_cfg_stunnel() {
	local bin
	bin=$(command -v stunnel4 || command -v stunnel)
	_log=$_dir/stunnel.log _out=$_dir/stunnel.out
	: >"$_log"
	{
		echo "foreground = yes"
		echo "pid ="
		echo "output = $_log"
		echo "debug = info"
		echo "[proxy]"
		echo "accept = $(hostport "$_o_host" "$_o_port")"
		echo "connect = $_st_backend"
		echo "cert = $_st_cert"
		echo "key = $_st_key"
	} >"$_dir/stunnel.conf"
	_cmd=("$bin" "$_dir/stunnel.conf")
}

# relay_pid CONFIG: the pid of the TLS relay serving CONFIG's table (from
# its shared segment), empty when none.
relay_pid() {
	local name seg
	name=$("$SHIM_CMD" compile -c "$1" 2>/dev/null) || return 0
	seg=/dev/shm${name}-relay
	[[ -f $seg ]] || return 0
	od -An -t d4 -j 44 -N 4 "$seg" | tr -d ' '
}
