#!/usr/bin/env bash
# Forward path (issue 3): threads and forks.  16 threads × 50 connections
# through SOCKS5 (microsocks) and HTTP CONNECT (tinyproxy), and 8 forked
# children × 20 connections (the parent connects first, so the children
# inherit an initialised library), through both.  Every connection reads
# the banner of a server that speaks first and makes an echo round trip
# with a token of its own; every one must succeed and every one must show
# in the proxy's log.  Also round_robin from many threads: the shared
# counter splits them evenly; and a program interrupted by a signal every
# 200 us (no SA_RESTART) still gets every connect through, never EINTR.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need_shim || it_done
build_client stress || it_done

start_banner ban || it_done
start_microsocks ms || it_done
start_tinyproxy tp || it_done
P=${SRV_PORT[ban]}

cfg_via() {
	write_file "cfg/$1.yml" <<EOF
proxy:
  http: "$2"
  proxy_loopback: true
  timeouts: {connect: 5s, handshake: 10s}
EOF
}
declare -A CFG=([ms]=$(cfg_via ms "${SRV_URL[ms]}") [tp]=$(cfg_via tp "${SRV_URL[tp]}"))

# stress_ok PROXY MODE WORKERS CONNS: run the client, check it and the log.
stress_ok() {
	local p=$1 mode=$2 w=$3 n=$4 out rc=0 t0 total
	total=$((w * n))
	[[ $mode == fork ]] && total=$((total + 1)) # the parent's own
	mark "$p"
	t0=$(_it_ms)
	out=$(shim_run "${CFG[$p]}" timeout 600 "$T/stress" "$mode" "$w" "$n" \
		127.0.0.1 "$P" "${SRV_BANNER[ban]}" 2>&1) || rc=$?
	echo "# $p $mode $w×$n: $(($(_it_ms) - t0)) ms"
	printf '%s\n' "$out" | head -n 5 | sed 's/^/# /'
	assert_eq 0 "$rc" "$p: $mode $w × $n connections all verified (banner + echo)"
	if [[ $mode == threads ]]; then
		assert_eq "ok=$total fail=0" "$(tail -n 1 <<<"$out")" "$p: $mode: every count right"
	else
		assert_eq "children_ok=$w children_failed=0" "$(tail -n 1 <<<"$out")" \
			"$p: $mode: every child exited 0 (none crashed)"
	fi
	assert_crossed "$p" "$P" "$p: $mode: the proxy logged all $total" "$total"
}

section "16 threads × 50 connections"
stress_ok ms threads 16 50
stress_ok tp threads 16 50

section "8 forked children × 20 connections"
stress_ok ms fork 8 20
stress_ok tp fork 8 20

section "signals during the handshake (EINTR)"
for p in ms tp; do
	mark "$p"
	rc=0
	out=$(shim_run "${CFG[$p]}" timeout 60 "$T/stress" signals 4 50 127.0.0.1 "$P" \
		"${SRV_BANNER[ban]}" 2>&1) || rc=$?
	printf '%s\n' "$out" | head -n 5 | sed 's/^/# /'
	assert_eq "0 alarms=many ok=200 fail=0" "$rc $(tail -n 2 <<<"$out" | tr '\n' ' ' | sed 's/ $//')" \
		"$p: 200 connects under a 200 us SIGALRM timer all succeed"
	assert_crossed "$p" "$P" "$p: signals: the proxy logged all 200" 200
done

section "round_robin from 16 threads"
c=$(write_file cfg/rr.yml <<EOF
proxy:
  proxy_loopback: true
  chain: round_robin
  rules:
    - match: 127.0.0.0/8
      via: [${SRV_URL[ms]}, ${SRV_URL[tp]}]
EOF
)
mark ms
mark tp
rc=0
out=$(shim_run "$c" timeout 600 "$T/stress" threads 16 10 127.0.0.1 "$P" \
	"${SRV_BANNER[ban]}" 2>&1) || rc=$?
assert_eq "0 ok=160 fail=0" "$rc $(tail -n 1 <<<"$out")" "round_robin: 160 threaded connections verified"
sleep 0.3
nm=$(conn_count ms "$P")
nt=$(conn_count tp "$P")
echo "# round_robin: microsocks $nm, tinyproxy $nt"
assert_eq "80 80" "$nm $nt" "round_robin: the shared counter splits 160 connections evenly"
it_done
