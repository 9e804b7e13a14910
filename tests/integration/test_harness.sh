#!/usr/bin/env bash
# Self-test of the integration harness, without the shim: every proxy that
# lib.sh starts works with curl's own proxy support (IPv4 and IPv6 proxy
# addresses, IPv4 and IPv6 destinations, names only the proxy resolves), its
# log records the connection, the big file arrives byte-exact, and wrong
# credentials are refused.  The helper servers behave as documented.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

PROXY_ONLY_NAME=origin.proxyshim.test

# fetch PROXYURL URL [curl options...]: the body via that proxy.
fetch() {
	local proxy=$1 url=$2
	shift 2
	"${CURL[@]}" --proxy "$proxy" "$@" "$url"
}

# check_proxy NAME SCHEME [v6dest] [tunnel] [whoami=ADDR] [name]
#   SCHEME: the scheme curl uses for it (socks5h, socks4, socks4a, http);
#   v6dest: also an IPv6 destination; tunnel: HTTP CONNECT (-p);
#   whoami=ADDR: the origin must see the proxy's outgoing address ADDR;
#   name: fetch by a name that only the proxy resolves.
check_proxy() {
	local n=$1 scheme=$2 opt v6=0 name=0 who="" copts=() url auth=""
	shift 2
	for opt in "$@"; do
		case $opt in
		v6dest) v6=1 ;;
		tunnel) copts+=(-p) ;;
		whoami=*) who=${opt#whoami=} ;;
		name) name=1 ;;
		esac
	done
	section "$n (${SRV_KIND[$n]} on ${SRV_ADDR[$n]}, $scheme${SRV_USER[$n]:+, auth})"
	[[ -n ${SRV_USER[$n]} ]] && auth="${SRV_USER[$n]}:${SRV_PASS[$n]}@"
	url="$scheme://$auth${SRV_ADDR[$n]}"

	mark "$n"
	assert_eq "$HELLO_BODY" "$(fetch "$url" "${SRV_URL[web]}/hello.txt" "${copts[@]}")" \
		"$n: hello.txt via $scheme"
	assert_crossed "$n" "${SRV_PORT[web]}" "$n: its log shows the connection"

	if ((v6)); then
		mark "$n"
		assert_eq "$HELLO_BODY" \
			"$(fetch "$url" "${SRV_URL[web6]}/hello.txt" "${copts[@]}")" \
			"$n: IPv6 destination ${SRV_ADDR[web6]}"
		assert_crossed "$n" "${SRV_PORT[web6]}" "$n: logged the IPv6 destination"
	fi

	if [[ -n $who ]]; then
		mark web
		assert_eq "$who" \
			"$(fetch "$url" "${SRV_URL[web]}/whoami" "${copts[@]}" | cut -d' ' -f1)" \
			"$n: the origin sees the proxy's address $who"
		assert_log web "^${who//./\\.} [0-9]+ \"GET /whoami " \
			"$n: the origin's log has $who"
	fi

	if ((name)); then
		mark "$n"
		assert_eq "$HELLO_BODY" \
			"$(fetch "$url" "http://$PROXY_ONLY_NAME:${SRV_PORT[web]}/hello.txt" \
				"${copts[@]}")" "$n: a name only the proxy resolves"
		assert_crossed "$n" "${SRV_PORT[web]}" "$n: logged the named destination"
	fi

	rm -f "$T/big.bin"
	fetch "$url" "${SRV_URL[web]}/big.bin" "${copts[@]}" -o "$T/big.bin"
	assert_sha256 "$T/big.bin" "$BIG_SHA256" "$n: ${IT_BIG_MB} MiB byte-exact"
	rm -f "$T/big.bin"

	if [[ -n ${SRV_USER[$n]} ]]; then
		mark "$n"
		assert_fails "$n: a wrong password is refused" \
			fetch "$scheme://${SRV_USER[$n]}:wrong@${SRV_ADDR[$n]}" \
			"${SRV_URL[web]}/hello.txt" "${copts[@]}"
		assert_fails "$n: no credentials is refused" \
			fetch "$scheme://${SRV_ADDR[$n]}" "${SRV_URL[web]}/hello.txt" "${copts[@]}"
		assert_not_crossed "$n" "${SRV_PORT[web]}" "$n: refused requests went nowhere"
	fi
}

t_start=$(_it_ms)

section "helpers"
p4=$(free_port 127.0.0.1)
p6=$(free_port ::1)
assert_ok "free_port 127.0.0.1 -> $p4" test "$p4" -gt 1024
assert_ok "free_port ::1 -> $p6" test "$p6" -gt 1024
assert_eq "[::1]:80" "$(hostport ::1 80)" "hostport brackets IPv6"

section "servers"
start_origin web || it_done
start_origin web6 host=::1 || it_done
assert_eq "$HELLO_BODY" "$("${CURL[@]}" "${SRV_URL[web]}/hello.txt")" "origin on 127.0.0.1"
assert_eq "$HELLO_BODY" "$("${CURL[@]}" "${SRV_URL[web6]}/hello.txt")" "origin on [::1]"
assert_eq "::1" "$("${CURL[@]}" "${SRV_URL[web6]}/whoami" | cut -d' ' -f1)" \
	"origin /whoami reports the peer"
assert_log web '"GET /hello.txt HTTP/1.1" 200' "origin access log"
assert_fails "$PROXY_ONLY_NAME does not resolve here" \
	getent hosts "$PROXY_ONLY_NAME"

start_banner ban
if [[ -n ${SRV_PID[ban]:-} ]]; then
	out=$(printf 'ping\n' | run_bounded 5 nc -N 127.0.0.1 "${SRV_PORT[ban]}" | tr -d '\r')
	assert_eq "${SRV_BANNER[ban]}"$'\n'"ping" "$out" "banner server speaks first, then echoes"
fi

start_silent sil
if [[ -n ${SRV_PID[sil]:-} ]]; then
	rc=0
	out=$(printf 'hello\n' | run_bounded 0.5 nc 127.0.0.1 "${SRV_PORT[sil]}") || rc=$?
	assert_eq "124:" "$rc:$out" "silent server accepts and never answers"
	assert_log sil '^accept 127\.0\.0\.1 ' "silent server logged the accept"
fi

start_garbage junk
if [[ -n ${SRV_PID[junk]:-} ]]; then
	out=$(printf 'x' | run_bounded 5 nc -N 127.0.0.1 "${SRV_PORT[junk]}" | od -An -tx1 | tr -d ' \n')
	assert_eq "00ff47415242414745070d0a0d0a" "$out" "garbage server answers junk"
fi
# A scripted SOCKS5 server: "no auth" then REP=05 (connection refused).
start_garbage s5refuse -- --reply-hex 0500 --reply-hex 05050001000000000000
if [[ -n ${SRV_PID[s5refuse]:-} ]]; then
	assert_exit 97 "scripted SOCKS5 REP=05: curl fails the handshake" \
		fetch "socks5://${SRV_ADDR[s5refuse]}" "${SRV_URL[web]}/hello.txt"
fi

section "start proxies"
t_proxies=$(_it_ms)
start_microsocks ms
start_microsocks ms_auth host=::1 user=alice pass=s3cret out=127.0.0.2
start_dante dn out=127.0.0.5
start_dante dn6 host=::1
start_dante dn_auth user=psuser pass=s3cret hosts="$PROXY_ONLY_NAME=127.0.0.1"
start_tinyproxy tp
start_tinyproxy tp_auth host=::1 user=alice pass=s3cret out=127.0.0.3 \
	hosts="$PROXY_ONLY_NAME=127.0.0.1"
start_squid sq hosts="$PROXY_ONLY_NAME=127.0.0.1"
start_squid sq_auth host=::1 user=alice pass=s3cret out=127.0.0.4
start_sshsocks ssh hosts="$PROXY_ONLY_NAME=127.0.0.1"
echo "# proxies started in $(($(_it_ms) - t_proxies)) ms"

run_if() {
	local n=$1
	shift
	[[ -n ${SRV_PID[$n]:-} ]] && check_proxy "$n" "$@"
	return 0
}
run_if ms socks5h v6dest
run_if ms_auth socks5h whoami=127.0.0.2
run_if dn socks5h v6dest whoami=127.0.0.5
run_if dn6 socks5h v6dest
run_if dn_auth socks5h name
run_if tp http tunnel v6dest
run_if tp_auth http tunnel whoami=127.0.0.3 name
run_if sq http tunnel v6dest name
run_if sq_auth http tunnel whoami=127.0.0.4

section "more protocols"
if [[ -n ${SRV_PID[dn]:-} ]]; then
	mark dn
	assert_eq "$HELLO_BODY" "$(fetch "socks4://${SRV_ADDR[dn]}" "${SRV_URL[web]}/hello.txt")" \
		"dn: SOCKS4"
	assert_crossed dn "${SRV_PORT[web]}" "dn: SOCKS4 logged"
fi
if [[ -n ${SRV_PID[ssh]:-} ]]; then
	check_proxy ssh socks4a name
	mark ssh
	assert_eq "$HELLO_BODY" "$(fetch "socks5h://${SRV_ADDR[ssh]}" \
		"http://$PROXY_ONLY_NAME:${SRV_PORT[web]}/hello.txt")" "ssh: SOCKS5 by name"
	assert_eq "$HELLO_BODY" "$(fetch "socks4://${SRV_ADDR[ssh]}" \
		"${SRV_URL[web]}/hello.txt")" "ssh: SOCKS4"
	assert_crossed ssh "${SRV_PORT[web]}" "ssh: logged both" 2
fi
for n in sq tp; do
	[[ -n ${SRV_PID[$n]:-} ]] || continue
	mark "$n"
	assert_eq "$HELLO_BODY" "$(fetch "http://${SRV_ADDR[$n]}" "${SRV_URL[web]}/hello.txt")" \
		"$n: plain proxied GET (no CONNECT)"
	assert_crossed "$n" "${SRV_PORT[web]}" "$n: plain GET logged"
done

section "banner through proxies (nc)"
# nc must not half-close (microsocks and squid drop the tunnel, and the
# banner with it, when the client shuts down its write side): -d, and -w 1
# to end.  The four run in parallel.
if [[ -n ${SRV_PID[ban]:-} ]]; then
	jobs_=()
	for spec in "ms 5" "dn 5" "tp connect" "sq connect"; do
		read -r n x <<<"$spec"
		[[ -n ${SRV_PID[$n]:-} ]] || continue
		mark "$n"
		run_bounded 5 nc -d -w 1 -X "$x" -x "${SRV_ADDR[$n]}" 127.0.0.1 \
			"${SRV_PORT[ban]}" >"$T/banner.$n" 2>&1 &
		jobs_+=("$!:$n:$x")
	done
	for j in "${jobs_[@]}"; do
		IFS=: read -r pid n x <<<"$j"
		wait "$pid"
		assert_eq "${SRV_BANNER[ban]}" "$(tr -d '\r' <"$T/banner.$n")" \
			"$n: the banner arrives (nc -X $x)"
		assert_crossed "$n" "${SRV_PORT[ban]}" "$n: banner connection logged"
	done
fi

section "stop one proxy"
if [[ -n ${SRV_PID[ms]:-} ]]; then
	stop_server ms
	assert_fails "ms stopped: its PID is gone" _it_alive "${SRV_PID[ms]}"
	assert_fails "ms stopped: nothing listens on its port" \
		fetch "socks5h://${SRV_ADDR[ms]}" "${SRV_URL[web]}/hello.txt"
fi

echo "# harness self-test body took $(($(_it_ms) - t_start)) ms"
it_done
