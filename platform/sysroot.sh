#!/bin/sh
# shellcheck disable=SC2086 # lists ($packages, $apt_opts) split on purpose
# sysroot.sh TARGET DIR - build a sysroot for cross-compiling branchsync
# to TARGET (aarch64, armhf) in DIR.
#
# The target's libraries come from Debian's own arm64/armhf packages: a
# private apt configuration (its own sources list, state and cache under
# DIR.apt, the host's dpkg database untouched) resolves the dependency
# closure of the packages below with apt's resolver, downloads exactly
# those .debs and unpacks them with dpkg-deb -x.  No multiarch install:
# that breaks whenever the archive's architectures are out of step.
# Absolute symlinks are made relative, and the two static archives Debian
# does not ship (libcjson.a, libcmocka.a) are built from Debian's sources
# with the cross compiler, for STATIC=1 links.
#
# Quick when DIR is complete: a stamp keyed on the target, the package
# list and the archive entries.  BS_SYSROOT_REFRESH=1 re-resolves against
# the archive anyway.  BS_SYSROOT_SOURCES=FILE uses FILE (one-line
# "deb URI SUITE COMPONENTS" entries) instead of the host's Debian
# entries in /etc/apt.  Needs apt, dpkg-deb, dpkg-source (dpkg-dev) and
# the target's cross compiler.
#
# Exit status: 0 done, 1 error, 2 usage, 3 the archive could not serve
# the target's packages (unreachable, mid-sync, inconsistent): the
# caller decides whether that is fatal.  The sysroot's path must not
# contain blanks.
set -eu

EX_UNAVAILABLE=3
LAYOUT=2	# bump when the way DIR is laid out changes

# What the agent, its tests and (later) the hub link against.
PACKAGES="libc6-dev libsqlite3-dev libmbedtls-dev libcmocka-dev libcjson-dev
zlib1g-dev libcurl4-openssl-dev libmicrohttpd-dev libpq-dev"

me=sysroot.sh
say() { printf '%s: %s\n' "$me" "$*"; }
die() { printf '%s: %s\n' "$me" "$*" >&2; exit 1; }

unavailable() {
	{
		echo "**********************************************************"
		echo "$me: Debian's archive cannot serve $arch packages now:"
		for line in "$@"; do echo "$me:   $line"; done
		echo "$me: (its architectures may be mid-sync; try again later)"
		echo "**********************************************************"
	} >&2
	exit $EX_UNAVAILABLE
}

[ $# -eq 2 ] || { echo "usage: $me TARGET DIR   (TARGET: aarch64, armhf)" >&2; exit 2; }
target=$1
dir=${2%/}
case $target in
aarch64) arch=arm64; triple=aarch64-linux-gnu ;;
armhf) arch=armhf; triple=arm-linux-gnueabihf ;;
*) echo "$me: unknown target '$target' (aarch64, armhf)" >&2; exit 2 ;;
esac
case $dir in
'' | / | /usr | /usr/*) die "refusing to build a sysroot in '$dir'" ;;
esac
mkdir -p "$(dirname "$dir")"
dir=$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")

packages=$(echo $PACKAGES | tr ' ' '\n' | sort -u | tr '\n' ' ')
for tool in apt-get dpkg-deb sha256sum; do
	command -v $tool >/dev/null 2>&1 || die "needs $tool (Debian's apt and dpkg)"
done

work=$dir.apt
mkdir -p "$work/etc/parts" "$work/state/lists/partial" \
	"$work/cache/archives/partial" "$work/debs"

# --- sources: the host's Debian mirror, for the target architecture ------
if [ -n "${BS_SYSROOT_SOURCES:-}" ]; then
	cat "$BS_SYSROOT_SOURCES"
else
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] && cat "$f"
	done
	# deb822 stanzas, written out as one-line entries.
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
		function flush(   n, u, s, i, j, uris, suites, opt) {
			if (types ~ /(^| )deb( |$)/ && enabled != "no" && uri != "") {
				opt = (keyring ~ /^\//) ? " [signed-by=" keyring "]" : ""
				n = split(uri, uris, " ")
				s = split(suite, suites, " ")
				for (i = 1; i <= n; i++)
					for (j = 1; j <= s; j++)
						print "deb" opt " " uris[i] " " suites[j] " " comps
			}
			types = uri = suite = comps = keyring = enabled = ""
		}
		/^[ \t]*#/ { next }
		/^[ \t]*$/ { flush(); next }
		/^[ \t]/ { next }	# continuation (an inline key)
		{
			k = tolower($1); sub(/:$/, "", k)
			v = $0; sub(/^[^:]*:[ \t]*/, "", v)
			if (k == "types") types = v
			else if (k == "uris") uri = v
			else if (k == "suites") suite = v
			else if (k == "components") comps = v
			else if (k == "signed-by") keyring = v
			else if (k == "enabled") enabled = tolower(v)
		}
		END { flush() }' "$f"
	done
fi | awk -v arch="$arch" '
	# Keep the Debian entries; force the target architecture.
	$1 != "deb" { next }
	{
		opts = ""; i = 2
		if ($2 ~ /^\[/) {
			o = ""
			for (; i <= NF; i++) { o = o " " $i; if ($i ~ /\]$/) { i++; break } }
			gsub(/[][]/, "", o)
			n = split(o, kv, " ")
			for (k = 1; k <= n; k++)
				if (kv[k] !~ /^arch(-|\+)?=/) opts = opts " " kv[k]
		}
		if ($i !~ /debian/) next
		line = "deb [arch=" arch opts "]"
		for (; i <= NF; i++) line = line " " $i
		print line
	}' >"$work/etc/sources.list"
[ -s "$work/etc/sources.list" ] ||
	die "no Debian archive entry in /etc/apt/sources.list* (set BS_SYSROOT_SOURCES)"

# Complete already?  The stamp names the layout, the architecture, the
# packages and the archive they came from.
key=$({
	printf 'layout %s\narch %s\npackages %s\n' "$LAYOUT" "$arch" "$packages"
	cat "$work/etc/sources.list"
} | sha256sum | cut -c1-64)
if [ "${BS_SYSROOT_REFRESH:-0}" != 1 ] && [ -f "$dir/.sysroot-stamp" ] &&
	[ "$(cat "$dir/.sysroot-stamp")" = "$key" ]; then
	touch "$dir/.sysroot-stamp"	# newer than this script, for make
	exit 0
fi
: >"$work/state/status"

apt_opts="-q -o APT::Architecture=$arch -o APT::Architectures=$arch
 -o Dir::State=$work/state -o Dir::State::status=$work/state/status
 -o Dir::Cache=$work/cache -o Dir::Etc::SourceList=$work/etc/sources.list
 -o Dir::Etc::SourceParts=$work/etc/parts
 -o Dir::Etc::Preferences=$work/etc/preferences
 -o Dir::Etc::PreferencesParts=$work/etc/parts
 -o Acquire::Languages=none -o Acquire::Retries=3
 -o APT::Sandbox::User=root -o Debug::NoLocking=1"
papt_get() { apt-get $apt_opts "$@"; }

# A few tries with a growing pause: the archive is sometimes mid-sync.
retry() {
	try=1
	until "$@"; do
		[ $try -lt 4 ] || return 1
		say "retrying in $((try * 10))s: $*" >&2
		sleep $((try * 10))
		try=$((try + 1))
	done
}

say "$target: reading Debian's $arch package lists"
retry papt_get update >"$work/update.log" 2>&1 ||
	{ cat "$work/update.log" >&2; unavailable "apt-get update failed (log above)"; }
if grep -q '^[WE]:' "$work/update.log"; then
	cat "$work/update.log" >&2
	grep -q '^E:' "$work/update.log" && unavailable "apt-get update reported errors"
fi

# --- the closure: apt's resolver, as if installing on an empty system ----
# It picks one alternative, a real package for a virtual one, and checks
# versions, so an archive out of step fails here rather than at link time.
sim=$work/resolve.log
if ! papt_get -s install --no-install-recommends $packages >"$sim" 2>&1; then
	cat "$sim" >&2
	unavailable "apt cannot resolve: $packages"
fi
# "Inst NAME (VERSION RELEASE... [ARCH]) [...]"
awk '$1 == "Inst" {
	name = $2; sub(/:.*/, "", name)
	ver = $3; sub(/^\(/, "", ver)
	if (!match($0, /\[[a-z0-9]+\]\)/)) next
	a = substr($0, RSTART + 1, RLENGTH - 3)
	v = ver; gsub(/:/, "%3a", v)
	print name, ver, name "_" v "_" a ".deb"
}' "$sim" >"$work/closure"
[ -s "$work/closure" ] || unavailable "the resolver chose no package (log: $sim)"

# --- download what is not already here -----------------------------------
cd "$work/debs"
want=
while read -r name ver file; do
	[ -s "$file" ] || want="$want $name=$ver"
done <"$work/closure"
# Older versions of the same packages: not ours any more.
cut -d' ' -f3 "$work/closure" >"$work/files"
for f in *.deb; do
	[ -e "$f" ] || continue
	grep -qxF "$f" "$work/files" || rm -f "$f"
done
if [ -n "$want" ]; then
	say "$target: downloading $(echo $want | wc -w) packages"
	retry papt_get download $want >"$work/download.log" 2>&1 || {
		cat "$work/download.log" >&2
		unavailable "apt-get download failed after retries"
	}
fi
while read -r name ver file; do
	[ -s "$file" ] || unavailable "$name $ver was not downloaded ($file)"
done <"$work/closure"
cd - >/dev/null

# --- unpack into a fresh tree, then swap it in ----------------------------
new=$dir.new
rm -rf "$new"
mkdir -p "$new"
while read -r name ver file; do
	dpkg-deb -x "$work/debs/$file" "$new" || die "cannot unpack $file"
done <"$work/closure"

# Absolute symlinks (libz.so -> /lib/aarch64-linux-gnu/libz.so.1.2.13)
# point into the host; make them relative so they stay inside the sysroot.
find "$new" -type l | while read -r link; do
	to=$(readlink "$link")
	case $to in /*) ;; *) continue ;; esac
	rel=${link#"$new"/}
	up=
	d=$(dirname "$rel")
	while [ "$d" != . ]; do up="../$up"; d=$(dirname "$d"); done
	ln -sfn "${up}${to#/}" "$link"
done

# Linker scripts (libc.so, libm.so) name absolute paths: the linker looks
# those up inside --sysroot, so they are right as they are.
[ -e "$new/usr/include/$triple/bits/types.h" ] || die "no libc headers for $triple after unpacking"

# --- static archives Debian does not ship ---------------------------------
# libcjson-dev and libcmocka-dev come without a .a, so a STATIC=1 link
# could not be self-contained.  They are built here from Debian's source
# package of the very version unpacked above, its patches applied (cJSON
# carries security fixes), with the cross compiler.
cc=${BS_SYSROOT_CC:-$triple-gcc}
command -v "$cc" >/dev/null 2>&1 ||
	die "needs $cc for the static archives (Debian's ${cc%-gcc} cross compiler)"
command -v dpkg-source >/dev/null 2>&1 || die "needs dpkg-source (Debian's dpkg-dev)"
sed -e 's/^deb \[arch=[^] ]*\]/deb-src/' -e 's/^deb \[arch=[^] ]* /deb-src [/' \
	"$work/etc/sources.list" >"$work/etc/sources-src.list"
mkdir -p "$work/src-state/lists/partial" "$work/src-cache/archives/partial"
src_opts=$(echo "$apt_opts" | sed -e "s|Dir::State=$work/state|Dir::State=$work/src-state|" \
	-e "s|Dir::Cache=$work/cache|Dir::Cache=$work/src-cache|" \
	-e "s|SourceList=$work/etc/sources.list|SourceList=$work/etc/sources-src.list|")
papt_src() { apt-get $src_opts "$@"; }

# static_lib PACKAGE LIBNAME CFLAGS SOURCE...: lib$LIBNAME.a from PACKAGE's
# source; CFLAGS and the sources are relative to the unpacked tree.
static_lib() {
	pkg=$1 lib=$2 cflags=$3
	shift 3
	v=$(awk -v p="$pkg" '$1 == p { v = $2; sub(/\+b[0-9]+$/, "", v); print v }' "$work/closure")
	[ -n "$v" ] || die "$pkg is not in the closure"
	s=$work/src/$pkg-$v
	if [ ! -f "$s/.unpacked" ]; then
		rm -rf "$s" && mkdir -p "$s/dl"
		(cd "$s/dl" && retry papt_src source --download-only "$pkg=$v") \
			>"$work/source.log" 2>&1 || {
			cat "$work/source.log" >&2
			unavailable "cannot download the source of $pkg $v"
		}
		dpkg-source -x "$s/dl"/*.dsc "$s/tree" >"$work/source.log" 2>&1 || {
			cat "$work/source.log" >&2
			die "cannot unpack the source of $pkg $v"
		}
		: >"$s/.unpacked"
	fi
	objs=
	for c in "$@"; do
		o=$s/$(basename "$c" .c).o
		(cd "$s/tree" && "$cc" --sysroot="$new" -O2 -g $cflags -c "$c" -o "$o") ||
			die "cannot compile $c of $pkg $v"
		objs="$objs $o"
	done
	rm -f "$new/usr/lib/$triple/lib$lib.a"
	"$triple-ar" rcs "$new/usr/lib/$triple/lib$lib.a" $objs ||
		die "cannot archive lib$lib.a"
}

say "$target: reading Debian's source package lists"
if ! retry papt_src update >"$work/update-src.log" 2>&1 ||
	grep -q '^E:' "$work/update-src.log"; then
	cat "$work/update-src.log" >&2
	unavailable "apt-get update of the source lists failed (log above)"
fi
say "$target: building libcjson.a and libcmocka.a from Debian's sources"
static_lib libcjson-dev cjson "" cJSON.c
# cmocka's config.h comes from CMake; what it would find on glibc:
static_lib libcmocka-dev cmocka "-Iinclude -DHAVE_SIGNAL_H -DHAVE_MALLOC_H \
	-DHAVE_INTTYPES_H -DHAVE_STRINGS_H -DHAVE_SIGLONGJMP -DHAVE_STRSIGNAL \
	-DHAVE_STRUCT_TIMESPEC -DHAVE_CLOCK_REALTIME -DHAVE_SNPRINTF \
	-DHAVE_VSNPRINTF -DHAVE_GCC_THREAD_LOCAL_STORAGE" src/cmocka.c

printf '%s\n' "$key" >"$new/.sysroot-stamp"
cp "$work/closure" "$new/.sysroot-packages"
rm -rf "$dir"
mv "$new" "$dir"
say "$target: sysroot ready in $dir ($(wc -l <"$work/closure") packages)"
