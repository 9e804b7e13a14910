#!/usr/bin/env bash
# Forward path: the big file (IT_BIG_MB MiB, 64 by default)
# arrives byte-exact (sha256) through every upstream type, fetched by an
# unmodified curl under the shim: SOCKS5 (microsocks and dante, each with
# and without auth), SOCKS4 (dante), SOCKS4a (ssh -D), HTTP CONNECT
# (tinyproxy with and without BasicAuth; squid), and from an IPv6 origin.
# Each download must show in the proxy's log.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need_shim || it_done

start_origin web || it_done
start_origin web6 host=::1 || it_done

start_microsocks ms
start_microsocks ms_auth user=alice pass=s3cret
start_dante dn
start_dante dn_auth user=psuser pass=s3cret
start_tinyproxy tp
start_tinyproxy tp_auth user=alice pass=s3cret
start_squid sq
start_sshsocks ssh

# big NAME SCHEME [ORIGIN]: the big file from ORIGIN (default web) through
# proxy NAME used as SCHEME.
big() {
	local n=$1 scheme=$2 o=${3:-web} auth="" cfg f t0
	[[ -n ${SRV_PID[$n]:-} ]] || return 0 # its start recorded why
	[[ -n ${SRV_USER[$n]} ]] && auth="${SRV_USER[$n]}:${SRV_PASS[$n]}@"
	cfg=$(write_file "cfg/$n-$scheme.yml" <<EOF
proxy:
  http: "$scheme://$auth${SRV_ADDR[$n]}"
  proxy_loopback: true
EOF
	)
	f=$T/big.$n.$scheme
	mark "$n"
	t0=$(_it_ms)
	shim_run "$cfg" "${CURL[@]}" --max-time 60 --noproxy '*' -o "$f" \
		"${SRV_URL[$o]}/big.bin"
	echo "# $n ($scheme) from ${SRV_ADDR[$o]}: $(($(_it_ms) - t0)) ms"
	assert_sha256 "$f" "$BIG_SHA256" \
		"$n ($scheme${auth:+, auth}): ${IT_BIG_MB} MiB from ${SRV_ADDR[$o]} byte-exact"
	assert_crossed "$n" "${SRV_PORT[$o]}" "$n ($scheme): the download crossed the proxy"
	rm -f "$f"
}

section "${IT_BIG_MB} MiB through every upstream type"
big ms socks5
big ms socks5 web6
big ms_auth socks5
big dn socks5
big dn socks4
big ssh socks4a
big tp http
big tp_auth http
big dn_auth socks5 web6
big sq http web6
it_done
