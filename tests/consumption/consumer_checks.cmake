# Shared tail of the three consumer projects (included after `app` exists).

# mir::mir must carry no compile or link options: warning and sanitizer flags
# belong to mir's own targets only.
foreach(_prop INTERFACE_COMPILE_OPTIONS INTERFACE_LINK_OPTIONS)
  get_target_property(_v mir::mir ${_prop})
  if(_v)
    message(FATAL_ERROR "mir::mir has ${_prop} '${_v}'; consumers must not inherit flags")
  endif()
endforeach()

# main.cpp checks that MIR_USE_LAPACK arrived as the mir build had it.
if(NOT DEFINED MIR_EXPECT_LAPACK)
  set(MIR_EXPECT_LAPACK 0)
endif()
target_compile_definitions(app PRIVATE MIR_EXPECT_LAPACK=${MIR_EXPECT_LAPACK})
# ... and that the generated mir/version.hpp says what project(VERSION) said.
if(DEFINED MIR_EXPECT_VERSION)
  target_compile_definitions(app PRIVATE "MIR_EXPECT_VERSION=\"${MIR_EXPECT_VERSION}\"")
endif()

# find_package mode: the package must come from the temporary install prefix.
if(DEFINED MIR_EXPECTED_PREFIX)
  file(REAL_PATH "${mir_DIR}" _found)
  file(REAL_PATH "${MIR_EXPECTED_PREFIX}" _prefix)
  string(FIND "${_found}/" "${_prefix}/" _pos)
  if(NOT _pos EQUAL 0)
    message(FATAL_ERROR "mir found at '${mir_DIR}', not under '${MIR_EXPECTED_PREFIX}'")
  endif()
endif()

enable_testing()
add_test(NAME app COMMAND app)
