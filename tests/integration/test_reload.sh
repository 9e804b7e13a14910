#!/usr/bin/env bash
# Live reload (docs/behaviour.md#live-reload): running programs take a new
# policy without a restart.
#   - python3 connecting every 100 ms and a Java HttpURLConnection loop,
#     under `run` with policy A (via microsocks): `proxyshim reload` after
#     an edit to policy B (via tinyproxy) moves every next connection to
#     tinyproxy (the proxies' logs say so); the same with no command at all
#     (automatic pickup), waited for with a generous bound;
#   - a broken edit: reload exits 1 with FILE:LINE:COL and the program
#     keeps its policy; automatic pickup logs one warning and keeps it;
#   - `reload: manual`: an edit alone changes nothing;
#   - a new exempt entry, a removed block rule, a rotated proxy password:
#     each takes effect on the next connects;
#   - 8 threads connecting while the policy is switched 100 times: no
#     failed connect (both policies allow them all), no fd leak, mappings
#     bounded;
#   - a child forked before the reload and a program exec'd after it
#     follow the new policy; gc keeps the table in force; a fake address
#     handed out before the reload still reaches its name; each
#     generation's https:// upstream is reached through its own TLS relay.
# No wall-clock time decides: every wait is bounded and counts connects.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need_shim || it_done

start_origin web || it_done
start_origin webb || it_done
start_origin webc || it_done
start_microsocks ms || it_done
start_tinyproxy tp || it_done
W=${SRV_PORT[web]} WB=${SRV_PORT[webb]} WC=${SRV_PORT[webc]}
VIA_A=${SRV_URL[ms]} VIA_B=${SRV_URL[tp]}

# pcfg FILE VIA [LINE...]: a policy, every connection via VIA, LINEs added
# under proxy:; written aside and renamed into place, as editors do.
pcfg() {
	local f=$1 via=$2 l
	shift 2
	{
		echo "proxy:"
		echo "  proxy_loopback: true"
		echo "  timeouts: {connect: 2s, handshake: 5s}"
		echo "  http: $via"
		for l in "$@"; do echo "  $l"; done
	} >"$f.new" && mv -f "$f.new" "$f"
}

cat >"$T/loop.py" <<'PYEOF'
"""loop.py STOP PORT [threads=N] [interval=S] [fork=PORT] [exec=FILE URL]
[chdir=DIR]
GET /hello.txt from 127.0.0.1:PORT over and over (new connection each
time) until the file STOP exists (at most 20000 times per thread); one line
per connect: "TAG PORT ok" or "TAG PORT err ERRNO".  fork=: a child forked
first loops on that port (tag "child").  exec=: once FILE exists, curl URL
(a program exec'd now), one line "exec ok|err".  With threads=, a last line
"stats fds A B maps C D": descriptors after a first connect, before the
threads start (A) and at the end (B); mappings after a warm-up of the
threads (C) and at the end (D)."""
import errno, os, socket, subprocess, sys, threading, time

stop, port = sys.argv[1], int(sys.argv[2])
opt = dict(a.split("=", 1) for a in sys.argv[3:])
nthr = int(opt.get("threads", "1"))
if "chdir" in opt:
    os.chdir(opt["chdir"])
interval = float(opt.get("interval", "0.1"))
lock = threading.Lock()
done = [0]

def say(s):
    with lock:
        sys.stdout.write(s + "\n")
        sys.stdout.flush()

def once(p):
    s = socket.socket()
    s.settimeout(15)
    try:
        s.connect(("127.0.0.1", p))
        s.sendall(b"GET /hello.txt HTTP/1.0\r\nHost: t\r\n\r\n")
        data = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
        return "ok" if b"hello from" in data else "bad"
    except OSError as e:
        return "err " + errno.errorcode.get(e.errno or 0, str(e))
    finally:
        s.close()

def loop(p, tag):
    n = 0
    while not os.path.exists(stop) and n < 20000:
        say("%s %d %s" % (tag, p, once(p)))
        n += 1
        with lock:
            done[0] += 1
        if interval:
            time.sleep(interval)

def counts():
    with open("/proc/self/maps") as f:
        maps = len(f.readlines())
    return len(os.listdir("/proc/self/fd")), maps

child = 0
if "fork" in opt:
    child = os.fork()
    if child == 0:
        loop(int(opt["fork"]), "child")
        os._exit(0)
if "exec" in opt:
    def exec_when():
        f, url = opt["exec"].split(" ", 1)
        while not os.path.exists(stop) and not os.path.exists(f):
            time.sleep(0.05)
        if os.path.exists(f):
            r = subprocess.run(["curl", "-sS", "--max-time", "15",
                                "--noproxy", "*", url],
                               stdout=subprocess.PIPE)
            say("exec " + ("ok" if b"hello from" in r.stdout else "err"))
    threading.Thread(target=exec_when, daemon=True).start()
if nthr > 1:
    say("main %d %s" % (port, once(port)))
    fds0 = counts()[0]
ts = [threading.Thread(target=loop, args=(port, "main"))
      for _ in range(nthr)]
for t in ts:
    t.start()
if nthr > 1:
    while done[0] < 5 * nthr and not os.path.exists(stop):
        time.sleep(0.01)
    before = counts()
for t in ts:
    t.join()
if child:
    os.waitpid(child, 0)
if nthr > 1:
    after = counts()
    say("stats fds %d %d maps %d %d" % (fds0, after[0], before[1],
                                         after[1]))
PYEOF

# lines OUT RE: how many lines of OUT match RE.
lines() { grep -cE -- "$2" "$1" 2>/dev/null || true; }

# wait_more OUT RE N: wait (bounded) until N more lines of OUT match RE
# than now; 0 when they did.
wait_more() {
	local have
	have=$(lines "$1" "$2")
	wait_for_log_count "$1" "$2" $((have + $3))
}

# switched_to_b PROG_OUT MSG: after a change to policy B, within a few
# connects every connection goes through tinyproxy: skip 10 connects (the
# switch happens at the next hooked call; at most ~1 s of auto pickup for
# the caller to have waited out), then the next 10 all cross tinyproxy and
# none microsocks.
switched_to_b() {
	local out=$1 msg=$2 port=${3:-$W}
	wait_more "$out" " $port ok" 10 || true
	mark ms
	mark tp
	if wait_more "$out" " $port ok" 10; then
		pass "$msg: the program kept connecting"
	else
		fail "$msg: the program stopped connecting"
	fi
	assert_crossed tp "$port" "$msg: connects cross tinyproxy" 10
	assert_not_crossed ms "$port" "$msg: none crosses microsocks any more"
}

# ---------------------------------------------------------------- reload
section "proxyshim reload: python3 loop moves from microsocks to tinyproxy"
C1=$T/manual.yml
pcfg "$C1" "$VIA_A" "reload: manual"
_it_spawn "$T/p1.out" "$SHIM_CMD" run -v -c "$C1" -- python3 -u "$T/loop.py" "$T/p1.stop" "$W"
P1=$_IT_LAST_PID
if ! wait_for_log_count "$T/p1.out" "main $W ok" 5; then
	fail "python loop under run did not start"
	cat "$T/p1.out" >&2
	it_done
fi
mark ms
wait_more "$T/p1.out" "main $W ok" 5 || true
assert_crossed ms "$W" "policy A: through microsocks" 5
pcfg "$C1" "$VIA_B" "reload: manual"
mark tp
wait_more "$T/p1.out" "main $W ok" 15 || true
assert_not_crossed tp "$W" "reload: manual: an edit alone changes nothing"
assert_eq 0 "$(lines "$T/p1.out" "policy reloaded")" "no switch before reload"
out=$("$SHIM_CMD" reload -c "$C1" 2>&1)
assert_eq 0 "$?" "reload of a valid file exits 0"
assert_re "$out" "generation [0-9]+ in force" "reload names the generation in force"
assert_re "$out" "1 running process\\(es\\) follow" "reload counts the process it switches"
switched_to_b "$T/p1.out" "after reload"
assert_eq 1 "$(lines "$T/p1.out" "policy reloaded: generation [0-9]+")" \
	"run -v logs the switch once: policy reloaded: generation N"
assert_eq 0 "$(lines "$T/p1.out" "main $W (err|bad)")" "no connect failed across the switch"
ex=$("$SHIM_CMD" explain -c "$C1" 127.0.0.1:"$W" 2>&1)
assert_re "$ex" "generation: [0-9]+ in force \\(this table\\)" "explain shows the generation in force"
dm=$("$SHIM_CMD" dump -c "$C1" 2>&1)
assert_re "$dm" "generation: [0-9]+ in force \\(this table\\)" "dump shows the generation in force"
assert_re "$dm" "reload: manual" "dump shows reload: manual"

section "a broken edit: reload exits 1 with FILE:LINE:COL, the policy stays"
cat >"$C1.new" <<EOF
proxy:
  proxy_loopback: true
  reload: manual
  http: $VIA_A
  chain: sideways
EOF
mv -f "$C1.new" "$C1"
out=$("$SHIM_CMD" reload -c "$C1" 2>&1)
rc=$?
assert_eq 1 "$rc" "reload of a broken file exits 1"
assert_re "$out" "^$C1:5:[0-9]+: " "reload says FILE:LINE:COL"
mark tp
mark ms
wait_more "$T/p1.out" "main $W ok" 10 || true
assert_crossed tp "$W" "the program keeps the policy in force (B)" 10
assert_not_crossed ms "$W" "nothing of the broken file applies"

section "gc keeps the table in force while a program follows the file"
pcfg "$C1" "$VIA_A" "reload: manual"
"$SHIM_CMD" reload -c "$C1" >/dev/null 2>&1
wait_more "$T/p1.out" "main $W ok" 3 || true
tblA=$("$SHIM_CMD" compile -c "$C1" 2>/dev/null)
# Backdate everything of ours past gc's minimum age: only use keeps it.
for f in /dev/shm/proxyshim-"$EUID"-*; do
	[[ -f $f && -z ${_IT_SHM_BEFORE[${f##*/}]:-} ]] && touch -c -d '-1 hour' "$f"
done
"$SHIM_CMD" gc >/dev/null 2>&1
assert_ok "the table in force survives gc" test -f "/dev/shm${tblA}"
mark ms
wait_more "$T/p1.out" "main $W ok" 5 || true
assert_crossed ms "$W" "and the program still follows it" 5
touch "$T/p1.stop"
wait "$P1" 2>/dev/null

# ----------------------------------------------------------- auto pickup
section "automatic pickup: an edit applies with no command"
C2=$T/auto.yml
pcfg "$C2" "$VIA_A"
_it_spawn "$T/p2.out" "$SHIM_CMD" run -v -c "$C2" -- python3 -u "$T/loop.py" "$T/p2.stop" "$W"
P2=$_IT_LAST_PID
# A second program on the same file, preloaded by hand with only
# PROXYSHIM_CONFIG (a relative path, from the file's directory), that
# changes directory before its first connect.
(cd "$T" && _it_spawn "$T/p2b.out" env LD_PRELOAD="$(shim_preload_value)" \
	PROXYSHIM_CONFIG=auto.yml PROXYSHIM_LOG=info python3 -u "$T/loop.py" "$T/p2.stop" "$WB" chdir=/
	echo "$_IT_LAST_PID" >"$T/p2b.pid")
P2B=$(<"$T/p2b.pid")
_IT_PIDS+=("$P2B")
wait_for_log_count "$T/p2.out" "main $W ok" 5 || fail "python loop (auto) did not start"
wait_for_log_count "$T/p2b.out" "main $WB ok" 5 || fail "python loop (PROXYSHIM_CONFIG) did not start"
mark ms
wait_more "$T/p2.out" "main $W ok" 3 || true
assert_crossed ms "$W" "auto: policy A through microsocks" 3
pcfg "$C2" "$VIA_B"
if wait_for_log "$T/p2.out" "policy reloaded: generation" 30; then
	pass "auto: the edit was picked up (within $(lines "$T/p2.out" "main $W ok") connects in all)"
else
	fail "auto: the edit was not picked up"
fi
switched_to_b "$T/p2.out" "auto pickup"
switched_to_b "$T/p2b.out" "auto pickup, PROXYSHIM_CONFIG by hand" "$WB"

section "automatic pickup of a broken edit: one warning, the policy stays"
printf 'proxy:\n  proxy_loopback: true\n  http: %s\n  bogus_key: 1\n' "$VIA_A" >"$C2.new"
mv -f "$C2.new" "$C2"
wait_either() {
	local i
	for ((i = 0; i < 600; i++)); do
		cat "$T/p2.out" "$T/p2b.out" | grep -q "$1" && return 0
		sleep 0.05
	done
	return 1
}
if wait_either "edit ignored"; then
	pass "auto: the broken edit is reported"
else
	fail "auto: no warning about the broken edit"
fi
mark tp
mark ms
# Several more seconds of checks (each at most once a second) see the same
# broken file: still one warning.
wait_more "$T/p2.out" "main $W ok" 30 || true
# Two programs follow the file: whichever looked at it warned, once.
assert_eq 1 "$(cat "$T/p2.out" "$T/p2b.out" | grep -c "edit ignored")" \
	"one warning for one broken edit"
assert_re "$(cat "$T/p2.out" "$T/p2b.out" | grep "edit ignored")" "$C2:4:[0-9]+: " \
	"the warning says FILE:LINE:COL"
assert_crossed tp "$W" "auto: the policy in force (B) stays" 30
assert_not_crossed ms "$W" "auto: nothing of the broken file applies"
touch "$T/p2.stop"
wait "$P2" 2>/dev/null
for ((i = 0; i < 600; i++)); do # not our child: poll, bounded
	_it_alive "$P2B" || break
	sleep 0.05
done

# ------------------------------------------------- exempt, block, password
section "a new exempt entry, a removed block rule, a rotated password"
C3=$T/edits.yml
pcfg "$C3" "$VIA_A" "reload: manual"
_it_spawn "$T/p3.out" "$SHIM_CMD" run -c "$C3" -- python3 -u "$T/loop.py" "$T/p3.stop" "$W"
P3=$_IT_LAST_PID
wait_for_log_count "$T/p3.out" "main $W ok" 3 || fail "python loop (edits) did not start"
pcfg "$C3" "$VIA_A" "reload: manual" "exempt: \"127.0.0.1:$W\""
"$SHIM_CMD" reload -c "$C3" >/dev/null 2>&1
wait_more "$T/p3.out" "main $W ok" 3 || true
mark ms
wait_more "$T/p3.out" "main $W ok" 10 || true
assert_not_crossed ms "$W" "exempt entry: the next connects go direct"
pcfg "$C3" "$VIA_A" "reload: manual" "rules:" "  - {match: \"127.0.0.1:$W\", via: block}"
"$SHIM_CMD" reload -c "$C3" >/dev/null 2>&1
if wait_more "$T/p3.out" "main $W err EACCES" 3; then
	pass "block rule: connects fail with EACCES"
else
	fail "block rule did not take effect"
fi
pcfg "$C3" "$VIA_A" "reload: manual"
"$SHIM_CMD" reload -c "$C3" >/dev/null 2>&1
if wait_more "$T/p3.out" "main $W ok" 3; then
	pass "removed block rule: the next connects go through"
else
	fail "removed block rule: connects still fail"
fi
touch "$T/p3.stop"
wait "$P3" 2>/dev/null

start_microsocks msa user=alice pass=first || it_done
MSA_PORT=${SRV_PORT[msa]}
C4=$T/password.yml
pcfg "$C4" "socks5://alice:first@127.0.0.1:$MSA_PORT" "reload: manual"
_it_spawn "$T/p4.out" "$SHIM_CMD" run -c "$C4" -- python3 -u "$T/loop.py" "$T/p4.stop" "$W"
P4=$_IT_LAST_PID
wait_for_log_count "$T/p4.out" "main $W ok" 3 || fail "python loop (password) did not start"
stop_server msa
start_microsocks msa port="$MSA_PORT" user=alice pass=second || it_done
pcfg "$C4" "socks5://alice:second@127.0.0.1:$MSA_PORT" "reload: manual"
"$SHIM_CMD" reload -c "$C4" >/dev/null 2>&1
mark msa
wait_more "$T/p4.out" "main $W ok" 5 || true
assert_crossed msa "$W" "rotated password: connects through the proxy work again" 5
touch "$T/p4.stop"
wait "$P4" 2>/dev/null

# ------------------------------------------------------- fork and exec
section "a child forked before the reload and a program exec'd after it"
C5=$T/fork.yml
pcfg "$C5" "$VIA_A" "reload: manual"
_it_spawn "$T/p5.out" "$SHIM_CMD" run -v -c "$C5" -- python3 -u "$T/loop.py" "$T/p5.stop" "$W" \
	"fork=$WB" "exec=$T/p5.exec ${SRV_URL[webc]}/hello.txt"
P5=$_IT_LAST_PID
wait_for_log_count "$T/p5.out" "child $WB ok" 3 || fail "forked child did not start"
mark ms
wait_more "$T/p5.out" "child $WB ok" 3 || true
assert_crossed ms "$WB" "the forked child starts on policy A" 3
pcfg "$C5" "$VIA_B" "reload: manual"
"$SHIM_CMD" reload -c "$C5" >/dev/null 2>&1
switched_to_b "$T/p5.out" "forked child" "$WB"
mark tp
mark ms
touch "$T/p5.exec"
if wait_for_log "$T/p5.out" "^exec " 60; then
	assert_eq 1 "$(lines "$T/p5.out" "^exec ok")" "the program exec'd after the reload connects"
else
	fail "the exec'd program did not finish"
fi
assert_crossed tp "$WC" "the program exec'd after the reload uses policy B"
assert_not_crossed ms "$WC" "and not policy A"
touch "$T/p5.stop"
wait "$P5" 2>/dev/null

# --------------------------------------------------------- fake addresses
section "a fake address handed out before the reload keeps its name"
if is_root && command -v unshare >/dev/null; then
	FN=only-the-proxies.reload.proxyshim.test
	start_microsocks msn hosts="$FN=127.0.0.1" || it_done
	start_tinyproxy tpn hosts="$FN=127.0.0.1" || it_done
	cat >"$T/fake.py" <<'PYEOF'
"""fake.py GO NAME PORT: look NAME up once (a fake address under dns:
remote), GET /hello.txt from it; once GO exists, GET from the same address
again.  Lines: "addr IP", "before ok|err", "after ok|err"."""
import os, socket, sys, time
go, name, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ip = socket.getaddrinfo(name, port, socket.AF_INET,
                        socket.SOCK_STREAM)[0][4][0]
print("addr", ip, flush=True)
def get(tag):
    s = socket.create_connection((ip, port), timeout=15)
    try:
        s.sendall(b"GET /hello.txt HTTP/1.0\r\nHost: t\r\n\r\n")
        data = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
        print(tag, "ok" if b"hello from" in data else "bad", flush=True)
    except OSError as e:
        print(tag, "err", e, flush=True)
    finally:
        s.close()
get("before")
for _ in range(1200):
    if os.path.exists(go):
        break
    time.sleep(0.05)
get("after")
PYEOF
	C8=$T/fake.yml
	pcfg "$C8" "socks5h://${SRV_ADDR[msn]}" "reload: manual"
	_it_spawn "$T/p8.out" "$SHIM_CMD" run -c "$C8" -- python3 -u "$T/fake.py" "$T/p8.go" "$FN" "$W"
	P8=$_IT_LAST_PID
	if wait_for_log "$T/p8.out" "^before " 60; then
		assert_match "$T/p8.out" "^addr 198\.1[89]\." "the name got a fake address"
		assert_match "$T/p8.out" "^before ok" "policy A reaches the name through microsocks"
		pcfg "$C8" "${SRV_URL[tpn]}" "reload: manual"
		"$SHIM_CMD" reload -c "$C8" >/dev/null 2>&1
		mark tpn
		touch "$T/p8.go"
		wait_for_log "$T/p8.out" "^after " 60 || true
		assert_match "$T/p8.out" "^after ok" "after the reload the old fake address still reaches the name"
		assert_match "${SRV_LOG[tpn]}" "opening connection to $FN:$W" \
			"routed by the new policy (tinyproxy), by name"
	else
		fail "fake-address program did not start: $(tail -3 "$T/p8.out")"
	fi
	wait "$P8" 2>/dev/null
else
	skip "fake address across a reload: needs root and unshare (a proxy-only name)"
fi

# ------------------------------------------------------------ TLS relay
section "the TLS relay follows the switch: each generation its own relay"
if command -v openssl >/dev/null && make_test_ca "$T/pki"; then
	start_tinyproxy tp2 || it_done
	start_stunnel st1 "${SRV_ADDR[tp]}" "$T/pki/server.crt" "$T/pki/server.key"
	r1=$?
	start_stunnel st2 "${SRV_ADDR[tp2]}" "$T/pki/server.crt" "$T/pki/server.key"
	r2=$?
	if ((r1 == 0 && r2 == 0)); then
		C9=$T/relay.yml
		pcfg "$C9" "${SRV_URL[st1]}" "reload: manual" "tls: {ca_file: $T/pki/ca.crt}"
		_it_spawn "$T/p9.out" env PROXYSHIM_RELAY_IDLE=5 "$SHIM_CMD" run -c "$C9" -- \
			python3 -u "$T/loop.py" "$T/p9.stop" "$W"
		P9=$_IT_LAST_PID
		if wait_for_log_count "$T/p9.out" "main $W ok" 3; then
			relayA=$(relay_pid "$C9")
			mark tp
			wait_more "$T/p9.out" "main $W ok" 3 || true
			assert_crossed tp "$W" "policy A: through the relay and stunnel to tinyproxy" 3
			pcfg "$C9" "${SRV_URL[st2]}" "reload: manual" "tls: {ca_file: $T/pki/ca.crt}"
			"$SHIM_CMD" reload -c "$C9" >/dev/null 2>&1
			wait_more "$T/p9.out" "main $W ok" 5 || true
			mark tp
			mark tp2
			wait_more "$T/p9.out" "main $W ok" 5 || true
			assert_crossed tp2 "$W" "policy B: the new generation's upstream" 5
			assert_not_crossed tp "$W" "policy B: nothing through the old generation's upstream"
			relayB=$(relay_pid "$C9")
			assert_ne "" "$relayB" "the new generation has a relay"
			assert_ne "$relayA" "$relayB" "and it is not the old generation's relay"
			assert_eq 0 "$(lines "$T/p9.out" "main $W (err|bad)")" "no connect failed across the switch"
		else
			fail "python loop through the relay did not start: $(tail -3 "$T/p9.out")"
		fi
		touch "$T/p9.stop"
		wait "$P9" 2>/dev/null
		for p in ${relayA:-} ${relayB:-}; do
			[[ $p != 0 ]] && kill -TERM "$p" 2>/dev/null
		done
	fi
else
	skip "TLS relay across a reload: openssl or the test CA unavailable"
fi

# --------------------------------------------------------------- Java
section "a Java HttpURLConnection loop follows reload and automatic pickup"
if command -v java >/dev/null && java -version >/dev/null 2>&1; then
	mkdir -p "$T/java"
	cat >"$T/java/Loop.java" <<'JEOF'
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.Proxy;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Paths;

/* Loop STOP PORT: GET /hello.txt every 100 ms, a new connection each time,
 * until STOP exists (at most 6000 times); one line per request. */
public class Loop {
	public static void main(String[] a) throws Exception {
		int port = Integer.parseInt(a[1]);
		for (int i = 0; i < 6000 && !Files.exists(Paths.get(a[0])); i++) {
			String r;
			try {
				HttpURLConnection c = (HttpURLConnection) new URL(
				        "http://127.0.0.1:" + port + "/hello.txt")
				                              .openConnection(Proxy.NO_PROXY);
				c.setConnectTimeout(15000);
				c.setReadTimeout(15000);
				int code = c.getResponseCode();
				try (InputStream in = c.getInputStream()) {
					in.readAllBytes();
				}
				c.disconnect();
				r = code == 200 ? "ok" : "bad";
			} catch (Exception e) {
				r = "err " + e;
			}
			System.out.println("java " + port + " " + r);
			System.out.flush();
			Thread.sleep(100);
		}
	}
}
JEOF
	C6=$T/java.yml
	pcfg "$C6" "$VIA_A"
	_it_spawn "$T/p6.out" "$SHIM_CMD" run -v -c "$C6" -- java -Dhttp.keepAlive=false \
		"$T/java/Loop.java" "$T/p6.stop" "$W"
	P6=$_IT_LAST_PID
	if wait_for_log_count "$T/p6.out" "java $W ok" 5; then
		mark ms
		wait_more "$T/p6.out" "java $W ok" 3 || true
		assert_crossed ms "$W" "java: policy A through microsocks" 3
		pcfg "$C6" "$VIA_B" "reload: manual"
		"$SHIM_CMD" reload -c "$C6" >/dev/null 2>&1
		wait_more "$T/p6.out" "java $W ok" 10 || true
		mark tp
		mark ms
		wait_more "$T/p6.out" "java $W ok" 10 || true
		assert_crossed tp "$W" "java after reload: through tinyproxy" 10
		assert_not_crossed ms "$W" "java after reload: not microsocks"
		# Back to A with automatic pickup (B says manual: reload once
		# more, then edit only).
		pcfg "$C6" "$VIA_B"
		"$SHIM_CMD" reload -c "$C6" >/dev/null 2>&1
		pcfg "$C6" "$VIA_A"
		n0=$(lines "$T/p6.out" "policy reloaded")
		if wait_for_log_count "$T/p6.out" "policy reloaded" $((n0 + 1)); then
			pass "java: automatic pickup switched"
		else
			fail "java: automatic pickup did not switch"
		fi
		wait_more "$T/p6.out" "java $W ok" 10 || true
		mark tp
		mark ms
		wait_more "$T/p6.out" "java $W ok" 10 || true
		assert_crossed ms "$W" "java after automatic pickup: through microsocks" 10
		assert_not_crossed tp "$W" "java after automatic pickup: not tinyproxy"
		assert_eq 0 "$(lines "$T/p6.out" "java $W (err|bad)")" "java: no request failed"
	else
		fail "java loop under run did not start"
		tail -5 "$T/p6.out" >&2
	fi
	touch "$T/p6.stop"
	wait "$P6" 2>/dev/null
else
	skip "java not installed (openjdk-17-jdk-headless, scripts/deps.sh)"
fi

# --------------------------------------------------------------- stress
section "8 threads connecting while the policy switches 100 times"
C7=$T/stress.yml
pcfg "$C7" "$VIA_A" "reload: manual"
_it_spawn "$T/p7.out" "$SHIM_CMD" run -v -c "$C7" -- python3 -u "$T/loop.py" "$T/p7.stop" "$W" \
	threads=8 interval=0
P7=$_IT_LAST_PID
wait_for_log_count "$T/p7.out" "main $W ok" 40 || fail "stress program did not start"
fails=0
for i in $(seq 1 100); do
	if ((i % 2)); then
		pcfg "$C7" "$VIA_B" "reload: manual"
	else
		pcfg "$C7" "$VIA_A" "reload: manual"
	fi
	"$SHIM_CMD" reload -q -c "$C7" >/dev/null 2>&1 || fails=$((fails + 1))
	# Let the program make a few connects on each generation.
	wait_more "$T/p7.out" "main $W " 4 || break
done
assert_eq 0 "$fails" "100 reloads succeeded"
wait_more "$T/p7.out" "main $W " 40 || true
touch "$T/p7.stop"
wait "$P7" 2>/dev/null
sw=$(lines "$T/p7.out" "policy reloaded")
echo "# $(lines "$T/p7.out" "main $W ok") connects, $sw switches seen by the program"
assert_re "$sw" "^[0-9]+$" "switch count"
if ((sw >= 10)); then
	pass "the program switched many times ($sw)"
else
	fail "the program switched only $sw times"
fi
assert_eq 0 "$(lines "$T/p7.out" "main $W (err|bad)")" "no connect failed that both policies allow"
st=$(grep '^stats ' "$T/p7.out")
if [[ $st =~ ^stats\ fds\ ([0-9]+)\ ([0-9]+)\ maps\ ([0-9]+)\ ([0-9]+)$ ]]; then
	echo "# $st"
	fa=${BASH_REMATCH[1]} fb=${BASH_REMATCH[2]}
	ma=${BASH_REMATCH[3]} mb=${BASH_REMATCH[4]}
	if ((fb == fa)); then
		pass "no descriptor leaked ($fa -> $fb)"
	else
		fail "descriptors grew from $fa to $fb"
	fi
	if ((mb - ma <= 8)); then
		pass "mappings bounded after 100 switches ($ma -> $mb)"
	else
		fail "mappings grew from $ma to $mb"
	fi
else
	fail "stress program printed no stats (crashed?): $(tail -3 "$T/p7.out")"
fi

it_done
