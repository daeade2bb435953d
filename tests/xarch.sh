#!/bin/sh
# xarch.sh HOST_CLI TARGET_CLI... - a store written on one architecture
# opens on the other: the host's branchsync creates stores (each cipher)
# that the target's reads, and the other way round.  TARGET_CLI is the
# command that runs the target build (qemu-user and the binary).  Prints
# "xarch: N passed, N failed" and fails if any did.
set -u
host=$1
shift
work=$(mktemp -d "${TMPDIR:-/tmp}/bs-xarch.XXXXXX")
trap 'rm -rf "$work"' EXIT
export BRANCHSYNC_KEYSTORE="$work/keys"
printf '%s\n' "5150-xarch" >"$work/pin"
passed=0
failed=0

bs() { # bs WHO STORE ARGS...
	who=$1 store=$2
	shift 2
	if [ "$who" = host ]; then
		"$host" --store "$store" --pin-fd 3 "$@" 3<"$work/pin"
	else
		# shellcheck disable=SC2086 # the target command is words
		$TARGET --store "$store" --pin-fd 3 "$@" 3<"$work/pin"
	fi
}

check() { # check WRITER READER CIPHER
	store="$work/$1-$3"
	if bs "$1" "$store" init --staff x --branch B1 --cipher "$3" \
		>/dev/null &&
		bs "$1" "$store" new --category PAY-GAS --channel branch \
			--subject "燃气费跨架构" --description "written on $1" \
			>/dev/null &&
		bs "$2" "$store" search 燃气费跨架构 | grep -q "燃气费跨架构" &&
		bs "$2" "$store" doctor >/dev/null; then
		echo "ok   written on $1, read on $2 ($3)"
		passed=$((passed + 1))
	else
		echo "FAIL written on $1, read on $2 ($3)"
		failed=$((failed + 1))
	fi
}

TARGET="$*"
for cipher in chacha20-poly1305 aes-256-gcm; do
	check host target "$cipher"
	check target host "$cipher"
done
echo "xarch: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
