#!/usr/bin/env bash
# valgrind memcheck on the command's check, explain, compile and dump paths
# no memory errors and no leaks, on good configs, on bad ones
# (the error paths free what the good ones would have kept), and on the
# environment-only default.  "Still reachable" blocks are shown but are not
# errors: memory a library keeps until exit is not a leak.  Runs on the
# normal build; a sanitizer build is skipped (valgrind cannot run an ASan
# binary, and ASan's own leak check covers that build).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need_shim || it_done
if ! command -v valgrind >/dev/null; then
	skip "valgrind not installed (scripts/deps.sh installs it)"
	it_done
fi
if ((IT_ASAN)); then
	skip "valgrind cannot run an ASan build ($B); make test runs this file on the normal build"
	it_done
fi

FIX=$ROOT/tests/fixtures/config
# The statically linked command hands these commands to proxyshim-dyn (the
# same linked dynamically, which loads the tools library): that is where
# their work is, and valgrind does not follow a static glibc program's own
# start-up (it reports libc's internals there).
MC_CMD=$SHIM_CMD
[[ -x $B/proxyshim-dyn ]] && MC_CMD=$B/proxyshim-dyn
# shellcheck disable=SC2054 # the commas are valgrind's, in one option
VG=(valgrind -q --leak-check=full --show-leak-kinds=all
	--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99)
_n=0

# memcheck WANT MSG ARG...: `proxyshim ARG...` under valgrind exits WANT
# (99: valgrind found an error or a leak; its log is shown).
memcheck() {
	local want=$1 msg=$2 rc=0 log
	shift 2
	_n=$((_n + 1))
	log=$T/vg.$_n.log
	"${VG[@]}" --log-file="$log" "$MC_CMD" "$@" >"$T/vg.$_n.out" 2>&1 ||
		rc=$?
	if ((rc == want)); then
		pass "memcheck: $msg"
	else
		fail "memcheck: $msg: exit $rc, expected $want"
		sed 's/^/#   /' "$log" "$T/vg.$_n.out" | head -n 60
	fi
}

section "check"
for f in spec_native spec_kestra coder_values full_native kestra_full \
	tls_relative empty; do
	memcheck 0 "check $f.yml" check -c "$FIX/$f.yml"
done
bad=$FIX/err_unknown_key.yml
memcheck 1 "check: unknown key" check -c "$bad"
for f in err_bad_cidr err_duplicate_key err_map_where_url_expected \
	err_rules_not_a_list err_kestra_bad_url err_tls_unknown_key \
	err_chain_with_direct err_bad_trusted_origin; do
	memcheck 1 "check $f.yml fails" check -c "$FIX/$f.yml"
done
memcheck 1 "check: missing file" check -c "$T/missing.yml"
# No file anywhere: the embedded default reads the environment.
cd "$T" || it_done
http_proxy=socks5h://10.1.1.1:1080 no_proxy=.corp,10.0.0.0/8 \
	memcheck 0 "check: environment-only default" check
cd "$ROOT" || it_done

section "explain"
nat=$FIX/spec_native.yml
memcheck 0 "explain: a rule" explain -c "$nat" api.kestra.io:443
memcheck 0 "explain: exempt" explain -c "$nat" www.example.com
memcheck 0 "explain: default route, default port" explain -c "$nat" other.test
memcheck 0 "explain: an address in a CIDR rule" explain -c "$nat" 192.168.3.4:22
memcheck 0 "explain: IPv6 destination" explain -c "$nat" '[2001:db8::1]:443'
memcheck 0 "explain --peer" explain -c "$nat" --peer 10.1.2.3
chain=$(write_file chain.yml <<'YAML'
proxy:
  http: http://alice:s3cret@10.9.9.9:3128
  rules:
    - match: chain.example
      via: [socks5://10.1.1.1:1080, http://u:p@10.1.1.2:8080]
    - match: evil.example
      via: block
YAML
)
memcheck 0 "explain: a chain" explain -c "$chain" chain.example:443
memcheck 0 "explain: block" explain -c "$chain" evil.example
memcheck 1 "explain: a bad config fails" explain -c "$bad" example.com
memcheck 2 "explain: no destination is a usage error" explain -c "$nat"

section "compile and dump"
cfg=$(write_file compile.yml <<'YAML'
proxy:
  http: socks5://127.0.0.1:9
  exempt: "example.com,10.0.0.0/8"
  rules:
    - match: "*.internal.example"
      via: direct
YAML
)
memcheck 0 "compile publishes" compile -c "$cfg"
name=$(head -n 1 "$T/vg.$_n.out")
memcheck 0 "compile again (already published)" compile -c "$cfg"
memcheck 0 "dump" dump -c "$cfg"
memcheck 1 "compile: a bad config fails" compile -c "$bad"
if [[ $name == /proxyshim-* ]]; then
	rm -f "/dev/shm$name" "/dev/shm$name-state"
else
	fail "compile printed no table name: '$name'"
fi
it_done
