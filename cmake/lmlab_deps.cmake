# Finds the Debian packages that scripts/deps.sh installs and wraps each in an imported target
# (lmlab::blas, and the upstream targets for the rest).
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(ZLIB REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(PkgConfig REQUIRED)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
# PCRE2 (UTF + UCP) for the GPT-2 pre-tokenizer regex (data/): needs \p{L}, \p{N} and lookahead.
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)

# BLAS: swappable by -DLMLAB_BLAS=<name>; docs/engine.md "Ops and BLAS" has the measurements.
#   openblas         Debian libopenblas-pthread-dev (OpenBLAS's own pthread pool)
#   openblas-openmp  Debian libopenblas-openmp-dev (shares our OpenMP pool)
#   blis             Debian libblis-openmp-dev
#   onednn           Debian libdnnl-dev for f32 (dnnl_sgemm, OpenMP) + openblas-openmp for f64
# Every choice exposes CBLAS; src/ops/gemm.cpp calls dnnl_sgemm when LMLAB_BLAS_DNNL is set.
# Re-resolved on every configure so that changing LMLAB_BLAS in an existing build dir swaps.
unset(LMLAB_BLAS_LIB CACHE)
unset(LMLAB_BLAS_INC CACHE)
set(_lmlab_blas_variant "")
if(LMLAB_BLAS STREQUAL "openblas")
  set(_lmlab_blas_variant openblas-pthread)
elseif(LMLAB_BLAS STREQUAL "openblas-openmp" OR LMLAB_BLAS STREQUAL "onednn")
  set(_lmlab_blas_variant openblas-openmp)
endif()
if(_lmlab_blas_variant)
  # The variant's own directory first: /usr/lib/.../libopenblas.so is an alternatives link
  # that may point at either build.
  find_library(LMLAB_BLAS_LIB NAMES openblas PATHS /usr/lib/x86_64-linux-gnu/${_lmlab_blas_variant} NO_DEFAULT_PATH)
  if(NOT LMLAB_BLAS_LIB)
    find_library(LMLAB_BLAS_LIB NAMES openblas REQUIRED)
  endif()
  find_path(LMLAB_BLAS_INC cblas.h PATHS /usr/include/x86_64-linux-gnu/${_lmlab_blas_variant} /usr/include/openblas NO_DEFAULT_PATH REQUIRED)
elseif(LMLAB_BLAS STREQUAL "blis")
  find_library(LMLAB_BLAS_LIB NAMES blis REQUIRED)
  find_path(LMLAB_BLAS_INC cblas.h PATHS /usr/include/x86_64-linux-gnu/blis-openmp /usr/include/blis NO_DEFAULT_PATH REQUIRED)
else()
  message(FATAL_ERROR "LMLAB_BLAS must be openblas, openblas-openmp, blis or onednn, not '${LMLAB_BLAS}'")
endif()
add_library(lmlab_blas INTERFACE)
target_link_libraries(lmlab_blas INTERFACE ${LMLAB_BLAS_LIB})
target_include_directories(lmlab_blas SYSTEM INTERFACE ${LMLAB_BLAS_INC})
target_compile_definitions(lmlab_blas INTERFACE LMLAB_BLAS_NAME="${LMLAB_BLAS}")
if(LMLAB_BLAS STREQUAL "onednn")
  find_library(LMLAB_DNNL_LIB NAMES dnnl REQUIRED)
  find_path(LMLAB_DNNL_INC dnnl.h REQUIRED)
  target_link_libraries(lmlab_blas INTERFACE ${LMLAB_DNNL_LIB})
  target_include_directories(lmlab_blas SYSTEM INTERFACE ${LMLAB_DNNL_INC})
  target_compile_definitions(lmlab_blas INTERFACE LMLAB_BLAS_DNNL=1)
endif()
add_library(lmlab::blas ALIAS lmlab_blas)

add_library(lmlab_httplib INTERFACE)
target_link_libraries(lmlab_httplib INTERFACE PkgConfig::HTTPLIB Threads::Threads)
add_library(lmlab::httplib ALIAS lmlab_httplib)

add_library(lmlab_toml INTERFACE)
target_link_libraries(lmlab_toml INTERFACE PkgConfig::TOMLPP)
add_library(lmlab::toml ALIAS lmlab_toml)

# liblbfgs (Debian liblbfgs-dev): the L-BFGS minimiser behind `lmlab plan fit`.
find_library(LMLAB_LBFGS_LIB NAMES lbfgs REQUIRED)
find_path(LMLAB_LBFGS_INC lbfgs.h REQUIRED)
add_library(lmlab_lbfgs INTERFACE)
target_link_libraries(lmlab_lbfgs INTERFACE ${LMLAB_LBFGS_LIB})
target_include_directories(lmlab_lbfgs SYSTEM INTERFACE ${LMLAB_LBFGS_INC})
add_library(lmlab::lbfgs ALIAS lmlab_lbfgs)

# MPI for data-parallel training (train/data_parallel.hpp: `mpirun -np P lmlab train`). Debian's
# libopenmpi-dev; MPICH builds too (only the C API is used). ON when found; without it the
# binary trains in one process and tests that need mpirun are not registered.
find_package(MPI COMPONENTS C QUIET)
option(LMLAB_MPI "Data-parallel training over MPI (mpirun -np P lmlab train); default ON when MPI is found" ${MPI_C_FOUND})
if(LMLAB_MPI AND NOT MPI_C_FOUND)
  message(FATAL_ERROR "LMLAB_MPI=ON but CMake found no MPI: install libopenmpi-dev (or pass -DLMLAB_MPI=OFF)")
endif()
