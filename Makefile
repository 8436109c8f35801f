# neurond -- one plain Makefile.  make · make run · make test · make check · make deps · make bench (-rnn, -http, -events, -pg) · make asan · make fuzz · make image · make clean
CC      ?= cc
OPT     ?= -O3
CFLAGS  ?= $(OPT) -g
override CFLAGS += -std=c11 -Wall -Wextra -MMD -MP -D_GNU_SOURCE -fno-math-errno
BUILD   ?= build
PKGS_CORE = openblas check
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS   := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
# the engine's own needs: BLAS, and zlib for the checksum of saved networks
CORE_LIBS    = $(BLAS_LIBS) -lz -lm -lpthread
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)

# every file of core/ (a new layer kind's file among them) goes into the engine's library
CORE_SRC = $(sort $(wildcard core/*.c))
CORE_OBJ = $(CORE_SRC:%.c=$(BUILD)/%.o)
CORE_LIB = $(BUILD)/libnncore.a

TESTS = test_field test_spec test_layers test_loss test_optim test_blas test_net test_serial test_train test_recurrent
SERVER_TESTS = test_db test_format test_csv test_networks test_api_datasets test_api_networks test_api_jobs test_api_models test_api_model_names test_api_predict test_api_batching test_api_protocols test_api_sequences test_api_timeseries test_api_charts test_api_tfevents test_protobuf test_svg test_hub test_api_events test_e2e test_http test_guard test_pg_restart test_nodes test_nodes_events
TEST_BIN = $(TESTS:%=$(BUILD)/tests/%)
SERVER_TEST_BIN = $(SERVER_TESTS:%=$(BUILD)/tests/%)

BENCH_BIN = $(BUILD)/bench/bench_fmnist
BENCH_RNN_BIN = $(BUILD)/bench/bench_rnn

# The service: server/ in modules, one folder and one header each, compiled each with only
# the flags it needs. Arrows point one way, down this list (docs/DESIGN.md; the layering
# check of make check holds them): format and config need libc only, ops atomics, store
# SQLite and libpq, http libmicrohttpd; the rest jansson, and the engine's header where
# they use it.
SERVER_MODULES = format config ops store http domain events queue api
# pkg-config names per module
PKGS_format =
PKGS_config =
PKGS_ops =
PKGS_store = sqlite3 libpq jansson
PKGS_http = libmicrohttpd jansson
PKGS_domain = jansson
PKGS_events = jansson
PKGS_queue = jansson
PKGS_api = jansson
PKGS_main = jansson
# the modules that include core/nn.h
USES_CORE = domain events queue api main
pkg_cflags = $(if $(1),$(shell pkg-config --cflags $(1) 2>/dev/null))
module_cflags = -Iserver $(if $(filter $(1),$(USES_CORE)),-Icore) $(call pkg_cflags,$(PKGS_$(1)))

SERVER_PKGS = libmicrohttpd jansson sqlite3 libpq
SERVER_CFLAGS := $(shell pkg-config --cflags $(SERVER_PKGS) 2>/dev/null)
SERVER_LIBS   := $(shell pkg-config --libs $(SERVER_PKGS) 2>/dev/null || echo -lmicrohttpd -ljansson -lsqlite3 -lpq)
JANSSON_LIBS  := $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)
SERVER_SRC = $(foreach m,$(SERVER_MODULES),$(sort $(wildcard server/$(m)/*.c)))
# generated: the migrations of each backend (store) and the dashboard page (api), compiled
# into their modules
SERVER_GEN = $(BUILD)/server/store/migrations.o $(BUILD)/server/store/pg_migrations.o \
             $(BUILD)/server/api/dashboard_page.o
SERVER_OBJ = $(SERVER_SRC:%.c=$(BUILD)/%.o) $(SERVER_GEN)
SERVER_LIB = $(BUILD)/libneurond.a
NEUROND = $(BUILD)/neurond
PORT ?= 8080

.PHONY: all run test test-contract check check-pg layering test-browser browser-deps test-eventsource eventsource-deps test-onnx onnx-deps bench bench-rnn bench-http bench-events bench-pg bench-hostile asan tsan fuzz clean deps deps-run deps-bench deps-container lint-api image test-container test-fresh
all: $(CORE_LIB) $(NEUROND)

# Builds and starts the service on 127.0.0.1:$(PORT) with its database under ./var/.
run: deps-run
	@$(MAKE) --no-print-directory $(NEUROND)
	./$(NEUROND) --port $(PORT)

# The engine: its own header and BLAS only.
$(BUILD)/core/%.o: core/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BLAS_CFLAGS) -Icore -c $< -o $@

define module_rule
$(BUILD)/server/$(1)/%.o: server/$(1)/%.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $(call module_cflags,$(1)) -c $$< -o $$@
endef
$(foreach m,$(SERVER_MODULES),$(eval $(call module_rule,$(m))))

$(BUILD)/server/main.o: server/main.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(call module_cflags,main) -c $< -o $@

# Tests, fuzz harnesses and benchmarks see everything.
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BLAS_CFLAGS) $(CHECK_CFLAGS) $(SERVER_CFLAGS) -Icore -Iserver -Itests -c $< -o $@

$(BUILD)/server/store/migrations.c: $(wildcard migrations/*.sql) server/store/embed.sh
	@mkdir -p $(dir $@)
	sh server/store/embed.sh $(wildcard migrations/*.sql) > $@

$(BUILD)/server/store/migrations.o: $(BUILD)/server/store/migrations.c
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/server/store/pg_migrations.c: $(wildcard migrations/pg/*.sql) server/store/embed.sh
	@mkdir -p $(dir $@)
	sh server/store/embed.sh -p pg_ $(wildcard migrations/pg/*.sql) > $@

$(BUILD)/server/store/pg_migrations.o: $(BUILD)/server/store/pg_migrations.c
	$(CC) $(CFLAGS) -c $< -o $@

# The dashboard page, compiled in as one string (its @VERSION@ becomes NEUROND_VERSION).
$(BUILD)/server/api/dashboard_page.c: server/dashboard/index.html server/dashboard/embed.sh
	@mkdir -p $(dir $@)
	sh server/dashboard/embed.sh server/dashboard/index.html > $@

$(BUILD)/server/api/dashboard_page.o: $(BUILD)/server/api/dashboard_page.c
	$(CC) $(CFLAGS) -Iserver -c $< -o $@

$(SERVER_LIB): $(SERVER_OBJ)
	rm -f $@ && ar rcs $@ $^

$(NEUROND): $(BUILD)/server/main.o $(SERVER_LIB) $(CORE_LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(SERVER_LIBS) $(CORE_LIBS)

$(CORE_LIB): $(CORE_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/testutil.o $(CORE_LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(TEST_LDFLAGS) $(CHECK_LIBS) $(CORE_LIBS)

# test_recurrent counts the engine's allocations during training (none per step): its
# link sends them through the suite's own wrappers.
$(BUILD)/tests/test_recurrent: TEST_LDFLAGS = -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc

# The service's suites also link the service and libcurl (its end-to-end clients).
$(SERVER_TEST_BIN): $(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/srvutil.o $(BUILD)/tests/testutil.o $(SERVER_LIB) $(CORE_LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(CHECK_LIBS) $(SERVER_LIBS) -lcurl $(CORE_LIBS)

$(BENCH_BIN): $(BUILD)/bench/bench_fmnist.o $(BUILD)/bench/idx.o $(CORE_LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(CORE_LIBS)

$(BENCH_RNN_BIN): $(BUILD)/bench/bench_rnn.o $(CORE_LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(CORE_LIBS)

$(BUILD)/bench/fmnist_csv: $(BUILD)/bench/fmnist_csv.o $(BUILD)/bench/idx.o
	$(CC) $(CFLAGS) $^ -o $@ -lz

# Trains through the REST API and loads the prediction route with wrk.
bench-http: deps-bench
	@$(MAKE) --no-print-directory $(NEUROND) $(BENCH_BIN) $(BUILD)/bench/fmnist_csv
	@bash bench/http.sh $(BUILD)

# The service against hostile clients (bench/hostile.py): memory after large JSON bodies,
# /healthz with idle sockets, slow clients and busy request threads, predictions with
# tokens on and off. OTHER=path/to/neurond compares another build in the same run.
bench-hostile: deps-bench
	@$(MAKE) --no-print-directory $(NEUROND)
	@python3 bench/hostile.py $(NEUROND) $(OTHER)

$(BUILD)/bench/events: $(BUILD)/bench/events.o
	$(CC) $(CFLAGS) $^ -o $@ $(JANSSON_LIBS) -lm

# 200 clients on a job's event stream: the delay from an epoch's end to its event, and
# the service's CPU with 200 idle streams.
bench-events: deps-bench
	@$(MAKE) --no-print-directory $(NEUROND) $(BUILD)/bench/events
	@bash bench/events.sh $(BUILD)

# Nodes sharing one PostgreSQL (bench/pg.sh, a throwaway cluster): training on PostgreSQL
# against SQLite and what it writes per epoch, an epoch's end to its event on another node,
# a lease's takeover after SIGKILL, tiny jobs through 3 nodes. ROUNDS sets (a)'s rounds.
bench-pg: deps-bench
	@$(MAKE) --no-print-directory $(NEUROND) $(BUILD)/bench/events
	@bash bench/pg.sh $(BUILD) $(or $(ROUNDS),3)

# Installs missing Debian packages when run as root (a no-op when all are there): deps
# what make test needs, deps-run what make run needs.
deps:
	@bash .ci/deps test
deps-run:
	@bash .ci/deps core
deps-bench:
	@bash .ci/deps bench
# podman and what building the base image needs (nothing when ENGINE=docker)
deps-container:
	@[ "$${ENGINE:-podman}" != podman ] || bash .ci/deps container

# Everything: the packages first, then the C suites and the layering check (make check),
# the OpenAPI lint, api/openapi.yaml against the code's field tables, and the browser test.
test: deps
	@$(MAKE) --no-print-directory check
	@$(MAKE) --no-print-directory lint-api browser-deps eventsource-deps onnx-deps $(CONTRACT_DUMP)
	@bash tests/run.sh tests/contract.test.mjs $(BROWSER_TESTS) $(EVENTSOURCE_TESTS) $(ONNX_TESTS)

# What the code accepts, as JSON, for tests/contract.test.mjs (and that test alone).
CONTRACT_DUMP = $(BUILD)/tests/contract_dump
$(CONTRACT_DUMP): $(BUILD)/tests/contract_dump.o $(SERVER_LIB) $(CORE_LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(SERVER_LIBS) $(CORE_LIBS)

test-contract: deps
	@$(MAKE) --no-print-directory lint-api $(CONTRACT_DUMP)
	@bash tests/run.sh tests/contract.test.mjs

# The C suites and the layering check, with what is installed: no package installation,
# no network. The service's suites run twice: on SQLite, then on PostgreSQL, in a
# throwaway cluster that tests/pg.sh starts and stops (said and left out when PostgreSQL
# 15 is not installed).
check: $(TEST_BIN) $(SERVER_TEST_BIN) $(NEUROND)
	@bash tests/layering.sh $(BUILD)
	@bash tests/run.sh $(TEST_BIN) $(SERVER_TEST_BIN)
	@bash tests/pg.sh run $(SERVER_TEST_BIN)

# The service's suites on PostgreSQL only.
check-pg: $(SERVER_TEST_BIN) $(NEUROND)
	@bash tests/pg.sh run $(SERVER_TEST_BIN)

# Which module may use which (server/ and core/): includes and, from the object files,
# symbols. Part of make check.
layering: $(SERVER_OBJ) $(CORE_OBJ) $(BUILD)/server/main.o
	@bash tests/layering.sh $(BUILD)

# The dashboard in headless Chromium (Debian's chromium package), driven by the
# playwright-core that tests/browser/package-lock.json pins, installed into
# tests/browser/node_modules when it is not there. Also part of make test.
BROWSER_TESTS = tests/browser/dashboard.test.mjs
browser-deps:
	@[ -d tests/browser/node_modules/playwright-core ] || npm ci --prefix tests/browser --no-audit --no-fund

# A job's event stream read by the npm eventsource package (a standard EventSource),
# which tests/eventsource/package-lock.json pins, installed into
# tests/eventsource/node_modules when it is not there. Also part of make test.
EVENTSOURCE_TESTS = tests/eventsource/eventsource.test.mjs
eventsource-deps:
	@[ -d tests/eventsource/node_modules/eventsource ] || npm ci --prefix tests/eventsource --no-audit --no-fund

test-eventsource: eventsource-deps $(NEUROND)
	@bash tests/run.sh $(EVENTSOURCE_TESTS)

# Models' ONNX exports run by ONNX Runtime for Node.js, which tests/onnx/package-lock.json
# pins (onnxruntime-node: its install script, which fetches a GPU build from elsewhere, is
# skipped; the CPU runtime comes in the package), and checked by Debian's python3-onnx.
# Installed into tests/onnx/node_modules when it is not there. Also part of make test.
ONNX_TESTS = tests/onnx/onnx.test.mjs
onnx-deps:
	@[ -d tests/onnx/node_modules/onnxruntime-node ] || npm ci --prefix tests/onnx --ignore-scripts --no-audit --no-fund

test-onnx: deps
	@$(MAKE) --no-print-directory $(NEUROND) onnx-deps
	@bash tests/run.sh $(ONNX_TESTS)

test-browser: deps
	@$(MAKE) --no-print-directory $(NEUROND) browser-deps
	@bash tests/run.sh $(BROWSER_TESTS)

# Lints api/openapi.yaml (rules in api/redocly.yaml) with the Redocly CLI that
# api/package-lock.json pins, installed into api/node_modules when it is not there; no
# telemetry, no update check.
REDOCLY = api/node_modules/.bin/redocly
lint-api:
	@[ -x $(REDOCLY) ] || npm ci --prefix api --no-audit --no-fund
	cd api && REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
	  ./node_modules/.bin/redocly lint --config redocly.yaml openapi.yaml

bench: deps-bench
	@$(MAKE) --no-print-directory $(BENCH_BIN)
	@bash bench/run.sh $(BENCH_BIN)

# The recurrent layers (rnn, lstm, gru) on the adding problem against PyTorch's
# (bench/rnn.sh; ROUNDS and EPOCHS set its rounds and epochs).
bench-rnn: deps-bench
	@$(MAKE) --no-print-directory $(BENCH_RNN_BIN)
	@bash bench/rnn.sh $(BENCH_RNN_BIN) $(or $(ROUNDS),3) $(or $(EPOCHS),1)

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan CC=clang \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  build-asan/libnncore.a $(TESTS:%=build-asan/tests/%) $(SERVER_TESTS:%=build-asan/tests/%) build-asan/neurond
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 CK_FORK=no NEUROND_BIN=build-asan/neurond \
	  bash tests/run.sh $(TESTS:%=build-asan/tests/%) $(SERVER_TESTS:%=build-asan/tests/%)

# The suites that use threads (the engine's pool, the checkpointer, the hub, the workers
# and cancels, concurrent predictions and deletes, the HTTP layer's request pool and
# reaper, the guard; the server they start is built with it
# too) under ThreadSanitizer. A report anywhere, in a suite or in a server it started, is a
# failure: each process writes its reports to build-tsan/log/, which must stay empty.
TSAN_TESTS = test_net test_train test_db test_hub test_api_models test_api_events test_api_jobs \
             test_http test_guard test_api_batching
tsan: deps
	@$(MAKE) --no-print-directory BUILD=build-tsan CC=clang \
	  CFLAGS="-O1 -g -fsanitize=thread -fno-omit-frame-pointer" \
	  $(TSAN_TESTS:%=build-tsan/tests/%) build-tsan/neurond
	@rm -rf build-tsan/log && mkdir -p build-tsan/log
	@TSAN_OPTIONS="log_path=$(CURDIR)/build-tsan/log/tsan second_deadlock_stack=1" CK_FORK=no \
	  NEUROND_BIN=build-tsan/neurond bash tests/run.sh $(TSAN_TESTS:%=build-tsan/tests/%)
	@if ls build-tsan/log | grep -q .; then cat build-tsan/log/*; \
	  echo "ThreadSanitizer reported $$(cat build-tsan/log/* | grep -c '^SUMMARY') problem(s)"; \
	  exit 1; fi

# The container image neurond:latest (docker/Dockerfile), built with podman (ENGINE=docker
# works too) on a Debian base that docker/base.sh makes with debootstrap when it is missing;
# BASE=debian:bookworm-slim takes a registry's image instead, IMAGE=name:tag another name.
image: deps-container
	@bash docker/image.sh

# Builds the image and tests it as a user would (tests/container.sh): a volume, a published
# port, the health check, a job, a SIGTERM stop and a restart; then three nodes sharing
# PostgreSQL, docker/compose.postgres.yaml (tests/container_pg.sh). Not part of make test.
test-container: deps-container
	@bash tests/container.sh; a=$$?; bash tests/container_pg.sh && exit $$a

# The README's two commands on a bare Debian, in a container of the debootstrapped base
# (tests/fresh.sh): make run and its curl loop, then make test. Not part of make test.
test-fresh: deps-container
	@bash tests/fresh.sh

# Coverage-guided fuzzing (clang's libFuzzer) of every parser of client bytes, and of the
# handlers that check requests (dataset uploads, jobs, query parameters; called directly on
# a temporary database under /tmp): one harness per target in fuzz/, seeds in
# fuzz/corpus/<target>/. Each target runs for FUZZ_SECONDS (make fuzz FUZZ_SECONDS=600
# for a longer run); any crash, leak, UB, hang or broken property fails. Not part of make
# test.
FUZZ_TARGETS = fuzz_csv fuzz_spec_json fuzz_nn_load fuzz_predict fuzz_routes fuzz_protocols \
               fuzz_datasets_json fuzz_jobs_request fuzz_query
FUZZ_SECONDS ?= 60
FUZZ_BIN = $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)
# fuzzutil.o: what the harnesses calling handlers on a temporary database share
$(FUZZ_BIN): $(BUILD)/fuzz/%: $(BUILD)/fuzz/%.o $(BUILD)/fuzz/fuzzutil.o $(SERVER_LIB) $(CORE_LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(SERVER_LIBS) $(CORE_LIBS)

fuzz: deps
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang \
	  CFLAGS="-O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  $(FUZZ_TARGETS:%=build-fuzz/fuzz/%)
	@bash fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS:%=build-fuzz/fuzz/%)

clean:
	rm -rf build build-asan build-tsan build-fuzz

-include $(CORE_OBJ:.o=.d) $(BUILD)/bench/bench_rnn.d $(SERVER_SRC:%.c=$(BUILD)/%.d) $(BUILD)/server/main.d $(TEST_BIN:=.d) $(SERVER_TEST_BIN:=.d) \
         $(BUILD)/tests/srvutil.d $(BUILD)/tests/testutil.d \
         $(FUZZ_BIN:=.d) $(BUILD)/fuzz/fuzzutil.d $(CONTRACT_DUMP).d
