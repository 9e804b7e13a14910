#!/usr/bin/env bash
# Forward path (issue 3): failures map to errno (SPEC §4), in bounded time,
# without crashing the program or leaking descriptors.
#   upstream down → ECONNREFUSED well under the connect timeout;
#   upstream that never completes the TCP handshake → ETIMEDOUT at
#   timeouts.connect; upstream that accepts and never answers → ETIMEDOUT
#   at timeouts.handshake; wrong or missing credentials → EACCES
#   (microsocks, dante, tinyproxy 401/407, squid 407); garbage and broken
#   replies (a reply header over 16 KiB too) → ECONNREFUSED with a log
#   line; SOCKS5 REP codes and SOCKS4 / HTTP refusals → their errno; block
#   rules → EACCES (on_failure: direct does not override a block);
#   on_failure: direct → the destination is reached directly; no
#   descriptor leaks over many failing connects (blocking and
#   non-blocking); no credentials in the log.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need_shim || it_done
build_client errloop || it_done

start_origin web || it_done
start_microsocks ms_auth user=alice pass=s3cret || it_done
start_tinyproxy tp_auth user=alice pass=s3cret || it_done
start_squid sq_auth user=alice pass=s3cret
start_dante dn_auth user=psuser pass=s3cret
start_silent sil || it_done
start_garbage junk || it_done
start_blackhole bh || it_done
A=${SRV_PORT[web]}
DEAD=$(free_port)
SHIMLOG=$T/shim.log

ERRNO_PORT=$A

# loop CFG N EXPECT [nonblock]: errloop (C, N connects) under the shim.
loop() {
	local c=$1 n=$2 want=$3 mode=${4:-} out rc=0
	out=$(PROXYSHIM_LOG_FILE=$SHIMLOG shim_run "$c" timeout 60 "$T/errloop" \
		127.0.0.1 "$A" "$n" "$want" ${mode:+"$mode"} 2>&1) || rc=$?
	echo "# ${out//$'\n'/; }"
	assert_eq 0 "$rc" "$n ${mode:-blocking} connects: all $want, descriptors unchanged"
}

section "upstream down (nothing listens)"
for s in socks5 socks4 http; do
	c=$(upstream_cfg "down-$s" "$s://127.0.0.1:$DEAD")
	errno_expect ECONNREFUSED "$s upstream down" "$c"
done
loop "$(upstream_cfg down-loop "socks5://127.0.0.1:$DEAD")" 100 ECONNREFUSED
loop "$(upstream_cfg down-loop "socks5://127.0.0.1:$DEAD")" 100 ECONNREFUSED nonblock

section "upstream never completes the TCP handshake (connect timeout)"
c=$(upstream_cfg blackhole "socks5://${SRV_ADDR[bh]}" "timeouts: {connect: 1s, handshake: 1s}")
deadline_expect ETIMEDOUT 1000 "SYN never answered, timeouts.connect 1s" "$c"

section "upstream accepts and never answers (handshake timeout)"
for s in socks5 socks4 http; do
	c=$(upstream_cfg "silent-$s" "$s://${SRV_ADDR[sil]}" "timeouts: {connect: 1s, handshake: 1s}")
	deadline_expect ETIMEDOUT 1000 "$s upstream silent, timeouts.handshake 1s" "$c"
done
loop "$(upstream_cfg silent-loop "http://${SRV_ADDR[sil]}")" 2 ETIMEDOUT nonblock

section "wrong or missing credentials"
# check_auth NAME SCHEME: wrong password and no credentials → EACCES,
# and nothing reached the origin through the proxy.
check_auth() {
	local n=$1 s=$2
	[[ -n ${SRV_PID[$n]:-} ]] || return 0
	mark "$n"
	c=$(upstream_cfg "$n-wrong" "$s://${SRV_USER[$n]}:wrong-pw@${SRV_ADDR[$n]}")
	errno_expect EACCES "$n: wrong password" "$c"
	c=$(upstream_cfg "$n-none" "$s://${SRV_ADDR[$n]}")
	errno_expect EACCES "$n: no credentials" "$c"
	assert_not_crossed "$n" "$A" "$n: refused requests went nowhere"
	c=$(upstream_cfg "$n-right" "$s://${SRV_USER[$n]}:${SRV_PASS[$n]}@${SRV_ADDR[$n]}")
	errno_try "$c"
	assert_eq OK "$ERR" "$n: the right password works (control)"
	assert_crossed "$n" "$A" "$n: the control connection crossed"
}
check_auth ms_auth socks5
check_auth dn_auth socks5
check_auth tp_auth http
check_auth sq_auth http
loop "$(upstream_cfg ms_auth-wrong-loop "socks5://alice:nope@${SRV_ADDR[ms_auth]}")" 50 EACCES
assert_match "$SHIMLOG" "alice:\*\*\*@" "the log shows the upstream with its password masked"
assert_not_contains "$SHIMLOG" "s3cret" "the log never shows a password"
assert_not_contains "$SHIMLOG" "wrong-pw" "the log never shows a wrong password either"

section "garbage and broken replies"
: >"$SHIMLOG"
for s in socks5 socks4 http; do
	c=$(upstream_cfg "junk-$s" "$s://${SRV_ADDR[junk]}")
	errno_expect ECONNREFUSED "$s upstream answers garbage" "$c"
done
assert_match "$SHIMLOG" "proxy 127\.0\.0\.1:${SRV_PORT[junk]}.*(bad reply|closed)" \
	"garbage replies are logged"
loop "$(upstream_cfg junk-loop "http://${SRV_ADDR[junk]}")" 50 ECONNREFUSED

# scripted NAME ERRNO SCHEME MSG -- REPLIES...: a fake proxy with these
# replies must make the connect fail with ERRNO.
scripted() {
	local n=$1 want=$2 s=$3 msg=$4
	shift 5
	start_garbage "$n" -- "$@" || return 0
	c=$(upstream_cfg "$n" "$s://${SRV_ADDR[$n]}")
	errno_expect "$want" "$msg" "$c"
}
OK5=0500
for rep in 01:ECONNREFUSED 02:ECONNREFUSED 03:ENETUNREACH 04:EHOSTUNREACH \
	05:ECONNREFUSED 06:ETIMEDOUT 07:ECONNREFUSED 08:ECONNREFUSED; do
	scripted "s5rep${rep%%:*}" "${rep#*:}" socks5 "SOCKS5 REP=${rep%%:*}" -- \
		--reply-hex "$OK5" --reply-hex "05${rep%%:*}0001000000000000"
done
scripted s5nomethod EACCES socks5 "SOCKS5 server accepts no method (FF)" -- \
	--reply-hex 05ff
scripted s5badver ECONNREFUSED socks5 "SOCKS5 reply with version 4" -- \
	--reply-hex "$OK5" --reply-hex 04000001000000000000
scripted s5short ECONNREFUSED socks5 "SOCKS5 proxy closes in the middle of its reply" -- \
	--reply-hex "$OK5" --reply-hex 050000
scripted s4reject ECONNREFUSED socks4 "SOCKS4 request rejected (CD 5B)" -- \
	--reply-hex 005b000000000000
scripted h403 ECONNREFUSED http "HTTP proxy answers 403" -- \
	--reply 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'
scripted h407 EACCES http "HTTP proxy answers 407" -- \
	--reply 'HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n'
scripted h502 ECONNREFUSED http "HTTP proxy answers 502" -- \
	--reply 'HTTP/1.0 502 Bad Gateway\r\n\r\n'
scripted hshort ECONNREFUSED http "HTTP proxy closes before the blank line" -- \
	--reply 'HTTP/1.1 200 Connection established\r\n'
pad=$(printf 'X-Pad: %0900d\\r\\n' $(seq 1 20))
scripted hhuge ECONNREFUSED http "HTTP reply header over 16 KiB" -- \
	--reply "HTTP/1.1 200 OK\\r\\n$pad\\r\\n" --then hold
assert_match "$SHIMLOG" "status 403" "a refusal's status is in the log"

section "block rules"
c=$(upstream_cfg block "http://127.0.0.1:$DEAD" "rules:" "  - {match: \"127.0.0.1:$A\", via: block}")
errno_expect EACCES "block rule" "$c"
loop "$c" 100 EACCES
loop "$c" 100 EACCES nonblock
c=$(upstream_cfg block-direct "http://127.0.0.1:$DEAD" "on_failure: direct" "rules:" \
	"  - {match: \"127.0.0.1:$A\", via: block}")
errno_expect EACCES "block rule with on_failure: direct (a block is no failure)" "$c"

section "on_failure: direct"
c=$(upstream_cfg fail-direct "socks5://127.0.0.1:$DEAD" "on_failure: direct")
out=$(PROXYSHIM_LOG_FILE=$SHIMLOG shim_run "$c" "${CURL[@]}" --noproxy '*' \
	"${SRV_URL[web]}/whoami" 2>&1)
assert_eq 127.0.0.1 "${out%% *}" "upstream down, on_failure: direct: the origin reached directly"
errno_expect OK "upstream down, on_failure: direct: connect" "$c"
c=$(upstream_cfg fail-direct-auth "socks5://alice:nope@${SRV_ADDR[ms_auth]}" "on_failure: direct")
mark ms_auth
out=$(PROXYSHIM_LOG_FILE=$SHIMLOG shim_run "$c" "${CURL[@]}" --noproxy '*' \
	"${SRV_URL[web]}/hello.txt" 2>&1)
assert_eq "$HELLO_BODY" "$out" "proxy refuses, on_failure: direct: hello.txt directly"
assert_not_crossed ms_auth "$A" "proxy refuses, on_failure: direct: the proxy did not carry it"
c=$(upstream_cfg fail-direct-silent "http://${SRV_ADDR[sil]}" "on_failure: direct" \
	"timeouts: {connect: 1s, handshake: 1s}")
deadline_expect OK 1000 "silent upstream, on_failure: direct: connects after the handshake timeout" "$c"
loop "$(upstream_cfg fail-direct-loop "socks5://127.0.0.1:$DEAD" "on_failure: direct")" 100 OK
loop "$(upstream_cfg fail-direct-loop "socks5://127.0.0.1:$DEAD" "on_failure: direct")" 100 OK nonblock

section "successful connects leak nothing either"
# A generous handshake timeout: these must succeed, also on a loaded machine.
ok_cfg=$(upstream_cfg ok-loop "socks5://alice:s3cret@${SRV_ADDR[ms_auth]}" \
	"timeouts: {connect: 5s, handshake: 10s}")
loop "$ok_cfg" 50 OK
loop "$ok_cfg" 50 OK nonblock
it_done
