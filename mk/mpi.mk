# Tensor parallelism over Open MPI (issue 22, Documentation/tensor-parallel.md):
# tools/mpi/tp_mpi.c, the CLI's glue between MPI and the runtime's slices, is built and
# linked when MPI=1, by default when pkg-config finds Open MPI (ompi-c; mk/deps.sh
# installs openmpi-bin and libopenmpi-dev). MPI=0, a cross build or no Open MPI: the CLI
# is the single-process program (tools/tp.h's one-process stubs) and nothing else changes.
# A CLI with MPI calls MPI_Init only when mpirun started it (its environment), so run
# without mpirun it stays one process.

MPI ?= $(if $(CROSS),0,$(if $(shell pkg-config --exists ompi-c 2>/dev/null && echo y),1,0))

ifeq ($(MPI),1)
MPI_CFLAGS := $(shell pkg-config --cflags ompi-c)
MPI_LIBS   := $(shell pkg-config --libs ompi-c)
CLI_EXTRA_OBJS += $(call obj,tools/mpi/tp_mpi.c)
CLI_EXTRA_LIBS += $(MPI_LIBS)
$(call obj,$(TOOL_SRC) tools/mpi/tp_mpi.c): CPPFLAGS += -DAS_HAVE_MPI
$(call obj,tools/mpi/tp_mpi.c): CPPFLAGS += $(MPI_CFLAGS)
endif
