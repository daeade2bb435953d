# branchsync - plain GNU make.
#
#   make                 build the agent library, command and tests
#   make check           install what is missing, build, run every test,
#                        then run them again under ASan+UBSan
#   make demo            the main job on the embedded default
#   make bench           benchmarks, printed as ratios
#   make TARGET=aarch64  cross build (platform/toolchains/$(TARGET).mk)
#   make SAN=1           build with AddressSanitizer+UBSan into build/$(TARGET)-san
#   make STATIC=1        link the agent statically, into build/$(TARGET)-static
#   make V=1             show the commands
#   make WERROR=         drop -Werror (packagers); CI keeps it

# Rules for single files come before `all`; plain `make` still means it.
.DEFAULT_GOAL := all

TARGET ?= native
# The version, from the one place it is written.
BS_VERSION_STR := $(shell sed -n 's/^\#define BS_VERSION "\(.*\)"/\1/p' include/branchsync.h)
include platform/toolchains/$(TARGET).mk

ifeq ($(origin CC),default)
CC := $(CROSS_COMPILE)gcc
endif
AR := $(CROSS_COMPILE)ar

ifeq ($(SAN),1)
BUILD := build/$(TARGET)-san
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
else
BUILD := build/$(TARGET)$(if $(filter 1,$(STATIC)),-static)
SAN_FLAGS :=
endif

WERROR ?= -Werror
OPT ?= -O2
BS_CFLAGS := -std=c11 -D_DEFAULT_SOURCE -g $(OPT) -Wall -Wextra $(WERROR) \
	-Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
	-fvisibility=hidden -Iinclude -I. $(SAN_FLAGS) $(TOOLCHAIN_CFLAGS)
BS_LDFLAGS := $(SAN_FLAGS) $(TOOLCHAIN_LDFLAGS)
LIBS := -lsqlite3 -lcurl -lmbedx509 -lmbedcrypto -lcjson -lz -lpthread -lm
TEST_LIBS := -lcmocka

ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-6s %s\n' $(1) $(2)
endif

# --- the agent library -----------------------------------------------------
LIB_SRC := $(wildcard agent/core/*.c) $(wildcard agent/store/*.c) \
	$(wildcard agent/tickets/*.c) $(wildcard agent/sync/*.c) \
	$(wildcard agent/update/*.c) \
	platform/unix/os_unix.c $(CPU_SRC)
GEN_SRC := $(BUILD)/gen/migrations.c $(BUILD)/gen/catalogue.c
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(GEN_SRC:%.c=%.o)
LIB := $(BUILD)/libbranchsync.a

# --- the commands ----------------------------------------------------------
CLI_SRC := $(wildcard agent/cli/*.c)
CLI := $(BUILD)/branchsync
GEN_TOOL_SRC := $(wildcard tests/support/gen.c tests/support/gen_main.c)
GEN_TOOL := $(BUILD)/branchsync-gen
PROGRAMS := $(if $(CLI_SRC),$(CLI)) $(if $(GEN_TOOL_SRC),$(GEN_TOOL))

# --- tests -----------------------------------------------------------------
TEST_SRC := $(wildcard tests/unit/test_*.c) $(wildcard tests/fault/test_*.c) \
	$(wildcard tests/integration/test_*.c)
TEST_BIN := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
TEST_HELPER_SRC := $(filter-out %_main.c,$(wildcard tests/support/*.c))
TEST_HELPER_OBJ := $(TEST_HELPER_SRC:%.c=$(BUILD)/obj/%.o)
HEADERS := $(wildcard include/*.h include/*/*.h agent/*/*.h platform/*.h \
	tests/support/*.h)
# The sync tests run devices whose clocks are days off: the device clock
# is wrapped at link time.  A misbehaving hub in them speaks TLS through
# mbedTLS.
TEST_LDFLAGS_integration/test_sync := -Wl,--wrap=bs_os_now_ms -lmbedtls

# --- the hub ---------------------------------------------------------------
# branchsync-hub: hub/*.c, its SQLite schema compiled in, and the core
# parts of the agent library (wire codec, state machine, SLA, clocks).
HUB_SRC := $(wildcard hub/*.c)
HUB_OBJ := $(HUB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/gen/hub_sqlite.o \
	$(BUILD)/gen/hub_postgres.o
HUB := $(BUILD)/branchsync-hub
HUB_LIBS := -lmicrohttpd -lgnutls -lmbedx509 -lmbedcrypto -lpq
# Debian keeps libpq-fe.h in a folder of its own.
PQ_CFLAGS := -I$(SYSROOT)/usr/include/postgresql
PROGRAMS += $(if $(HUB_SRC),$(HUB))
# The hub's protocol tests start a real hub: an integration test.
HUB_TEST_SRC := $(wildcard tests/hub/test_*.c)
HUB_TEST_BIN := $(patsubst tests/hub/%.c,$(BUILD)/tests/integration/%,$(HUB_TEST_SRC))
TEST_BIN += $(HUB_TEST_BIN)
# The PostgreSQL tests: the protocol suite again (test_hub_pg includes
# test_hub.c), and the store itself, linked without the rest of the hub.
HUB_STORE_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard hub/store*.c)) \
	$(BUILD)/gen/hub_sqlite.o $(BUILD)/gen/hub_postgres.o
HUB_TEST_LINK_hub_pg_store := $(HUB_STORE_OBJ) -lpq
HUB_TEST_LINK_hub_replay := $(BUILD)/obj/hub/replay.o

BENCH_SRC := $(wildcard tests/bench/bench_*.c)
BENCH_BIN := $(patsubst tests/%.c,$(BUILD)/tests/%,$(BENCH_SRC))
# The store benchmark: bench_store links the shared workload, and the same
# workload built against Debian's SQLCipher is its peer, a program of its
# own because libsqlcipher exports SQLite's symbols.  tests/bench is not
# in HEADERS, so make bench relinks both every time.
BENCH_LIBS_bench/bench_store := tests/bench/workload.c $(LIBS)
BENCH_PEER := $(BUILD)/tests/bench/peer_sqlcipher
BENCH_PEER_SRC := tests/bench/peer_sqlcipher.c tests/bench/workload.c
BENCH_LIBS_bench/bench_sync := -Wl,--wrap=curl_easy_perform
# It starts a real hub, and it must be there.
$(BUILD)/tests/bench/bench_sync: $(HUB)
# The hub benchmark starts branchsync-hub and a throwaway PostgreSQL; its
# devices (hub_load.c) run on libcurl and sign with GnuTLS, and it writes
# enrollment codes through the hub's store layer.
BENCH_LIBS_bench/bench_hub := tests/bench/hub_load.c $(HUB_STORE_OBJ) \
	$(LIB) -lgnutls -lpq $(LIBS)
$(BUILD)/tests/bench/bench_hub: tests/bench/hub_load.c \
	tests/bench/hub_load.h $(HUB_STORE_OBJ) $(HUB)

.SECONDARY:
.PHONY: all lib programs tests check check-build test demo bench deps clean headers
all: lib programs tests

programs: $(PROGRAMS)

lib: $(LIB)
tests: $(TEST_BIN)

$(BUILD)/obj/%.o: %.c $(HEADERS)
	$(call say,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BS_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/gen/migrations.c: $(wildcard schema/agent/*.sql) platform/tools/embed.sh
	$(call say,GEN,$@)
	@mkdir -p $(dir $@)
	$(Q)sh platform/tools/embed.sh bs__migrations $(sort $(wildcard schema/agent/*.sql)) > $@.tmp && mv $@.tmp $@

# The default catalogue a new store starts with, in the import format.
$(BUILD)/gen/catalogue.c: $(wildcard schema/catalogue/*.jsonl) platform/tools/embed.sh
	$(call say,GEN,$@)
	@mkdir -p $(dir $@)
	$(Q)sh platform/tools/embed.sh bs__default_catalogue $(sort $(wildcard schema/catalogue/*.jsonl)) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(call say,CC,$<)
	$(Q)$(CC) $(BS_CFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	$(call say,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(CLI): $(CLI_SRC:%.c=$(BUILD)/obj/%.o) $(LIB)
	$(call say,LINK,$@)
	$(Q)$(CC) -o $@ $^ $(BS_LDFLAGS) $(LDFLAGS) $(LIBS)

$(GEN_TOOL): $(GEN_TOOL_SRC:%.c=$(BUILD)/obj/%.o) $(LIB)
	$(call say,LINK,$@)
	$(Q)$(CC) -o $@ $^ $(BS_LDFLAGS) $(LDFLAGS) $(LIBS)

$(BUILD)/tests/%: tests/%.c $(TEST_HELPER_OBJ) $(LIB) $(HEADERS)
	$(call say,LINK,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BS_CFLAGS) -Itests/support $(CFLAGS) -o $@ $< $(TEST_HELPER_OBJ) $(LIB) \
		$(BS_LDFLAGS) $(LDFLAGS) $(TEST_LDFLAGS_$*) $(TEST_LIBS) $(LIBS) \
		$(BENCH_LIBS_$*)

$(BUILD)/gen/hub_sqlite.c: $(wildcard schema/hub/sqlite/*.sql) platform/tools/embed.sh
	$(call say,GEN,$@)
	@mkdir -p $(dir $@)
	$(Q)sh platform/tools/embed.sh bs__hub_sqlite_migrations $(sort $(wildcard schema/hub/sqlite/*.sql)) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/hub_postgres.c: $(wildcard schema/hub/postgres/*.sql) platform/tools/embed.sh
	$(call say,GEN,$@)
	@mkdir -p $(dir $@)
	$(Q)sh platform/tools/embed.sh bs__hub_postgres_migrations $(sort $(wildcard schema/hub/postgres/*.sql)) > $@.tmp && mv $@.tmp $@

$(HUB_OBJ): $(wildcard hub/*.h)
$(BUILD)/obj/hub/store_postgres.o: BS_CFLAGS += $(PQ_CFLAGS)

$(HUB): $(HUB_OBJ) $(LIB)
	$(call say,LINK,$@)
	$(Q)$(CC) -o $@ $^ $(BS_LDFLAGS) $(LDFLAGS) $(HUB_LIBS) $(LIBS)

$(BUILD)/tests/integration/test_%: tests/hub/test_%.c $(TEST_HELPER_OBJ) $(LIB) $(HEADERS) $(HUB)
	$(call say,LINK,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BS_CFLAGS) -Itests/support $(CFLAGS) -o $@ $< $(TEST_HELPER_OBJ) $(LIB) \
		$(HUB_TEST_LINK_$*) $(BS_LDFLAGS) $(LDFLAGS) $(TEST_LIBS) -lcurl -lmbedx509 $(LIBS)

$(BUILD)/tests/integration/test_hub_pg: tests/hub/test_hub.c
$(BUILD)/tests/integration/test_hub_pg_store: $(HUB_STORE_OBJ)
$(BUILD)/tests/integration/test_hub_replay: $(BUILD)/obj/hub/replay.o

# Each public header compiles alone under -std=c11 -pedantic.
headers:
	$(Q)for h in $(wildcard include/*.h include/*/*.h); do \
		printf '#include "%s"\nint bs__header_check;\n' $${h#include/} | \
		$(CC) -std=c11 -pedantic -Wall -Wextra -Werror -Iinclude \
			-x c -fsyntax-only - || exit 1; done

deps:
	$(Q)sh platform/deps.sh check

# The tests of this build alone (SAN=1 for the sanitizer build), one
# summary line at the end; check runs both builds and the ARM one.
test: all headers
	$(Q)sh tests/run.sh $(BUILD)

check: deps
	$(Q)$(MAKE) --no-print-directory all headers
	$(Q)$(MAKE) --no-print-directory SAN=1 all
	$(Q)$(MAKE) --no-print-directory check-cross
	$(Q)sh tests/run.sh build/$(TARGET) build/$(TARGET)-san

demo:
	$(Q)sh platform/deps.sh demo
	$(Q)$(MAKE) --no-print-directory lib programs
	$(Q)sh demo/demo.sh $(BUILD)

bench:
	$(Q)sh platform/deps.sh bench
	$(Q)rm -f $(BENCH_BIN) $(BENCH_PEER)
	$(Q)$(MAKE) --no-print-directory OPT=-O2 $(BENCH_BIN)
	$(call say,LINK,$(BENCH_PEER))
	@mkdir -p $(dir $(BENCH_PEER))
	$(Q)$(CC) $(BS_CFLAGS) -O2 $$(pkg-config --cflags sqlcipher) $(CFLAGS) \
		-o $(BENCH_PEER) $(BENCH_PEER_SRC) $(BS_LDFLAGS) $(LDFLAGS) \
		$$(pkg-config --libs sqlcipher)
	$(Q)for b in $(BENCH_BIN); do $$b || exit 1; done

clean:
	rm -rf build

# Cross builds and ARM test runs (check-arm, dist) live beside the
# toolchains.
-include platform/cross.mk
