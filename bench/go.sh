# shellcheck shell=bash
# bench/go.sh: the Go client section of bench/run.sh (BENCH_SECTIONS=go).
# Sourced by run.sh, never run by itself: it uses run.sh's helpers (start,
# free_port, median, stats, ratio, out, note, die), its PIDS (stopped at
# exit), $T, the CPU placement and BENCH_QUICK.
#
# One Go net/http client (tests/integration/clients/goget.go, built here
# with CGO_ENABLED=0: a static program the library never reaches), no
# keep-alive, so every request is a new connection to bench/origin, which
# names the address each connection came from; every reply is checked.
# Variants, interleaved rounds, medians of the client's own conn/s (its
# process start is not in the figure):
#   go-aware        Go's own SOCKS5 support (Transport.Proxy =
#                   http.ProxyURL(socks5://microsocks)): the proxy-aware
#                   floor;
#   go-proxyshim    no proxy in the client, under `proxyshim run` through
#                   the same microsocks: the seccomp supervisor dials;
#   go-proxychains4 under proxychains4 to the same microsocks: Go makes its
#                   own system calls, so this goes direct (checked: the
#                   origin sees 127.0.0.1) and is reported as such;
#   go-direct       no proxy at all, for reference.
# Knobs: BENCH_GO_CONNS (per cell; default 2000, quick 500), BENCH_GO_ROUNDS
# (default BENCH_ROUNDS).

go_section() {
	local n=${BENCH_GO_CONNS:-$((QUICK ? 500 : 2000))}
	local rounds=${BENCH_GO_ROUNDS:-$ROUNDS} gport mport url v r k res
	local variants=(go-aware go-proxyshim go-proxychains4 go-direct)
	local -A cps=()

	if ! command -v go >/dev/null; then
		note "go: skipped (no go; install golang-go)"
		out "### Go client: skipped (no \`go\`)"
		out ""
		return 0
	fi
	note "go: building the client"
	GOCACHE=$T/gocache GOPATH=$T/gopath GOTOOLCHAIN=local GOPROXY=off \
		GOFLAGS=-mod=mod GO111MODULE=off CGO_ENABLED=0 \
		go build -o "$T/goget" "$ROOT/tests/integration/clients/goget.go" ||
		die "go build failed"

	"${SERVER_PIN[@]}" "$ORIGIN_BIN" -t 1800 >"$T/go-origin.port" \
		2>"$T/go-origin.log" &
	PIDS+=("$!")
	for _ in $(seq 1 100); do
		[[ -s $T/go-origin.port ]] && break
		sleep 0.05
	done
	gport=$(head -n1 "$T/go-origin.port")
	[[ -n $gport ]] || die "origin did not start: $(cat "$T/go-origin.log")"
	url=http://127.0.0.1:$gport/
	mport=$(free_port) || die "no free port"
	start go-microsocks "$mport" microsocks -i 127.0.0.1 -p "$mport" \
		-b 127.0.0.7 || exit 1
	printf 'proxy:\n  http: socks5://127.0.0.1:%s\n  proxy_loopback: true\n' \
		"$mport" >"$T/go-shim.yml"
	pc_conf "$T/go-pc.conf" socks5 "$mport"
	sup_place "$T/go-shim.yml"

	go_cell() { # VARIANT N: prints conn/s
		local cmd line
		case $1 in
		go-aware) cmd=("$T/goget" -proxy "socks5://127.0.0.1:$mport" bench "$url" "$2" 127.0.0.7) ;;
		go-proxyshim) cmd=("$PS" run -q -c "$T/go-shim.yml" -- "$T/goget" bench "$url" "$2" 127.0.0.7) ;;
		go-proxychains4) cmd=(proxychains4 -q -f "$T/go-pc.conf" "$T/goget" bench "$url" "$2" 127.0.0.1) ;;
		go-direct) cmd=("$T/goget" bench "$url" "$2" 127.0.0.1) ;;
		esac
		if ! line=$(timeout "$CELL_TIMEOUT" "${CLIENT_PIN[@]}" "${cmd[@]}" 2>&1); then
			note "variant $1 failed: ${cmd[*]}: $line"
			return 1
		fi
		printf '%s\n' "${line##*conn/s }"
	}

	note "go: sanity pass (20 connections per variant)"
	for v in "${variants[@]}"; do
		go_cell "$v" 20 >/dev/null || exit 1
	done
	for ((r = 0; r < rounds; r++)); do
		note "go: round $((r + 1))/$rounds, $n connections per variant"
		for ((k = 0; k < ${#variants[@]}; k++)); do
			v=${variants[$(((r + k) % ${#variants[@]}))]}
			res=$(go_cell "$v" "$n") || exit 1
			cps[$v]+=" $res"
		done
	done

	out "### Go client (static, net/http): connections per second"
	out ""
	out "$n sequential requests per run, each a new connection (no keep-alive)," \
		"to a loopback origin; $rounds interleaved rounds; median over the" \
		"rounds, with the slowest and fastest. Every reply names the address" \
		"the origin saw: microsocks' (127.0.0.7) for go-aware and" \
		"go-proxyshim, 127.0.0.1 for the others."
	out ""
	out "| variant | route | conn/s (median) | min | max |"
	out "|---|---|---:|---:|---:|"
	for v in "${variants[@]}"; do
		local route=via read_m read_a read_b
		[[ $v == go-proxychains4 || $v == go-direct ]] && route=direct
		[[ $v == go-proxychains4 ]] && route="direct (leaks)"
		read -r read_m read_a read_b < <(stats "${cps[$v]}")
		out "| $v | $route | $read_m | $read_a | $read_b |"
	done
	out ""
	read -r r k < <(ratio "${cps[go-proxyshim]}" "${cps[go-aware]}")
	out "go-proxyshim / go-aware: $r of the medians, $k median per round" \
		"(goal ≥ 0.9). proxychains4 cannot reach a Go program: its row is a" \
		"direct connection, not a proxied one."
	out ""
}
go_section
