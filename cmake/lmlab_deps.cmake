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

# BLAS: swappable by -DLMLAB_BLAS=openblas|blis; both expose the CBLAS interface.
if(LMLAB_BLAS STREQUAL "openblas")
  find_library(LMLAB_BLAS_LIB NAMES openblas REQUIRED)
  find_path(LMLAB_BLAS_INC cblas.h PATHS /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include/openblas NO_DEFAULT_PATH REQUIRED)
elseif(LMLAB_BLAS STREQUAL "blis")
  find_library(LMLAB_BLAS_LIB NAMES blis REQUIRED)
  find_path(LMLAB_BLAS_INC cblas.h PATHS /usr/include/x86_64-linux-gnu/blis-openmp /usr/include/blis NO_DEFAULT_PATH REQUIRED)
else()
  message(FATAL_ERROR "LMLAB_BLAS must be openblas or blis, not '${LMLAB_BLAS}'")
endif()
add_library(lmlab_blas INTERFACE)
target_link_libraries(lmlab_blas INTERFACE ${LMLAB_BLAS_LIB})
target_include_directories(lmlab_blas SYSTEM INTERFACE ${LMLAB_BLAS_INC})
target_compile_definitions(lmlab_blas INTERFACE LMLAB_BLAS_NAME="${LMLAB_BLAS}")
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
