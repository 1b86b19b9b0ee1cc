# bench.mk -- build rule for the benchmark data generator (bench/gen_lp.c).
# Included from the main Makefile, so CC, CPPFLAGS, CFLAGS, LDFLAGS and BUILD
# come from there. gen_lp is libc-only and does not link libmend, so it can be
# built and run before (or without) the library.
#
#   make $(BUILD)/bench/gen_lp     (or: make gen-lp)
#   build/bench/gen_lp --samples 10000000 --series 100000 > /tmp/bench.lp

# Including this file before the `all:` rule must not make gen_lp the default.
ifeq ($(.DEFAULT_GOAL),)
.DEFAULT_GOAL := all
endif

BUILD ?= build
GEN_LP = $(BUILD)/bench/gen_lp

$(GEN_LP): bench/gen_lp.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<

.PHONY: gen-lp
gen-lp: $(GEN_LP)

# bench_core links libmend: the parse-only and parse+score figures of `make bench`.
BENCH_CORE = $(BUILD)/bench/bench_core

$(BENCH_CORE): bench/bench_core.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# bench_logs links libmend: the log corpus generator and the lines/s figure
# (line splitting + template mining) of `make bench`.
BENCH_LOGS = $(BUILD)/bench/bench_logs

$(BENCH_LOGS): bench/bench_logs.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# bench_ocsvm links libmend: the one-class SVM scoring and training figures,
# compared with scikit-learn by bench/ocsvm_sklearn.py.
BENCH_OCSVM = $(BUILD)/bench/bench_ocsvm

$(BENCH_OCSVM): bench/bench_ocsvm.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# bench_localise links libmend: time of one localiser run by series count and window.
BENCH_LOCALISE = $(BUILD)/bench/bench_localise

$(BENCH_LOCALISE): bench/bench_localise.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# bench_pcap links libmend (and libpcap): the capture generator and the
# packets/s figure of the capture-file path, beside tcpdump -r.
BENCH_PCAP = $(BUILD)/bench/bench_pcap

$(BENCH_PCAP): bench/bench_pcap.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# bench_cluster links only libnats: JetStream into one and three `mend cluster`
# engines beside `mend replay`, and the takeover time after kill -9.
BENCH_CLUSTER = $(BUILD)/bench/bench_cluster

$(BENCH_CLUSTER): bench/bench_cluster.c tests/nats_harness.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< -lnats -lm

# bench_actions links libmend and hiredis: incident -> XADD, read -> execve,
# actions/s with a private redis-server and mend-exec.
BENCH_ACTIONS = $(BUILD)/bench/bench_actions

$(BENCH_ACTIONS): bench/bench_actions.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)
