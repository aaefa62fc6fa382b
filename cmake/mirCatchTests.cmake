# mirCatchTests.cmake — register each Catch2 (v2) test case as its own ctest.
#
#   mir_catch_discover_tests(<target> [LABEL <label>] [TAG_LABELS <tag>...])
#
# After <target> is built, runs it with --list-test-names-only and writes one
# add_test() per test case, labelled <label> (default `unit`) plus, for every
# tag in TAG_LABELS the case carries, a label named after the tag: a case
# tagged [slow] gets the labels `unit;slow`, so `ctest -LE slow` leaves it out.
#
# Like Catch's own catch_discover_tests(), but one listing run for all labels,
# multiple labels per case, and no warning when a tag has no cases. Test names
# are read line by line (not as CMake lists), so brackets, commas and
# semicolons in names are safe.
include_guard(GLOBAL)

set(_MIR_CATCH_ADD_TESTS_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/mirCatchAddTests.cmake")

function(mir_catch_discover_tests target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "LABEL" "TAG_LABELS")
  if(NOT arg_LABEL)
    set(arg_LABEL unit)
  endif()
  set(_tests_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_catch_tests.cmake")
  set(_include_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_catch_include.cmake")
  string(REPLACE ";" "," _tags "${arg_TAG_LABELS}")
  add_custom_command(TARGET ${target} POST_BUILD
    BYPRODUCTS "${_tests_file}"
    COMMAND "${CMAKE_COMMAND}"
      "-DTEST_EXECUTABLE=$<TARGET_FILE:${target}>"
      "-DTEST_WORKING_DIR=${CMAKE_CURRENT_BINARY_DIR}"
      "-DTEST_LABEL=${arg_LABEL}"
      "-DTEST_TAG_LABELS=${_tags}"
      "-DCTEST_FILE=${_tests_file}"
      -P "${_MIR_CATCH_ADD_TESTS_SCRIPT}"
    VERBATIM)
  file(WRITE "${_include_file}"
    "if(EXISTS \"${_tests_file}\")\n"
    "  include(\"${_tests_file}\")\n"
    "else()\n"
    "  add_test(${target}_NOT_BUILT ${target}_NOT_BUILT)\n"
    "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${_include_file}")
endfunction()
