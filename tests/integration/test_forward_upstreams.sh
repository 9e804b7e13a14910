#!/usr/bin/env bash
# Forward path (issue 3): every upstream type through the shim.  SOCKS5
# (microsocks with and without auth, dante with and without auth, ssh -D),
# SOCKS4 (dante, ssh -D), SOCKS4a (ssh -D), HTTP CONNECT (tinyproxy with and
# without BasicAuth, squid with and without auth); IPv4 and IPv6
# destinations, proxies on [::1]; a server that speaks first (the banner
# must arrive intact, then an echo round trip).  Unmodified clients: curl
# and a plain C client.  Every check proves the connection crossed the
# proxy: the proxy's own log, or the origin seeing the proxy's out= address.
# Fake proxies check that tunnel data arriving with (or after a split)
# reply is never lost.  Names sent to the proxy: test_forward_names.sh.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need_shim || it_done
build_client httpget || it_done

start_origin web || it_done
start_origin web6 host=::1 || it_done
start_banner ban || it_done
start_banner ban6 host=::1 || it_done

# cfg_via NAME URL: a config sending every destination through URL.
cfg_via() {
	write_file "cfg/$1.yml" <<EOF
proxy:
  http: "$2"
  proxy_loopback: true
  timeouts: {connect: 3s, handshake: 5s}
EOF
}

# get CFG URL: the body, fetched by curl under the shim (no proxy option:
# curl itself knows nothing of the proxy).
get() {
	shim_run "$1" "${CURL[@]}" --noproxy '*' "$2" 2>&1
}

# banner_ok NAME CFG HOST PORT BANNERNAME: the C client reads the banner
# and makes an echo round trip through the proxy NAME.
banner_ok() {
	local n=$1 cfg=$2 h=$3 p=$4 b=$5 tok out
	tok="tok-$n-$RANDOM"
	mark "$n"
	out=$(shim_run "$cfg" timeout -k 2 10 "$T/httpget" banner "$h" "$p" "$tok" 2>&1)
	assert_eq "${SRV_BANNER[$b]}"$'\n'"echo $tok" "$out" \
		"$n: banner from $(hostport "$h" "$p") intact, then echo"
	assert_crossed "$n" "$p" "$n: banner connection crossed the proxy"
}

# check NAME SCHEME [v6dest] [whoami=ADDR] [socks4]
#   The proxy NAME (on 127.0.0.1) used as SCHEME: hello.txt by curl and by
#   the C client, banner + echo; optionally IPv6 destinations and the
#   origin seeing the proxy's outgoing address ADDR.
check() {
	local n=$1 scheme=$2 opt v6=0 who="" auth="" cfg out
	shift 2
	[[ -n ${SRV_PID[$n]:-} ]] || return 0 # start already recorded why
	for opt in "$@"; do
		case $opt in
		v6dest) v6=1 ;;
		whoami=*) who=${opt#whoami=} ;;
		esac
	done
	[[ -n ${SRV_USER[$n]} ]] && auth="${SRV_USER[$n]}:${SRV_PASS[$n]}@"
	cfg=$(cfg_via "$n-$scheme" "$scheme://$auth${SRV_ADDR[$n]}")
	section "$n: ${SRV_KIND[$n]} as $scheme on ${SRV_ADDR[$n]}${auth:+ with credentials}"

	mark "$n"
	assert_eq "$HELLO_BODY" "$(get "$cfg" "${SRV_URL[web]}/hello.txt")" \
		"$n: curl gets hello.txt through $scheme"
	assert_crossed "$n" "${SRV_PORT[web]}" "$n: the proxy logged the curl connection"

	mark "$n"
	out=$(shim_run "$cfg" timeout -k 2 10 "$T/httpget" get 127.0.0.1 \
		"${SRV_PORT[web]}" /hello.txt 2>&1)
	assert_eq "$HELLO_BODY" "$out" "$n: the C client gets hello.txt"
	assert_crossed "$n" "${SRV_PORT[web]}" "$n: the proxy logged the C client"

	if [[ -n $who ]]; then
		mark web
		out=$(get "$cfg" "${SRV_URL[web]}/whoami")
		assert_eq "$who" "${out%% *}" "$n: the origin sees the proxy's address $who"
		assert_log web "^${who//./\\.} [0-9]+ \"GET /whoami " \
			"$n: the origin's log has the request from $who"
	fi

	banner_ok "$n" "$cfg" 127.0.0.1 "${SRV_PORT[ban]}" ban

	if ((v6)); then
		mark "$n"
		assert_eq "$HELLO_BODY" "$(get "$cfg" "${SRV_URL[web6]}/hello.txt")" \
			"$n: IPv6 destination ${SRV_ADDR[web6]}"
		assert_crossed "$n" "${SRV_PORT[web6]}" "$n: the proxy logged the IPv6 destination"
		banner_ok "$n" "$cfg" ::1 "${SRV_PORT[ban6]}" ban6
	fi
}

# check6 NAME SCHEME [v4only]: the proxy NAME listens on [::1].  IPv6
# sockets reach it (IPv6 destinations unless v4only (SOCKS4), and IPv4
# ones written IPv4-mapped); an IPv4 socket cannot (EAFNOSUPPORT,
# docs/behaviour.md).
check6() {
	local n=$1 scheme=$2 v4only=${3:-} auth="" cfg out
	[[ -n ${SRV_PID[$n]:-} ]] || return 0
	[[ -n ${SRV_USER[$n]} ]] && auth="${SRV_USER[$n]}:${SRV_PASS[$n]}@"
	cfg=$(cfg_via "$n-$scheme" "$scheme://$auth${SRV_ADDR[$n]}")
	section "$n: ${SRV_KIND[$n]} as $scheme on ${SRV_ADDR[$n]} (IPv6 proxy address)"

	if [[ -z $v4only ]]; then
		mark "$n"
		assert_eq "$HELLO_BODY" "$(get "$cfg" "${SRV_URL[web6]}/hello.txt")" \
			"$n: curl to ${SRV_ADDR[web6]} through the proxy at ${SRV_ADDR[$n]}"
		assert_crossed "$n" "${SRV_PORT[web6]}" "$n: the proxy logged it"
		banner_ok "$n" "$cfg" ::1 "${SRV_PORT[ban6]}" ban6
	fi

	mark "$n"
	out=$(shim_run "$cfg" timeout -k 2 10 "$T/httpget" get ::ffff:127.0.0.1 \
		"${SRV_PORT[web]}" /hello.txt 2>&1)
	assert_eq "$HELLO_BODY" "$out" \
		"$n: IPv4-mapped destination from an IPv6 socket"
	assert_crossed "$n" "${SRV_PORT[web]}" "$n: the proxy logged the IPv4 destination"

	out=$(shim_run "$cfg" python3 "$IT_DIR/connect_errno.py" 127.0.0.1 \
		"${SRV_PORT[web]}" 5 2>/dev/null)
	assert_eq EAFNOSUPPORT "$out" "$n: an IPv4 socket cannot reach an IPv6 proxy"
}

section "start proxies"
t0=$(_it_ms)
start_microsocks ms
start_microsocks ms_auth user=alice pass=s3cret out=127.0.0.2
start_microsocks ms6 host=::1
start_dante dn out=127.0.0.5
start_dante dn_auth user=psuser pass=s3cret
start_dante dn6 host=::1
start_tinyproxy tp
start_tinyproxy tp_auth user=alice pass=s3cret out=127.0.0.3
start_tinyproxy tp6 host=::1 user=bob pass=pa55
start_squid sq
start_squid sq_auth user=alice pass=s3cret out=127.0.0.4
start_squid sq6 host=::1
start_sshsocks ssh
echo "# proxies started in $(($(_it_ms) - t0)) ms"

check ms socks5 v6dest
check ms_auth socks5 whoami=127.0.0.2
check dn socks5 v6dest whoami=127.0.0.5
check dn socks4 whoami=127.0.0.5
check dn_auth socks5 v6dest
check tp http v6dest
check tp_auth http whoami=127.0.0.3
check sq http v6dest
check sq_auth http whoami=127.0.0.4
if [[ -n ${SRV_PID[ssh]:-} ]]; then
	check ssh socks5 v6dest
	check ssh socks4
	# SOCKS4a by address: the shim sends the IP (a name needs the
	# resolver's name map, below).
	check ssh socks4a
fi
check6 ms6 socks5
check6 dn6 socks5
check6 dn6 socks4 v4only
check6 tp6 http
check6 sq6 http

section "SOCKS4 cannot carry an IPv6 destination"
if [[ -n ${SRV_PID[dn]:-} ]]; then
	cfg=$(cfg_via dn-socks4-v6 "socks4://${SRV_ADDR[dn]}")
	mark dn
	out=$(shim_run "$cfg" python3 "$IT_DIR/connect_errno.py" ::1 "${SRV_PORT[web6]}" 5 2>/dev/null)
	assert_eq EAFNOSUPPORT "$out" "socks4 to [::1]: refused by the shim"
	assert_not_crossed dn "${SRV_PORT[web6]}" "socks4 to [::1]: nothing reached the proxy"
fi

section "tunnel data in the same segment as the proxy's reply"
# Fake proxies (scripted) send their success reply and the first bytes of
# the tunnel in one write, then echo: the shim must consume the reply to
# its exact end (SOCKS5 by the reply's own ATYP), not one byte further.
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
# same NAME SCHEME LINE REPLY...: garbage_server with these replies.
same() {
	local n=$1 scheme=$2 line=$3 cfg out
	shift 3
	start_garbage "$n" -- "$@" --then echo || return 0
	cfg=$(cfg_via "$n" "$scheme://${SRV_ADDR[$n]}")
	out=$(shim_run "$cfg" timeout -k 2 10 "$T/httpget" banner 127.0.0.1 "${SRV_PORT[web]}" "tok-$n" 2>&1)
	assert_eq "$line"$'\n'"echo tok-$n" "$out" "$n: first tunnel line intact after the $scheme reply"
}
l5="220 same segment, socks5"
same s5v4 socks5 "$l5 (ATYP 1)" --reply-hex 0500 \
	--reply-hex "050000017f0000011f90$(hex "$l5 (ATYP 1)"$'\r\n')"
same s5dom socks5 "$l5 (ATYP 3)" --reply-hex 0500 \
	--reply-hex "05000003096c6f63616c686f73741f90$(hex "$l5 (ATYP 3)"$'\r\n')"
same s5v6 socks5 "$l5 (ATYP 4)" --reply-hex 0500 \
	--reply-hex "0500000400000000000000000000000000000001""1f90$(hex "$l5 (ATYP 4)"$'\r\n')"
same s4 socks4 "220 same segment, socks4" \
	--reply-hex "005a000000000000$(hex $'220 same segment, socks4\r\n')"
same h200 http "220 same segment, http" \
	--reply 'HTTP/1.1 200 Connection established\r\nProxy-Agent: fake\r\n\r\n220 same segment, http\r\n'
# Replies split across segments, tunnel data behind the second part.
# HTTP: the fake speaks first (part one arrives before the request).
same h200split http "220 split reply, http" --speak-first \
	--reply 'HTTP/1.1 200 Conn' \
	--reply 'ection established\r\n\r\n220 split reply, http\r\n'
# SOCKS5: the method reply carries the first 3 bytes of the request's
# reply; the rest follows the request.  (Not --speak-first: the greeting
# and the request could then reach the fake in one read.)
same s5split socks5 "220 split reply, socks5" \
	--reply-hex 0500050000 \
	--reply-hex "017f0000011f90$(hex $'220 split reply, socks5\r\n')"
pad=$(printf 'X-Pad: %0900d\\r\\n' $(seq 1 12))
same h200big http "220 after a 10 KiB header" \
	--reply "HTTP/1.0 200 OK\\r\\n$pad\\r\\n220 after a 10 KiB header\\r\\n"

echo "# body took $(($(_it_ms) - t0)) ms"
it_done
