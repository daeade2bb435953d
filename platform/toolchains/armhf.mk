# Older armhf tablets (Debian armhf: ARMv7, hard float, 32-bit time_t):
# Debian's cross compiler, and the target's libraries from Debian's armhf
# packages unpacked into SYSROOT by platform/sysroot.sh
# (`make sysroot TARGET=armhf`).
CROSS_COMPILE ?= arm-linux-gnueabihf-
CROSS_PKG := gcc-arm-linux-gnueabihf
DEB_ARCH := armhf
TRIPLE := arm-linux-gnueabihf
SYSROOT ?= $(CURDIR)/build/sysroot-armhf
CPU_SRC := platform/unix/cpu_generic.c

# qemu-user runs the test binaries: qemu-user's binary, else the static one.
ifeq ($(origin QEMU),undefined)
QEMU := $(or $(shell command -v qemu-arm 2>/dev/null),qemu-arm-static)
endif

# --sysroot alone puts SYSROOT/usr/include/$(TRIPLE) and SYSROOT/usr/include
# on the system include path, after the compiler's own headers (an explicit
# -isystem would put them before).  The library folders are named for the
# linker, and for the shared libraries' own dependencies (-rpath-link).
#
# 64-bit file offsets: large stores, and readdir() under qemu-user on a
# 64-bit host, whose directory cookies overflow a 32-bit off_t.  time_t
# stays 32-bit, as in Debian's armhf libraries: timestamps are int64_t.
TOOLCHAIN_CFLAGS := --sysroot=$(SYSROOT) -D_FILE_OFFSET_BITS=64
TOOLCHAIN_LDFLAGS := --sysroot=$(SYSROOT) \
	-L$(SYSROOT)/usr/lib/$(TRIPLE) -L$(SYSROOT)/lib/$(TRIPLE) \
	-Wl,-rpath-link,$(SYSROOT)/usr/lib/$(TRIPLE) \
	-Wl,-rpath-link,$(SYSROOT)/lib/$(TRIPLE)

# For rules that ask pkg-config (the hub's libraries).
export PKG_CONFIG_SYSROOT_DIR := $(SYSROOT)
export PKG_CONFIG_LIBDIR := $(SYSROOT)/usr/lib/$(TRIPLE)/pkgconfig:$(SYSROOT)/usr/share/pkgconfig
