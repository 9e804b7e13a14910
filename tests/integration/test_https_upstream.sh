#!/usr/bin/env bash
# https:// upstreams (docs/behaviour.md#https-upstreams-the-tls-relay):
# TLS to the proxy runs in the `proxyshim
# relay` process, started on demand; the program keeps a plain TCP socket.
# stunnel4 (with a test CA made here by openssl) in front of tinyproxy, and
# squid with an https_port (squid-openssl; skipped with the GnuTLS squid).
# The TLS knobs are the config's proxy.tls keys (ca_file, server_name,
# insecure_skip_verify), carried in the table to the relay; the
# PROXYSHIM_TLS_* environment variables override them (one test below,
# and the plain cases still pass the CA that way).  At the end: chains with
# socks5, socks4 and http hops after the https:// one (run over the relay's
# TLS stream), TLS inside TLS refused by check, and check --probe's TLS step.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need_shim || it_done
command -v openssl >/dev/null || {
	skip "openssl not installed"
	it_done
}

make_test_ca "$T/pki" || {
	fail "make the test CA"
	it_done
}
build_client httpget || it_done
start_origin web || it_done
start_banner ban || it_done
start_tinyproxy tp || it_done
start_stunnel st "${SRV_ADDR[tp]}" "$T/pki/server.crt" "$T/pki/server.key" ||
	it_done

export PROXYSHIM_RELAY_IDLE=30
RELAYS=()

# cfg NAME [TLS-LINE...]: a config of its own (so its own table and its
# own relay); each TLS-LINE ("ca_file: ...") goes under proxy.tls.
cfg() {
	local n=$1 l
	shift
	{
		printf 'proxy:\n  http: "%s"\n  proxy_loopback: true\n' "${SRV_URL[st]}"
		(($# > 0)) && printf '  tls:\n'
		for l in "$@"; do
			printf '    %s\n' "$l"
		done
	} | write_file "cfg/$n.yml"
}

# remember_relay CONFIG: record the relay's pid for the cleanup.
remember_relay() {
	local p
	p=$(relay_pid "$1")
	[[ -n $p && $p != 0 ]] && RELAYS+=("$p")
	return 0
}

section "through stunnel + tinyproxy, verified against the test CA"
c=$(cfg ok)
log=$T/ok.log
out=$(PROXYSHIM_TLS_CA_FILE=$T/pki/ca.crt PROXYSHIM_LOG_FILE=$log \
	shim_run "$c" "${CURL[@]}" --noproxy '*' "${SRV_URL[web]}/hello.txt")
assert_eq "$HELLO_BODY" "$out" "curl: hello through the https:// upstream"
remember_relay "$c"
assert_ne "" "${RELAYS[*]:-}" "a relay was started and registered its pid"
assert_crossed tp "${SRV_PORT[web]}" "the request crossed tinyproxy"

f=$T/big.bin
t0=$(_it_ms)
PROXYSHIM_TLS_CA_FILE=$T/pki/ca.crt PROXYSHIM_LOG_FILE=$log \
	shim_run "$c" "${CURL[@]}" --max-time 60 --noproxy '*' -o "$f" \
	"${SRV_URL[web]}/big.bin"
echo "# ${IT_BIG_MB} MiB: $(($(_it_ms) - t0)) ms"
assert_sha256 "$f" "$BIG_SHA256" "${IT_BIG_MB} MiB byte-exact through the relay"
rm -f "$f"


section "wget, python3 and git through the https:// upstream"
# A bare git repository served as a dumb http repository.
mkdir -p "$T/site"
(
	cd "$T" && git init -q gsrc && cd gsrc &&
		echo "https upstream test" >README &&
		git add README &&
		git -c user.name=t -c user.email=t@t commit -qm init &&
		git clone -q --bare . "$T/site/repo.git" &&
		git -C "$T/site/repo.git" update-server-info
) || fail "git fixture"
start_origin gitweb dir="$T/site" || it_done
G=${SRV_PORT[gitweb]}
mark tp
out=$(PROXYSHIM_TLS_CA_FILE=$T/pki/ca.crt PROXYSHIM_LOG_FILE=$log \
	shim_run "$c" wget -q -O - -T 10 --no-proxy \
	"${SRV_URL[web]}/hello.txt" 2>&1)
assert_eq "$HELLO_BODY" "$out" "wget: hello through the https:// upstream"
assert_crossed tp "${SRV_PORT[web]}" "wget: the request crossed tinyproxy"
mark tp
out=$(PROXYSHIM_TLS_CA_FILE=$T/pki/ca.crt PROXYSHIM_LOG_FILE=$log \
	shim_run "$c" python3 -c '
import sys, urllib.request
op = urllib.request.build_opener(urllib.request.ProxyHandler({}))
print(op.open(sys.argv[1], timeout=10).read().decode(), end="")
' "${SRV_URL[web]}/hello.txt" 2>&1)
assert_eq "$HELLO_BODY" "$out" "python3 (urllib): hello through the https:// upstream"
assert_crossed tp "${SRV_PORT[web]}" "python3: the request crossed tinyproxy"
mark tp
rm -rf "$T/clone"
out=$(PROXYSHIM_TLS_CA_FILE=$T/pki/ca.crt PROXYSHIM_LOG_FILE=$log \
	http_proxy='' https_proxy='' HTTP_PROXY='' ALL_PROXY='' all_proxy='' \
	shim_run "$c" timeout -k 2 30 git clone -q \
	"http://127.0.0.1:$G/repo.git" "$T/clone" 2>&1)
assert_eq "https upstream test" "$(cat "$T/clone/README" 2>/dev/null)" \
	"git clone (dumb http) through the https:// upstream $out"
assert_crossed tp "$G" "git: the requests crossed tinyproxy"

section "a server that speaks first"
tok="tok-$RANDOM"
out=$(PROXYSHIM_TLS_CA_FILE=$T/pki/ca.crt PROXYSHIM_LOG_FILE=$log \
	shim_run "$c" timeout -k 2 10 "$T/httpget" banner 127.0.0.1 \
	"${SRV_PORT[ban]}" "$tok" 2>&1)
assert_eq "${SRV_BANNER[ban]}"$'\n'"echo $tok" "$out" \
	"banner intact through the relay, then echo"

section "200 concurrent tunnels through the relay"
# 200 TLS handshakes at once are CPU-bound: on a loaded machine they take
# longer than the default timeouts, which are not what this is about.
cm=$(printf 'proxy:\n  http: "%s"\n  proxy_loopback: true\n  timeouts: {connect: 60s, handshake: 60s}\n' \
	"${SRV_URL[st]}" | write_file cfg/many.yml)
mark tp
t0=$(_it_ms)
out=$(PROXYSHIM_TLS_CA_FILE=$T/pki/ca.crt PROXYSHIM_LOG_FILE=$log \
	shim_run "$cm" timeout -k 2 300 python3 "$IT_DIR/clients/relay_many.py" \
	127.0.0.1 "${SRV_PORT[ban]}" 200 2>&1)
remember_relay "$cm"
echo "# 200 tunnels: $(($(_it_ms) - t0)) ms"
assert_eq "OK 200" "$out" "200 tunnels open at once, each gets its own token back"
assert_crossed tp "${SRV_PORT[ban]}" "all 200 crossed tinyproxy" 200

section "4 x 300 short tunnels: the relay stays up"
# Each reply ends with the origin closing while curl closes too, so one
# epoll batch often holds events for both ends of a tunnel that the first
# of them frees (a use-after-free crashed the relay under this load once).
mark tp
p0=$(relay_pid "$c")
kids=()
for k in 1 2 3 4; do
	PROXYSHIM_TLS_CA_FILE=$T/pki/ca.crt PROXYSHIM_LOG_FILE=$log \
		shim_run "$c" timeout -k 2 120 "${CURL[@]}" --noproxy '*' -0 \
		-H 'Connection: close' -w '%{http_code}\n' -o /dev/null \
		"${SRV_URL[web]}/hello.txt?[1-300]" >"$T/short.$k" 2>&1 &
	kids+=("$!")
done
wait "${kids[@]}" # not a bare wait: the servers are children too
out=$(cat "$T"/short.[1-4] | grep -c '^200$')
assert_eq 1200 "$out" "1200 requests, each on its own tunnel, all answered"
assert_crossed tp "${SRV_PORT[web]}" "all 1200 crossed tinyproxy" 1200
p1=$(relay_pid "$c")
assert_eq "$p0" "$p1" "the same relay served them all (it did not die)"
_it_alive "$p1" && pass "the relay is still running" ||
	fail "the relay process $p1 is gone"

section "explain names the relay"
"$SHIM_CMD" explain -c "$c" example.com:443 >"$T/explain.out" 2>&1
assert_contains "$T/explain.out" "TLS relay" \
	"explain: the route goes through the TLS relay"

# refused CONFIG LOG WHAT [ENV...]: connect_errno.py under the shim says
# ECONNREFUSED.
refused() {
	local c=$1 lg=$2 what=$3 out
	shift 3
	out=$(
		# shellcheck disable=SC2163 # "$@" are NAME=VALUE words
		export "$@" PROXYSHIM_LOG_FILE="$lg"
		shim_run "$c" python3 "$IT_DIR/connect_errno.py" 127.0.0.1 \
			"${SRV_PORT[web]}" 20
	)
	assert_eq ECONNREFUSED "$out" "$what: connect refused (ECONNREFUSED)"
	remember_relay "$c"
}

section "verification (proxy.tls in the config)"
c2=$(cfg badca "ca_file: $T/pki/other-ca.crt")
refused "$c2" "$T/badca.log" "wrong CA (ca_file)"
assert_contains "$T/badca.log" "certificate: unable to get local issuer" \
	"wrong CA: the reason is logged"
# A relative ca_file is relative to the config file's directory.
c3=$(cfg badname "ca_file: ../pki/ca.crt" "server_name: wrong.example")
refused "$c3" "$T/badname.log" "wrong name (server_name)"
assert_contains "$T/badname.log" "hostname mismatch" \
	"wrong name: the reason is logged"
assert_not_contains "$T/badname.log" "cannot load the CA file" \
	"wrong name: the relative ca_file was found"
c4=$(cfg insecure "ca_file: $T/pki/other-ca.crt" "insecure_skip_verify: true")
out=$(PROXYSHIM_LOG_FILE=$T/insecure.log \
	shim_run "$c4" "${CURL[@]}" --noproxy '*' "${SRV_URL[web]}/hello.txt")
assert_eq "$HELLO_BODY" "$out" "insecure_skip_verify: works with the wrong CA"
remember_relay "$c4"
assert_contains "$T/insecure.log" \
	"insecure_skip_verify (config): the certificate of ${SRV_URL[st]} is NOT verified" \
	"insecure_skip_verify: warns"
"$SHIM_CMD" dump -c "$c4" >"$T/insecure.dump" 2>&1
assert_contains "$T/insecure.dump" \
	"tls: ca_file $T/pki/other-ca.crt, server_name (each proxy's host), insecure_skip_verify true" \
	"dump shows proxy.tls"
# The environment overrides the config: the right CA from
# PROXYSHIM_TLS_CA_FILE over the config's wrong one.
c7=$(cfg envca "ca_file: $T/pki/other-ca.crt")
out=$(PROXYSHIM_TLS_CA_FILE=$T/pki/ca.crt PROXYSHIM_LOG_FILE=$T/envca.log \
	shim_run "$c7" "${CURL[@]}" --noproxy '*' "${SRV_URL[web]}/hello.txt")
assert_eq "$HELLO_BODY" "$out" "PROXYSHIM_TLS_CA_FILE overrides proxy.tls.ca_file"
remember_relay "$c7"

section "TLS settings per upstream (an upstream as {url:, tls:})"
# A second TLS proxy whose certificate comes from the other CA, in front
# of the same tinyproxy.  One config, two https:// upstreams, each with
# its own ca_file; proxy.tls names a CA that fits neither, so only the
# upstreams' own keys can make both work.
if openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
	-keyout "$T/pki/other.key" -out "$T/pki/other.csr" >/dev/null 2>&1 &&
	openssl x509 -req -in "$T/pki/other.csr" -CA "$T/pki/other-ca.crt" \
		-CAkey "$T/pki/other-ca.key" -CAcreateserial -days 2 \
		-extfile "$T/pki/san.ext" -out "$T/pki/other.crt" >/dev/null 2>&1 &&
	start_stunnel stp "${SRV_ADDR[tp]}" "$T/pki/other.crt" "$T/pki/other.key"; then
	make_test_ca "$T/pki3" # a third CA: proxy.tls's, wrong for both
	# peru CA-FOR-st CA-FOR-stp: the config.
	peru() {
		cat <<-EOF
			proxy:
			  http: {url: "${SRV_URL[st]}", tls: {ca_file: "$1"}}
			  proxy_loopback: true
			  tls: {ca_file: "$T/pki3/ca.crt"}
			  rules:
			    - match: "127.0.0.1:${SRV_PORT[ban]}"
			      via:
			        url: "${SRV_URL[stp]}"
			        tls:
			          ca_file: "$2"
			          server_name: localhost
		EOF
	}
	peru "$T/pki/ca.crt" "$T/pki/other-ca.crt" | write_file cfg/peru.yml >/dev/null
	c8=$T/cfg/peru.yml
	"$SHIM_CMD" dump -c "$c8" >"$T/peru.dump" 2>&1
	assert_contains "$T/peru.dump" \
		"${SRV_URL[stp]} (tls: ca_file $T/pki/other-ca.crt, server_name localhost)" \
		"dump: the rule's upstream has its own CA and name"
	assert_contains "$T/peru.dump" \
		"${SRV_URL[st]} (tls: ca_file $T/pki/ca.crt, server_name (its host))" \
		"dump: proxy.http's upstream has its own CA"
	out=$(PROXYSHIM_LOG_FILE=$T/peru.log shim_run "$c8" "${CURL[@]}" \
		--noproxy '*' "${SRV_URL[web]}/hello.txt")
	assert_eq "$HELLO_BODY" "$out" "per-upstream CA: curl through proxy.http's upstream"
	tok="tok-$RANDOM"
	out=$(PROXYSHIM_LOG_FILE=$T/peru.log shim_run "$c8" timeout -k 2 10 \
		"$T/httpget" banner 127.0.0.1 "${SRV_PORT[ban]}" "$tok" 2>&1)
	assert_eq "${SRV_BANNER[ban]}"$'\n'"echo $tok" "$out" \
		"per-upstream CA and server_name: the rule's upstream (other CA)"
	assert_match "${SRV_LOG[stp]}" 'accepted connection from' \
		"the rule's connection crossed the second TLS proxy"
	remember_relay "$c8"
	# Swapped CAs: both upstreams refuse, each with its reason.
	peru "$T/pki/other-ca.crt" "$T/pki/ca.crt" | write_file cfg/peru-bad.yml >/dev/null
	refused "$T/cfg/peru-bad.yml" "$T/peru-bad.log" "per-upstream CA, swapped"
	assert_contains "$T/peru-bad.log" "certificate: unable to get local issuer" \
		"swapped CA: the reason is logged"
else
	fail "start a second TLS proxy with a certificate from the other CA"
fi

section "squid with an https_port (squid-openssl)"
sqrc=0
start_squid_tls sqs "$T/pki/server.crt" "$T/pki/server.key" || sqrc=$?
if ((sqrc == 0)); then
	c8=$(write_file cfg/squid.yml <<EOF
proxy:
  http: "${SRV_URL[sqs]}"
  proxy_loopback: true
  tls:
    ca_file: $T/pki/ca.crt
EOF
	)
	mark sqs
	out=$(PROXYSHIM_LOG_FILE=$T/squid.log \
		shim_run "$c8" "${CURL[@]}" --noproxy '*' "${SRV_URL[web]}/hello.txt")
	assert_eq "$HELLO_BODY" "$out" "curl: hello through squid's https_port"
	remember_relay "$c8"
	assert_crossed sqs "${SRV_PORT[web]}" "the request crossed squid"
elif ((sqrc == 1)); then
	fail "start squid with an https_port"
fi

section "another uid cannot use the relay"
# A live relay first: under load the last one may have gone idle by now.
PROXYSHIM_TLS_CA_FILE=$T/pki/ca.crt PROXYSHIM_LOG_FILE=$log \
	shim_run "$c" "${CURL[@]}" --noproxy '*' "${SRV_URL[web]}/hello.txt" >/dev/null
seg=/dev/shm$("$SHIM_CMD" compile -c "$c")-relay
rport=$(od -An -t u4 -j 40 -N 4 "$seg" | tr -d ' ')
if is_root && command -v setpriv >/dev/null; then
	asnobody=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
	if "${asnobody[@]}" cat "$seg" >/dev/null 2>&1; then
		fail "nobody can read the relay segment"
	else
		pass "nobody cannot read the relay segment (0600)"
	fi
	# The relay asks the kernel who owns the connecting socket and drops
	# other uids before it reads a byte (test_relay_trust.sh has more).
	code=$("${asnobody[@]}" curl -s -o /dev/null -w '%{http_connect}' \
		--max-time 10 -p -x "http://127.0.0.1:$rport" \
		"${SRV_URL[web]}/hello.txt" 2>/dev/null)
	assert_eq 000 "$code" "nobody's CONNECT is dropped without an answer"
	wait_for_log "$log" "this relay serves only uid" 15
	assert_contains "$log" "the last from uid $(id -u nobody): this relay serves only uid 0" \
		"the refusal is logged"
else
	skip "another uid: needs root and setpriv"
fi

section "relay lifecycle"
# A live relay first (an idle one has left its record already).
out=$(PROXYSHIM_TLS_CA_FILE=$T/pki/ca.crt PROXYSHIM_LOG_FILE=$log \
	shim_run "$c" "${CURL[@]}" --noproxy '*' "${SRV_URL[web]}/hello.txt")
old=$(relay_pid "$c")
if [[ -n $old && $old != 0 ]]; then
	kill -KILL "$old" 2>/dev/null
	sleep 0.2
	out=$(PROXYSHIM_TLS_CA_FILE=$T/pki/ca.crt PROXYSHIM_LOG_FILE=$log \
		shim_run "$c" "${CURL[@]}" --noproxy '*' "${SRV_URL[web]}/hello.txt")
	assert_eq "$HELLO_BODY" "$out" "after the relay was killed, a new one serves"
	new=$(relay_pid "$c")
	assert_ne "$old" "$new" "the new relay has a new pid"
	remember_relay "$c"
else
	fail "no relay pid for the first config"
fi
section "relay killed while tunnels are open: they see a reset"
ck=$(cfg kill)
rm -f "$T/kill.ready" "$T/kill.go"
PROXYSHIM_TLS_CA_FILE=$T/pki/ca.crt PROXYSHIM_LOG_FILE=$T/kill.log \
	shim_run "$ck" timeout -k 2 30 python3 \
	"$IT_DIR/clients/relay_reset.py" 127.0.0.1 "${SRV_PORT[ban]}" \
	"$T/kill.ready" "$T/kill.go" >"$T/kill.out" 2>&1 &
kcl=$!
for _ in $(seq 1 150); do
	[[ -e $T/kill.ready ]] && break
	kill -0 "$kcl" 2>/dev/null || break
	sleep 0.1
done
kp=$(relay_pid "$ck")
if [[ -e $T/kill.ready && -n $kp && $kp != 0 ]]; then
	kill -KILL "$kp" 2>/dev/null
	for _ in $(seq 1 50); do
		kill -0 "$kp" 2>/dev/null || break
		sleep 0.05
	done
	touch "$T/kill.go"
	wait "$kcl"
	assert_eq ECONNRESET "$(cat "$T/kill.out")" \
		"the open tunnel's next recv gets ECONNRESET, not a clean EOF"
	out=$(PROXYSHIM_TLS_CA_FILE=$T/pki/ca.crt PROXYSHIM_LOG_FILE=$T/kill.log \
		shim_run "$ck" "${CURL[@]}" --noproxy '*' "${SRV_URL[web]}/hello.txt")
	assert_eq "$HELLO_BODY" "$out" "a new connection after the kill is served"
	kn=$(relay_pid "$ck")
	assert_ne "$kp" "$kn" "by a new relay"
	remember_relay "$ck"
else
	touch "$T/kill.go"
	wait "$kcl"
	fail "open a tunnel through the relay to kill it: $(cat "$T/kill.out")"
fi
c6=$(cfg idle)
out=$(PROXYSHIM_RELAY_IDLE=1 PROXYSHIM_TLS_CA_FILE=$T/pki/ca.crt \
	PROXYSHIM_LOG_FILE=$T/idle.log \
	shim_run "$c6" "${CURL[@]}" --noproxy '*' "${SRV_URL[web]}/hello.txt")
assert_eq "$HELLO_BODY" "$out" "idle config: served"
ip=$(relay_pid "$c6")
remember_relay "$c6"
gone=no
for _ in $(seq 1 60); do
	if [[ -z $ip || $ip == 0 ]] || ! kill -0 "$ip" 2>/dev/null; then
		gone=yes
		break
	fi
	sleep 0.1
done
assert_eq yes "$gone" "an idle relay exits by itself"

section "half-close, both ways"
# tinyproxy drops a tunnel at the client's EOF, so a CONNECT proxy that
# passes half-closes on sits behind a second stunnel here.
_it_spawn "$T/hcp.out" python3 "$IT_DIR/halfclose_proxy.py" "$T/hcp.port"
hcp_port=$(_it_wait_portfile "$_IT_LAST_PID" "$T/hcp.port")
if [[ -n $hcp_port ]] && start_stunnel st2 "127.0.0.1:$hcp_port" \
	"$T/pki/server.crt" "$T/pki/server.key"; then
	c5=$(write_file cfg/half.yml <<EOF
proxy:
  http: "${SRV_URL[st2]}"
  proxy_loopback: true
EOF
	)
	tok="half-$RANDOM"
	out=$(PROXYSHIM_TLS_CA_FILE=$T/pki/ca.crt PROXYSHIM_LOG_FILE=$T/half.log \
		shim_run "$c5" timeout -k 2 15 python3 "$IT_DIR/halfclose_client.py" \
		127.0.0.1 "${SRV_PORT[ban]}" "$tok" 2>&1)
	remember_relay "$c5"
	assert_eq "${SRV_BANNER[ban]}"$'\n'"$tok" "$out" \
		"the client shuts down writing and still reads the echo and the EOF"
else
	fail "start the half-close proxy behind stunnel"
fi

section "chains through an https:// hop: any hop may follow it"
# The relay holds the TLS stream, and the shared dialler runs every later
# hop over it (docs/behaviour.md#chains-through-an-https-upstream).
start_microsocks ms || it_done
start_microsocks msa user=alice pass=s3cret || it_done
start_tinyproxy tp2 || it_done
dnrc=0
start_dante dn || dnrc=$?
# hchain NAME URL...: 127.0.0.0/8 through the chain URL... (strict).
hchain() {
	local n=$1 u
	shift
	{
		printf 'proxy:\n  proxy_loopback: true\n  tls: {ca_file: "%s"}\n' "$T/pki/ca.crt"
		printf '  rules:\n    - match: 127.0.0.0/8\n      via:\n'
		for u in "$@"; do printf '        - "%s"\n' "$u"; done
	} | write_file "cfg/$n.yml"
}
# through_chain CONFIG NAME LAST: curl gets hello.txt, and the TLS proxy's
# tinyproxy reached hop NAME, which reached the origin.
through_chain() {
	local c=$1 what=$2 last=$3 out
	mark tp
	mark "$last"
	out=$(PROXYSHIM_LOG_FILE=$T/hchain.log shim_run "$c" "${CURL[@]}" \
		--noproxy '*' "${SRV_URL[web]}/hello.txt")
	assert_eq "$HELLO_BODY" "$out" "[https, $what]: curl gets hello.txt"
	assert_crossed tp "${SRV_PORT[$last]}" "[https, $what]: the TLS proxy reached the $what hop"
	assert_crossed "$last" "${SRV_PORT[web]}" "[https, $what]: the $what hop reached the origin"
	remember_relay "$c"
}
through_chain "$(hchain h-s5 "${SRV_URL[st]}" "${SRV_URL[ms]}")" socks5 ms
through_chain "$(hchain h-s5a "${SRV_URL[st]}" "${SRV_URL[msa]}")" "socks5 with a password" msa
through_chain "$(hchain h-http "${SRV_URL[st]}" "${SRV_URL[tp2]}")" http tp2
if ((dnrc == 0)); then
	through_chain "$(hchain h-s4 "${SRV_URL[st]}" "socks4://${SRV_ADDR[dn]}")" socks4 dn
elif ((dnrc == 1)); then
	fail "start dante for the socks4 hop"
fi
# A refusal by the hop behind TLS keeps its meaning: a wrong password is
# EACCES, as on a plain chain.
c=$(hchain h-s5bad "${SRV_URL[st]}" "socks5://alice:wrong@${SRV_ADDR[msa]}")
out=$(PROXYSHIM_LOG_FILE=$T/hchain.log shim_run "$c" python3 \
	"$IT_DIR/connect_errno.py" 127.0.0.1 "${SRV_PORT[web]}" 20)
assert_eq EACCES "$out" "[https, socks5 with a wrong password]: EACCES"
remember_relay "$c"
assert_contains "$T/hchain.log" "authentication rejected" \
	"the relay logs the socks5 hop's refusal"
# TLS inside TLS is refused by check, at the second https:// hop.
c=$(hchain h-h "${SRV_URL[st]}" "${SRV_URL[st]}")
"$SHIM_CMD" check -c "$c" >"$T/hh.out" 2>&1 && rc=0 || rc=$?
assert_eq 1 "$rc" "[https, https]: check fails"
assert_match "$T/hh.out" "^$c:8:11: .*https:// proxy cannot follow another" \
	"[https, https]: FILE:LINE:COL of the second https:// hop"

section "check --probe runs the TLS handshake"
c=$(hchain probe-ok "${SRV_URL[st]}")
"$SHIM_CMD" check -c "$c" --probe >"$T/probe-ok.out" 2>&1 && rc=0 || rc=$?
sed 's/^/#   /' "$T/probe-ok.out"
assert_eq 0 "$rc" "probe of the https:// upstream with the right CA: exit 0"
assert_match "$T/probe-ok.out" '^ok   https://127\.0\.0\.1:[0-9]+: reachable \([0-9.]+ ms\), TLS ok, handshake ok, auth none, ' \
	"right CA: TLS ok, then the CONNECT inside it"
c=$(cfg probe-badca "ca_file: $T/pki/other-ca.crt")
"$SHIM_CMD" check -c "$c" --probe >"$T/probe-bad.out" 2>&1 && rc=0 || rc=$?
sed 's/^/#   /' "$T/probe-bad.out"
assert_eq 1 "$rc" "probe with the wrong CA: exit 1"
assert_match "$T/probe-bad.out" '^FAIL https://.*: reachable .*TLS failed: ECONNREFUSED \(certificate: unable to get local issuer certificate\)' \
	"wrong CA: the TLS step failed, with the certificate's reason"

for p in "${RELAYS[@]}"; do
	kill -TERM "$p" 2>/dev/null
done
it_done
