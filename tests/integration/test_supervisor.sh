#!/usr/bin/env bash
# Static and Go programs under `proxyshim run`: the seccomp supervisor
# (docs/behaviour.md#static-and-go-programs).  Programs the library cannot
# reach — a Go net/http client built here (CGO_ENABLED=0, and once with
# cgo), busybox-static's wget, a C client linked statically with musl —
# through microsocks (SOCKS5) and tinyproxy (CONNECT).  Proof of the route:
# each proxy connects out from its own address (microsocks 127.0.0.9,
# tinyproxy 127.0.0.8), the origin's /whoami answers the address it saw,
# and the proxy's log shows the tunnel.  Then: exempt goes direct, a block
# rule is refused (Go: "permission denied"), `sh -c 'exec ...'` and a
# forked child are covered, 32 goroutines x 100 connections all go through
# the proxy with no fd left in the supervisor, and a SIGKILLed supervisor
# makes the next connect fail, with nothing going direct.  One supervisor
# serves every run of the user: a run joins it without a fork, two trees
# at once get a server each from it, a mount namespace gets its own, which
# leaves when idle, and a name squatted by another user gets nothing.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need_shim || it_done
build_client forkexec || it_done

start_origin web || it_done
start_microsocks ms out=127.0.0.9 || it_done
start_tinyproxy tp out=127.0.0.8 || it_done
A=${SRV_PORT[web]}
WHOAMI=${SRV_URL[web]}/whoami
declare -A OUT=([ms]=127.0.0.9 [tp]=127.0.0.8)

cfg_via() {
	write_file "cfg/$1.yml" <<EOF2
proxy:
  http: "$2"
  proxy_loopback: true
  timeouts: {connect: 3s, handshake: 5s}
${3:-}
EOF2
}
declare -A CFG=()
CFG[ms]=$(cfg_via ms "${SRV_URL[ms]}")
CFG[tp]=$(cfg_via tp "${SRV_URL[tp]}")
EXEMPT=$(cfg_via exempt "${SRV_URL[ms]}" '  exempt: "127.0.0.1"')
BLOCK=$(cfg_via block "${SRV_URL[ms]}" '  rules: [{match: "127.0.0.1", via: block}]')

# The clients: built here, or skipped with the reason.
CLIENTS=()
if command -v go >/dev/null; then
	export GOCACHE=$T/gocache GOPATH=$T/gopath GOTOOLCHAIN=local \
		GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=off
	if out=$(CGO_ENABLED=0 go build -o "$T/goget" "$IT_DIR/clients/goget.go" 2>&1); then
		CLIENTS+=(goget)
	else
		fail "go build (CGO_ENABLED=0): $out"
	fi
	if out=$(CGO_ENABLED=1 go build -o "$T/goget_cgo" "$IT_DIR/clients/goget.go" 2>&1); then
		CLIENTS+=(goget_cgo)
	else
		fail "go build (cgo): $out"
	fi
else
	skip "go not installed (golang-go): no Go client"
fi
BUSYBOX=$(command -v busybox-static || command -v busybox || true)
if [[ -n $BUSYBOX ]] && file -L "$BUSYBOX" | grep -q 'statically linked'; then
	CLIENTS+=(bbwget)
else
	skip "no statically linked busybox (busybox-static)"
fi
if command -v musl-gcc >/dev/null; then
	if out=$(musl-gcc -static -std=c11 -O2 -Wall -Wextra -Werror \
		-o "$T/httpget_static" "$IT_DIR/clients/httpget.c" 2>&1); then
		CLIENTS+=(cstatic)
	else
		fail "musl-gcc -static httpget.c: $out"
	fi
else
	skip "musl-gcc not installed (musl-tools): no static C client"
fi

# fetch CLIENT CFG: /whoami through the client under run; its output.
fetch() {
	case $1 in
	goget | goget_cgo) shim_run "$2" timeout 30 "$T/$1" get "$WHOAMI" 2>&1 ;;
	bbwget) shim_run "$2" timeout 30 "$BUSYBOX" wget -q -O - "$WHOAMI" 2>&1 ;;
	cstatic) shim_run "$2" timeout 30 "$T/httpget_static" get 127.0.0.1 "$A" /whoami 2>&1 ;;
	esac
}

for c in "${CLIENTS[@]}"; do
	section "$c"
	for p in ms tp; do
		mark "$p"
		out=$(fetch "$c" "${CFG[$p]}")
		assert_eq "${OUT[$p]}" "$(tail -n 1 <<<"$out" | cut -d' ' -f1)" \
			"$c via $p: the origin saw $p's address"
		assert_crossed "$p" "$A" "$c via $p: $p logged the tunnel"
	done
	mark ms
	out=$(fetch "$c" "$EXEMPT")
	assert_eq "127.0.0.1" "$(tail -n 1 <<<"$out" | cut -d' ' -f1)" \
		"$c, exempt: direct (the origin saw 127.0.0.1)"
	assert_not_crossed ms "$A" "$c, exempt: nothing through the proxy"
	mark web
	fetch "$c" "$BLOCK" >"$T/block.out"
	assert_eq 0 "$(_it_since web | grep -c GET)" "$c, blocked: the origin saw nothing"
	case $c in
	goget*) assert_contains "$T/block.out" "permission denied" "$c, blocked: permission denied" ;;
	cstatic) assert_contains "$T/block.out" "EACCES" "$c, blocked: EACCES" ;;
	bbwget) assert_contains "$T/block.out" "denied" "$c, blocked: refused" ;;
	esac
	assert_not_crossed ms "$A" "$c, blocked: nothing through the proxy"
done

if [[ " ${CLIENTS[*]} " == *" cstatic "* ]]; then
	section "MSG_FASTOPEN and run -v (static C client)"
	for m in tfo tfomsg; do
		mark ms
		out=$(shim_run "${CFG[ms]}" timeout 30 "$T/httpget_static" "$m" 127.0.0.1 "$A" /whoami 2>&1)
		assert_eq "127.0.0.9" "$(tail -n 1 <<<"$out" | cut -d' ' -f1)" \
			"$m (sendto/sendmsg with MSG_FASTOPEN): through microsocks"
		assert_crossed ms "$A" "$m: microsocks logged it"
	done
	"$SHIM_CMD" run -v -c "${CFG[ms]}" -- "$T/httpget_static" get 127.0.0.1 "$A" /whoami \
		>/dev/null 2>"$T/verbose.err"
	assert_match "$T/verbose.err" "supervised pid [0-9]+ fd [0-9]+ 127\.0\.0\.1:$A -> via socks5://" \
		"run -v logs the supervised decision"
	# With PROXYSHIM_LOG_FILE (relative: opened by run, in its own
	# directory) the tree's lines go to that file, not to stderr.
	(cd "$T" && PROXYSHIM_LOG_FILE=sup.log "$SHIM_CMD" run -v -c "${CFG[ms]}" -- \
		"$T/httpget_static" get 127.0.0.1 "$A" /whoami >/dev/null 2>"$T/verbose2.err")
	assert_match "$T/sup.log" "supervised pid [0-9]+ fd [0-9]+ 127\.0\.0\.1:$A -> via socks5://" \
		"run -v with PROXYSHIM_LOG_FILE: the supervised decision in the file"
	assert_not_contains "$T/verbose2.err" "supervised pid" \
		"run -v with PROXYSHIM_LOG_FILE: not on stderr"
fi

if [[ " ${CLIENTS[*]} " == *" goget "* ]]; then
	section "the tree: sh -c exec, a forked child"
	mark ms
	out=$(shim_run "${CFG[ms]}" sh -c "exec timeout 30 $T/goget get $WHOAMI" 2>&1)
	assert_eq "127.0.0.9" "${out%% *}" "sh -c 'exec goget': through microsocks"
	assert_crossed ms "$A" "sh -c 'exec goget': microsocks logged it"
	mark ms
	out=$(shim_run "${CFG[ms]}" "$T/forkexec" "$T/goget" get "$WHOAMI" 2>&1)
	assert_eq "127.0.0.9" "${out%% *}" "fork + exec goget: through microsocks"
	assert_crossed ms "$A" "fork + exec goget: microsocks logged it"

	# The supervisor processes that hold a pidfd (fdinfo "Pid:") of a
	# process whose environment names config $1 (a command of this
	# file's with that config: run exports it, absolute), one line each:
	# "server PID" for a tree's server (its parent is a supervisor too:
	# one supervisor per user forks a server per tree), "supervisor PID"
	# for the supervisor itself, which holds it until the command exits.
	# Other trees, other files' and other test runs' do not match.
	sup_holders() {
		local p pp f pid want role
		want=PROXYSHIM_CONFIG=$(realpath "$1")
		for p in $(pgrep -x proxyshim-super); do
			pp=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null)
			role=supervisor
			[[ $(cat "/proc/$pp/comm" 2>/dev/null) == proxyshim-super ]] && role=server
			for f in "/proc/$p/fdinfo/"*; do
				pid=$(awk '/^Pid:/ {print $2}' "$f" 2>/dev/null)
				# -1: a pidfd whose process has exited (the
				# workers keep their last caller's)
				[[ -n $pid && $pid != -1 ]] || continue
				if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "$want"; then
					echo "$role $p"
					break
				fi
			done
		done
	}
	# The process serving this file's tree with config $1.
	our_supervisor() {
		sup_holders "$1" | awk '$1 == "server" {print $2; exit}'
	}
	# PID pidfd|other: how many of its descriptors are pidfds, or not.
	sup_fds() {
		local f n=0 link
		for f in /proc/"$1"/fd/*; do
			link=$(readlink "$f" 2>/dev/null) || continue
			if [[ $link == "anon_inode:[pidfd]" ]]; then
				[[ $2 == pidfd ]] && n=$((n + 1))
			else
				[[ $2 == other ]] && n=$((n + 1))
			fi
		done
		echo "$n"
	}

	section "32 goroutines x 100 connections"
	mark ms
	mark web
	fifo=$T/many.in
	mkfifo "$fifo"
	exec 8<>"$fifo" # read-write: no open or write below can block
	# The client waits on the fifo so the supervisor can be counted
	# before and after, while the tree is alive; one connection first,
	# since the supervisor starts its workers (and the DNS stub) at the
	# first supervised call.
	shim_run "${CFG[ms]}" sh -c "timeout 60 $T/goget many ${SRV_URL[web]}/hello.txt 1 1 >/dev/null; read -r _ <$fifo; timeout 120 $T/goget many ${SRV_URL[web]}/hello.txt 32 100; read -r _ <$fifo" \
		>"$T/many.out" 2>&1 8>&- &
	runpid=$!
	sup=
	for _ in $(seq 1 200); do
		sup=$(our_supervisor "${CFG[ms]}")
		[[ -n $sup ]] && break
		sleep 0.05
	done
	if [[ -z $sup ]]; then
		fail "no supervisor process found"
		echo go >&8
		echo end >&8
	else
		before=$(sup_fds "$sup" other)
		echo go >&8
		for _ in $(seq 1 2400); do
			[[ -s $T/many.out ]] && break
			sleep 0.05
		done
		after=$(sup_fds "$sup" other)
		pidfds=$(sup_fds "$sup" pidfd)
		threads=$(find "/proc/$sup/task" -mindepth 1 -maxdepth 1 | wc -l)
		echo end >&8
		wait "$runpid"
		assert_eq "$before" "$after" "the supervisor holds as many fds as before (pidfds aside)"
		# A worker keeps the pidfd of the last thread it served, the
		# command's pidfd is one more: at most one a thread.
		if ((pidfds <= threads)); then
			pass "the supervisor's pidfds ($pidfds) are at most its threads ($threads)"
		else
			fail "the supervisor holds $pidfds pidfds with $threads threads"
		fi
		assert_eq "ok 3200 fail 0" "$(head -n 1 "$T/many.out")" "3200 connections, 0 failures"
		assert_eq 3201 "$(conn_count ms "$A")" "every one through microsocks (and the first)"
		assert_eq 0 "$(_it_since web | grep -c '^127\.0\.0\.1 ')" "none reached the origin directly"
	fi

	section "SIGKILL the supervisor"
	mark ms
	mark web
	in=$T/loop.in
	mkfifo "$in"
	exec 9<>"$in"
	shim_run "${CFG[ms]}" timeout 60 "$T/goget" loop "$WHOAMI" <"$in" >"$T/loop.out" 2>"$T/loop.err" 8>&- 9>&- &
	runpid=$!
	echo 1 >&9
	for _ in $(seq 1 300); do
		[[ -s $T/loop.out ]] && break
		sleep 0.05
	done
	assert_eq "ok 127.0.0.9" "$(head -n 1 "$T/loop.out" | cut -d' ' -f1-2)" \
		"before: a connection through the proxy"
	# The process serving this tree (it holds the listener); the
	# supervisor that forked it reports its death on run's stderr.
	sup=$(our_supervisor "${CFG[ms]}")
	n_before=$(conn_count ms "$A")
	if [[ -n $sup ]]; then
		kill -KILL "$sup"
		for _ in $(seq 1 100); do
			kill -0 "$sup" 2>/dev/null || break
			sleep 0.05
		done
	fi
	echo 2 >&9
	exec 9>&-
	exec 8>&-
	wait "$runpid"
	assert_eq "err:" "$(sed -n 2p "$T/loop.out" | cut -d' ' -f1)" "after: the next connect fails"
	echo "# Go reported: $(sed -n 2p "$T/loop.out")"
	assert_eq "$n_before" "$(conn_count ms "$A")" "after: nothing more through the proxy"
	assert_eq 0 "$(_it_since web | grep -c '^127\.0\.0\.1 ')" "after: nothing direct"
	assert_contains "$T/loop.err" "killed by signal 9" "run's stderr says the supervisor was killed"

	section "live reload reaches the supervisor"
	RL=$(cfg_via reload "${SRV_URL[ms]}")
	in=$T/reload.in
	mkfifo "$in"
	exec 9<>"$in"
	shim_run "$RL" timeout 60 "$T/goget" loop "$WHOAMI" <"$in" >"$T/reload.out" 2>&1 8>&- 9>&- &
	runpid=$!
	echo 1 >&9
	for _ in $(seq 1 300); do
		(($(wc -l <"$T/reload.out") >= 1)) && break
		sleep 0.05
	done
	cfg_via reload "${SRV_URL[tp]}" >/dev/null
	assert_ok "proxyshim reload" "$SHIM_CMD" reload -c "$RL"
	echo 2 >&9
	for _ in $(seq 1 300); do
		(($(wc -l <"$T/reload.out") >= 2)) && break
		sleep 0.05
	done
	exec 9>&-
	wait "$runpid"
	assert_eq "ok 127.0.0.9" "$(sed -n 1p "$T/reload.out" | cut -d' ' -f1-2)" "before reload: through microsocks"
	assert_eq "ok 127.0.0.8" "$(sed -n 2p "$T/reload.out" | cut -d' ' -f1-2)" "after reload: through tinyproxy"
fi

if [[ " ${CLIENTS[*]} " == *" goget "* ]]; then
	section "one supervisor for every run of the user"
	# The runs above started this user's supervisor: a run now joins it
	# (connect + one message) and starts no process but the command.
	if command -v strace >/dev/null; then
		strace -f -qq -e trace=execve,fork,vfork,clone,clone3 -o "$T/join.st" \
			"$SHIM_CMD" run -q -c "${CFG[ms]}" -- /bin/true >/dev/null 2>&1
		assert_eq 2 "$(grep -c 'execve(' "$T/join.st")" "a joining run: two execs (run, the command)"
		assert_eq 0 "$(grep -cE '(v?fork|clone3?)\(' "$T/join.st")" "a joining run: no fork"
	else
		skip "strace not installed: the joining run's forks are not counted"
	fi
	# Two trees at once, with different configs: each gets its own
	# server process, both forked by the same supervisor.
	f1=$T/two1.in f2=$T/two2.in
	mkfifo "$f1" "$f2"
	exec 8<>"$f1" 9<>"$f2"
	shim_run "${CFG[ms]}" sh -c "timeout 30 $T/goget get $WHOAMI; read -r _ <$f1" >"$T/two1.out" 2>&1 8>&- 9>&- &
	p1=$!
	shim_run "${CFG[tp]}" sh -c "timeout 30 $T/goget get $WHOAMI; read -r _ <$f2" >"$T/two2.out" 2>&1 8>&- 9>&- &
	p2=$!
	s1='' s2=''
	for _ in $(seq 1 200); do
		s1=$(our_supervisor "${CFG[ms]}") s2=$(our_supervisor "${CFG[tp]}")
		[[ -n $s1 && -n $s2 && -s $T/two1.out && -s $T/two2.out ]] && break
		sleep 0.05
	done
	pp1=$(awk '/^PPid:/ {print $2}' "/proc/$s1/status" 2>/dev/null)
	pp2=$(awk '/^PPid:/ {print $2}' "/proc/$s2/status" 2>/dev/null)
	echo go >&8
	echo go >&9
	exec 8>&- 9>&-
	wait "$p1" "$p2"
	assert_eq "127.0.0.9" "$(cut -d' ' -f1 "$T/two1.out")" "two trees at once: the first through microsocks"
	assert_eq "127.0.0.8" "$(cut -d' ' -f1 "$T/two2.out")" "two trees at once: the second through tinyproxy"
	assert_ne "$s1" "$s2" "two trees at once: a server process each"
	[[ -n $pp1 ]] || pp1=none1
	assert_eq "$pp1" "$pp2" "two trees at once: forked by the same supervisor"

	# A client of our uid that sends something other than a seccomp
	# listener gets nothing served: no server process is forked for it
	# (one would poll /dev/null forever).
	zy=$pp2
	zname=$(tr '\0' '\n' <"/proc/$zy/cmdline" 2>/dev/null | sed -n 3p)
	if [[ $zname == proxyshim-supervisor-* ]]; then
		python3 - "$zname" <<'EOF2'
import os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect("\0" + sys.argv[1])
fd = os.open("/dev/null", os.O_RDONLY)
hello = b"PSUP" + bytes([1, 0, 0, 0]) + b"\0\0\0"
s.sendmsg([hello], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))])
s.close()
EOF2
		out=$(shim_run "${CFG[ms]}" timeout 30 "$T/goget" get "$WHOAMI" 2>&1)
		assert_eq "127.0.0.9" "${out%% *}" "after a bogus tree: the next run through microsocks"
		kids=x
		for _ in $(seq 1 200); do
			kids=$(pgrep -P "$zy" | wc -l)
			((kids == 0)) && break
			sleep 0.05
		done
		assert_eq 0 "$kids" "a descriptor that is no seccomp listener: no server left for it"
	else
		fail "the supervisor's name not found (pid '$zy')"
	fi

	# A run with its standard error closed hands the tree over without it.
	out=$(shim_run "${CFG[ms]}" timeout 30 "$T/goget" get "$WHOAMI" 2>&-)
	assert_eq "127.0.0.9" "${out%% *}" "stderr closed: supervised all the same, through microsocks"

	# A tree's server is forked at its first call: before it, the
	# supervisor holds the tree (its command's pidfd), no server does.
	f3=$T/lazy.in
	mkfifo "$f3"
	exec 8<>"$f3"
	shim_run "${CFG[ms]}" sh -c "read -r _ <$f3; timeout 30 $T/goget get $WHOAMI; read -r _ <$f3" >"$T/lazy.out" 2>&1 8>&- &
	p3=$!
	h=''
	for _ in $(seq 1 200); do
		h=$(sup_holders "${CFG[ms]}")
		[[ $h == *supervisor* ]] && break
		sleep 0.05
	done
	echo "$h" >"$T/lazy.before"
	assert_contains "$T/lazy.before" "supervisor " "before its first call: the supervisor holds the tree"
	assert_not_contains "$T/lazy.before" "server " "before its first call: no server process for it"
	echo go >&8
	for _ in $(seq 1 600); do
		[[ -s $T/lazy.out ]] && break
		sleep 0.05
	done
	h=$(sup_holders "${CFG[ms]}")
	echo go >&8
	exec 8>&-
	wait "$p3"
	echo "$h" >"$T/lazy.after"
	assert_contains "$T/lazy.after" "server " "after its first call: a server process for it"
	assert_eq "127.0.0.9" "$(cut -d' ' -f1 "$T/lazy.out")" "after its first call: through microsocks"

	# A mount namespace of its own (its tables and resolv.conf could
	# differ) gets a supervisor of its own; with
	# PROXYSHIM_SUPERVISOR_IDLE=0 it leaves with its last tree.  Then
	# another user squats the name it listened on: run must not hand
	# that socket its listener, and starts a supervisor of its own.
	if ((EUID == 0)) && unshare -m --propagation private true 2>/dev/null &&
		id nobody >/dev/null 2>&1; then
		cat >"$T/ns.sh" <<'EOF2'
# In a mount namespace of its own.  $1: a file for the supervisor's PID
# and socket name, $2: the squatter's log.
ns=$(readlink /proc/self/ns/mnt)
# The supervisor of this namespace, named by itself (argv[2]), found
# from inside the tree while it runs.
PROXYSHIM_SUPERVISOR_IDLE=0 "$SHIM_CMD" run -q -c "$CFG_MS" -- sh -c '
	for p in $(pgrep -x proxyshim-super); do
		[ "$(readlink /proc/$p/ns/mnt)" = "$0" ] || continue
		set -- $(tr "\0" " " </proc/$p/cmdline)
		[ $# -eq 3 ] && echo "$p $3"
	done' "$ns" >"$1"
read -r zpid zname <"$1"
[ -n "$zname" ] || exit 3
for _ in $(seq 1 200); do
	kill -0 "$zpid" 2>/dev/null || break
	sleep 0.05
done
kill -0 "$zpid" 2>/dev/null && exit 4
# The squatter: nobody's socket on that name, counting what it is sent.
python3 - "$zname" "$2" <<'EOF4' &
import os, socket, sys, time
log = open(sys.argv[2], "a", buffering=1)
os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind("\0" + sys.argv[1]); s.listen(8); s.settimeout(1.0)
log.write("ready\n")
end = time.time() + 30
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    c.settimeout(5.0)
    try:
        msg, anc, flags, addr = c.recvmsg(8192, socket.CMSG_SPACE(64))
    except OSError:
        msg, anc = b"", []
    n = sum(len(d) // 4 for lv, ty, d in anc if lv == socket.SOL_SOCKET and ty == socket.SCM_RIGHTS)
    log.write("conn bytes=%d fds=%d\n" % (len(msg), n))
    c.close()
EOF4
sq=$!
for _ in $(seq 1 200); do
	grep -q ready "$2" 2>/dev/null && break
	sleep 0.05
done
"$SHIM_CMD" run -q -c "$CFG_MS" -- timeout 30 "$GOGET" get "$WHOAMI"
kill "$sq" 2>/dev/null
wait "$sq" 2>/dev/null
exit 0
EOF2
		out=$(SHIM_CMD=$SHIM_CMD CFG_MS=${CFG[ms]} GOGET=$T/goget WHOAMI=$WHOAMI \
			timeout 120 unshare -m --propagation private bash "$T/ns.sh" "$T/ns.zy" "$T/squat.log" 2>"$T/ns.err")
		rc=$?
		assert_eq 0 "$rc" "a namespace of its own: its supervisor found, gone once idle ($(head -c 300 "$T/ns.err"))"
		assert_match "$T/ns.zy" '^[0-9]+ proxyshim-supervisor-[0-9a-f]{16}$' "a namespace of its own: a supervisor of its own, on its own name"
		assert_contains "$T/squat.log" "conn " "squatted name: run connected to it"
		assert_eq 0 "$(grep -c 'bytes=[1-9]' "$T/squat.log")" "squatted name: it was sent nothing"
		assert_eq 0 "$(grep -c 'fds=[1-9]' "$T/squat.log")" "squatted name: it got no descriptor"
		assert_eq "127.0.0.9" "${out%% *}" "squatted name: run started its own supervisor, through microsocks"
	else
		skip "not root, no unshare -m or no user nobody: the idle exit and the squatted name are not tested"
	fi
fi

section "explain says where such programs take another path"
EX=$(proxy_cfg explain 'http: "socks5h://127.0.0.1:9"' 'https: "https://127.0.0.1:9"' 'dns: remote')
"$SHIM_CMD" explain -c "$EX" example.com:80 >"$T/explain-name.out" 2>&1
assert_contains "$T/explain-name.out" "programs with their own resolver (Go under run): the same fake address, from the supervisor's DNS stub" \
	"explain: a fake-address name, for Go's own resolver"
"$SHIM_CMD" explain -c "$EX" 10.1.2.3:443 >"$T/explain-https.out" 2>&1
assert_contains "$T/explain-https.out" "static and Go programs (run's supervisor): refused" \
	"explain: an https:// hop, for static and Go programs"

section "io_uring and refusals"
# io_uring_setup gets ENOSYS under supervision: runtimes fall back to the
# calls the filter sees.
code='import ctypes, os; l = ctypes.CDLL(None, use_errno=True); p = ctypes.create_string_buffer(120)
print("ok" if l.syscall(425, 1, p) >= 0 else os.strerror(ctypes.get_errno()))'
assert_eq "ok" "$(python3 -c "$code")" "io_uring_setup works without run"
assert_eq "Function not implemented" "$(shim_run "${CFG[ms]}" python3 -c "$code")" \
	"io_uring_setup under run: ENOSYS"
# No supervisor to start: run refuses, in one line, unless on_failure:
# direct (the command then runs with the library alone).
mkdir -p "$T/nosup"
cp "$SHIM_CMD" "$T/nosup/proxyshim"
# The dynamic command too (a new config's table is published by it), not
# the supervisor.
[[ -x $B/proxyshim-dyn ]] && cp "$B/proxyshim-dyn" "$T/nosup/"
out=$(PROXYSHIM_LIB=$SHIM_LIB "$T/nosup/proxyshim" run -c "${CFG[ms]}" -- echo ran 2>&1)
rc=$?
assert_eq 1 "$rc" "no supervisor: run exits 1"
assert_eq 1 "$(grep -c 'refusing to run the command unsupervised' <<<"$out")" \
	"no supervisor: one line says why"
DIRECT=$(cfg_via direct "${SRV_URL[ms]}" '  on_failure: direct')
out=$(PROXYSHIM_LIB=$SHIM_LIB "$T/nosup/proxyshim" run -c "$DIRECT" -- echo ran 2>&1)
assert_eq "ran" "$(tail -n 1 <<<"$out")" "no supervisor, on_failure: direct: the command runs"
assert_eq 1 "$(grep -c 'run unsupervised' <<<"$out")" "no supervisor, on_failure: direct: a warning"

it_done
