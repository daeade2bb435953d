#!/bin/sh
# deps.sh PURPOSE - install the Debian packages branchsync needs for
# PURPOSE (build, check, bench, demo, cross) that are missing.  Quick when all
# are present: it asks dpkg first and calls apt-get only for what lacks.
set -eu
purpose=${1:-build}

build="gcc make pkg-config libc6-dev libsqlite3-dev libmbedtls-dev libcjson-dev zlib1g-dev libmicrohttpd-dev libgnutls28-dev libcurl4-openssl-dev libpq-dev"
check="$build libcmocka-dev sqlite3 postgresql"
bench="$check libsqlcipher-dev"
demo="$build sqlite3"
cross="gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf qemu-user dpkg-dev"

case $purpose in
build) want=$build ;;
check) want=$check ;;
bench) want=$bench ;;
demo) want=$demo ;;
cross) want=$cross ;;
*) echo "deps.sh: unknown purpose '$purpose'" >&2; exit 2 ;;
esac

missing=
for p in $want; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "installing Debian packages:$missing"
sudo=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "deps.sh: need root (or sudo) to install:$missing" >&2
		exit 1
	}
	sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
try=0
until $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null; do
	try=$((try + 1))
	[ $try -lt 3 ] || { echo "deps.sh: apt-get failed" >&2; exit 1; }
	sleep $((try * 5))
done
