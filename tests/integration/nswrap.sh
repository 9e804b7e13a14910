#!/usr/bin/env bash
# Run a command with some files bind-mounted over system files, in a private
# mount namespace, so only that process tree sees them (a test proxy's own
# /etc/hosts, or /etc/passwd + /etc/shadow for dante's username method).
#
#   unshare --mount --propagation private -- \
#       bash nswrap.sh --bind SRC DST [--bind SRC DST ...] -- CMD [ARG...]
#
# Ends in exec, so CMD keeps the PID that unshare was started with.
set -eu
while (($# > 0)) && [[ $1 != -- ]]; do
	if [[ $1 != --bind ]] || (($# < 3)); then
		echo "nswrap: usage: --bind SRC DST ... -- CMD [ARG...]" >&2
		exit 2
	fi
	mount --bind "$2" "$3"
	shift 3
done
shift
exec "$@"
