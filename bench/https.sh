# shellcheck shell=bash
# bench/https.sh: the https:// upstream section of bench/run.sh.
# Sourced by run.sh, never run by itself: it uses run.sh's helpers (start,
# free_port, median, stats, ratio, out, note, die), its PIDS and TABLES (stopped and
# removed at exit), $T, the CPU placement and BENCH_QUICK.  Run it alone
# with
#
#   make bench-https               (= BENCH_SECTIONS=https bench/run.sh)
#
# Knobs: BENCH_HTTPS_ROUNDS (default BENCH_ROUNDS), BENCH_HTTPS_CONNS
# (connections per cell, default 300, quick 100), BENCH_HTTPS_MIB (bulk
# size in MiB, default 128, quick 32).
#
# The https proxy is stunnel4 (TLS server, a test CA and an RSA-2048
# certificate made here by openssl) in front of tinyproxy (CONNECT to any
# port, outgoing side bound to 127.0.0.6), in front of bench/origin.
# Three clients, each the same curl 7.52+ doing the same requests:
#   curl-aware             curl --proxytunnel --proxy https://... itself
#                          (TLS to the proxy in curl: the proxy-aware limit);
#   proxyshim              curl with no proxy under the shim (LD_PRELOAD +
#                          PROXYSHIM_TABLE, what `proxyshim run` exports),
#                          `http: https://...`: the TLS relay does TLS and
#                          CONNECT; the relay is warmed before measuring and
#                          kept up (PROXYSHIM_RELAY_IDLE) across rounds; it
#                          is spawned by curl, so it shares the clients' CPU
#                          placement (BENCH_PIN);
#   proxychains4+stunnel   what users do today: curl under proxychains4
#                          (`http 127.0.0.1 PORT`) to a second stunnel in
#                          client mode that does TLS to the same stunnel
#                          server (verifying it against the same CA).
# Cells, interleaved: each round runs every variant once in a rotated
# order, first the connection cells, then the bulk cells; figures are
# medians over the rounds.
#   conn/s: one curl process fetching the origin's small reply CONNS times
#     (a config file of CONNS `url` lines); the origin answers HTTP/1.0 and
#     closes, so every request is a new connection, a new CONNECT tunnel and
#     a new TLS connection to the proxy (checked: the stunnel server accepted
#     exactly CONNS connections during the cell).  Wall-clock time of the
#     whole process, so curl's start-up (a few ms) is in the figure.
#   MB/s (10^6 bytes): one download of MIB MiB (GET /bytes/N); the size and
#     curl's own transfer time (%{time_total}: connect, TLS, CONNECT and
#     body; process start-up excluded).
# Every response must come from 127.0.0.6 (tinyproxy's outgoing address):
# each body of a connection cell, the X-Peer header of a bulk cell.

https_section() {
	local c
	for c in stunnel4 curl openssl; do
		if ! command -v "$c" >/dev/null; then
			note "https: $c is missing: no https upstream figures"
			out "### Through an https:// upstream"
			out ""
			out "Skipped: $c is not installed."
			out ""
			return 0
		fi
	done
	if ! curl -V | grep -q '^Features:.* HTTPS-proxy'; then
		note "https: this curl has no HTTPS-proxy support: skipped"
		out "### Through an https:// upstream"
		out ""
		out "Skipped: curl lacks HTTPS-proxy support (curl -V)."
		out ""
		return 0
	fi
	https_setup
	https_measure
	https_report
}

# The CA and the proxy's certificate (IP SAN 127.0.0.1), as
# tests/integration/lib.sh make_test_ca makes them.
https_pki() {
	local d=$1
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
		-subj "/CN=proxyshim bench ca" -keyout "$d/ca.key" \
		-out "$d/ca.crt" >/dev/null 2>&1 &&
		openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
			-keyout "$d/server.key" -out "$d/server.csr" \
			>/dev/null 2>&1 &&
		printf 'subjectAltName=IP:127.0.0.1\n' >"$d/san.ext" &&
		openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" \
			-CAkey "$d/ca.key" -CAcreateserial -days 2 \
			-extfile "$d/san.ext" -out "$d/server.crt" >/dev/null 2>&1
}

# hs_stunnel NAME PORT [KEY=VALUE...]: an stunnel4 in the foreground;
# notice level logs one "accepted connection" line per connection.
hs_stunnel() {
	local name=$1 port=$2 kv
	shift 2
	{
		echo "foreground = yes"
		echo "pid ="
		echo "output = $T/$name.log"
		echo "debug = notice"
		echo "[$name]"
		echo "accept = 127.0.0.1:$port"
		for kv in "$@"; do
			echo "$kv"
		done
	} >"$T/$name.conf"
	start "$name" "$port" stunnel4 "$T/$name.conf" || exit 1
}

hs_accepted() {
	grep -c 'accepted connection' "$T/hs-server.log"
}

https_setup() {
	local tp srv cli name
	HS_CONNS=${BENCH_HTTPS_CONNS:-300}
	HS_MIB=${BENCH_HTTPS_MIB:-128}
	if ((QUICK)); then
		HS_CONNS=${BENCH_HTTPS_CONNS:-100}
		HS_MIB=${BENCH_HTTPS_MIB:-32}
	fi
	HS_ROUNDS=${BENCH_HTTPS_ROUNDS:-$ROUNDS}
	HS_BYTES=$((HS_MIB * 1024 * 1024))
	note "https: test CA, origin, tinyproxy, stunnel server and client"
	https_pki "$T/pki" || die "https: openssl could not make the test CA"

	"${SERVER_PIN[@]}" "$ORIGIN_BIN" -t 3600 >"$T/hs-origin.port" \
		2>"$T/hs-origin.log" &
	PIDS+=("$!")
	for _ in $(seq 1 100); do
		[[ -s $T/hs-origin.port ]] && break
		sleep 0.05
	done
	HS_ORIGIN=127.0.0.1:$(head -n1 "$T/hs-origin.port")
	[[ $HS_ORIGIN != *: ]] || die "https: origin did not start"

	tp=$(free_port) || die "no free port"
	start_tinyproxy hs-tinyproxy "$tp" 127.0.0.6 || exit 1

	srv=$(free_port) || die "no free port"
	hs_stunnel hs-server "$srv" "connect = 127.0.0.1:$tp" \
		"cert = $T/pki/server.crt" "key = $T/pki/server.key"
	HS_PROXY=127.0.0.1:$srv
	cli=$(free_port) || die "no free port"
	hs_stunnel hs-client "$cli" "client = yes" "connect = $HS_PROXY" \
		"CAfile = $T/pki/ca.crt" "verifyChain = yes" \
		"checkIP = 127.0.0.1"
	pc_conf "$T/hs-pc.conf" http "$cli"

	cat >"$T/hs-shim.yml" <<EOF
proxy:
  http: https://$HS_PROXY
  proxy_loopback: true
  tls:
    ca_file: $T/pki/ca.crt
EOF
	HS_TABLE=$("$PS" compile -c "$T/hs-shim.yml") ||
		die "https: proxyshim compile failed"
	TABLES+=("$HS_TABLE")
	"$PS" explain -c "$T/hs-shim.yml" "$HS_ORIGIN" >"$T/hs-explain" 2>&1
	grep -q "TLS relay" "$T/hs-explain" ||
		die "https: the route to $HS_ORIGIN is not through the TLS relay: $(cat "$T/hs-explain")"

	HS_VARIANTS=(curl-aware proxyshim proxychains4+stunnel)
	for name in conns:"$HS_CONNS" sanity:3; do
		for _ in $(seq 1 "${name#*:}"); do
			echo "url = \"http://$HS_ORIGIN/\""
		done >"$T/hs-${name%:*}.urls"
	done
}

# hs_cmd VARIANT: curl's command line for VARIANT, before its own
# arguments, in CMDV.
hs_cmd() {
	local curl=(curl -sS --max-time "$CELL_TIMEOUT")
	case $1 in
	curl-aware)
		CMDV=("${curl[@]}" --proxytunnel --proxy "https://$HS_PROXY"
			--proxy-cacert "$T/pki/ca.crt") ;;
	proxyshim)
		CMDV=(env "LD_PRELOAD=$LIB" "PROXYSHIM_TABLE=$HS_TABLE"
			PROXYSHIM_RELAY_IDLE=3600 "${curl[@]}" --noproxy '*') ;;
	proxychains4+stunnel)
		CMDV=(proxychains4 -q -f "$T/hs-pc.conf" "${curl[@]}") ;;
	*) die "https: unknown variant $1" ;;
	esac
}

# hs_conns VARIANT URLFILE COUNT: prints conn/s.
hs_conns() {
	local v=$1 n=$3 t0 t1 before after got
	hs_cmd "$v"
	before=$(hs_accepted)
	t0=$(date +%s%N)
	if ! timeout "$CELL_TIMEOUT" "${CLIENT_PIN[@]}" "${CMDV[@]}" -K "$2" \
		>"$T/hs-cell.out" 2>"$T/hs-cell.err"; then
		note "https: $v failed: ${CMDV[*]} -K $2"
		cat "$T/hs-cell.err" >&2
		return 1
	fi
	t1=$(date +%s%N)
	got=$(grep -cx 'peer=127.0.0.6' "$T/hs-cell.out")
	if ((got != n)) || [[ $(wc -l <"$T/hs-cell.out") != "$n" ]]; then
		note "https: $v: $got of $n replies came through tinyproxy" \
			"($(sort "$T/hs-cell.out" | uniq -c | head -n3))"
		return 1
	fi
	# stunnel logs a connection at accept; give the last line a moment.
	for _ in $(seq 1 20); do
		after=$(hs_accepted)
		((after - before >= n)) && break
		sleep 0.05
	done
	if ((after - before != n)); then
		note "https: $v: $n requests but the https proxy accepted" \
			"$((after - before)) connections"
		return 1
	fi
	awk -v n="$n" -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f\n", n / (ns / 1e9) }'
}

# hs_bulk VARIANT: prints MB/s.
hs_bulk() {
	local v=$1 code size secs peer
	hs_cmd "$v"
	if ! read -r code size secs peer < <(timeout "$CELL_TIMEOUT" \
		"${CLIENT_PIN[@]}" "${CMDV[@]}" -o /dev/null -w \
		'%{http_code} %{size_download} %{time_total} %header{x-peer}\n' \
		"http://$HS_ORIGIN/bytes/$HS_BYTES" 2>"$T/hs-cell.err"); then
		note "https: $v bulk failed: ${CMDV[*]}"
		cat "$T/hs-cell.err" >&2
		return 1
	fi
	if [[ $code != 200 || $size != "$HS_BYTES" || $peer != 127.0.0.6 ]]; then
		note "https: $v bulk: status $code, $size of $HS_BYTES bytes," \
			"from '$peer' (want 127.0.0.6); $(cat "$T/hs-cell.err")"
		return 1
	fi
	awk -v b="$size" -v s="$secs" 'BEGIN { printf "%.1f\n", b / s / 1e6 }'
}

# The relay serving the table: its pid, from the relay segment.
hs_relay_pid() {
	local seg=/dev/shm${HS_TABLE}-relay
	[[ -f $seg ]] && od -An -t d4 -j 44 -N 4 "$seg" | tr -d ' '
}

https_measure() {
	local v r k nv res rp
	note "https: sanity pass (3 connections, then 1 MiB, per variant)"
	for v in "${HS_VARIANTS[@]}"; do
		hs_conns "$v" "$T/hs-sanity.urls" 3 >/dev/null || exit 1
	done
	rp=$(hs_relay_pid)
	if [[ -z $rp || $rp == 0 ]] || ! kill -0 "$rp" 2>/dev/null; then
		die "https: no TLS relay after the sanity pass"
	fi
	PIDS+=("$rp") # not our child: stopped at exit all the same
	local bytes=$HS_BYTES
	HS_BYTES=1048576
	for v in "${HS_VARIANTS[@]}"; do
		hs_bulk "$v" >/dev/null || exit 1
	done
	HS_BYTES=$bytes
	declare -gA HS_CPS=() HS_MBS=()
	nv=${#HS_VARIANTS[@]}
	for ((r = 0; r < HS_ROUNDS; r++)); do
		note "https: round $((r + 1))/$HS_ROUNDS, $HS_CONNS connections" \
			"and $HS_MIB MiB per variant"
		for ((k = 0; k < nv; k++)); do
			v=${HS_VARIANTS[$(((r + k) % nv))]}
			res=$(hs_conns "$v" "$T/hs-conns.urls" "$HS_CONNS") || exit 1
			HS_CPS[$v]+=" $res"
		done
		for ((k = 0; k < nv; k++)); do
			v=${HS_VARIANTS[$(((r + k) % nv))]}
			res=$(hs_bulk "$v") || exit 1
			HS_MBS[$v]+=" $res"
		done
	done
	[[ $(hs_relay_pid) == "$rp" ]] ||
		die "https: the TLS relay changed during the run ($rp, now $(hs_relay_pid))"
}

hs_ratio_row() { # LABEL A B TARGET
	local c cp m mp ok
	read -r c cp < <(ratio "${HS_CPS[$2]}" "${HS_CPS[$3]}")
	read -r m mp < <(ratio "${HS_MBS[$2]}" "${HS_MBS[$3]}")
	ok=$(awk -v c="$c" -v m="$m" -v t="$4" \
		'BEGIN { print (c >= t && m >= t) ? "yes" : "no" }')
	out "| $1 | $c | $cp | $m | $mp | ≥ $4 | $ok |"
}

https_report() {
	local v cs ms
	out "### Through an https:// upstream"
	out ""
	out "curl through stunnel4 (TLS, RSA-2048 certificate from a test CA)" \
		"in front of tinyproxy, to a loopback origin; $HS_ROUNDS interleaved" \
		"rounds; median over the rounds, with the slowest and fastest" \
		"round. conn/s: one curl process fetching a small reply" \
		"$HS_CONNS times, each a new connection, CONNECT tunnel and TLS" \
		"connection to the proxy (checked in stunnel's log), wall clock of" \
		"the process. MB/s (10^6 bytes): one download of $HS_MIB MiB," \
		"curl's transfer time. Every reply checked to come from tinyproxy."
	out ""
	out "| variant | conn/s (median) | min | max | MB/s (median) | min | max |"
	out "|---|---:|---:|---:|---:|---:|---:|"
	for v in "${HS_VARIANTS[@]}"; do
		read -r -a cs < <(stats "${HS_CPS[$v]}")
		read -r -a ms < <(stats "${HS_MBS[$v]}")
		out "| $v | ${cs[0]} | ${cs[1]} | ${cs[2]} | ${ms[0]} | ${ms[1]} | ${ms[2]} |"
	done
	out ""
	out "| ratio | conn/s, of medians | per round | MB/s, of medians | per round | target | met |"
	out "|---|---:|---:|---:|---:|---:|---|"
	hs_ratio_row "proxyshim / curl-aware" proxyshim curl-aware 0.8
	hs_ratio_row "proxyshim / proxychains4+stunnel" proxyshim \
		proxychains4+stunnel 1.0
	out ""
	out "curl-aware: \`curl --proxytunnel --proxy https://…" \
		"--proxy-cacert\` (TLS to the proxy in curl); proxyshim: curl under" \
		"\`LD_PRELOAD\` + \`PROXYSHIM_TABLE\` with \`http: https://…\`," \
		"\`proxy.tls.ca_file\` (the TLS relay, started by the sanity pass," \
		"serves every round); proxychains4+stunnel: curl under proxychains4" \
		"(\`http 127.0.0.1 PORT\`) to an stunnel client (\`verifyChain\`," \
		"\`checkIP\`) to the same proxy. Versions: curl" \
		"$(curl -V | head -n1 | cut -d' ' -f2), stunnel4 $(pkg_ver stunnel4)," \
		"OpenSSL $(openssl version | cut -d' ' -f2), tinyproxy" \
		"$(pkg_ver tinyproxy), proxychains4 $(pkg_ver proxychains4)."
	out ""
}
