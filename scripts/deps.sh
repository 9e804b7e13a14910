#!/usr/bin/env bash
# Install what the build and the tests need (Debian 12), idempotently.
#
# A quick no-op when every package is already installed (one dpkg-query);
# otherwise `apt-get update` and one non-interactive install of the missing
# ones.  Safe with CI=true and no stdin.  Package services are not started:
# when the machine has no policy-rc.d, a temporary one that forbids starts is
# put in place for the install and removed afterwards.
#
# Prints one line saying what it did.  Exit 0 on success, 1 on failure.
set -u -o pipefail

PKGS=(
	# build
	build-essential gcc clang make pkg-config libyaml-dev check
	libsubunit-dev libclang-rt-14-dev clang-format
	# test clients and tools
	curl wget python3 git socat netcat-openbsd iproute2 util-linux procps
	openssl libssl-dev openssh-client openssh-server
	# real proxies and servers for the integration tests and benchmarks
	microsocks dante-server tinyproxy squid-openssl haproxy nginx stunnel4
	proxychains4 hyperfine
	# the other preload tool the start-up benchmark compares with (its
	# library and wrapper only; no tor daemon is installed or started)
	torsocks
	# a long-running JVM client (live reload test)
	openjdk-17-jdk-headless
	# programs the library cannot reach, for the supervisor's tests and
	# bench (a Go toolchain, musl for static C, a static busybox), and Go's
	# own resolver against the DNS stub (test_dnsstub); musl is also the
	# libc the command is linked with statically (Makefile: MUSL)
	golang-go musl-tools busybox-static
	# analysis
	valgrind cppcheck shellcheck strace
	# packaging: man page lint, dpkg-shlibdeps for make deb
	mandoc dpkg-dev
)

# Packages that are not installed ("ii") right now.
missing_pkgs() {
	local installed
	installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' \
		"${PKGS[@]}" 2>/dev/null | awk '$2 ~ /^ii/ { print $1 }')
	local p
	for p in "${PKGS[@]}"; do
		grep -qxF -- "$p" <<<"$installed" || printf '%s\n' "$p"
	done
}

die() {
	echo "deps: $*" >&2
	exit 1
}

command -v dpkg-query >/dev/null 2>&1 || die "not a Debian system (no dpkg-query)"

mapfile -t missing < <(missing_pkgs)
if ((${#missing[@]} == 0)); then
	echo "deps: nothing to do, all ${#PKGS[@]} packages are installed"
	exit 0
fi

SUDO=()
if ((EUID != 0)); then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		SUDO=(sudo -n)
	else
		die "missing: ${missing[*]} (run as root, or install them by hand)"
	fi
fi

export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
LOG=$(mktemp "${TMPDIR:-/tmp}/proxyshim-deps.XXXXXX") || die "mktemp failed"

# No policy-rc.d: install a temporary one so no service starts, and make
# sure it goes away again whatever happens.
POLICY=/usr/sbin/policy-rc.d
our_policy=0
cleanup() {
	if ((our_policy)); then
		"${SUDO[@]}" rm -f "$POLICY"
	fi
	rm -f "$LOG"
}
trap cleanup EXIT
if [[ ! -e $POLICY ]]; then
	printf '#!/bin/sh\n# proxyshim scripts/deps.sh: no service starts during install\nexit 101\n' |
		"${SUDO[@]}" tee "$POLICY" >/dev/null && "${SUDO[@]}" chmod 0755 "$POLICY" &&
		our_policy=1
fi

if ! "${SUDO[@]}" "${APT[@]}" update </dev/null >"$LOG" 2>&1 ||
	! "${SUDO[@]}" "${APT[@]}" install --no-install-recommends "${missing[@]}" \
		</dev/null >>"$LOG" 2>&1; then
	tail -n 30 "$LOG" >&2
	die "apt-get failed installing: ${missing[*]}"
fi

mapfile -t still < <(missing_pkgs)
if ((${#still[@]} != 0)); then
	tail -n 30 "$LOG" >&2
	die "still missing after install: ${still[*]}"
fi

# Report (never stop) a package service that the install started anyway.
running=()
for d in squid tinyproxy danted haproxy nginx stunnel4 sshd microsocks; do
	if ps -C "$d" -o pid= >/dev/null 2>&1; then
		running+=("$d")
	fi
done
note=""
if ((${#running[@]} != 0)); then
	note=" (note: already running, left alone: ${running[*]})"
fi
echo "deps: installed ${#missing[@]} missing packages: ${missing[*]}$note"
