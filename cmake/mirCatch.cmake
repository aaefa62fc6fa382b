# mirCatch.cmake — mir's Catch2 (v2) executables in ctest.
#
#   mir_catch_tests(<target> <label>)
#
# With MIR_CATCH_DISCOVER_TESTS (default ON): one ctest per test case, found
# by Catch2's own catch_discover_tests() (Catch.cmake, Debian's catch2 2.13)
# after <target> is built, in two listings: cases not tagged [slow] get the
# label <label>, cases tagged [slow] the labels `<label>;slow` (so
# `ctest -LE slow` leaves them out). Catch.cmake's PROPERTIES cannot carry a
# two-element label list, so the slow cases get theirs from a small include
# file run after Catch's (TEST_LIST). Catch escapes , [ ] in the names it
# passes back as test specs; FAIL_REGULAR_EXPRESSION catches a spec that
# matches nothing (Catch v2 exits 0 then). Catch warns "contains no tests"
# when no case is tagged [slow].
#
# With MIR_CATCH_DISCOVER_TESTS=OFF: two ctests, <target> (~[slow]) and
# <target>_slow ([slow]), with the same labels.
include_guard(GLOBAL)
include(Catch)   # found through Catch2's package directory (find_package(Catch2) adds it to CMAKE_MODULE_PATH)

function(mir_catch_tests target label)
  set(_props WORKING_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}" FAIL_REGULAR_EXPRESSION "No test cases matched")
  if(NOT MIR_CATCH_DISCOVER_TESTS)
    add_test(NAME ${target} COMMAND ${target} "~[slow]")
    add_test(NAME ${target}_slow COMMAND ${target} "[slow]")
    set_tests_properties(${target} PROPERTIES LABELS "${label}" ${_props})
    set_tests_properties(${target}_slow PROPERTIES LABELS "${label};slow" ${_props})
    return()
  endif()
  catch_discover_tests(${target} TEST_SPEC "~[slow]" PROPERTIES LABELS ${label} ${_props})
  catch_discover_tests(${target} TEST_SPEC "[slow]" TEST_LIST ${target}_slow_cases PROPERTIES ${_props})
  set(_labels_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_slow_labels.cmake")
  file(WRITE "${_labels_file}"
    "foreach(_case IN LISTS ${target}_slow_cases)\n"
    "  set_tests_properties(\"\${_case}\" PROPERTIES LABELS \"${label};slow\")\n"
    "endforeach()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${_labels_file}")
endfunction()
