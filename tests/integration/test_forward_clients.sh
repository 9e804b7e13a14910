#!/usr/bin/env bash
# Forward path: real, unmodified clients under the shim, through
# SOCKS5 (microsocks), HTTP CONNECT (tinyproxy) and SOCKS5/SOCKS4 (dante):
# curl (by `proxyshim run` and by hand with LD_PRELOAD), wget, python3
# urllib, git clone over http (a dumb http repository; git's transport is a
# child process), nc, socat, a plain C client, a non-blocking C client that
# waits with poll and with epoll, and python asyncio.  The program's socket
# stays its own: a bound source address survives, connect() again says
# EISCONN and leaves the tunnel alone, sendto()/sendmsg() with
# MSG_FASTOPEN are routed like connect().
#
# Proof of the route: each proxy connects out from its own address
# (microsocks 127.0.0.9, tinyproxy 127.0.0.8, dante 127.0.0.5) and the
# origin's /whoami answers the address it saw; the proxies' logs as well.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need_shim || it_done
build_client httpget || it_done
build_client nbclient || it_done

start_origin web || it_done
start_banner ban || it_done
start_microsocks ms out=127.0.0.9 || it_done
start_tinyproxy tp out=127.0.0.8 || it_done
start_dante dn out=127.0.0.5
A=${SRV_PORT[web]}
declare -A OUT=([ms]=127.0.0.9 [tp]=127.0.0.8 [dn]=127.0.0.5)

# cfg_via NAME URL: every destination through URL.
cfg_via() {
	write_file "cfg/$1.yml" <<EOF
proxy:
  http: "$2"
  proxy_loopback: true
  timeouts: {connect: 3s, handshake: 5s}
EOF
}
declare -A CFG=()
CFG[ms]=$(cfg_via ms "${SRV_URL[ms]}")
CFG[tp]=$(cfg_via tp "${SRV_URL[tp]}")
[[ -n ${SRV_PID[dn]:-} ]] && CFG[dn]=$(cfg_via dn "${SRV_URL[dn]}")
REQ=$'GET /whoami HTTP/1.0\r\nHost: origin\r\n\r\n'

# whoami_is PROXY OUTPUT MSG: OUTPUT's last line starts with PROXY's out
# address, and the proxy logged a connection to the origin.
whoami_is() {
	local p=$1 last
	last=$(tail -n 1 <<<"$2" | tr -d '\r')
	assert_eq "${OUT[$p]}" "${last%% *}" "$3: the origin saw $p's address"
	assert_crossed "$p" "$A" "$3: $p logged it"
}

# Each client through each proxy; $p is the proxy, $c its config.
for p in ms tp dn; do
	[[ -n ${CFG[$p]:-} ]] || continue
	c=${CFG[$p]}
	section "through $p (${SRV_KIND[$p]})"

	mark "$p"
	out=$(shim_run "$c" "${CURL[@]}" --noproxy '*' "${SRV_URL[web]}/whoami" 2>&1)
	whoami_is "$p" "$out" "curl (proxyshim run)"

	mark "$p"
	out=$(shim_preload "$c" "${CURL[@]}" --noproxy '*' "${SRV_URL[web]}/whoami" 2>&1)
	whoami_is "$p" "$out" "curl (LD_PRELOAD + PROXYSHIM_CONFIG)"

	mark "$p"
	out=$(shim_run "$c" timeout 20 wget -q -O - --no-proxy "${SRV_URL[web]}/whoami" 2>&1)
	whoami_is "$p" "$out" "wget"

	mark "$p"
	out=$(shim_run "$c" timeout 20 python3 -c '
import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())
' "${SRV_URL[web]}/whoami" 2>&1)
	whoami_is "$p" "$out" "python3 urllib"

	mark "$p"
	out=$(shim_run "$c" timeout 20 "$T/httpget" get 127.0.0.1 "$A" /whoami 2>&1)
	whoami_is "$p" "$out" "C client (blocking)"

	mark "$p"
	out=$(printf '%s' "$REQ" | shim_run "$c" timeout 20 nc -w 5 127.0.0.1 "$A" 2>&1)
	whoami_is "$p" "$out" "nc (request, reply to EOF)"

	mark "$p"
	out=$(printf '%s' "$REQ" |
		shim_run "$c" timeout 20 socat -t 5 - "TCP:127.0.0.1:$A,shut-none" 2>&1)
	whoami_is "$p" "$out" "socat"
done

section "nc and socat with a server that speaks first"
# No half-close: the proxies drop the tunnel when the client shuts down
# its write side (README).  nc -d never reads stdin; -w 1 ends it.
for p in ms tp dn; do
	[[ -n ${CFG[$p]:-} ]] || continue
	mark "$p"
	out=$(shim_run "${CFG[$p]}" timeout 10 nc -d -w 1 127.0.0.1 "${SRV_PORT[ban]}" 2>&1 | tr -d '\r')
	assert_eq "${SRV_BANNER[ban]}" "$out" "nc -d through $p: the banner arrives intact"
	assert_crossed "$p" "${SRV_PORT[ban]}" "nc -d through $p: crossed the proxy"
	mark "$p"
	out=$({
		printf 'ping-%s\n' "$p"
		sleep 0.5
	} | shim_run "${CFG[$p]}" timeout 10 socat -t 0.2 - \
		"TCP:127.0.0.1:${SRV_PORT[ban]},shut-none" 2>&1 | tr -d '\r')
	assert_eq "${SRV_BANNER[ban]}"$'\n'"ping-$p" "$out" \
		"socat through $p: banner, then the echo"
	assert_crossed "$p" "${SRV_PORT[ban]}" "socat through $p: crossed the proxy"
done

section "the program's own socket: bound address, connect() again, TCP Fast Open"
# Controls without the shim: the client does what it should on its own.
out=$(timeout 20 "$T/httpget" twice 127.0.0.1 "$A" /whoami 2>"$T/err")
assert_eq "again: EISCONN|127.0.0.1" "$(cat "$T/err")|${out%% *}" \
	"without the shim: connect() on a connected socket says EISCONN"
out=$(timeout 20 "$T/httpget" tfo 127.0.0.1 "$A" /whoami 2>&1)
assert_eq 127.0.0.1 "${out%% *}" "without the shim: the TCP Fast Open client works"
# The socket is the program's own: a source address it bound is what the
# proxy sees (microsocks logs its client's address).
mark ms
out=$(HTTPGET_BIND=127.0.0.7 shim_run "${CFG[ms]}" timeout 20 "$T/httpget" get \
	127.0.0.1 "$A" /whoami 2>&1)
whoami_is ms "$out" "socket bound to 127.0.0.7 before connect"
assert_log ms "client\[[0-9]+\] 127\.0\.0\.7: connected to 127\.0\.0\.1:$A\$" \
	"the proxy's client is the program's bound address 127.0.0.7"
# connect() again on the tunnelled socket: EISCONN, and the tunnel is left
# alone (not handshaken again, not torn down by failover or on_failure).
for k in "chain: strict" "chain: failover" "on_failure: direct"; do
	c=$(write_file "cfg/again-${k//[: ]/}.yml" <<EOF
proxy:
  proxy_loopback: true
  $k
  timeouts: {connect: 3s, handshake: 2s}
  rules:
    - match: 127.0.0.0/8
      via: ["${SRV_URL[ms]}"]
EOF
	)
	mark ms
	out=$(shim_run "$c" timeout 20 "$T/httpget" twice 127.0.0.1 "$A" /whoami 2>"$T/err")
	assert_eq "again: EISCONN" "$(grep -v '^proxyshim' "$T/err")" \
		"$k: connect() on a tunnelled socket says EISCONN"
	whoami_is ms "$out" "$k: the first tunnel still carries the request"
	assert_eq 1 "$(conn_count ms "$A")" "$k: one tunnel, not two"
done
for p in ms tp; do
	for how in sendto sendmsg; do
		mark "$p"
		mode=tfo
		[[ $how == sendmsg ]] && mode=tfomsg
		out=$(shim_run "${CFG[$p]}" timeout 20 "$T/httpget" "$mode" 127.0.0.1 "$A" /whoami 2>&1)
		whoami_is "$p" "$out" "$how with MSG_FASTOPEN through $p"
	done
	# curl --tcp-fastopen sets TCP_FASTOPEN_CONNECT: connect() returns at
	# once and the SYN leaves with the first data (the shim's handshake).
	mark "$p"
	out=$(shim_run "${CFG[$p]}" "${CURL[@]}" --noproxy '*' --tcp-fastopen \
		"${SRV_URL[web]}/whoami" 2>&1)
	whoami_is "$p" "$out" "curl --tcp-fastopen (TCP_FASTOPEN_CONNECT) through $p"
done

section "git clone over http (dumb), git-remote-http as a child"
if command -v git >/dev/null; then
	groot=$T/gitroot
	gwork=$T/gitwork
	# No user or system git config (a proxy setting there would spoil it).
	g=(env HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 git
		-c init.defaultBranch=main -c user.name=proxyshim
		-c user.email=it@proxyshim.test)
	mkdir -p "$groot" "$gwork"
	"${g[@]}" init -q --bare "$groot/repo.git"
	"${g[@]}" init -q "$gwork"
	printf 'proxied through %s\n' "$RANDOM" >"$gwork/file.txt"
	head -c 300000 /dev/urandom >"$gwork/blob.bin"
	"${g[@]}" -C "$gwork" add file.txt blob.bin
	"${g[@]}" -C "$gwork" commit -q -m "first"
	"${g[@]}" -C "$gwork" push -q "$groot/repo.git" HEAD:refs/heads/main
	"${g[@]}" -C "$groot/repo.git" update-server-info
	want=$("${g[@]}" -C "$gwork" rev-parse HEAD)
	if start_origin gitweb dir="$groot"; then
		for p in ms tp; do
			mark "$p"
			mark gitweb
			rm -rf "$T/clone-$p"
			rc=0
			shim_run "${CFG[$p]}" timeout 60 "${g[@]}" clone -q \
				"${SRV_URL[gitweb]}/repo.git" "$T/clone-$p" 2>&1 || rc=$?
			assert_eq 0 "$rc" "git clone through $p exits 0"
			assert_eq "$want" "$("${g[@]}" -C "$T/clone-$p" rev-parse HEAD 2>&1)" \
				"git clone through $p: same commit"
			assert_ok "git clone through $p: files identical" \
				cmp -s "$gwork/blob.bin" "$T/clone-$p/blob.bin"
			assert_crossed "$p" "${SRV_PORT[gitweb]}" "git clone through $p: crossed the proxy"
			assert_log gitweb "^${OUT[$p]//./\\.} [0-9]+ \"GET /repo.git/info/refs" \
				"git clone through $p: the origin saw $p fetch info/refs"
		done
	fi
else
	skip "git not installed"
fi

section "non-blocking connect: poll and epoll (C client)"
# The client itself, without the shim: it must work on a plain socket.
out=$(timeout 20 "$T/nbclient" poll 127.0.0.1 "$A" /hello.txt 2>/dev/null)
assert_eq "$HELLO_BODY" "$out" "nbclient works without the shim (sanity)"
for p in ms tp; do
	for how in poll epoll; do
		mark "$p"
		out=$(shim_run "${CFG[$p]}" timeout 20 "$T/nbclient" "$how" 127.0.0.1 \
			"$A" /hello.txt 5 2>"$T/nb.err")
		assert_eq "$HELLO_BODY" "$out" "nbclient $how through $p: 5 connections, data correct"
		assert_eq 5 "$(grep -cE '^connect=(0|EINPROGRESS) so_error=0 nonblock=1 cloexec=1$' "$T/nb.err")" \
			"nbclient $how through $p: 0/EINPROGRESS, SO_ERROR 0, flags kept"
		assert_crossed "$p" "$A" "nbclient $how through $p: crossed the proxy" 5
	done
done

section "python asyncio"
cat >"$T/aio.py" <<'EOF'
import asyncio, sys

async def one(host, port):
    r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    w.write(b"GET /whoami HTTP/1.0\r\nHost: origin\r\n\r\n")
    await w.drain()
    data = await asyncio.wait_for(r.read(), 10)
    w.close()
    return data.split(b"\r\n\r\n", 1)[1].decode().split()[0]

async def main(host, port, n):
    seen = await asyncio.gather(*(one(host, port) for _ in range(n)))
    print(" ".join(sorted(set(seen))), len(seen))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
EOF
for p in ms tp; do
	mark "$p"
	out=$(shim_run "${CFG[$p]}" timeout 20 python3 "$T/aio.py" 127.0.0.1 "$A" 8 2>&1)
	assert_eq "${OUT[$p]} 8" "$out" "asyncio through $p: 8 concurrent connections, all via $p"
	assert_crossed "$p" "$A" "asyncio through $p: crossed the proxy" 8
done
it_done
