#!/usr/bin/env bash
# Run the integration tests: every tests/integration/test_*.sh (or only those
# whose names contain one of the given words), each under a hard time bound,
# and print the total as the last line: `N passed, N failed[, N skipped]`.
# Exit 1 when anything failed.
#
#   B=build bash tests/integration/run.sh [WORD...]
#
# Env: B (build dir, default build; the shim is $B/libproxyshim.so and
# $B/proxyshim), IT_TIMEOUT (seconds per file, default 900 × IT_SLOW: a hang bound),
# IT_SLOW (time-bound factor, default 2 for a sanitizer build, else 1),
# IT_KEEP=1 (keep temp dirs), IT_BIG_MB (size of the big download, default 64).
set -u -o pipefail

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$IT_DIR/../.." && pwd)
cd "$ROOT" || exit 1
export B=${B:-build}
# A sanitizer build (make test-asan) is slower: IT_SLOW (2 there, else 1)
# scales the per-file bound here and the tests' upper time bounds (lib.sh).
if [[ -z ${IT_SLOW:-} ]]; then
	IT_SLOW=1
	[[ $(ldd "$B/libproxyshim.so" 2>/dev/null) == *libasan.so* ]] && IT_SLOW=2
fi
export IT_SLOW
TIMEOUT=${IT_TIMEOUT:-$((900 * IT_SLOW))}

# One cache (the origin's files, the 64 MiB one included) for all files.
IT_CACHE=$(mktemp -d "${TMPDIR:-/tmp}/proxyshim-itcache.XXXXXX") || exit 1
chmod 0711 "$IT_CACHE"
export IT_CACHE
cleanup() {
	if [[ ${IT_KEEP:-0} == 1 ]]; then
		echo "# kept $IT_CACHE"
	else
		rm -rf "$IT_CACHE"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

files=()
for f in "$IT_DIR"/test_*.sh; do
	[[ -f $f ]] || continue
	if (($# > 0)); then
		keep=0
		for w in "$@"; do
			[[ $(basename "$f") == *"$w"* ]] && keep=1
		done
		((keep)) || continue
	fi
	files+=("$f")
done

# Kill (SIGKILL) what a test file started and left running, if it was
# killed before its own cleanup ran: each line of the PID file is
# "PID STARTTIME", and a PID is only touched while its start time matches
# (the same process, not a later one that reuses the number).
reap_leftovers() {
	local pidfile=$1 pid st now s f n=0
	[[ -s $pidfile ]] || return 0
	while read -r pid st; do
		[[ -n $pid && -n $st ]] || continue
		{ s=$(<"/proc/$pid/stat"); } 2>/dev/null || continue
		s=${s##*) }
		read -ra f <<<"$s"
		now=${f[19]}
		[[ ${f[0]} == Z || $now != "$st" ]] && continue
		kill -KILL "$pid" 2>/dev/null && n=$((n + 1))
	done <"$pidfile"
	echo "$n"
}

pass=0 failed=0 skipped=0 start=$SECONDS
for f in "${files[@]}"; do
	name=$(basename "$f" .sh)
	res=$IT_CACHE/$name.result
	pids=$IT_CACHE/$name.pids
	: >"$pids"
	rm -f "$res"
	echo "### $name"
	t0=$SECONDS
	rc=0
	IT_RESULT_FILE=$res IT_PIDS_FILE=$pids \
		timeout -k 10 "$TIMEOUT" bash "$f" </dev/null || rc=$?
	p=0 x=0 s=0
	[[ -s $res ]] && read -r p x s <"$res"
	if ((rc == 124)); then
		echo "FAIL - $name: timed out after ${TIMEOUT}s"
	elif ((rc > 128)); then
		echo "FAIL - $name: killed by signal $((rc - 128))"
	elif ((rc != 0 && x == 0)); then
		echo "FAIL - $name: exit status $rc"
	fi
	# A file that failed without counting a failure counts one.
	((rc != 0 && x == 0)) && x=1
	left=$(reap_leftovers "$pids")
	if ((${left:-0} > 0)); then
		echo "FAIL - $name: left $left process(es) running (killed)"
		x=$((x + 1))
	fi
	echo "### $name: $((SECONDS - t0))s"
	pass=$((pass + p)) failed=$((failed + x)) skipped=$((skipped + s))
done

if ((${#files[@]} == 0)); then
	echo "no test files matched"
	failed=1
fi
echo "### integration: ${#files[@]} file(s) in $((SECONDS - start))s"
line="$pass passed, $failed failed"
((skipped > 0)) && line+=", $skipped skipped"
echo "$line"
((failed == 0))
