#!/usr/bin/env bash
# Packaging and operator experience: `make install` into a
# DESTDIR, then the installed command and library against a real proxy
# (also relocated as a whole); `make uninstall`; `make deb` inspected, and
# as root installed, run and removed with dpkg; the man pages linted; every
# example checked; `check --probe` against a live, a dead and a
# wrong-password upstream.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need_shim || it_done

ps() { _it_asan_env "$SHIM_CMD" "$@"; }
# out_file TEXT: TEXT into a new file under $T (the assert_* helpers read
# files); prints its path.
_n=0
out_file() {
	_n=$((_n + 1))
	printf '%s\n' "$1" >"$T/out.$_n"
	printf '%s\n' "$T/out.$_n"
}
# show TEXT: TEXT as comment lines of the test output.
show() {
	local l
	while IFS= read -r l; do
		printf '#   %s\n' "$l"
	done <<<"$1"
}
# The same make as the one that built $B (a sanitizer build needs SAN=1
# or the objects' flags would not match).
MAKE_ARGS=(-C "$ROOT" --no-print-directory "B=$B")
((IT_ASAN)) && MAKE_ARGS+=(SAN=1 CC=gcc)
VERSION=$(ps --version | awk '{ print $2 }')

start_origin web || it_done
start_microsocks ms || it_done
live=$(write_file live.yml <<EOF
proxy:
  http: ${SRV_URL[ms]}
  proxy_loopback: true
EOF
)

section "make install DESTDIR"
D=$T/dest
if ! make "${MAKE_ARGS[@]}" install DESTDIR="$D" PREFIX=/usr/local \
	>"$T/install.log" 2>&1; then
	fail "make install DESTDIR=$D"
	tail -n 20 "$T/install.log" | sed 's/^/#   /'
	it_done
fi
P=$D/usr/local
for f in bin/proxyshim lib/proxyshim/libproxyshim.so \
	lib/proxyshim/libproxyshim-compiler.so lib/proxyshim/libproxyshim-tools.so \
	lib/proxyshim/proxyshim-relay lib/proxyshim/proxyshim-supervisor \
	lib/proxyshim/proxyshim-dyn share/man/man1/proxyshim.1 \
	share/man/man5/proxyshim.yml.5 share/bash-completion/completions/proxyshim \
	share/doc/proxyshim/behaviour.md share/doc/proxyshim/README.md \
	share/doc/proxyshim/examples/tor.yml \
	share/doc/proxyshim/examples/coder-values.yml \
	share/doc/proxyshim/examples/systemd/proxyshim.conf; do
	assert_ok "installed $f" test -f "$P/$f"
done
assert_ok "installed command is executable" test -x "$P/bin/proxyshim"
assert_ok "installed relay is executable" test -x "$P/lib/proxyshim/proxyshim-relay"
assert_ok "installed proxyshim-dyn is executable" test -x "$P/lib/proxyshim/proxyshim-dyn"

# The installed command finds its own library: no PROXYSHIM_LIB, no
# LD_LIBRARY_PATH, run from elsewhere.
inst() { (cd / && unset PROXYSHIM_LIB LD_LIBRARY_PATH && _it_asan_env "$@"); }
# shellcheck disable=SC2016 # $LD_PRELOAD is for the wrapped shell
got=$(inst "$P/bin/proxyshim" run -c "$live" -- sh -c 'printf %s "$LD_PRELOAD"')
assert_eq "$(realpath "$P/lib/proxyshim/libproxyshim.so")" "${got##*[: ]}" \
	"installed run preloads the installed library"
mark ms
body=$(inst "$P/bin/proxyshim" run -c "$live" -- "${CURL[@]}" \
	"${SRV_URL[web]}/hello.txt" 2>"$T/curl.err")
assert_eq "$HELLO_BODY" "$body" "curl through microsocks via the installed proxyshim run"
assert_crossed ms "${SRV_PORT[web]}" "the installed library proxied it"

# Relocated as a whole, it still finds its library (../lib/proxyshim).
mkdir -p "$T/moved" && cp -a "$P/." "$T/moved/"
# shellcheck disable=SC2016
got=$(inst "$T/moved/bin/proxyshim" run -c "$live" -- sh -c 'printf %s "$LD_PRELOAD"')
assert_eq "$(realpath "$T/moved/lib/proxyshim/libproxyshim.so")" "${got##*[: ]}" \
	"a relocated tree preloads its own library"
assert_exit 0 "installed --help" inst "$P/bin/proxyshim" --help
# The commands that read YAML come from the tools library (which
# proxyshim-dyn loads), the relay from its own program, all found in
# ../lib/proxyshim from the command.
out=$(inst "$T/moved/bin/proxyshim" check -c "$live" 2>&1)
assert_match "$(out_file "$out")" ": ok: " "a relocated tree's check loads its tools library"
out=$(inst "$T/moved/bin/proxyshim" relay --help 2>&1)
assert_match "$(out_file "$out")" "usage: proxyshim relay" "a relocated tree's relay alias finds proxyshim-relay"

section "make uninstall"
if make "${MAKE_ARGS[@]}" uninstall DESTDIR="$D" PREFIX=/usr/local \
	>>"$T/install.log" 2>&1; then
	remaining=$(find "$D" -type f | head -n 5)
	assert_eq "" "$remaining" "uninstall removes every installed file"
else
	fail "make uninstall"
fi

section "make deb"
ARCH=$(dpkg --print-architecture 2>/dev/null)
DEB=$B/proxyshim_${VERSION}_$ARCH.deb
if ! command -v dpkg-deb >/dev/null || [[ -z $ARCH ]]; then
	skip "dpkg-deb not available"
elif ! make "${MAKE_ARGS[@]}" deb >"$T/deb.log" 2>&1 || [[ ! -f $DEB ]]; then
	fail "make deb builds $DEB"
	tail -n 20 "$T/deb.log" | sed 's/^/#   /'
else
	pass "make deb builds $(basename "$DEB")"
	assert_eq proxyshim "$(dpkg-deb -f "$DEB" Package)" "deb Package"
	assert_eq "$VERSION" "$(dpkg-deb -f "$DEB" Version)" "deb Version is the Makefile's"
	assert_eq "$ARCH" "$(dpkg-deb -f "$DEB" Architecture)" "deb Architecture"
	deps=$(dpkg-deb -f "$DEB" Depends)
	echo "# Depends: $deps"
	dpkg-deb -c "$DEB" >"$T/deb.contents"
	for f in ./usr/bin/proxyshim ./usr/lib/proxyshim/libproxyshim.so \
		./usr/lib/proxyshim/libproxyshim-compiler.so \
		./usr/lib/proxyshim/libproxyshim-tools.so ./usr/lib/proxyshim/proxyshim-relay \
		./usr/lib/proxyshim/proxyshim-dyn \
		./usr/share/man/man1/proxyshim.1.gz ./usr/share/man/man5/proxyshim.yml.5.gz \
		./usr/share/bash-completion/completions/proxyshim \
		./usr/share/doc/proxyshim/examples/kestra.yml; do
		assert_match "$T/deb.contents" " $f\$" "deb contains $f"
	done
	assert_not_contains "$T/deb.contents" "/usr/local" "deb has nothing under /usr/local"
	assert_match "$T/deb.contents" '^-rwxr-xr-x root/root .* \./usr/bin/proxyshim$' \
		"deb files are root's"
	# Every library the ELF files need comes from a package the deb
	# depends on (libssl: the relay and the tools library link it).
	x=$T/debx
	dpkg-deb -x "$DEB" "$x"
	for elf in "$x"/usr/bin/proxyshim "$x"/usr/lib/proxyshim/*.so \
		"$x"/usr/lib/proxyshim/proxyshim-relay "$x"/usr/lib/proxyshim/proxyshim-dyn; do
		for so in $(objdump -p "$elf" | awk '/NEEDED/ { print $2 }'); do
			path=$(ldconfig -p | awk -v s="$so" '$1 == s { print $NF; exit }')
			pkg=$(dpkg -S "$(realpath "${path:-/nonexistent}")" 2>/dev/null |
				head -n 1 | cut -d: -f1)
			[[ -z $pkg ]] && pkg=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1)
			if [[ -n $pkg && ",$deps" == *[,\ ]"$pkg"* ]]; then
				pass "$(basename "$elf") needs $so from $pkg, a dependency"
			else
				fail "$(basename "$elf") needs $so (package '${pkg:-?}') not in Depends: $deps"
			fi
		done
	done
	assert_ok "Depends has libyaml-0-2" grep -q 'libyaml-0-2' <<<"$deps"

	# Concurrent runs of this file (other checkouts) take turns here, so
	# one's dpkg -r never pulls the package from under another's run.
	lock_ok=0
	if is_root && exec {lk}>"${TMPDIR:-/tmp}/proxyshim-it-dpkg.lock" &&
		flock -w 60 "$lk"; then
		lock_ok=1
	fi
	if ! is_root; then
		skip "dpkg -i / -r: needs root"
	elif ((lock_ok == 0)); then
		skip "dpkg -i / -r: another run holds the dpkg lock"
	elif dpkg -s proxyshim >/dev/null 2>&1 || [[ -e /usr/bin/proxyshim ]]; then
		skip "dpkg -i / -r: a proxyshim is already installed here, left alone"
	else
		section "dpkg -i, run, dpkg -r"
		if dpkg -i "$DEB" >"$T/dpkg.log" 2>&1; then
			pass "dpkg -i"
			assert_match "$(out_file "$(inst /usr/bin/proxyshim --version)")" \
				"^proxyshim $VERSION\$" "the packaged command runs"
			mark ms
			body=$(inst /usr/bin/proxyshim run -c "$live" -- "${CURL[@]}" \
				"${SRV_URL[web]}/hello.txt" 2>>"$T/curl.err")
			assert_eq "$HELLO_BODY" "$body" "curl through the packaged proxyshim run"
			assert_crossed ms "${SRV_PORT[web]}" "the packaged library proxied it"
			if dpkg -r proxyshim >>"$T/dpkg.log" 2>&1; then
				pass "dpkg -r"
			else
				fail "dpkg -r"
			fi
		else
			fail "dpkg -i $DEB"
			tail -n 20 "$T/dpkg.log" | sed 's/^/#   /'
			dpkg -r proxyshim >/dev/null 2>&1
		fi
		gone=""
		for f in /usr/bin/proxyshim /usr/lib/proxyshim \
			/usr/share/man/man1/proxyshim.1.gz /usr/share/doc/proxyshim \
			/usr/share/bash-completion/completions/proxyshim; do
			[[ -e $f ]] && gone+=" $f"
		done
		assert_eq "" "$gone" "dpkg -r leaves no file behind"
		assert_fails "dpkg no longer lists proxyshim as installed" \
			sh -c "dpkg-query -W -f='\${db:Status-Abbrev}' proxyshim 2>/dev/null | grep -q '^ii'"
	fi
	((lock_ok)) && exec {lk}>&-
fi

section "man pages"
for m in "$ROOT"/man/proxyshim.1 "$ROOT"/man/proxyshim.yml.5; do
	if command -v mandoc >/dev/null; then
		out=$(mandoc -T lint -W warning "$m" 2>&1)
		assert_eq "" "$out" "mandoc -T lint -W warning $(basename "$m") is clean"
	else
		out=$(groff -mandoc -ww -z "$m" 2>&1)
		assert_eq "" "$out" "groff -ww $(basename "$m") is clean"
	fi
done
# Every subcommand, option and variable of the command is in proxyshim(1).
# (mdoc spells the option --probe as "Fl -probe".)
for w in "Cm run" "Cm check" "Cm explain" "Cm compile" "Cm dump" \
	"Fl -probe" "Fl -target" "Fl -peer" "Fl c" "Fl q" "Fl v" "Fl -version" "Fl -help" \
	"Ev PROXYSHIM_CONFIG" "Ev PROXYSHIM_LOG" "Ev PROXYSHIM_LOG_FILE" \
	"Ev PROXYSHIM_TABLE" "Ev PROXYSHIM_LIB" "Sh EXIT STATUS"; do
	assert_ok "proxyshim(1) documents $w" grep -qF -e "$w" "$ROOT/man/proxyshim.1"
done
for w in http https exempt https_ports rules match via chain dns fake_ipv4 \
	fake_ipv6 timeouts on_failure udp proxy_loopback trustedOrigins headers \
	proxy_header_timeout proxy-type proxy-address; do
	assert_ok "proxyshim.yml(5) documents $w" grep -qe "Ic $w" -e "Ic ${w} :" \
		"$ROOT/man/proxyshim.yml.5"
done

section "examples"
n=0
for f in "$ROOT"/examples/*.yml; do
	n=$((n + 1))
	assert_exit 0 "check accepts examples/$(basename "$f")" ps check -c "$f"
done
if ((n >= 7)); then
	pass "$n example configs"
else
	fail "only $n example configs"
fi
assert_ok "examples/coder-values.yml is the seed's file as it is" \
	cmp -s "$ROOT/tests/fixtures/config/coder_values.yml" "$ROOT/examples/coder-values.yml"
assert_ok "examples/kestra.yml is the seed's file as it is" \
	cmp -s "$ROOT/tests/fixtures/config/spec_kestra.yml" "$ROOT/examples/kestra.yml"
if command -v haproxy >/dev/null; then
	assert_ok "haproxy -c accepts examples/behind-haproxy.cfg" \
		sh -c "haproxy -c -f '$ROOT/examples/behind-haproxy.cfg' >/dev/null 2>&1"
fi
if command -v nginx >/dev/null; then
	mkdir -p "$T/nginx"
	printf 'error_log %s/err.log;\npid %s/nginx.pid;\nevents {}\nhttp { access_log off; include %s; }\n' \
		"$T/nginx" "$T/nginx" "$ROOT/examples/behind-nginx.conf" >"$T/nginx/n.conf"
	assert_ok "nginx -t accepts examples/behind-nginx.conf" \
		sh -c "nginx -t -p '$T/nginx' -c '$T/nginx/n.conf' >/dev/null 2>&1"
fi
if command -v bash >/dev/null; then
	assert_ok "completion loads and completes subcommands" bash -c "
		. '$ROOT/completions/proxyshim.bash'
		COMP_WORDS=(proxyshim ch); COMP_CWORD=1; _proxyshim
		[[ \${COMPREPLY[*]} == check ]]"
fi

section "check --probe"
start_microsocks auth user=alice pass=s3cret || it_done
dead=$(free_port)
probe_cfg() {
	write_file "probe-$1.yml" <<EOF
proxy:
  http: $2
  timeouts: {connect: 2s, handshake: 3s}
EOF
}
cfg=$(probe_cfg live "${SRV_URL[auth]}")
out=$(ps check -c "$cfg" --probe 2>&1) && rc=0 || rc=$?
show "$out"
assert_eq 0 "$rc" "probe of a live upstream exits 0"
assert_match "$(out_file "$out")" '^ok   socks5://alice:\*\*\*@127\.0\.0\.1:[0-9]+: reachable \([0-9.]+ ms\), handshake ok, auth ok, tunnel ok, [0-9.]+ ms$' \
	"live: reachable, handshake ok, auth ok, latency"
assert_not_contains "$(out_file "$out")" s3cret "the probe never prints the password"

cfg=$(probe_cfg dead "socks5://alice:s3cret@127.0.0.1:$dead")
out=$(ps check -c "$cfg" --probe 2>&1) && rc=0 || rc=$?
show "$out"
assert_eq 1 "$rc" "probe of a dead upstream exits 1"
assert_match "$(out_file "$out")" '^FAIL .*: unreachable: ECONNREFUSED' "dead: ECONNREFUSED"

cfg=$(probe_cfg wrong "socks5://alice:wrong@${SRV_ADDR[auth]}")
out=$(ps check -c "$cfg" --probe 2>&1) && rc=0 || rc=$?
show "$out"
assert_eq 1 "$rc" "probe with a wrong password exits 1"
assert_match "$(out_file "$out")" '^FAIL .*: reachable .*handshake ok, auth failed: EACCES' \
	"wrong password: handshake ok, auth failed, EACCES"

# All three at once: one line each, exit 1, and --target through the live one.
mixed=$(write_file probe-mixed.yml <<EOF
proxy:
  http: ${SRV_URL[auth]}
  rules:
    - match: a.example
      via: socks5://127.0.0.1:$dead
    - match: b.example
      via: socks5://alice:wrong@${SRV_ADDR[auth]}
EOF
)
out=$(ps check -c "$mixed" --probe 2>&1) && rc=0 || rc=$?
assert_eq 1 "$rc" "probe of live+dead+wrong exits 1"
assert_match "$(out_file "$out")" '^probe: 1 of 3 upstreams work$' "summary line counts them"
mark auth
cfg=$(probe_cfg live "${SRV_URL[auth]}")
out=$(ps check -c "$cfg" --probe --target "${SRV_ADDR[web]}" 2>&1) && rc=0 || rc=$?
assert_eq 0 "$rc" "--target the origin: exit 0"
assert_crossed auth "${SRV_PORT[web]}" "--target: the proxy really connected to the target"
out=$(ps check -c "$cfg" --probe --target "127.0.0.1:$dead" 2>&1) && rc=0 || rc=$?
assert_eq 1 "$rc" "--target a closed port: exit 1"
assert_match "$(out_file "$out")" 'auth ok, target refused: ECONNREFUSED' \
	"--target a closed port: the destination, not the proxy, refused"
assert_exit 2 "--target without --probe is a usage error" ps check -c "$cfg" --target x:1
assert_exit 2 "a bad --target is a usage error" ps check -c "$cfg" --probe --target nope

if start_tinyproxy tp user=bob pass=hunter2; then
	cfg=$(probe_cfg tp "http://bob:hunter2@${SRV_ADDR[tp]}")
	out=$(ps check -c "$cfg" --probe 2>&1) && rc=0 || rc=$?
	assert_eq 0 "$rc" "HTTP CONNECT upstream (tinyproxy): exit 0"
	assert_match "$(out_file "$out")" '^ok   http://bob:\*\*\*@.*auth ok' "tinyproxy: auth ok"
	cfg=$(probe_cfg tpw "http://bob:nope@${SRV_ADDR[tp]}")
	out=$(ps check -c "$cfg" --probe 2>&1) && rc=0 || rc=$?
	assert_eq 1 "$rc" "tinyproxy with a wrong password: exit 1"
	assert_match "$(out_file "$out")" 'auth failed: EACCES \(HTTP status 40[17]\)' \
		"tinyproxy wrong password: EACCES with the HTTP status"
fi

it_done
