# lmlab_add_layer(NAME DEPS dep... [OPTIONAL_DEPS lmlab_x...] [EXCLUDE file.cpp...]): a static
# library lmlab_<NAME> from every .cpp under src/<NAME>/ but the excluded ones (picked up
# automatically; re-run of cmake is triggered by new files). An excluded file is for the
# layer's CMakeLists to add when it can. Each optional layer lmlab_x that is built is linked
# and announced to the layer's sources as LMLAB_<NAME>_HAS_<X>=1 (upper case).
function(lmlab_add_layer name)
  cmake_parse_arguments(ARG "" "" "DEPS;OPTIONAL_DEPS;EXCLUDE" ${ARGN})
  set(has_defs)
  foreach(dep IN LISTS ARG_OPTIONAL_DEPS)
    if(TARGET ${dep})
      list(APPEND ARG_DEPS ${dep})
      string(REGEX REPLACE "^lmlab_" "" short ${dep})
      string(TOUPPER "LMLAB_${name}_HAS_${short}=1" def)
      list(APPEND has_defs ${def})
    endif()
  endforeach()
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  foreach(x IN LISTS ARG_EXCLUDE)
    list(REMOVE_ITEM srcs ${CMAKE_CURRENT_SOURCE_DIR}/${x})
  endforeach()
  if(NOT srcs)  # header-only so far
    add_library(lmlab_${name} INTERFACE)
    target_include_directories(lmlab_${name} INTERFACE ${PROJECT_SOURCE_DIR}/src ${PROJECT_BINARY_DIR}/generated)
    target_link_libraries(lmlab_${name} INTERFACE ${ARG_DEPS})
    set_property(GLOBAL APPEND PROPERTY LMLAB_LAYER_TARGETS lmlab_${name})
    return()
  endif()
  add_library(lmlab_${name} STATIC ${srcs})
  target_include_directories(lmlab_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_BINARY_DIR}/generated)
  target_link_libraries(lmlab_${name} PUBLIC ${ARG_DEPS})
  target_compile_definitions(lmlab_${name} PRIVATE ${has_defs})
  add_dependencies(lmlab_${name} lmlab_version_header)
  set_property(GLOBAL APPEND PROPERTY LMLAB_LAYER_TARGETS lmlab_${name})
endfunction()

# lmlab_add_test(NAME LABEL label SOURCES a.cpp... LIBS lib...): one GoogleTest executable,
# its tests registered with ctest under LABEL (unit, ops, golden or slow). Tests run with
# the repository root as working directory so fixtures are found by relative path.
function(lmlab_add_test name)
  cmake_parse_arguments(ARG "" "LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT ARG_LABEL)
    message(FATAL_ERROR "lmlab_add_test(${name}): LABEL is required")
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${name} PRIVATE LMLAB_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  gtest_discover_tests(${name}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
endfunction()

# lmlab_test_register_labs(TARGET): for a test that loads the repository's experiments/*.toml,
# which may name any lab's task: links the labs layer and tests/register_labs.cpp (a static
# registrar) when that layer is built (not under a LMLAB_LAYERS_ONLY build without it).
function(lmlab_test_register_labs target)
  if(TARGET lmlab_labs)
    target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tests/register_labs.cpp)
    target_link_libraries(${target} PRIVATE lmlab_labs)
  endif()
endfunction()
