# mend -- build, test, demo, bench and evaluation targets.
#
#   make            build bin/mend (and build/libmend.a it links)
#   make deps       install missing Debian packages (as root), or print the apt line
#   make test       run every cmocka test binary
#   make asan       the same tests under AddressSanitizer + UBSan
#   make tsan       the background-training tests (test_ocsvm, test_model_ocsvm) under ThreadSanitizer
#   make demo       replay the bundled sample and print its incidents
#   make bench      throughput and memory figures beside a `wc -l` reference
#   make eval-nab   score the NAB split in ../shared/data/nab (or NAB_DIR=...)
#   make eval-logs  template grouping accuracy on ../shared/data/loghub (or LOGHUB_DIR=...)
#   make eval-asd   score the ASD servers in ../shared/data/asd (or ASD_DIR=...)
#   make eval-localise  rank suspects on ASD and PetShop (ASD_DIR=..., PETSHOP_DIR=...)
#   make install    PREFIX=/usr DESTDIR=...: binary, man pages, completion, example config, systemd unit
#   make fuzz       every libFuzzer target in tests/fuzz for FUZZ_SECONDS (default 60) each

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2 -g
WARN     = -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wconversion \
           -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla -Werror
CPPFLAGS += -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude
CFLAGS  += $(OPT) $(WARN) $(SAN)
LDFLAGS += $(SAN)
LDLIBS  += -lgsl -lgslcblas -lsvm -lyaml -lcrypto -lxxhash -lm -lpthread -lcurl
LDLIBS  += -lpcap
LDLIBS  += -ljansson
LDLIBS  += -lnats
LDLIBS  += -lhiredis
TESTLIBS = -lcmocka -ljansson
TESTLIBS += -lhiredis

LIB_SRC  = $(filter-out src/cli/% src/exec/exec_main.c,$(wildcard src/*/*.c))
CLI_SRC  = $(wildcard src/cli/*.c)
TEST_SRC = $(wildcard tests/test_*.c)
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  = $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
FUZZ_NAMES  = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY = $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)
FUZZ_SECONDS ?= 60
LIB      = $(BUILD)/libmend.a
MEND     = bin/mend
MEND_EXEC = $(dir $(MEND))mend-exec

DEB_PKGS = build-essential pkg-config libgsl-dev libsvm-dev libpcap-dev libhiredis-dev tcpdump \
           libcmocka-dev libyaml-dev libssl-dev libxxhash-dev libjansson-dev redis-server \
           libcurl4-openssl-dev prometheus-node-exporter
DEB_PKGS += prometheus curl systemd man-db  # test_daemon, test_metrics: promtool, a real Prometheus, systemd-analyze, man
DEB_PKGS += libnats-dev nats-server  # the cluster: JetStream input and its tests
DEB_PKGS += openssl python3  # make demo: a fresh signing key; the demo stand-in service
NAB_DIR ?= ../shared/data/nab
LOGHUB_DIR ?= ../shared/data/loghub
ASD_DIR ?= ../shared/data/asd
PETSHOP_DIR ?= ../shared/data/petshop

.PHONY: all deps test asan tsan demo bench eval-nab eval-logs eval-asd eval-localise clean install
all: $(MEND) $(MEND_EXEC)

include bench/bench.mk

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(MEND): $(CLI_OBJ) $(LIB)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

$(MEND_EXEC): $(BUILD)/src/exec/exec_main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) $(TESTLIBS)

deps:
	@sh scripts/deps.sh $(DEB_PKGS)

# The package check runs again only when the list (this Makefile) changes.
$(BUILD)/.deps-ok: Makefile scripts/deps.sh
	@sh scripts/deps.sh $(DEB_PKGS)
	@mkdir -p $(BUILD) && touch $@

# Test objects are intermediates of the test binaries: keep them, so a second
# `make test` relinks nothing.
.SECONDARY:

# Tests run from the repository root so fixtures resolve as tests/fixtures/...
# MEND_BIN lets tests that drive the CLI find the binary of this build.
test: $(BUILD)/.deps-ok $(TEST_BIN) $(MEND) $(MEND_EXEC) $(FUZZ_REPLAY)
	@MEND_BIN=$(abspath $(MEND)) sh scripts/run-tests.sh $(TEST_BIN) $(FUZZ_REPLAY)

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    MEND=build-asan/mend test

# ThreadSanitizer over the test that trains on a worker thread while the
# main thread scores (the library is rebuilt with -fsanitize=thread).
tsan:
	@$(MAKE) --no-print-directory BUILD=build-tsan OPT="-O1 -g" SAN="-fsanitize=thread" \
	    MEND=build-tsan/mend build-tsan/tests/test_ocsvm build-tsan/tests/test_model_ocsvm build-tsan/mend
	@TSAN_OPTIONS=halt_on_error=1 MEND_BIN=$(abspath build-tsan/mend) \
	    sh scripts/run-tests.sh build-tsan/tests/test_ocsvm build-tsan/tests/test_model_ocsvm

demo: $(BUILD)/.deps-ok $(MEND)
	@sh scripts/demo.sh $(MEND)

bench: $(MEND) $(GEN_LP) $(BENCH_CORE) $(BENCH_LOGS) $(BENCH_OCSVM) $(BENCH_LOCALISE) $(BENCH_PCAP) $(BENCH_CLUSTER) \
       $(BENCH_ACTIONS) $(MEND_EXEC)
	@BENCH_LOGS=$(BENCH_LOGS) BENCH_OCSVM=$(BENCH_OCSVM) BENCH_LOCALISE=$(BENCH_LOCALISE) \
	    BENCH_PCAP=$(BENCH_PCAP) BENCH_CLUSTER=$(BENCH_CLUSTER) MEND_BIN=$(abspath $(MEND)) \
	    BENCH_ACTIONS=$(BENCH_ACTIONS) BENCH_EXEC=$(MEND_EXEC) \
	    sh scripts/bench.sh $(GEN_LP) $(BENCH_CORE)

eval-nab: $(MEND)
	@sh scripts/eval-nab.sh $(MEND) $(NAB_DIR)

# make notebooks: execute notebooks/*.ipynb (NAB per file, the false-alarm
# study on noise, how the defaults were chosen) into build/notebooks/, with
# Debian's jupyter-nbconvert and its python3 kernel (/usr/bin/python3).
.PHONY: notebooks
notebooks: $(MEND)
	@mkdir -p $(BUILD)/notebooks
	@for nb in notebooks/*.ipynb; do \
	    echo "notebook $$nb"; \
	    NAB_DIR=$(abspath $(NAB_DIR)) /usr/bin/jupyter-nbconvert --to notebook --execute \
	        --ExecutePreprocessor.timeout=900 --ExecutePreprocessor.kernel_name=python3 \
	        --output-dir $(BUILD)/notebooks "$$nb" || exit 1; \
	done

eval-logs: $(MEND)
	@sh scripts/eval-logs.sh $(MEND) $(LOGHUB_DIR)

eval-asd: $(MEND)
	@sh scripts/eval-asd.sh $(MEND) $(ASD_DIR)

eval-localise: $(MEND)
	@sh scripts/eval-localise.sh $(MEND) $(ASD_DIR) $(PETSHOP_DIR)

# make install PREFIX=/usr DESTDIR=/tmp/pkg: the binary, man pages, bash
# completion, an example configuration, the systemd unit.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
install: $(MEND)
	@sh scripts/install.sh $(MEND) "$(DESTDIR)" $(PREFIX) $(SYSCONFDIR)

clean:
	rm -rf build build-asan build-tsan build-fuzz bin

# Fuzzing (tests/fuzz/README.md): every tests/fuzz/fuzz_NAME.c is a target.
# `make test` replays each seed corpus through a plain build (replay.c);
# `make fuzz FUZZ_SECONDS=N` builds the library and the targets with clang's
# libFuzzer, ASan and UBSan in build-fuzz/ and runs each for N seconds
# (FUZZ_ONLY="a b" runs only those).
$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/fuzz.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/fuzz -DFUZZ_NAME='"$*"' -DFUZZ_CORPUS='"tests/fuzz/corpus/$*"' \
	    -o $@ tests/fuzz/fuzz_$*.c tests/fuzz/replay.c $(LIB) $(LDFLAGS) $(LDLIBS)
.PHONY: fuzz
fuzz:
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang OPT="-O1 -g -fno-omit-frame-pointer" \
	    WARN="-std=c11" SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
	    build-fuzz/libmend.a
	@sh scripts/fuzz.sh $(FUZZ_SECONDS) "$(CPPFLAGS)" "$(LDLIBS)" $(or $(FUZZ_ONLY),$(FUZZ_NAMES))

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_BIN:=.d) $(BUILD)/src/exec/exec_main.d
