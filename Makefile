# HyperFork build. `make` builds the VMM and the bare guests; `make check` runs every test;
# `make demo` boots a bare and a Linux guest; `make linux-guest` builds the guest kernel.
CC ?= gcc
BUILD := build
CFLAGS ?= -O2 -g
WERROR ?= -Werror
HF_CFLAGS := $(CFLAGS) -std=gnu11 -Wall -Wextra $(WERROR) -Wno-missing-field-initializers -Wno-format-truncation \
	-D_GNU_SOURCE -Iinclude -Isrc -I$(BUILD)/proto -MMD -MP
HF_LDLIBS := -ljansson -lmicrohttpd -lseccomp -lcrypto -lzip -lpthread

VMM_SRCS := $(wildcard src/util/*.c src/core/*.c src/arch/x86/*.c src/loader/*.c \
	src/devices/*.c src/devices/vsock/*.c src/clone/*.c src/api/*.c src/cmd/*.c src/serve/*.c \
	src/jail/*.c src/vmm/*.c)
VMM_OBJS := $(VMM_SRCS:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libhyperfork.a

# Bare guests: freestanding, identity-mapped from 1 MiB, started in ring 3.
GUEST_CFLAGS := -O2 -g -std=gnu11 -ffreestanding -fno-pie -fno-stack-protector \
	-fno-asynchronous-unwind-tables -fcf-protection=none -mno-red-zone \
	-Wall -Wextra $(WERROR) -Iinclude -Iguest/runtime -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,guest/runtime/guest.ld \
	-Wl,--build-id=none -Wl,-z,noexecstack -Wl,-z,max-page-size=4096
GUEST_RT := $(BUILD)/guest/runtime/start.o $(BUILD)/guest/runtime/hf.o
# Pure libm functions for guests that want them (musl's static libc, from musl-tools). Named,
# not found by $(wildcard) when the Makefile is read: on a new machine make check installs
# musl-tools (deps) after that, and the benchmark guest then failed to link.
GUEST_LIBS := /usr/lib/x86_64-linux-musl/libc.a -lgcc
GUEST_SRCS := $(wildcard guest/examples/*.c tests/guests/*.c bench/guests/*.c)
GUESTS := $(patsubst %.c,$(BUILD)/%.elf,$(GUEST_SRCS))

# The containerd shim's messages (src/shim/): C made at build time by protoc-c into
# $(BUILD)/proto (never committed) from the .proto files Debian ships: containerd's task
# service, its types and task events (golang-github-containerd-containerd-dev), the cgroup
# v2 metrics a task's Stats answers with (golang-github-containerd-cgroups-dev), the
# well-known types and google/rpc/status.proto from gogo's packages, and ttrpc's own
# Request/Response (src/shim/ttrpc.proto: Debian's ttrpc 1.1.1 defines them in Go only).
# containerd's protos import gogo.proto and fieldpath.proto weakly, for options protobuf-c
# ignores: they are found on the include path and only their headers are used (the
# generated headers include them; nothing refers to their symbols), so they are not compiled.
GOCODE := /usr/share/gocode/src
CTRD := github.com/containerd/containerd
PROTO_PATH := -Isrc/shim -I$(GOCODE) -I$(GOCODE)/github.com/gogo/protobuf \
	-I$(GOCODE)/github.com/gogo/protobuf/protobuf -I$(GOCODE)/github.com/gogo/googleapis
PROTOS := ttrpc.proto google/rpc/status.proto google/protobuf/any.proto \
	google/protobuf/empty.proto google/protobuf/timestamp.proto $(CTRD)/api/types/mount.proto \
	$(CTRD)/api/types/task/task.proto $(CTRD)/runtime/v2/task/shim.proto \
	$(CTRD)/api/events/task.proto $(CTRD)/api/services/ttrpc/events/v1/events.proto \
	github.com/containerd/cgroups/v2/stats/metrics.proto
PROTOS_WEAK := gogoproto/gogo.proto $(CTRD)/protobuf/plugin/fieldpath.proto \
	google/protobuf/descriptor.proto
PROTO_OBJS := $(PROTOS:%.proto=$(BUILD)/proto/%.pb-c.o)
SHIM_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(filter-out src/shim/main.c,$(wildcard src/shim/*.c)))
# The shim binary containerd runs for runtime io.containerd.hyperfork.v1 (src/shim/main.c).
SHIM_BIN := $(BUILD)/containerd-shim-hyperfork-v1
SHIM_LIB := $(BUILD)/libhfshim.a
SHIM_LDLIBS := -lprotobuf-c

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:%.c=$(BUILD)/%)
TOOLS := $(patsubst %.c,$(BUILD)/%,$(wildcard tests/tools/*.c bench/tools/*.c))

all: $(BUILD)/hyperfork guests $(TOOLS) $(SHIM_LIB) $(SHIM_BIN)

guests: $(GUESTS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(HF_CFLAGS) -c $< -o $@

$(LIB): $(filter-out $(BUILD)/src/main.o,$(VMM_OBJS))
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/proto/.stamp: src/shim/ttrpc.proto Makefile
	@rm -rf $(BUILD)/proto && mkdir -p $(BUILD)/proto
	protoc-c $(PROTO_PATH) --c_out=$(BUILD)/proto $(PROTOS) $(PROTOS_WEAK)
	@touch $@

$(BUILD)/proto/%.pb-c.o: $(BUILD)/proto/.stamp
	$(CC) $(CFLAGS) -std=gnu11 -Wall $(WERROR) -I$(BUILD)/proto -c $(BUILD)/proto/$*.pb-c.c -o $@

$(SHIM_OBJS): $(BUILD)/proto/.stamp

$(SHIM_LIB): $(SHIM_OBJS) $(PROTO_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/src/shim/main.o: $(BUILD)/proto/.stamp

$(SHIM_BIN): $(BUILD)/src/shim/main.o $(SHIM_LIB) $(LIB)
	$(CC) $(HF_CFLAGS) -o $@ $^ $(HF_LDLIBS) $(SHIM_LDLIBS)

$(BUILD)/hyperfork: $(BUILD)/src/main.o $(LIB)
	$(CC) $(HF_CFLAGS) -o $@ $^ $(HF_LDLIBS)

$(BUILD)/guest/runtime/%.o: guest/runtime/%.c
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c $< -o $@

$(BUILD)/guest/runtime/%.o: guest/runtime/%.S
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c $< -o $@

$(BUILD)/%.elf: %.c $(GUEST_RT) guest/runtime/guest.ld
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $(GUEST_RT) $< $(GUEST_LIBS)

$(BUILD)/tests/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(HF_CFLAGS) -o $@ $<

$(BUILD)/bench/tools/%: bench/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(HF_CFLAGS) -o $@ $<

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(HF_CFLAGS) -o $@ $< $(LIB) $(HF_LDLIBS) -lcmocka

$(BUILD)/tests/unit/test_ttrpc $(BUILD)/tests/unit/test_shim: $(BUILD)/tests/unit/%: tests/unit/%.c $(SHIM_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(HF_CFLAGS) -o $@ $< $(SHIM_LIB) $(LIB) $(HF_LDLIBS) $(SHIM_LDLIBS) -lcmocka

# Each unit test binary under a limit (UNIT_TIMEOUT seconds): a hang fails, named.
# $(UNIT_LIMITED) $$t || $(UNIT_FAILED) in a recipe's loop over t.
UNIT_TIMEOUT ?= 300
UNIT_LIMITED = timeout -k 5 $(UNIT_TIMEOUT)
UNIT_FAILED = { r=$$?; [ $$r = 124 ] && echo "FAIL $$t: no end within $(UNIT_TIMEOUT) s (UNIT_TIMEOUT)"; exit $$r; }
unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $(UNIT_LIMITED) $$t || $(UNIT_FAILED); done

# libFuzzer targets (tests/fuzz/fuzz_*.c, clang with ASan/UBSan), each run for FUZZ_SECONDS
# from its seeds (tests/fuzz/seeds.py and the bare guests' ELFs); what each finds stays in
# build/fuzz/corpus/TARGET, a crash in build/fuzz/crash-* (its path printed, and the run
# fails). FUZZ_TARGETS="fuzz_a fuzz_b" runs only those; an input running over FUZZ_TIMEOUT
# seconds is a finding (a hang). Prints execs per target, and writes them to
# build/fuzz/summary.txt (bench/report.sh reports bench/results/fuzz.txt). FUZZ_JOBS (one
# per core) run at once (tests/fuzz/smoke-one.sh runs one). Part of `check`.
FUZZ_SECONDS ?= 10
FUZZ_TIMEOUT ?= 25
FUZZ_JOBS ?= $(shell nproc)
FUZZ_TARGETS ?= $(notdir $(basename $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_BINS := $(FUZZ_TARGETS:%=build/fuzz/tests/fuzz/%)
FUZZ_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
	-Wno-unknown-warning-option
fuzz-build: guests
	$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang WERROR= \
		CFLAGS="$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link" build/fuzz/libhyperfork.a $(FUZZ_BINS)

build/fuzz/tests/fuzz/fuzz_ttrpc: tests/fuzz/fuzz_ttrpc.c $(SHIM_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(HF_CFLAGS) -fsanitize=fuzzer -o $@ $< $(SHIM_LIB) $(LIB) $(HF_LDLIBS) $(SHIM_LDLIBS)

build/fuzz/tests/fuzz/%: tests/fuzz/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(HF_CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB) $(HF_LDLIBS)

fuzz: fuzz-build
	@set -e; rm -rf build/fuzz/seeds; python3 tests/fuzz/seeds.py build/fuzz/seeds; \
	echo "$$(date -u '+%Y-%m-%d %H:%M UTC'), commit $$(git rev-parse --short HEAD 2>/dev/null), $(FUZZ_SECONDS) s per target" \
		> build/fuzz/summary.txt; \
	mkdir -p build/fuzz/seeds/fuzz_elf; cp $(GUESTS) build/fuzz/seeds/fuzz_elf/; \
	echo "fuzz: $(words $(FUZZ_BINS)) targets, $(FUZZ_SECONDS) s each, $(FUZZ_JOBS) at a time"; \
	printf '%s\n' $(FUZZ_BINS) | xargs -P $(FUZZ_JOBS) -I{} tests/fuzz/smoke-one.sh {} $(FUZZ_SECONDS) $(FUZZ_TIMEOUT) || \
		{ echo "fuzz: findings above"; exit 1; }; echo "fuzz: no findings (build/fuzz/summary.txt)"

# Whatever boots guests needs KVM: it runs here when this machine's /dev/kvm works, and
# otherwise inside an emulated KVM host (scripts/kvm-host.sh; HYPERFORK_EMULATE=0|1 forces
# either way). Everything is built here first: compiling inside that host is ~10x slower.
KVM_RUN := scripts/kvm-host.sh --auto -t $(or $(KVM_HOST_TIMEOUT),4800) --

integration: all linux-guest stock-kernel runtimes
	$(KVM_RUN) tests/integration/run.sh

# The fuzz smoke (FUZZ_SECONDS each) runs here first; then the integration tests and the
# sanitized ones (scripts/check-guests.sh: here with this machine's KVM, else in two emulated
# hosts side by side). The whole of check has CHECK_BUDGET seconds (85 min, under CI's 90;
# 0: no limit): suites that would start after that are not run and fail the run, by name,
# and one line says how long everything before the guests took.
CHECK_BUDGET ?= 5100
ifeq ($(filter check,$(MAKECMDGOALS)),check)
ifeq ($(HF_CHECK_START),)
export HF_CHECK_START := $(shell date +%s)
export HF_CHECK_DEADLINE := $(if $(filter 0,$(CHECK_BUDGET)),0,$(shell echo $$(( $(HF_CHECK_START) + $(CHECK_BUDGET) ))))
endif
endif
check: deps layers all unit fuzz linux-guest stock-kernel runtimes sanitize-build
	@now=$$(date +%s); echo "check: $$((now - HF_CHECK_START)) s for packages, build, unit tests, fuzz smoke and kernels;" \
		"$$( [ "$$HF_CHECK_DEADLINE" -gt 0 ] && echo "$$((HF_CHECK_DEADLINE - now)) s left of CHECK_BUDGET=$(CHECK_BUDGET)" || echo "no time budget")"
	scripts/check-guests.sh
	@echo "check: passed in $$(( $$(date +%s) - HF_CHECK_START )) s"

integration-run:
	tests/integration/run.sh $(TESTS)

# The unit tests and the integration tests (all but the long Linux boot tests) built with
# AddressSanitizer and UBSan; any report fails the run.
SAN_TESTS ?= test_bare test_cli test_control test_fork test_template test_reset test_net test_disk test_vsock test_function test_shim
sanitize: sanitize-build
	$(KVM_RUN) $(MAKE) --no-print-directory sanitize-run

sanitize-build: all linux-guest stock-kernel
	$(MAKE) BUILD=build/san CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" \
		build/san/hyperfork build/san/containerd-shim-hyperfork-v1 $(UNIT_SRCS:%.c=build/san/%)

SAN_REPORTS ?= build/san/reports
# (SAN_UNIT empty: only SAN_TESTS, not the unit tests; scripts/check-guests.sh runs the suites
# that boot Linux elsewhere when this machine's KVM is slow at it.)
SAN_UNIT ?= 1
san-tests:
	@echo $(SAN_TESTS)
sanitize-run:
	rm -rf $(SAN_REPORTS) && mkdir -p $(SAN_REPORTS)
	@set -e; for t in $(if $(SAN_UNIT),$(UNIT_SRCS:%.c=build/san/%)); do echo "== $$t"; \
		ASAN_OPTIONS=log_path=$(CURDIR)/$(SAN_REPORTS)/asan \
		UBSAN_OPTIONS=print_stacktrace=1:log_path=$(CURDIR)/$(SAN_REPORTS)/ubsan \
		$(UNIT_LIMITED) $$t > /dev/null || $(UNIT_FAILED); done
	HF_BIN=$(CURDIR)/build/san/hyperfork SHIM_BIN=$(CURDIR)/build/san/containerd-shim-hyperfork-v1 \
		ASAN_OPTIONS=log_path=$(CURDIR)/$(SAN_REPORTS)/asan:detect_leaks=0 \
		UBSAN_OPTIONS=print_stacktrace=1:log_path=$(CURDIR)/$(SAN_REPORTS)/ubsan \
		HF_TEST_LOGS=$(CURDIR)/build/test-logs/sanitized tests/integration/run.sh $(SAN_TESTS)
	@if ls $(SAN_REPORTS) | grep -q .; then cat $(SAN_REPORTS)/*; echo "sanitize: reports above"; exit 1; fi
	@echo "sanitize: no sanitizer reports"

deps:
	@scripts/install-deps.sh

# The house check: every #include runs down the layers of src/LAYERS or sideways, and no
# files include each other in a circle (tests/layers.py, with its own test first).
layers:
	@tests/test_layers.sh

linux-guest:
	guest/linux/build.sh

# The managed runtimes' root file systems (Debian packages by name, cached): build/runtimes/,
# where serve looks for them.
RUNTIMES := python3.11 nodejs18.x
runtimes:
	@for r in $(RUNTIMES); do scripts/runtime-image.sh $$r > /dev/null || exit 1; done

# Debian's stock kernel, unpacked (not installed): the emulated KVM host's kernel, and a
# distribution kernel booted as a guest by the tests.
stock-kernel:
	@scripts/debian-kernel.sh

demo: deps all linux-guest stock-kernel runtimes
	$(KVM_RUN) scripts/demo.sh

bench: deps all linux-guest stock-kernel
	$(KVM_RUN) bench/run-all.sh

# Not part of check: clones made and destroyed through serve for SOAK_SECONDS (default 60)
# with random kills, then fails if fds, RSS or slab grew or anything was left behind
# (tests/soak/soak.py). The emulated host's timeout leaves room for setup and the checks.
SOAK_SECONDS ?= 60
soak: all
	$(KVM_RUN) env SOAK_SECONDS=$(SOAK_SECONDS) tests/soak/soak.sh

clean:
	rm -rf $(BUILD)/src $(BUILD)/guest $(BUILD)/tests $(BUILD)/bench $(BUILD)/hyperfork $(LIB) \
		$(BUILD)/san $(BUILD)/proto $(SHIM_LIB) $(SHIM_BIN)

.PHONY: layers soak fuzz fuzz-build all guests unit integration integration-run check deps linux-guest stock-kernel runtimes demo bench san-tests \
	clean sanitize sanitize-build sanitize-run
-include $(shell find $(BUILD)/src $(BUILD)/guest $(BUILD)/tests $(BUILD)/bench -name '*.d' 2>/dev/null)
