#!/usr/bin/env bash
# make demo: real proxies on loopback, a real client through the shim, and
# the proxies' own log lines proving the traffic crossed them.  Everything it
# starts it stops (by PID) on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
[[ $B == /* ]] || B=$ROOT/$B
PS=$B/proxyshim
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
unset http_proxy https_proxy all_proxy no_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY NO_PROXY
T=$(mktemp -d "${TMPDIR:-/tmp}/proxyshim-demo.XXXXXX")
chmod 0711 "$T"
PIDS=()
TABLES=()

cleanup() {
	local p n
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	for n in "${TABLES[@]}"; do rm -f "/dev/shm$n" "/dev/shm$n-state"; done
	rm -rf "$T"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT: bounded wait (5 s) until something listens.
wait_port() {
	local i
	for i in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "demo: nothing listens on port $1" >&2
	return 1
}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# The origin: a small HTTP server whose /whoami tells who connected to it.
ORIGIN=$(free_port)
python3 "$ROOT/tests/integration/origin_server.py" --host 127.0.0.1 \
	--port "$ORIGIN" --dir "$T" >"$T/origin.log" 2>&1 &
PIDS+=($!)

# microsocks (SOCKS5), making its outgoing connections from 127.0.0.2.
MS=$(free_port)
microsocks -i 127.0.0.1 -p "$MS" -b 127.0.0.2 >"$T/microsocks.log" 2>&1 &
PIDS+=($!)

# tinyproxy (HTTP CONNECT), outgoing from 127.0.0.3.
TP=$(free_port)
: >"$T/tinyproxy.log"
cat >"$T/tinyproxy.conf" <<CONF
Port $TP
Listen 127.0.0.1
Bind 127.0.0.3
LogFile "$T/tinyproxy.log"
LogLevel Info
Allow 127.0.0.0/8
CONF
if ((EUID == 0)); then
	printf 'User nobody\nGroup %s\n' "$(id -gn nobody)" >>"$T/tinyproxy.conf"
	chown nobody "$T/tinyproxy.log"
fi
tinyproxy -d -c "$T/tinyproxy.conf" >"$T/tinyproxy.out" 2>&1 &
PIDS+=($!)
wait_port "$ORIGIN"
wait_port "$MS"
wait_port "$TP"

cat >"$T/proxyshim.yml" <<YAML
proxy:
  http: http://127.0.0.1:$TP          # tinyproxy for everything else
  proxy_loopback: true                # the demo's origin is on loopback
  rules:
    - match: "127.0.0.1:$ORIGIN"
      via: socks5://127.0.0.1:$MS     # microsocks for the origin
    - match: 127.0.0.99
      via: block
YAML
say "the config"
cat "$T/proxyshim.yml"
say "proxyshim check"
"$PS" check -c "$T/proxyshim.yml"
say "proxyshim explain 127.0.0.1:$ORIGIN"
"$PS" explain -c "$T/proxyshim.yml" "127.0.0.1:$ORIGIN"
TABLES+=("$("$PS" compile -c "$T/proxyshim.yml")")

say "curl through microsocks: the origin sees the proxy's address (127.0.0.2)"
echo "\$ proxyshim run -v -- curl http://127.0.0.1:$ORIGIN/whoami"
"$PS" run -c "$T/proxyshim.yml" -v -- curl -sS --max-time 10 "http://127.0.0.1:$ORIGIN/whoami"
echo "microsocks' log:"
grep -F "connected to 127.0.0.1:$ORIGIN" "$T/microsocks.log" | sed 's/^/  /'

say "the same origin by another address: no rule matches, so tinyproxy (127.0.0.3)"
python3 "$ROOT/tests/integration/origin_server.py" --host 127.0.0.4 \
	--port "$ORIGIN" --dir "$T" >"$T/origin4.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
	(exec 3<>"/dev/tcp/127.0.0.4/$ORIGIN") 2>/dev/null && break
	sleep 0.05
done
"$PS" explain -c "$T/proxyshim.yml" "127.0.0.4:$ORIGIN"
"$PS" run -c "$T/proxyshim.yml" -v -- curl -sS --max-time 10 "http://127.0.0.4:$ORIGIN/whoami"
echo "tinyproxy's log:"
grep -F "opening connection to 127.0.0.4:$ORIGIN" "$T/tinyproxy.log" | sed 's/^.*opensock/  opensock/'

say "a block rule: the program sees EACCES"
"$PS" explain -c "$T/proxyshim.yml" 127.0.0.99:80
"$PS" run -c "$T/proxyshim.yml" -- python3 "$ROOT/tests/integration/connect_errno.py" 127.0.0.99 80 5

say "done: every server started here is being stopped"
