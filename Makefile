# neurond -- one plain Makefile.  make · make test · make bench · make asan · make clean
CC      ?= cc
OPT     ?= -O3
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -Wall -Wextra -MMD -MP -D_GNU_SOURCE -fno-math-errno
BUILD   ?= build
PKGS_CORE = openblas check
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS   := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)

CORE_SRC = core/names.c core/rng.c core/blas.c core/pool.c core/spec.c core/net.c \
           core/layer_dense.c core/layer_activation.c core/layer_dropout.c \
           core/layer_batchnorm.c core/layer_residual.c core/loss.c core/optim.c \
           core/train.c core/serial.c
CORE_OBJ = $(CORE_SRC:%.c=$(BUILD)/%.o)
CORE_LIB = $(BUILD)/libnncore.a

TESTS = test_spec test_layers test_loss test_optim test_net test_serial test_train
TEST_BIN = $(TESTS:%=$(BUILD)/tests/%)

BENCH_BIN = $(BUILD)/bench/bench_fmnist

.PHONY: all test check bench asan clean deps deps-bench
all: $(CORE_LIB)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BLAS_CFLAGS) $(CHECK_CFLAGS) -Icore -c $< -o $@

$(CORE_LIB): $(CORE_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/testutil.o $(CORE_LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(CHECK_LIBS) $(BLAS_LIBS) -lm -lpthread

$(BENCH_BIN): $(BUILD)/bench/bench_fmnist.o $(BUILD)/bench/idx.o $(CORE_LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(BLAS_LIBS) -lz -lm -lpthread

# Installs missing Debian packages when run as root (a no-op when all are there).
deps:
	@bash .ci/deps core
deps-bench:
	@bash .ci/deps bench

test: deps
	@$(MAKE) --no-print-directory $(TEST_BIN)
	@bash tests/run.sh $(TEST_BIN)

check: test

bench: deps-bench
	@$(MAKE) --no-print-directory $(BENCH_BIN)
	@bash bench/run.sh $(BENCH_BIN)

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan CC=clang \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  build-asan/libnncore.a $(TESTS:%=build-asan/tests/%)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 CK_FORK=no \
	  bash tests/run.sh $(TESTS:%=build-asan/tests/%)

clean:
	rm -rf build build-asan

-include $(CORE_OBJ:.o=.d) $(TEST_BIN:=.d)
