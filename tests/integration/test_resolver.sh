#!/usr/bin/env bash
# The name hooks (docs/behaviour.md#name-lookups): names only the proxy
# can resolve, reached by real
# clients through real proxies (dns: remote, fake addresses); socks5://
# (the client resolves, the proxy gets an address) against socks5h:// (the
# proxy gets the name); exempt-by-suffix names go direct; no DNS query
# leaves for a proxied name (a counting DNS server in the client's own
# resolv.conf), the expected ones in dns: local; a fake address handed to an
# exec'ed child still means its name; gethostbyname/getnameinfo/
# gethostbyaddr; udp: block; `proxyshim explain` shows the name hooks'
# choice.
#
# The proxy-only name is in the proxies' private /etc/hosts (hosts=); the
# client, where it must resolve a name itself, gets a private /etc/hosts and
# resolv.conf in its own mount namespace (root only: skipped otherwise).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need_shim || it_done

PNAME=only.proxy.test      # only the proxies know it
CNAME=client.resolv.test   # only the client knows it (its own /etc/hosts)
XNAME=www.corp.test        # exempt by suffix, client-resolvable

# A bare git repository served as a dumb http repository.
it_www || it_done
mkdir -p "$T/site"
cp "$IT_WWW/hello.txt" "$T/site/hello.txt"
(
	cd "$T" && git init -q src && cd src &&
		echo "resolver test" >README &&
		git add README &&
		git -c user.name=t -c user.email=t@t commit -qm init &&
		git clone -q --bare . "$T/site/repo.git" &&
		git -C "$T/site/repo.git" update-server-info
) || fail "git fixture"

start_origin web dir="$T/site" || it_done
A=${SRV_PORT[web]}
start_microsocks ms hosts=$PNAME=127.0.0.1 || it_done
start_dante dn hosts=$PNAME=127.0.0.1
start_tinyproxy tp hosts=$PNAME=127.0.0.1
start_squid sq hosts=$PNAME=127.0.0.1

# cfg NAME URL [EXTRA...]: every destination through URL, plus EXTRA lines
# under proxy:.
cfg() {
	local name=$1 url=$2 line
	shift 2
	{
		echo "proxy:"
		echo "  http: \"$url\""
		echo "  proxy_loopback: true"
		echo "  timeouts: {connect: 3s, handshake: 5s}"
		for line in "$@"; do echo "  $line"; done
	} | write_file "cfg/$name.yml"
}

# The client's own namespace: /etc/hosts with CNAME and XNAME, resolv.conf
# pointing at our counting DNS server.  ns_run CMD...: CMD in it.
CAN_NS=0
if is_root && unshare --mount --propagation private -- true 2>/dev/null; then
	CAN_NS=1
	{
		cat /etc/hosts
		echo "127.0.0.1 $CNAME"
		echo "127.0.0.1 $XNAME"
	} >"$T/client-hosts"
fi
ns_run() {
	_it_asan_env unshare --mount --propagation private -- bash "$IT_DIR/nswrap.sh" \
		--bind "$T/client-hosts" /etc/hosts \
		--bind "$T/client-resolv" /etc/resolv.conf -- "$@"
}

# resolv.conf takes no port, so the server listens on port 53 of an
# address of its own in 127.0.0.0/8, picked at random so that two runs on
# one machine do not meet (the first of five that is free).
if ((CAN_NS)); then
	DNS_IP=
	for _try in 1 2 3 4 5; do
		_ip=127.77.$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
		if python3 -c 'import socket, sys
for t in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
    socket.socket(socket.AF_INET, t).bind((sys.argv[1], 53))' "$_ip" 2>/dev/null; then
			DNS_IP=$_ip
			break
		fi
	done
	if [[ -n $DNS_IP ]] && _it_opts host="$DNS_IP" port=53 && _it_new dns &&
		_it_pyserver dns dns resolver_dns.py; then
		printf 'nameserver %s\noptions attempts:1 timeout:1\n' "$DNS_IP" \
			>"$T/client-resolv"
	else
		CAN_NS=0
	fi
fi

# ------------------------------------------------------------------------
section "fake addresses: what the program sees"
c=$(cfg ms-h "socks5h://${SRV_ADDR[ms]}")
out=$(shim_run "$c" python3 -c '
import socket, sys
n = sys.argv[1]
a = socket.getaddrinfo(n, 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
b = socket.getaddrinfo(n.upper() + ".", "http", socket.AF_INET)[0][4][0]
six = socket.getaddrinfo(n, 80, socket.AF_INET6, socket.SOCK_STREAM)[0][4][0]
h = socket.gethostbyname(n)
print(a, b, six, h)
print(socket.gethostbyaddr(a)[0], socket.getnameinfo((a, 80), 0)[0],
      socket.getnameinfo((six, 80, 0, 0), socket.NI_NAMEREQD)[0])
print(socket.getnameinfo((a, 80), socket.NI_NUMERICHOST)[0])
' "$PNAME" 2>&1)
read -r fa fb f6 fh <<<"$(sed -n 1p <<<"$out")"
if [[ $fa == 198.1[89].* ]]; then
	pass "getaddrinfo gives a fake IPv4 in 198.18.0.0/15 ($fa)"
else
	fail "getaddrinfo: fake IPv4 expected, got: $out"
fi
assert_eq "$fa" "$fb" "same name (any case, trailing dot) -> same address"
if [[ $f6 == fdfe:dcba:9876:* ]]; then
	pass "AF_INET6 gives a fake in fdfe:dcba:9876::/48 ($f6)"
else
	fail "AF_INET6 fake expected, got '$f6'"
fi
assert_eq "$fa" "$fh" "gethostbyname_r agrees with getaddrinfo"
assert_eq "$PNAME $PNAME $PNAME" "$(sed -n 2p <<<"$out")" \
	"gethostbyaddr / getnameinfo of fake addresses give the name"
assert_eq "$fa" "$(sed -n 3p <<<"$out")" "NI_NUMERICHOST still numeric"
# shellcheck disable=SC2016 # perl code
out=$(shim_run "$c" perl -MSocket -e '
my $p = gethostbyname($ARGV[0]); print inet_ntoa($p), "\n";' "$PNAME" 2>&1)
assert_eq "$fa" "$out" "gethostbyname (non-_r, perl) gives the same fake address"
out=$(shim_run "$c" python3 -c '
import socket
print(socket.getaddrinfo("127.0.0.1", 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0],
      socket.getaddrinfo(None, 8080, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)[0][4][0],
      socket.getaddrinfo("localhost", 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])' 2>&1)
assert_eq "127.0.0.1 0.0.0.0 127.0.0.1" "$out" \
	"numeric hosts, passive lookups and localhost untouched"

read -ra cc <<<"${CC:-cc}"
if "${cc[@]}" -std=c11 -O2 -Wall -Wextra -Werror -o "$T/resolver_client" \
	"$IT_DIR/resolver_client.c" 2>"$T/cc.err"; then
	while read -r st what; do
		if [[ $st == ok ]]; then pass "C: $what"; else fail "C: $st $what"; fi
	done < <(shim_run "$c" "$T/resolver_client" "$PNAME" 2>&1)
else
	fail "build resolver_client: $(head -5 "$T/cc.err")"
fi

# ------------------------------------------------------------------------
section "a name only the proxy resolves, through socks5h (microsocks)"
mark ms
out=$(shim_run "$c" "${CURL[@]}" "http://$PNAME:$A/hello.txt" 2>&1)
assert_eq "$HELLO_BODY" "$out" "curl"
assert_log ms "connected to $PNAME:$A\$" "microsocks was sent the name (curl)"
mark ms
out=$(shim_run "$c" wget -q -O - -T 10 "http://$PNAME:$A/hello.txt" 2>&1)
assert_eq "$HELLO_BODY" "$out" "wget"
assert_log ms "connected to $PNAME:$A\$" "microsocks was sent the name (wget)"
mark ms
out=$(shim_run "$c" python3 -c '
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode(), end="")
' "http://$PNAME:$A/hello.txt" 2>&1)
assert_eq "$HELLO_BODY" "$out" "python3 urllib"
assert_log ms "connected to $PNAME:$A\$" "microsocks was sent the name (python3)"
mark ms
rm -rf "$T/clone"
out=$(shim_run "$c" git clone -q "http://$PNAME:$A/repo.git" "$T/clone" 2>&1)
assert_eq "resolver test" "$(cat "$T/clone/README" 2>/dev/null)" "git clone (http, remote helper child) $out"
assert_log ms "connected to $PNAME:$A\$" "microsocks was sent the name (git)"

# ------------------------------------------------------------------------
section "the same name through dante (socks5h), tinyproxy and squid (CONNECT): curl, python3, wget, git"
declare -A VIA=([dn]="socks5h://${SRV_ADDR[dn]:-}" [tp]="${SRV_URL[tp]:-}"
	[sq]="${SRV_URL[sq]:-}")
for p in dn tp sq; do
	[[ -n ${SRV_PID[$p]:-} ]] || continue
	pc=$(cfg "$p" "${VIA[$p]}")
	mark "$p"
	out=$(shim_run "$pc" "${CURL[@]}" "http://$PNAME:$A/hello.txt" 2>&1)
	assert_eq "$HELLO_BODY" "$out" "curl through $p (${SRV_KIND[$p]})"
	assert_crossed "$p" "$A" "curl: $p carried it"
	mark "$p"
	out=$(shim_run "$pc" python3 -c '
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode(), end="")
' "http://$PNAME:$A/hello.txt" 2>&1)
	assert_eq "$HELLO_BODY" "$out" "python3 through $p"
	case $p in
	tp) assert_log tp "opensock: opening connection to $PNAME:$A" \
		"tinyproxy was asked for the name" ;;
	sq) assert_log sq "CONNECT $PNAME:$A" "squid was asked for the name" ;;
	*) assert_crossed "$p" "$A" "python3: $p carried it" ;;
	esac
	mark "$p"
	out=$(shim_run "$pc" wget -q -O - -T 10 "http://$PNAME:$A/hello.txt" 2>&1)
	assert_eq "$HELLO_BODY" "$out" "wget through $p"
	assert_crossed "$p" "$A" "wget: $p carried it"
	mark "$p"
	rm -rf "$T/clone-$p"
	out=$(shim_run "$pc" git clone -q "http://$PNAME:$A/repo.git" \
		"$T/clone-$p" 2>&1)
	assert_eq "resolver test" "$(cat "$T/clone-$p/README" 2>/dev/null)" \
		"git clone through $p $out"
	assert_crossed "$p" "$A" "git: $p carried it"
done

# ------------------------------------------------------------------------
section "fork/exec: a fake address handed to an exec'ed child"
mark ms
out=$(shim_run "$c" python3 -c '
import socket, subprocess, sys
ip = socket.getaddrinfo(sys.argv[1], 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
print(ip)
sys.stdout.flush()
subprocess.run(["curl", "-sS", "--max-time", "10", "http://%s:%s/hello.txt" % (ip, sys.argv[2])], check=True)
' "$PNAME" "$A" 2>&1)
assert_eq "$HELLO_BODY" "$(sed -n 2p <<<"$out")" \
	"curl (exec'ed) reaches the fake address $(sed -n 1p <<<"$out")"
assert_log ms "connected to $PNAME:$A\$" "the proxy was sent the name behind the fake address"

# ------------------------------------------------------------------------
section "a fake address with no name behind it"
out=$(shim_run "$c" python3 -c '
import errno, socket
s = socket.socket()
try:
    s.connect(("198.19.255.200", 80))
    print("connected")
except OSError as e:
    print(errno.errorcode[e.errno])' 2>"$T/unknown.err")
assert_eq "EHOSTUNREACH" "$out" "connect to an unknown fake address: EHOSTUNREACH"
assert_contains "$T/unknown.err" "name is unknown" "... with a log line"

# ------------------------------------------------------------------------
section "explain"
"$SHIM_CMD" explain -c "$c" "$PNAME:80" >"$T/explain-h" 2>&1
assert_contains "$T/explain-h" "name lookup: fake address (dns: remote, the proxy takes names)" \
	"explain: fake address for a socks5h route"
c5=$(cfg ms-5 "socks5://${SRV_ADDR[ms]}")
"$SHIM_CMD" explain -c "$c5" "$PNAME:80" >"$T/explain-5" 2>&1
assert_contains "$T/explain-5" "name lookup: resolved locally" \
	"explain: resolved locally for a socks5 route"

# ------------------------------------------------------------------------
section "client-side names: socks5:// vs socks5h://, exempt suffix, leaks"
if ((CAN_NS == 0)); then
	skip "client namespace tests: need root and unshare --mount"
else
	mark ms
	out=$(ns_run "$SHIM_CMD" run -c "$c5" -- "${CURL[@]}" "http://$CNAME:$A/hello.txt" 2>&1)
	assert_eq "$HELLO_BODY" "$out" "socks5:// with a name the client resolves"
	assert_log ms "connected to 127\\.0\\.0\\.1:$A\$" "socks5://: microsocks got the address"
	mark ms
	rc=0
	out=$(ns_run "$SHIM_CMD" run -c "$c" -- "${CURL[@]}" "http://$CNAME:$A/hello.txt" 2>&1) || rc=$?
	assert_ne 0 "$rc" "socks5h:// with a client-only name: the proxy cannot resolve it, curl fails"
	printf '%s\n' "$out" >"$T/cname.out"
	assert_contains "$T/cname.out" "refused $CNAME:$A" \
		"socks5h://: the proxy was sent the name (and refused it)"
	assert_not_crossed ms "$A" "socks5h://: nothing connected for a name the proxy lacks"

	cx=$(cfg ms-x "socks5h://${SRV_ADDR[ms]}" 'exempt: ".corp.test"')
	mark ms
	mark web
	out=$(ns_run "$SHIM_CMD" run -c "$cx" -- "${CURL[@]}" "http://$XNAME:$A/hello.txt" 2>&1)
	assert_eq "$HELLO_BODY" "$out" "exempt by suffix: $XNAME reached"
	assert_not_crossed ms "$A" "exempt by suffix: went direct"
	mark ms
	out=$(ns_run "$SHIM_CMD" run -c "$cx" -- "${CURL[@]}" "http://$PNAME:$A/hello.txt" 2>&1)
	assert_eq "$HELLO_BODY" "$out" "not exempt: proxy-only name through the proxy"

	# Resolved for port 80 (proxied: fake address), connected on a port
	# a rule sends direct: resolved for real at connect time.
	cd=$(cfg ms-d "socks5h://${SRV_ADDR[ms]}" 'rules:' \
		"  - match: [\"$CNAME:$A\"]" '    via: direct')
	mark ms
	out=$(ns_run "$SHIM_CMD" run -c "$cd" -- python3 -c '
import socket, sys
ip = socket.getaddrinfo(sys.argv[1], 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
s = socket.create_connection((ip, int(sys.argv[2])), timeout=10)
s.sendall(b"GET /hello.txt HTTP/1.0\r\n\r\n")
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
print(ip, data.decode().split("\r\n\r\n", 1)[1], end="")
' "$CNAME" "$A" 2>&1)
	assert_eq "$HELLO_BODY" "${out#198.1[89].* }" \
		"a fake address whose route is direct: resolved at connect, reached ($out)"
	assert_not_crossed ms "$A" "... without the proxy"

	section "leaks: queries seen by the client's DNS server"
	mark dns
	ns_run "$SHIM_CMD" run -c "$c" -- "${CURL[@]}" "http://$PNAME:$A/hello.txt" >/dev/null 2>&1
	ns_run "$SHIM_CMD" run -c "$c" -- python3 -c '
import socket, sys
socket.getaddrinfo(sys.argv[1], 80)
socket.gethostbyname(sys.argv[1])' "$PNAME" >/dev/null 2>&1
	sleep 0.3
	assert_eq 0 "$(_it_since dns | grep -c '^query ')" "dns: remote: no query for a proxied name"
	cl=$(cfg ms-local "socks5h://${SRV_ADDR[ms]}" 'dns: local')
	mark dns
	ns_run "$SHIM_CMD" run -c "$cl" -- python3 -c '
import socket, sys
try:
    socket.getaddrinfo(sys.argv[1], 80, socket.AF_INET, socket.SOCK_STREAM)
except OSError:
    pass' "$PNAME" >/dev/null 2>&1
	sleep 0.3
	assert_eq 1 "$(_it_since dns | grep -c "^query $PNAME 1\$")" \
		"dns: local: exactly one A query for the name"
	cu=$(cfg ms-udp "socks5h://${SRV_ADDR[ms]}" 'udp: block' \
		'exempt: "198.51.100.0/24"')
	out=$(ns_run "$SHIM_CMD" run -c "$cu" -- python3 -c '
import errno, socket
def send(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(b"x", (host, 9))
        return "sent"
    except OSError as e:
        return errno.errorcode[e.errno]
def conn(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect((host, 9))
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
print(send("203.0.113.5"), conn("203.0.113.5"), send("127.0.0.1"),
      send("198.51.100.7") != "EPERM")' 2>&1)
	assert_eq "EPERM EPERM sent True" "$out" \
		"udp: block: EPERM off-host, loopback and exempt allowed"
fi

# Our -names segments (lib.sh removes the tables and -state ones).
for f in /dev/shm/proxyshim-"$EUID"-*-names; do
	[[ -f $f && -f ${f%-names} ]] || continue
	[[ -n ${_IT_SHM_BEFORE[${f##*/}]:-} ]] && continue
	grep -qaF -- "$T/" "${f%-names}" 2>/dev/null && rm -f -- "$f"
done
it_done
