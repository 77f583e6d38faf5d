# cohort_add_test(name SOURCES ... [LIBS ...] [TIMEOUT s] [LABELS ...]
#                 [SPLIT suffix filter [suffix filter ...]])
# One GoogleTest executable per test file, registered with ctest. Its main
# (tests/support/gtest_main.cc) exits 77 when every selected test skipped: ctest reports
# it as skipped, never as passed. SPLIT registers the cases matching a GoogleTest filter
# as a ctest entry `name_suffix` of their own, and the rest as `name`: for a binary whose
# GPU cases skip without a device while its CPU cases run, so neither hides the other.
find_package(GTest REQUIRED)
function(cohort_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS;LABELS;SPLIT" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} cohort_gtest_main)
  target_compile_definitions(${name} PRIVATE COHORT_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set(_entries ${name})
  set(_rest "")
  set(_split ${ARG_SPLIT})
  while(_split)
    list(POP_FRONT _split _suffix _filter)
    add_test(NAME ${name}_${_suffix} COMMAND ${name} --gtest_filter=${_filter})
    list(APPEND _entries ${name}_${_suffix})
    string(APPEND _rest ":${_filter}")
  endwhile()
  if(_rest)
    string(SUBSTRING "${_rest}" 1 -1 _rest)
    add_test(NAME ${name} COMMAND ${name} --gtest_filter=-${_rest})
  else()
    add_test(NAME ${name} COMMAND ${name})
  endif()
  set_tests_properties(${_entries} PROPERTIES TIMEOUT ${ARG_TIMEOUT}
                       ENVIRONMENT "OMP_NUM_THREADS=2" SKIP_RETURN_CODE 77)
  if(ARG_LABELS)
    set_tests_properties(${_entries} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()
