# lmlab_register_labs(TARGET): adds tests/register_labs.cpp to a test program that loads every
# spec in experiments/, linking the labs that register runners (those this build has).
function(lmlab_register_labs target)
  target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tests/register_labs.cpp)
  if(TARGET lmlab_vlm)
    target_link_libraries(${target} PRIVATE lmlab_vlm)
    target_compile_definitions(${target} PRIVATE LMLAB_HAVE_VLM)
  endif()
endfunction()
