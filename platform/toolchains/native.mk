# Native build: the host's compiler and libraries.  The CPU file follows
# the compiler's target triple, never the machine we happen to run on.
CROSS_COMPILE ?=
NATIVE_CC := $(if $(filter default,$(origin CC)),gcc,$(CC))
ifneq ($(filter x86_64%,$(shell $(NATIVE_CC) -dumpmachine 2>/dev/null)),)
CPU_SRC := platform/unix/cpu_x86.c
else
CPU_SRC := platform/unix/cpu_generic.c
endif
