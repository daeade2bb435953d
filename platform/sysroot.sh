#!/bin/sh
# shellcheck disable=SC2086 # lists ($packages, $apt_opts) split on purpose
# sysroot.sh [--static] TARGET DIR - build a sysroot for cross-compiling
# branchsync to TARGET (aarch64, armhf) in DIR.
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
# --static (what STATIC=1 asks for) adds DIR/opt/static: archives built
# from Debian's sources to replace the ones Debian ships in a form a small
# self-contained agent cannot use, a libcurl with HTTPS alone and mbedTLS
# without its self-tests.  Their own prefix keeps them out of the dynamic
# builds, and their own stamp lets a sysroot that is already there gain
# them without asking the archive for its packages again.
#
# Quick when DIR is complete: a stamp keyed on the target, the package
# list and the archive entries.  BS_SYSROOT_REFRESH=1 re-resolves against
# the archive anyway.  BS_SYSROOT_SOURCES=FILE uses FILE (one-line
# "deb URI SUITE COMPONENTS" entries) instead of the host's Debian
# entries in /etc/apt.  Needs apt, dpkg-deb, dpkg-source (dpkg-dev) and
# the target's cross compiler.  --static takes about a minute more the
# first time, compiling libcurl and mbedTLS.
#
# Exit status: 0 done, 1 error, 2 usage, 3 the archive could not serve
# the target's packages (unreachable, mid-sync, inconsistent): the
# caller decides whether that is fatal.  The sysroot's path must not
# contain blanks.
set -eu

EX_UNAVAILABLE=3
LAYOUT=2	# bump when the way DIR is laid out changes
STATIC_LAYOUT=1	# bump when what --static builds changes

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

static=0
if [ "${1:-}" = --static ]; then
	static=1
	shift
fi
[ $# -eq 2 ] || {
	echo "usage: $me [--static] TARGET DIR   (TARGET: aarch64, armhf)" >&2
	exit 2
}
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

# --- Debian's sources, for what is built here -----------------------------
cc=${BS_SYSROOT_CC:-$triple-gcc}
need_source_tools() {
	command -v "$cc" >/dev/null 2>&1 ||
		die "needs $cc for the static archives (Debian's ${cc%-gcc} cross compiler)"
	command -v dpkg-source >/dev/null 2>&1 || die "needs dpkg-source (Debian's dpkg-dev)"
}
sed -e 's/^deb \[arch=[^] ]*\]/deb-src/' -e 's/^deb \[arch=[^] ]* /deb-src [/' \
	"$work/etc/sources.list" >"$work/etc/sources-src.list"
mkdir -p "$work/src-state/lists/partial" "$work/src-cache/archives/partial"
src_opts=$(echo "$apt_opts" | sed -e "s|Dir::State=$work/state|Dir::State=$work/src-state|" \
	-e "s|Dir::Cache=$work/cache|Dir::Cache=$work/src-cache|" \
	-e "s|SourceList=$work/etc/sources.list|SourceList=$work/etc/sources-src.list|")
papt_src() { apt-get $src_opts "$@"; }

src_update() {
	say "$target: reading Debian's source package lists"
	if ! retry papt_src update >"$work/update-src.log" 2>&1 ||
		grep -q '^E:' "$work/update-src.log"; then
		cat "$work/update-src.log" >&2
		unavailable "apt-get update of the source lists failed (log above)"
	fi
}

# source_tree PACKAGE: Debian's source of the binary PACKAGE, at the
# version the closure names, downloaded and unpacked with its patches
# into $s/tree ($s is set).  Kept under DIR.apt, so a rebuilt sysroot of
# the same versions downloads nothing.
closure=$work/closure
source_tree() {
	pkg=$1
	v=$(awk -v p="$pkg" '$1 == p { v = $2; sub(/\+b[0-9]+$/, "", v); print v }' "$closure")
	[ -n "$v" ] || die "$pkg is not in the closure"
	s=$work/src/$pkg-$v
	[ -f "$s/.unpacked" ] && return 0
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
}

# static_lib PACKAGE LIBNAME CFLAGS SOURCE...: lib$LIBNAME.a from PACKAGE's
# source; CFLAGS and the sources are relative to the unpacked tree.
static_lib() {
	pkg=$1 lib=$2 cflags=$3
	shift 3
	source_tree "$pkg"
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

# --- --static: the archives that replace Debian's in STATIC=1 links -------
# They are built against the finished sysroot, DIR, into a staging tree
# under DIR.apt, and moved into DIR/opt/static once all are there
# (platform/cross.mk puts that prefix first).  Code compiled for it
# carries no unwind tables: it is C, nothing unwinds through it, and the
# tables are a tenth of a static binary.  Each function gets its own
# section, for the final link's --gc-sections.
STATIC_PREFIX=/opt/static
static_cflags="-g -ffunction-sections -fdata-sections \
	-fno-asynchronous-unwind-tables -fno-unwind-tables"

# static_mbedtls: libmbedcrypto.a, libmbedx509.a and libmbedtls.a in
# $stage$STATIC_PREFIX/lib.
#
# Debian's archives have its full configuration, self-tests included, and
# one self-test drags mbedTLS's test certificates (54 KB) into every
# binary that parses a certificate.  The same source is built again with
# the configuration Debian's headers in the sysroot describe, less
# MBEDTLS_SELF_TEST and MBEDTLS_CERTS_C.  Both only declare functions, so
# the structures the agent and libcurl compile against stay the same.
# -O2 as Debian: the page cipher's speed is mbedTLS's.
static_mbedtls() {
	source_tree libmbedtls-dev
	cp "$dir/usr/include/mbedtls/config.h" "$s/tree/include/mbedtls/config.h"
	printf '%s\n' '/* The static agent: no self-tests, no test certificates. */' \
		'#undef MBEDTLS_SELF_TEST' '#undef MBEDTLS_CERTS_C' >"$s/static-config.h"
	make -C "$s/tree/library" clean >/dev/null 2>&1 || true
	make -C "$s/tree/library" -j"$jobs" CC="$cc --sysroot=$dir" \
		AR="$triple-ar" CFLAGS="-O2 $static_cflags \
		-DMBEDTLS_USER_CONFIG_FILE='\"$s/static-config.h\"'" static \
		>"$work/mbedtls.log" 2>&1 || {
		tail -n 40 "$work/mbedtls.log" >&2
		die "cannot build mbedTLS $v (log: $work/mbedtls.log)"
	}
	mkdir -p "$stage$STATIC_PREFIX/lib"
	for a in mbedcrypto mbedx509 mbedtls; do
		cp "$s/tree/library/lib$a.a" "$stage$STATIC_PREFIX/lib/" ||
			die "no lib$a.a after building mbedTLS $v"
	done
}

# static_curl: libcurl.a and its headers in $stage$STATIC_PREFIX.
#
# Debian's own libcurl.a cannot make a self-contained binary: it wants
# nghttp2, rtmp, ssh2, psl, idn2, ldap, zstd, brotli and Kerberos, most of
# which Debian ships without a static archive (Kerberos never).  The agent
# speaks HTTPS to one hub, through environment proxies, and nothing else,
# so the same source (Debian's patches, security fixes included) is built
# again with HTTP alone: TLS through mbedTLS, zlib, the threaded resolver
# (glibc's getaddrinfo: /etc/hosts and DNS as on the device).  Every
# other protocol, and the features the agent never asks for (cookies,
# HSTS and alt-svc caches, netrc, DoH, NTLM, MIME), are left out: less
# code to carry and to trust.  Optimised for size: the network, not this
# code, sets the pace.  The CA defaults are Debian's; the agent replaces
# them with the hub's CA in any case.
#
# Debian's tree carries two last patches that rename the library for its
# GnuTLS and NSS flavours; they are taken off again, as debian/rules does.
# AM_MAINTAINER_MODE keeps make from regenerating the build system that
# other patches touch (the GSS-API and LDAP checks, both disabled here).
static_curl() {
	source_tree libcurl4-openssl-dev
	if [ ! -f "$s/.plain" ]; then
		for p in 99_nss.patch 90_gnutls.patch; do
			grep -qx "$p" "$s/tree/debian/patches/series" || continue
			patch -R -p1 -s -d "$s/tree" <"$s/tree/debian/patches/$p" ||
				die "cannot take $p off curl $v"
		done
		: >"$s/.plain"
	fi
	b=$s/build-$arch
	rm -rf "$b" && mkdir -p "$b"
	(cd "$b" && CC="$cc --sysroot=$dir" AR="$triple-ar" \
		RANLIB="$triple-ranlib" CPPFLAGS="" \
		CFLAGS="-Os $static_cflags" LDFLAGS="-L$dir/usr/lib/$triple" \
		PKG_CONFIG_LIBDIR="$dir/usr/lib/$triple/pkgconfig:$dir/usr/share/pkgconfig" \
		PKG_CONFIG_SYSROOT_DIR="$dir" \
		"$s/tree/configure" --build="$("$s/tree/config.guess")" \
		--host="$triple" --prefix="$STATIC_PREFIX" \
		--disable-shared --enable-static --disable-dependency-tracking \
		--enable-http --enable-proxy --enable-ipv6 \
		--enable-threaded-resolver \
		--disable-ftp --disable-file --disable-ldap --disable-ldaps \
		--disable-rtsp --disable-dict --disable-telnet --disable-tftp \
		--disable-pop3 --disable-imap --disable-smb --disable-smtp \
		--disable-gopher --disable-mqtt --disable-websockets \
		--disable-manual --disable-libcurl-option --disable-ntlm \
		--disable-ntlm-wb --disable-tls-srp --disable-unix-sockets \
		--disable-cookies --disable-doh --disable-mime --disable-netrc \
		--disable-progress-meter --disable-alt-svc --disable-hsts \
		--disable-get-easy-options --disable-headers-api \
		--disable-dnsshuffle --disable-versioned-symbols \
		--with-mbedtls="$dir/usr" --with-zlib="$dir/usr" \
		--without-openssl --without-gnutls --without-libpsl \
		--without-libgsasl --without-nghttp2 --without-ngtcp2 \
		--without-nghttp3 --without-quiche --without-msh3 \
		--without-brotli --without-zstd --without-libssh2 \
		--without-libssh --without-wolfssh --without-librtmp \
		--without-libidn2 --without-gssapi --without-hyper \
		--without-zsh-functions-dir --without-fish-functions-dir \
		--with-ca-bundle=/etc/ssl/certs/ca-certificates.crt \
		--with-ca-path=/etc/ssl/certs) >"$work/curl.log" 2>&1 || {
		tail -n 40 "$work/curl.log" >&2
		die "cannot configure curl $v (log: $work/curl.log)"
	}
	{
		make -C "$b/lib" -j"$jobs" &&
			make -C "$b/lib" install DESTDIR="$stage" &&
			make -C "$b/include" install DESTDIR="$stage"
	} >>"$work/curl.log" 2>&1 || {
		tail -n 40 "$work/curl.log" >&2
		die "cannot build curl $v (log: $work/curl.log)"
	}
	# libtool's record names the build's paths; nothing here reads it.
	rm -f "$stage$STATIC_PREFIX/lib/libcurl.la"
	rm -rf "$b"
}

# static_prefix: DIR/opt/static, unless its stamp says it is there for
# this sysroot already.
static_prefix() {
	skey=$(printf 'static %s\n%s\n' "$STATIC_LAYOUT" "$key" | sha256sum |
		cut -c1-64)
	sstamp=$dir$STATIC_PREFIX/.static-stamp
	if [ -f "$sstamp" ] && [ "$(cat "$sstamp")" = "$skey" ]; then
		touch "$sstamp"	# newer than the sysroot's stamp, for make
		return 0
	fi
	need_source_tools
	# The versions are the sysroot's own.  The source lists come with it;
	# a sysroot whose lists were lost reads them again.
	closure=$dir/.sysroot-packages
	ls "$work/src-state/lists/"*Sources* >/dev/null 2>&1 || src_update
	say "$target: building mbedTLS and a minimal libcurl (HTTPS) for STATIC=1"
	t0=$(date +%s)
	# These builds are their own: nothing of a calling make (its jobs, the
	# variables given on its command line) reaches them.
	unset MAKEFLAGS MFLAGS MAKELEVEL
	jobs=$(nproc 2>/dev/null || echo 2)
	stage=$work/static
	rm -rf "$stage"
	static_mbedtls
	static_curl
	printf '%s\n' "$skey" >"$stage$STATIC_PREFIX/.static-stamp"
	rm -rf "$dir$STATIC_PREFIX"
	mkdir -p "$(dirname "$dir$STATIC_PREFIX")"
	mv "$stage$STATIC_PREFIX" "$dir$STATIC_PREFIX"
	rm -rf "$stage"
	say "$target: $dir$STATIC_PREFIX done in $(($(date +%s) - t0))s"
}

# Complete already?  The stamp names the layout, the architecture, the
# packages and the archive they came from.
key=$({
	printf 'layout %s\narch %s\npackages %s\n' "$LAYOUT" "$arch" "$packages"
	cat "$work/etc/sources.list"
} | sha256sum | cut -c1-64)
if [ "${BS_SYSROOT_REFRESH:-0}" != 1 ] && [ -f "$dir/.sysroot-stamp" ] &&
	[ "$(cat "$dir/.sysroot-stamp")" = "$key" ]; then
	touch "$dir/.sysroot-stamp"	# newer than this script, for make
	[ $static = 0 ] || static_prefix
	exit 0
fi
: >"$work/state/status"

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
need_source_tools
src_update
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
[ $static = 0 ] || static_prefix
