# lmlab_add_layer(NAME DEPS dep... [EXCLUDE file.cpp...]): a static library lmlab_<NAME> from
# every .cpp under src/<NAME>/ but the excluded ones (picked up automatically; re-run of cmake is
# triggered by new files). An excluded file is for the layer's CMakeLists to add when it can.
function(lmlab_add_layer name)
  cmake_parse_arguments(ARG "" "" "DEPS;EXCLUDE" ${ARGN})
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

# lmlab_link_labs(TEST): a test program that loads every experiments/*.toml also registers the
# lab layers built (tests/labs_env.cpp), whose tasks those specs name.
function(lmlab_link_labs name)
  target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/labs_env.cpp)
  if(TARGET lmlab_datalab)
    target_link_libraries(${name} PRIVATE lmlab_datalab)
    target_compile_definitions(${name} PRIVATE LMLAB_HAS_DATALAB=1)
  endif()
endfunction()
