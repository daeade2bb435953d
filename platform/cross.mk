# Cross builds and their test runs under qemu-user (DESIGN.md §7).
# Included at the end of the Makefile, so every variable it sets is known.
#
#   make sysroot TARGET=aarch64  Debian's arm64 libraries, unpacked into
#                                build/sysroot-aarch64 (done by itself
#                                before the first cross compile); with
#                                STATIC=1, the archives of
#                                build/sysroot-aarch64/opt/static too
#   make check-arm               both ARM builds, every test under
#                                qemu-user; fails if Debian's archive
#                                cannot serve a target's packages
#   make check-cross             the runs `make check` includes (aarch64):
#                                the same, but an archive that cannot
#                                serve the packages only warns, loudly
#   make STATIC=1 TARGET=...     self-contained binaries, in
#                                build/$(TARGET)-static
#   make sizes STATIC=1 TARGET=...   the commands' stripped sizes

ARM_TARGETS := aarch64 armhf
CHECK_CROSS_TARGETS ?= aarch64

# Host packages for the ARM targets: Debian's cross compilers and
# qemu-user.  Quick when they are there (dpkg is asked first).
CROSS_DEPS ?= sh platform/deps.sh cross

# The test runner; it puts $$BS_TEST_WRAPPER before each test binary.
CROSS_TEST_RUN ?= sh tests/run.sh

# platform/sysroot.sh exits with this when the archive cannot serve the
# target's packages at the moment.
SYSROOT_UNAVAILABLE := 3

.PHONY: sysroot check-arm check-cross cross-run sizes

ifneq ($(SYSROOT),)
# A cross build needs its sysroot before its first compile.
$(SYSROOT)/.sysroot-stamp: platform/sysroot.sh
	$(call say,SYSROOT,$(SYSROOT))
	$(Q)sh platform/sysroot.sh $(TARGET) $(SYSROOT)

SYSROOT_USERS := $(LIB_OBJ) $(TEST_HELPER_OBJ) $(CLI_SRC:%.c=$(BUILD)/obj/%.o) \
	$(GEN_TOOL_SRC:%.c=$(BUILD)/obj/%.o) $(HUB_OBJ) $(PROGRAMS) $(TEST_BIN) \
	$(BENCH_BIN)
$(SYSROOT_USERS): | $(SYSROOT)/.sysroot-stamp

sysroot: $(SYSROOT)/.sysroot-stamp
else
sysroot:
	@echo "make sysroot: TARGET=$(TARGET) builds against the host's libraries"
endif

# One target, built and tested under qemu-user: what check-arm and
# check-cross run for each target (CROSS_STRICT=1: an archive that cannot
# serve the packages fails the run).  The test binaries run through
# tests/run.sh, which puts BS_TEST_WRAPPER before each of them.
cross-run:
	$(Q)sh platform/sysroot.sh $(if $(filter 1,$(STATIC)),--static) $(TARGET) \
		$(SYSROOT); rc=$$?; \
	if [ $$rc -eq $(SYSROOT_UNAVAILABLE) ]; then \
		echo "##########################################################"; \
		echo "## $(TARGET): Debian's archive cannot serve the sysroot's"; \
		echo "## packages right now: the $(TARGET) build and tests were"; \
		echo "## NOT run."; \
		echo "##########################################################"; \
		[ "$(CROSS_STRICT)" != 1 ] || exit 1; \
		exit 0; \
	fi; \
	[ $$rc -eq 0 ] || exit $$rc; \
	$(MAKE) --no-print-directory TARGET=$(TARGET) all || exit 1; \
	echo "== $(TARGET) under $(notdir $(firstword $(QEMU)))"; \
	BS_TEST_WRAPPER="$(QEMU) -L $(SYSROOT)" $(CROSS_TEST_RUN) $(BUILD) || exit 1; \
	$(MAKE) --no-print-directory TARGET=native STATIC= programs || exit 1; \
	sh tests/xarch.sh build/native/branchsync $(QEMU) -L $(SYSROOT) $(BUILD)/branchsync

check-arm:
	$(Q)$(CROSS_DEPS)
	$(Q)for t in $(ARM_TARGETS); do \
		$(MAKE) --no-print-directory TARGET=$$t CROSS_STRICT=1 cross-run || exit 1; \
	done

check-cross:
	$(Q)$(CROSS_DEPS)
	$(Q)for t in $(CHECK_CROSS_TARGETS); do \
		$(MAKE) --no-print-directory TARGET=$$t CROSS_STRICT=0 cross-run || exit 1; \
	done

# --- STATIC=1 ---------------------------------------------------------------
# Self-contained binaries, the agent and the test binaries alike, in
# build/$(TARGET)-static.  The sysroot has every static archive they need:
# Debian's (libc, SQLite, zlib), libcjson.a and libcmocka.a that
# platform/sysroot.sh builds from Debian's sources (Debian ships neither),
# and in SYSROOT/opt/static the archives it builds to replace Debian's:
# a libcurl with HTTP and HTTPS alone, TLS through mbedTLS (Debian's
# libcurl.a needs Kerberos, LDAP, nghttp2, psl..., of which Debian has no
# static archives), and mbedTLS without its self-tests and their test
# certificates.  That prefix comes first, headers and library alike, and
# libmbedtls follows libcurl.
#
# Size (the agent's goal is 3 MB on aarch64): each function in a section
# of its own and --gc-sections, and no unwind tables in the code built
# here, as in that prefix: C, nothing unwinds through it.
#
# mbedTLS 2.28 checks a certificate's DNS names, not its IP addresses: a
# static agent reaches its hub by name (localhost for 127.0.0.1).
#
# The hub stays dynamic in a STATIC=1 build, it and the tests that start
# it: libpq and libmicrohttpd bring Kerberos, LDAP and p11-kit, of which
# Debian has no static archives, and a head office's server has Debian's
# libraries anyway.  The host has no such archives either, so STATIC=1 is
# for the cross targets.
ifeq ($(STATIC),1)
ifeq ($(SYSROOT),)
ifneq ($(filter-out check-arm check-cross,$(or $(MAKECMDGOALS),all)),)
$(error STATIC=1 needs a cross TARGET (aarch64, armhf): the host has no \
	static libcjson.a, nor a libcurl.a without Kerberos)
endif
else
STATIC_PREFIX := $(SYSROOT)/opt/static
# The prefix, after the sysroot: `platform/sysroot.sh --static`, quick
# once it is there.
$(STATIC_PREFIX)/.static-stamp: $(SYSROOT)/.sysroot-stamp
	$(call say,STATIC,$(STATIC_PREFIX))
	$(Q)sh platform/sysroot.sh --static $(TARGET) $(SYSROOT)

$(SYSROOT_USERS): | $(STATIC_PREFIX)/.static-stamp
sysroot: $(STATIC_PREFIX)/.static-stamp

BS_CFLAGS += -I$(STATIC_PREFIX)/include -ffunction-sections -fdata-sections \
	-fno-asynchronous-unwind-tables -fno-unwind-tables
$(HUB) $(HUB_TEST_BIN): BS_LDFLAGS := $(BS_LDFLAGS)
BS_LDFLAGS := -L$(STATIC_PREFIX)/lib $(BS_LDFLAGS) -static -Wl,--gc-sections
LIBS := $(patsubst -lcurl,-lcurl -lmbedtls,$(LIBS))
endif
endif

STRIP := $(CROSS_COMPILE)strip
READELF := $(CROSS_COMPILE)readelf

# The stripped size of each command (the agent's goal: 3 MB on aarch64).
# The size of an aarch64 binary moves in steps of 64 KiB: the linker pads
# the file so that the read-only part of the data ends on a 64 KiB page.
sizes: $(PROGRAMS)
	$(Q)[ -n "$(strip $(PROGRAMS))" ] || echo "make sizes: no command to measure yet"
	$(Q)for b in $(PROGRAMS); do \
		$(STRIP) -o $$b.stripped $$b || exit 1; \
		n=$$(wc -c <$$b.stripped); \
		printf '%s %s: %s bytes stripped (%s MiB)%s\n' $(TARGET) \
			$${b#$(BUILD)/} $$n \
			"$$(awk -v n=$$n 'BEGIN { printf "%.2f", n / 1048576 }')" \
			"$$($(READELF) -l $$b | grep -q INTERP && echo ', dynamic' || echo ', static')"; \
		rm -f $$b.stripped; \
	done

# --- release bundles --------------------------------------------------------
# make dist TARGET=... [STATIC=1] RELEASE_KEY=FILE: the agent for TARGET,
# signed with IT's release key into build/dist/.  The signing runs on the
# build machine (the native command); the key never goes near a device.
# `branchsync release-key --out DIR` makes a key pair.
RELEASE_KEY ?= $(HOME)/.config/branchsync/release.key
DIST_DIR := build/dist
DIST_TARGET := $(if $(filter native,$(TARGET)),amd64,$(TARGET))
DIST := $(DIST_DIR)/branchsync-$(BS_VERSION_STR)-$(DIST_TARGET).bundle

.PHONY: dist
dist: lib programs
	$(Q)$(MAKE) --no-print-directory TARGET=native STATIC= programs
	$(Q)test -f "$(RELEASE_KEY)" || { echo "make dist: no release key at" \
		"$(RELEASE_KEY); make one with 'branchsync release-key --out DIR'" \
		"and pass RELEASE_KEY=DIR/release.key" >&2; exit 1; }
	@mkdir -p $(DIST_DIR)
	$(Q)cp $(BUILD)/branchsync $(DIST_DIR)/branchsync-$(DIST_TARGET)
	$(Q)$(CROSS_COMPILE)strip $(DIST_DIR)/branchsync-$(DIST_TARGET)
	$(Q)build/native/branchsync release-sign \
		$(DIST_DIR)/branchsync-$(DIST_TARGET) --key "$(RELEASE_KEY)" \
		--target $(DIST_TARGET) --version $(BS_VERSION_STR) --out $(DIST)
	@printf '  %-6s %s (binary %s bytes stripped)\n' DIST $(DIST) \
		$$(wc -c < $(DIST_DIR)/branchsync-$(DIST_TARGET))
