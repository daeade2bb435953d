# aarch64 tablets (Debian arm64): Debian's cross compiler, and the target's
# libraries from Debian's arm64 packages unpacked into SYSROOT by
# platform/sysroot.sh (`make sysroot TARGET=aarch64`).
CROSS_COMPILE ?= aarch64-linux-gnu-
CROSS_PKG := gcc-aarch64-linux-gnu
DEB_ARCH := arm64
TRIPLE := aarch64-linux-gnu
SYSROOT ?= $(CURDIR)/build/sysroot-aarch64
CPU_SRC := platform/unix/cpu_generic.c

# qemu-user runs the test binaries: qemu-user's binary, else the static one.
ifeq ($(origin QEMU),undefined)
QEMU := $(or $(shell command -v qemu-aarch64 2>/dev/null),qemu-aarch64-static)
endif

# --sysroot alone puts SYSROOT/usr/include/$(TRIPLE) and SYSROOT/usr/include
# on the system include path, after the compiler's own headers (an explicit
# -isystem would put them before).  The library folders are named for the
# linker, and for the shared libraries' own dependencies (-rpath-link).
TOOLCHAIN_CFLAGS := --sysroot=$(SYSROOT)
TOOLCHAIN_LDFLAGS := --sysroot=$(SYSROOT) \
	-L$(SYSROOT)/usr/lib/$(TRIPLE) -L$(SYSROOT)/lib/$(TRIPLE) \
	-Wl,-rpath-link,$(SYSROOT)/usr/lib/$(TRIPLE) \
	-Wl,-rpath-link,$(SYSROOT)/lib/$(TRIPLE)

# For rules that ask pkg-config (the hub's libraries).
export PKG_CONFIG_SYSROOT_DIR := $(SYSROOT)
export PKG_CONFIG_LIBDIR := $(SYSROOT)/usr/lib/$(TRIPLE)/pkgconfig:$(SYSROOT)/usr/share/pkgconfig
