# mirWarnings.cmake — compile settings for mir's *own* targets only
# (tests, header check, examples, benchmarks, tools, fuzzers).
#
#   mir_project_warnings(<target>)
#
# adds, as PRIVATE options (never propagated to consumers of mir::mir):
#   * -Wall -Wextra -Wpedantic -Wshadow, plus -Werror when MIR_WERROR is ON;
#   * when MIR_SANITIZE is ON: -fsanitize=address,undefined
#     -fno-omit-frame-pointer -fno-sanitize-recover=all (compile and link).
#
# Call it on every executable / library the project itself builds. Never
# call it on the INTERFACE target `mir`: consumers must compile mir's
# headers with their own flags.
include_guard(GLOBAL)

set(MIR_SANITIZER_FLAGS
  -fsanitize=address,undefined
  -fno-omit-frame-pointer
  -fno-sanitize-recover=all)

function(mir_project_warnings target)
  get_target_property(_type ${target} TYPE)
  if(_type STREQUAL "INTERFACE_LIBRARY")
    message(FATAL_ERROR "mir_project_warnings(${target}): not for INTERFACE targets; "
                        "consumers must not inherit the project's warning flags.")
  endif()
  if(MSVC)
    target_compile_options(${target} PRIVATE /W4 $<$<BOOL:${MIR_WERROR}>:/WX>)
  else()
    target_compile_options(${target} PRIVATE
      -Wall -Wextra -Wpedantic -Wshadow
      $<$<BOOL:${MIR_WERROR}>:-Werror>)
  endif()
  if(MIR_SANITIZE)
    if(MSVC)
      message(FATAL_ERROR "MIR_SANITIZE is only supported with GCC and Clang")
    endif()
    target_compile_options(${target} PRIVATE ${MIR_SANITIZER_FLAGS})
    target_link_options(${target} PRIVATE ${MIR_SANITIZER_FLAGS})
  endif()
endfunction()
