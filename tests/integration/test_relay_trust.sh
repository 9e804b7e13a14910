#!/usr/bin/env bash
# The TLS relay's trust boundary, tried as another local user (nobody):
# squatting the port a killed relay left in its record, replaying its
# secret to the next relay, and holding half-sent requests open against
# it.  The design: docs/behaviour.md#https-upstreams-the-tls-relay; the
# attacks and their results: docs/robustness.md.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need_shim || it_done
if ! is_root || ! command -v setpriv >/dev/null; then
	skip "needs root and setpriv to act as a second uid (nobody)"
	it_done
fi
command -v openssl >/dev/null || {
	skip "openssl not installed"
	it_done
}
atk=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
# A python3 that nobody can run (root's may live under /root).
NPY=
for p in /usr/bin/python3 /usr/local/bin/python3 "$(command -v python3)"; do
	if [[ -x $p ]] && "${atk[@]}" "$p" -c pass 2>/dev/null; then
		NPY=$p
		break
	fi
done
if [[ -z $NPY ]]; then
	skip "no python3 that nobody can run"
	it_done
fi
# The checkout may be unreadable to nobody (a 0700 clone): a copy in $T
# (0711) is readable by its name.
install -m 0644 "$IT_DIR/clients/relay_attack.py" "$T/relay_attack.py"
ATTACK=$T/relay_attack.py
TICK=$(getconf CLK_TCK)

make_test_ca "$T/pki" || {
	fail "make the test CA"
	it_done
}
start_origin web || it_done
start_tinyproxy tp || it_done
start_stunnel st "${SRV_ADDR[tp]}" "$T/pki/server.crt" "$T/pki/server.key" ||
	it_done
export PROXYSHIM_RELAY_IDLE=60 PROXYSHIM_TLS_CA_FILE=$T/pki/ca.crt
mkdir -p "$T/atk"
_it_give_dir "$T/atk"
c=$(write_file cfg/trust.yml <<EOF
proxy:
  http: "${SRV_URL[st]}"
  proxy_loopback: true
EOF
)
log=$T/trust.log
seg=/dev/shm$("$SHIM_CMD" compile -c "$c")-relay
RELAYS=()

# The record's fields (include/proxyshim/relay.h): port, pid, secret.
seg_port() { od -An -t u4 -j 40 -N 4 "$seg" | tr -d ' '; }
seg_pid() { od -An -t d4 -j 44 -N 4 "$seg" | tr -d ' '; }
seg_secret() { od -An -t x1 -j 8 -N 32 "$seg" | tr -d ' \n'; }
# cpu PID: the process's utime + stime, in clock ticks (work, not time).
cpu() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# get: curl through the shim to the origin; prints the body.
get() {
	PROXYSHIM_LOG_FILE=$log shim_run "$c" "${CURL[@]}" --noproxy '*' \
		"${SRV_URL[web]}/hello.txt"
}

section "nobody squats the port of a killed relay"
# A relay started by hand and killed before it served anything, so no
# connection of its own lingers in TIME_WAIT on its port (nobody could
# not bind it for a minute otherwise; an attacker can wait, a test not).
table=$("$SHIM_CMD" compile -c "$c")
PROXYSHIM_LOG_FILE=$log "$SHIM_CMD" relay --table "$table" --detach
for _ in $(seq 1 400); do
	[[ $(seg_port) != 0 ]] && break
	sleep 0.05
done
p1=$(seg_port)
r1=$(seg_pid)
s1=$(seg_secret)
assert_re "$p1 $r1" '^[1-9][0-9]* [1-9][0-9]*$' \
	"the record holds the relay's port and pid"
kill -KILL "$r1"
for _ in $(seq 1 400); do
	kill -0 "$r1" 2>/dev/null || break
	sleep 0.05
done
rm -f "$T/atk/ready" "$T/atk/got"
"${atk[@]}" "$NPY" "$ATTACK" squat "$p1" "$T/atk/got" "$T/atk/ready" 60 \
	>"$T/squat.out" 2>&1 &
sq=$!
for _ in $(seq 1 400); do
	[[ -e $T/atk/ready ]] && break
	kill -0 "$sq" 2>/dev/null || break
	sleep 0.05
done
if [[ -e $T/atk/ready ]]; then
	pass "nobody listens on the recorded port $p1"
	mark tp
	out=$(PROXYSHIM_LOG_FILE=$log shim_run "$c" timeout -k 2 30 python3 -c '
import sys, urllib.request
op = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    print(op.open(sys.argv[1], timeout=20).read().decode(), end="")
except Exception as e:
    print("ERR", getattr(getattr(e, "reason", e), "errno", e))
' "${SRV_URL[web]}/hello.txt" 2>&1)
	# The squatter is dropped and a new relay of ours serves the program
	# (ECONNREFUSED would be the other acceptable outcome).
	assert_eq "$HELLO_BODY" "$out" "python3 reaches a new relay of its own"
	assert_crossed tp "${SRV_PORT[web]}" "through the real upstream"
	assert_contains "$log" "127.0.0.1:$p1, the TLS relay's port, is held by uid 65534" \
		"the library says who held the port"
	kill "$sq" 2>/dev/null
	wait "$sq" 2>/dev/null
	got=$(stat -c %s "$T/atk/got" 2>/dev/null || echo 0)
	assert_eq 0 "$got" "the squatter got no byte: no secret, no request"
	if [[ -s $T/atk/got ]] && grep -q "$s1" "$T/atk/got"; then
		fail "the squatter holds the secret"
	fi
else
	fail "nobody could not bind the recorded port: $(cat "$T/squat.out")"
	kill "$sq" 2>/dev/null
fi
p2=$(seg_port)
r2=$(seg_pid)
s2=$(seg_secret)
RELAYS+=("$r2")
assert_ne "$p1" "$p2" "the new relay listens on another port"
assert_ne "$r1" "$r2" "... with another pid"
assert_ne "$s1" "$s2" "... and a new secret (one per relay)"

code=$(curl -s -o /dev/null -w '%{http_connect}' --max-time 10 -p \
	-x "http://u0:$(printf '%064d' 0)@127.0.0.1:$p2" \
	"${SRV_URL[web]}/hello.txt" 2>/dev/null)
assert_eq 407 "$code" "our own uid with a wrong secret: 407"

section "nobody replays a secret to the next relay"
mark tp
for s in "$s1" "$s2"; do
	what=old
	[[ $s == "$s2" ]] && what=current
	out=$("${atk[@]}" "$NPY" "$ATTACK" steal "$p2" "$s" \
		"127.0.0.1:${SRV_PORT[web]}" 2>&1)
	assert_re "$out" '^(reset|closed)$' \
		"nobody with the $what secret: dropped without an answer"
done
assert_not_crossed tp "${SRV_PORT[web]}" "nothing of nobody's crossed the upstream"
wait_for_log "$log" "the last from uid 65534: this relay serves only uid 0" 15
assert_contains "$log" "the last from uid 65534: this relay serves only uid 0" \
	"the relay logs the refusal and the uid"
if kill -0 "$r2" 2>/dev/null; then
	pass "the relay is still up"
else
	fail "the relay died"
fi

section "half-sent requests do not make the relay spin"
# 50 connections from nobody, then 50 of our own, each "CONNECT x" with
# no end of header, held 5 s; the relay's CPU ticks over that time must
# stay under 5% of one CPU, and a tunnel opened meanwhile must work.
budget=$((TICK * 5 / 20))
for who in nobody ours; do
	run=()
	[[ $who == nobody ]] && run=("${atk[@]}")
	rm -f "$T/atk/hready" "$T/atk/hgo"
	"${run[@]}" "$NPY" "$ATTACK" half "$p2" 50 "$T/atk/hready" "$T/atk/hgo" 120 \
		>"$T/half.$who" 2>&1 &
	hp=$!
	for _ in $(seq 1 600); do
		[[ -e $T/atk/hready ]] && break
		kill -0 "$hp" 2>/dev/null || break
		sleep 0.05
	done
	if [[ ! -e $T/atk/hready ]]; then
		fail "$who: open 50 half requests: $(cat "$T/half.$who")"
		kill "$hp" 2>/dev/null
		continue
	fi
	c0=$(cpu "$r2")
	out=$(get)
	assert_eq "$HELLO_BODY" "$out" "$who: a tunnel opened meanwhile works"
	sleep 5
	c1=$(cpu "$r2")
	touch "$T/atk/hgo"
	wait "$hp"
	echo "# $who: the relay used $((c1 - c0)) ticks in 5 s (budget $budget, $TICK/s)"
	if ((c1 - c0 < budget)); then
		pass "$who: 50 half requests cost the relay $((c1 - c0)) ticks (< $budget)"
	else
		fail "$who: 50 half requests cost the relay $((c1 - c0)) ticks (>= $budget)"
	fi
	if [[ $who == nobody ]]; then
		assert_eq "closed 50" "$(cat "$T/half.$who")" \
			"nobody's 50 connections were dropped at once"
	fi
done

section "our own uid: bytes after the request are refused"
hdr="CONNECT 127.0.0.1:${SRV_PORT[web]} HTTP/1.1"$'\r\n'
hdr+="Proxy-Authorization: Basic $(printf 'u0:%s' "$s2" | base64 -w0)"$'\r\n\r\n'
out=$("$NPY" -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
c.sendall(sys.argv[2].encode() + b"GET / HTTP/1.0\r\n\r\n")
print(c.recv(4096).split(b"\r\n")[0].decode())
' "$p2" "$hdr" 2>&1)
assert_eq "HTTP/1.1 400 Bad Request" "$out" "data before the answer: 400"

for p in "${RELAYS[@]}"; do
	kill -TERM "$p" 2>/dev/null
done
it_done
