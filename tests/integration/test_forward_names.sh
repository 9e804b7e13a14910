#!/usr/bin/env bash
# Forward path, routing by NAME (docs/behaviour.md#match-entries): exempt
# by name (and
# its subdomains), by .suffix and *.suffix, name entries never matching a
# bare IP, rules by name and *.suffix, exempt name with :port; names sent to
# the proxy for it to resolve: socks5h, socks4a, HTTP CONNECT (a name only
# the proxy knows, from its private hosts file).
#
# Names: the client runs in a private mount namespace whose /etc/hosts maps
# *.proxyshim.test to loopback (root and unshare needed); the proxies get
# the same names, plus one only they know (hosts=).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need_shim || it_done

CASES=(
	"exempt by name: the name and its subdomains go direct"
	"exempt by .suffix and *.suffix: subdomains only, not the name itself"
	"a name entry never matches a bare IP"
	"exempt by name:port: the port is compared"
	"rules by name and *.suffix: first match wins"
	"socks5h: the proxy resolves a name only it knows"
	"socks4a: the proxy (ssh -D) resolves the name"
	"HTTP CONNECT by name: CONNECT name:port"
)
if ! is_root || ! command -v unshare >/dev/null; then
	for c in "${CASES[@]}"; do
		skip "$c: needs root and unshare (a private /etc/hosts)"
	done
	it_done
fi

D=proxyshim.test
ONLY=only-the-proxy.$D
MS_OUT=127.0.0.9
NAMES="origin.$D=127.0.0.1,www.corp.$D=127.0.0.1,corp.$D=127.0.0.1"
NAMES+=",svc.$D=127.0.0.1,api.svc.$D=127.0.0.1,two.$D=127.0.0.2"
start_origin web || it_done
start_microsocks ms out=$MS_OUT hosts="$NAMES,$ONLY=127.0.0.1" || it_done
start_tinyproxy tp hosts="$NAMES,$ONLY=127.0.0.1" || it_done
start_sshsocks ssh hosts="$NAMES,$ONLY=127.0.0.1"
A=${SRV_PORT[web]}

# The client's hosts file: every name but $ONLY.
{
	cat /etc/hosts
	IFS=, read -ra e <<<"$NAMES"
	for e in "${e[@]}"; do printf '%s %s\n' "${e#*=}" "${e%%=*}"; done
} >"$T/hosts"

cfg() {
	{
		echo "proxy:"
		echo "  proxy_loopback: true"
		echo "  timeouts: {connect: 2s, handshake: 3s}"
		cat
	} | write_file "cfg/$1.yml"
}

# who CFG HOST: /whoami on HOST:A by curl under the shim, in the namespace
# with the private /etc/hosts; prints the address the origin saw.
who() {
	local out
	out=$(shim_run "$1" unshare --mount --propagation private -- \
		bash "$IT_DIR/nswrap.sh" --bind "$T/hosts" /etc/hosts -- \
		"${CURL[@]}" --max-time 10 --noproxy '*' \
		"http://$2:$A/whoami" 2>/dev/null) || out=failed
	printf '%s\n' "${out%% *}"
}

section "exempt by name"
c=$(cfg exname <<EOF
  http: ${SRV_URL[ms]}
  exempt: "corp.$D"
EOF
)
mark ms
assert_eq 127.0.0.1 "$(who "$c" "corp.$D")" "exempt corp.$D: the name itself direct"
assert_eq 127.0.0.1 "$(who "$c" "www.corp.$D")" "exempt corp.$D: www.corp.$D direct"
# (No trailing-dot case here: glibc's files backend does not resolve
# "name." from /etc/hosts, with or without the shim.)
assert_eq 127.0.0.1 "$(who "$c" "WWW.Corp.$D")" "exempt corp.$D: case ignored"
assert_not_crossed ms "$A" "exempt by name: microsocks not used"
assert_eq "$MS_OUT" "$(who "$c" "origin.$D")" "exempt corp.$D: origin.$D proxied"

section "exempt by suffix"
i=0
for e in ".svc.$D" "*.svc.$D"; do
	i=$((i + 1))
	c=$(cfg "exsuffix$i" <<EOF
  http: ${SRV_URL[ms]}
  exempt: ["$e"]
EOF
	)
	assert_eq 127.0.0.1 "$(who "$c" "api.svc.$D")" "exempt $e: api.svc.$D direct"
	assert_eq "$MS_OUT" "$(who "$c" "svc.$D")" "exempt $e: svc.$D itself proxied"
done

section "name entries never match a bare IP"
c=$(cfg exnoip <<EOF
  http: ${SRV_URL[ms]}
  exempt: "origin.$D"
EOF
)
assert_eq 127.0.0.1 "$(who "$c" "origin.$D")" "exempt origin.$D: by name direct"
assert_eq "$MS_OUT" "$(who "$c" 127.0.0.1)" "exempt origin.$D: 127.0.0.1 by address proxied"

section "exempt by name:port"
c=$(cfg export <<EOF
  http: ${SRV_URL[ms]}
  exempt: "origin.$D:$A,corp.$D:$((A + 1))"
EOF
)
assert_eq 127.0.0.1 "$(who "$c" "origin.$D")" "exempt origin.$D:$A: direct"
assert_eq "$MS_OUT" "$(who "$c" "corp.$D")" "exempt corp.$D:$((A + 1)): port $A proxied"

section "rules by name"
c=$(cfg rules <<EOF
  http: ${SRV_URL[ms]}
  rules:
    - match: "www.corp.$D"
      via: ${SRV_URL[tp]}
    - match: "*.$D"
      via: direct
EOF
)
mark tp
assert_eq 127.0.0.1 "$(who "$c" "www.corp.$D")" "rule www.corp.$D → tinyproxy (no out=): works"
assert_crossed tp "$A" "rule by name: tinyproxy logged it"
assert_eq 127.0.0.1 "$(who "$c" "origin.$D")" "rule *.$D → direct"
assert_eq "$MS_OUT" "$(who "$c" 127.0.0.1)" "no rule for the bare IP: proxy.http"

section "names the proxy resolves"
# $ONLY is in no hosts file of the client: only a remote resolution works.
for spec in "ms socks5h" "tp http" "ssh socks4a"; do
	read -r n s <<<"$spec"
	[[ -n ${SRV_PID[$n]:-} ]] || continue
	c=$(cfg "remote-$n" <<EOF
  dns: remote
  http: "$s://${SRV_ADDR[$n]}"
EOF
	)
	mark "$n"
	out=$(shim_run "$c" "${CURL[@]}" --noproxy '*' "http://$ONLY:$A/hello.txt" 2>&1)
	assert_eq "$HELLO_BODY" "$out" "$s: a name only the proxy resolves"
	assert_crossed "$n" "$A" "$s: the proxy logged it"
	assert_log "$n" "$ONLY" "$s: the proxy was given the name, not an address"
done
it_done
