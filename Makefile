# sanity — build, test, demo, bench, asan.
# `make test` and `make demo` each work as the one command on a fresh Debian 12
# machine: they install the dependencies first (scripts/install-deps.sh).

PKGS     := lua5.4 hdf5 openblas libcjson gsl zlib libcrypto
CC       ?= cc
OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iruntime -MMD -MP
LDLIBS   += -lpthread -lm

BUILD    ?= build
BIN      ?= bin

# pkg-config is only asked once the dependencies are there (deps runs first).
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# GSL uses OpenBLAS for its CBLAS calls, not its own slow reference copy.
# hdf5_hl (dimension scales, H5DS) ships with libhdf5-dev but has no .pc file.
PKG_LIBS   = -lhdf5_hl $(filter-out -lgslcblas,$(shell pkg-config --libs $(PKGS) 2>/dev/null))

LIB_SRC  := $(filter-out runtime/main.c,$(wildcard runtime/*.c runtime/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/%.o)
GIT_REV  := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

.PHONY: all deps test unit luatest demo asan bench clean fixtures plots FORCE
all: $(BIN)/sanity $(BIN)/unit

deps:
	@bash scripts/install-deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -DSANITY_GIT_REV='"$(GIT_REV)"' -c $< -o $@

# Layer kernels: -O3 vectorizes their loops; without loop-distribute-patterns
# GCC keeps short row copies (im2col of small images) inline instead of
# turning them into memcpy/memset calls that cost more than the copy.
$(BUILD)/runtime/nn/%.o: CFLAGS += -O3 -fno-tree-loop-distribute-patterns

# The attribution noise loops vectorize at -O3 once sqrtf needs no errno
# branch (sqrt is correctly rounded either way: same numbers); integrated
# gradients' per-step accumulation is an elementwise loop that -O3
# vectorizes without reordering any sum.
$(BUILD)/runtime/attr/noise.o: CFLAGS += -O3 -fno-math-errno
$(BUILD)/runtime/attr/integrated.o: CFLAGS += -O3
# Philox over RNG_LANES blocks (rng_blocks) vectorizes at -O3 (integers only).
$(BUILD)/runtime/rng.o: CFLAGS += -O3

# Objects that record the commit (sanity version, results provenance) are
# rebuilt when HEAD moves, not only when their sources change.
$(BUILD)/git-rev: FORCE
	@mkdir -p $(BUILD)
	@echo '$(GIT_REV)' | cmp -s - $@ || echo '$(GIT_REV)' > $@
$(BUILD)/runtime/main.o $(BUILD)/runtime/io/provenance.o: $(BUILD)/git-rev
FORCE:

$(BIN)/sanity: $(BUILD)/runtime/main.o $(LIB_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BIN)/unit: $(UNIT_OBJ) $(LIB_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

# Every test: C unit tests, then the Lua API tests through bin/sanity.
test: deps
	@$(MAKE) --no-print-directory all
	@bash tests/run.sh $(BIN)

# Same tests, built separately with AddressSanitizer and UBSan.
asan: deps
	@$(MAKE) --no-print-directory all BUILD=build-asan BIN=bin-asan \
	  OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  bash tests/run.sh bin-asan

demo: deps
	@$(MAKE) --no-print-directory all
	@mkdir -p results
	$(BIN)/sanity run experiments/demo.lua --out results/demo.h5

# The demo's figures (results/demo.h5, group mprt) as results/demo_*.png,
# drawn by scripts/plot.py with Debian's python3-h5py and python3-matplotlib.
plots:
	@test -f results/demo.h5 || { echo "make plots: results/demo.h5 is missing; run 'make demo' first" >&2; exit 1; }
	/usr/bin/python3 scripts/plot.py all results/demo.h5 -o results --group mprt

$(BIN)/bench_sgemm: scripts/bench/sgemm_raw.c
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(PKG_LIBS) $(LDLIBS)

bench: deps
	@$(MAKE) --no-print-directory all $(BIN)/bench_sgemm
	$(BIN)/sanity run scripts/bench/matmul.lua
	OPENBLAS_NUM_THREADS=1 $(BIN)/sanity run scripts/bench/nn.lua

clean:
	rm -rf build build-asan bin bin-asan

-include $(LIB_OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(BUILD)/runtime/main.d
