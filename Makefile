# nabla - build the library, the CLI, the tests and the examples.
#   make                 library (build/libnabla.a, .so) and CLI (build/nabla)
#   make test            build and run the test suite (ends with "N passed, N failed")
#   make SAN=1 test      the same under AddressSanitizer + UndefinedBehaviorSanitizer (build-san/)
#   make NATIVE=1        for this machine's CPU only (-march=native, build-native/); the default runs on any x86-64
#   make install PREFIX=/usr/local
CC      ?= cc
PREFIX  ?= /usr/local
SAN     ?= 0
NATIVE  ?= 0
ifeq ($(SAN),1)
B       := build-san
SANFLAGS := -fsanitize=address,undefined
OPT     := -O1 -g $(SANFLAGS) -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
B       := build
OPT     := -O3 -g
endif
# The default build runs on any x86-64: the kernels that gain from wider vectors are built
# once per instruction set (ISA_SRC below) and chosen at run time (src/core/isa.c, NB_ISA).
# NATIVE=1 builds everything for this machine's CPU only (-march=native).
ifeq ($(NATIVE),1)
B       := $(B)-native
OPT     += -march=native
endif
WARN    := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -fopenmp -fPIC -Iinclude -Isrc -DNB_HAVE_OPENBLAS
# OpenBLAS's OpenMP build shares nabla's OpenMP thread pool; the default pthread build
# keeps a second pool whose spinning threads fight OpenMP's for the cores (BENCHMARKS.md).
# Debian ships it as libopenblas0-openmp in its own directory, same soname.
comma := ,
BLAS_DIR ?= /usr/lib/$(shell gcc -print-multiarch 2>/dev/null)/openblas-openmp
BLAS_LIB := $(if $(wildcard $(BLAS_DIR)/libopenblas.so.0),-L$(BLAS_DIR) -l:libopenblas.so.0 -Wl$(comma)-rpath$(comma)$(BLAS_DIR),-lopenblas)
LDLIBS  += $(BLAS_LIB) -lprotobuf-c -lcjson -lz -lm -lpthread -lstb -lpng -ljpeg
# WordNet's C library (Debian's wordnet-dev) for text synonyms; without it they say how to install it
LDLIBS  += $(if $(wildcard /usr/include/wn.h),-lwordnet)
LDFLAGS += -fopenmp $(SANFLAGS)
# cairo (Debian's libcairo2-dev, which brings fontconfig's) draws the CLI's plots;
# libnabla does not use it
CAIRO_CFLAGS := $(shell pkg-config --cflags cairo fontconfig 2>/dev/null)
CAIRO_LIBS   := $(or $(shell pkg-config --libs cairo fontconfig 2>/dev/null),-lcairo -lfontconfig)

# Open MPI (Debian's libopenmpi-dev, openmpi-bin) for data-parallel training (src/dist,
# docs/distributed.md): found through mpicc, only src/dist is compiled with its flags.
# Without it (or with `make NO_MPI=1`; then `make clean` first) nothing links MPI and
# nb_dist_init treats a run as one process (and fails under mpirun with more ranks).
NO_MPI  ?= 0
ifneq ($(NO_MPI),1)
MPICC      ?= $(shell command -v mpicc 2>/dev/null)
MPI_CFLAGS := $(if $(MPICC),$(shell $(MPICC) --showme:compile 2>/dev/null))
MPI_LIBS   := $(if $(MPICC),$(shell $(MPICC) --showme:link 2>/dev/null))
endif
ifneq ($(strip $(MPI_LIBS)),)
$(B)/src/dist/%.o: CFLAGS += $(MPI_CFLAGS) -DNB_HAVE_MPI
LDLIBS  += $(MPI_LIBS)
endif

LIB_SRC  := $(sort $(wildcard src/*/*.c))
# The ONNX reader's protobuf code is generated at build time by protoc-c (Debian's
# protobuf-c-compiler) from the onnx.proto Debian ships (libonnx-dev); never committed.
ONNX_PROTO ?= /usr/include/onnx/onnx.proto
ONNX_GEN := $(B)/gen/onnx.pb-c.c
# Sources compiled once per ISA, as NAME.ISA.o with -DNB_ISA_SUFFIX=_ISA (their entry
# points get the suffix; kernels/conv_isa.c dispatches; kernels/vec.h is their vector type).
ISA_SRC  := src/kernels/conv_fast.c src/kernels/conv_pool.c
ISAS     := avx512 avx2 generic
ISA_FLAGS_avx512  := -mavx512f -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma
ISA_FLAGS_avx2    := -mavx2 -mfma
ISA_FLAGS_generic :=
ISA_OBJ  := $(foreach i,$(ISAS),$(ISA_SRC:%.c=$(B)/%.$(i).o))
LIB_OBJ  := $(patsubst %.c,$(B)/%.o,$(filter-out $(ISA_SRC),$(LIB_SRC))) $(ISA_OBJ) $(B)/gen/onnx.pb-c.o
CLI_SRC  := $(sort $(wildcard tools/nabla/*.c))
CLI_OBJ  := $(CLI_SRC:%.c=$(B)/%.o)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TESTS    := $(TEST_SRC:tests/%.c=$(B)/tests/%)
EXAMPLES := $(patsubst examples/%.c,$(B)/examples/%,$(wildcard examples/*.c))

all: $(B)/libnabla.a $(B)/libnabla.so $(B)/nabla

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

define isa_rule
$(B)/%.$(1).o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(ISA_FLAGS_$(1)) -DNB_ISA_SUFFIX=_$(1) -MMD -MP -c $$< -o $$@
endef
$(foreach i,$(ISAS),$(eval $(call isa_rule,$(i))))

$(CLI_OBJ): CFLAGS += $(CAIRO_CFLAGS)

$(B)/gen/onnx.pb-c.c $(B)/gen/onnx.pb-c.h: $(ONNX_PROTO)
	@mkdir -p $(B)/gen
	protoc-c --proto_path=$(dir $(ONNX_PROTO)) --c_out=$(B)/gen $(notdir $(ONNX_PROTO))

$(B)/gen/onnx.pb-c.o: $(B)/gen/onnx.pb-c.c
	$(CC) $(filter-out -Wshadow -Wstrict-prototypes,$(CFLAGS)) -Wno-unused-parameter -c $< -o $@

$(B)/src/onnx/%.o: CFLAGS += -I$(B)/gen
$(filter $(B)/src/onnx/%,$(LIB_OBJ)): | $(B)/gen/onnx.pb-c.h

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

$(B)/libnabla.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libnabla.so: $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(B)/nabla: $(CLI_OBJ) $(B)/libnabla.a
	$(CC) -o $@ $(CLI_OBJ) $(B)/libnabla.a $(LDFLAGS) $(LDLIBS) $(CAIRO_LIBS)

$(B)/tests/%: tests/%.c $(wildcard tests/*.h) $(B)/libnabla.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(B)/libnabla.a $(LDFLAGS) $(LDLIBS)

$(B)/tests/test_onnx: CFLAGS += -I$(B)/gen

# test_faults preloads tests/faultshim.c (faults at every point of every atomic write);
# built without the sanitizers, as a plain shared library
$(B)/tests/faultshim.so: tests/faultshim.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -g -Wall -Wextra -fPIC -shared -o $@ $< -ldl
$(B)/tests/test_faults: $(B)/tests/faultshim.so

# the ONNX conformance runner (tests/onnx_conformance.sh runs it over libonnx-testdata)
$(B)/tests/onnx_conformance: tests/onnx_conformance.c $(B)/libnabla.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I$(B)/gen -Isrc/onnx -o $@ $< $(B)/libnabla.a $(LDFLAGS) $(LDLIBS)

$(B)/bench/%: bench/%.c $(B)/libnabla.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libnabla.a $(LDFLAGS) $(LDLIBS)

bench/%: $(B)/bench/% ;

$(B)/examples/%: examples/%.c $(B)/libnabla.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libnabla.a $(LDFLAGS) $(LDLIBS)

tests: $(TESTS) $(B)/nabla
examples: $(EXAMPLES)

# Each test is built on its own so one that fails to build counts as a failure
# instead of stopping the suite.
test: $(B)/libnabla.a
	-@$(MAKE) --no-print-directory $(B)/nabla >/dev/null 2>&1
	@MAKE="$(MAKE) --no-print-directory" SAN=$(SAN) sh tests/run.sh $(TESTS)

install: $(B)/libnabla.a $(B)/libnabla.so $(B)/nabla
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/nabla.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(B)/libnabla.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/libnabla.so $(DESTDIR)$(PREFIX)/lib/libnabla.so.0
	ln -sf libnabla.so.0 $(DESTDIR)$(PREFIX)/lib/libnabla.so
	install -m 755 $(B)/nabla $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|0.1.0|' -e 's|@MPI_LIBS@|$(strip $(MPI_LIBS))|' nabla.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/nabla.pc

clean:
	rm -rf build build-san

.PHONY: all test tests examples install clean
.SECONDARY:
