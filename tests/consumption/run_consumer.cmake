# run_consumer.cmake — configure, build and run one consumer project of mir.
#
#   cmake -DMODE=find_package|add_subdirectory|fetchcontent|pkg_config
#         -DMIR_SOURCE_DIR=<mir source> -DCONSUMER_SOURCE_DIR=<consumer dir>
#         -DWORK_DIR=<scratch dir> -DCXX_COMPILER=<c++ compiler>
#         [-DMIR_BINARY_DIR=<mir build dir> -DINSTALL_PREFIX=<dir>]  (find_package, pkg_config)
#         [-DGENERATOR=<gen>] [-DMAKE_PROGRAM=<prog>] [-DCONFIG=<build type>]
#         [-DUSE_LAPACK=ON|OFF] [-DMIR_VERSION=<x.y.z>]
#         [-DCONSUMER_ARGS=<-Dvar=value;...>] [-DEXPECT_CONFIGURE_ERROR=<regex>]
#         -P run_consumer.cmake
#
# find_package and pkg_config modes first install the mir build tree
# MIR_BINARY_DIR into INSTALL_PREFIX (one prefix per test: they run in
# parallel). The consumer is configured from scratch with default flags
# (CXXFLAGS unset) and CONSUMER_ARGS; afterwards its compile_commands.json is
# checked to hold exactly one TU (the consumer's: mir's own tests etc. must be
# off when mir is not the top-level project) compiled without any of mir's
# project flags. With EXPECT_CONFIGURE_ERROR the configure step must fail
# with output matching the regex, and nothing more runs.
# pkg_config mode compiles CONSUMER_SOURCE_DIR/main.cpp with
# `pkg-config --cflags --libs mir` (PKG_CONFIG_PATH = the prefix's pkgconfig
# directories) and runs it.
cmake_minimum_required(VERSION 3.20)

foreach(_v MODE MIR_SOURCE_DIR CONSUMER_SOURCE_DIR WORK_DIR CXX_COMPILER)
  if(NOT DEFINED ${_v} OR "${${_v}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${_v}=... is required")
  endif()
endforeach()
if(NOT MODE MATCHES "^(find_package|add_subdirectory|fetchcontent|pkg_config)$")
  message(FATAL_ERROR "run_consumer.cmake: unknown MODE '${MODE}'")
endif()
if(USE_LAPACK)
  set(_lapack ON)
  set(_expect_lapack 1)
else()
  set(_lapack OFF)
  set(_expect_lapack 0)
endif()

function(_run what)
  message(STATUS "[${MODE}] ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "[${MODE}] ${what} failed (${_rc}): ${ARGN}")
  endif()
endfunction()

# Installs MIR_BINARY_DIR into INSTALL_PREFIX and checks the headers (the
# generated version.hpp among them) and the package files are there.
function(_install_mir)
  foreach(_v MIR_BINARY_DIR INSTALL_PREFIX)
    if(NOT ${_v})
      message(FATAL_ERROR "run_consumer.cmake: MODE=${MODE} needs -D${_v}=...")
    endif()
  endforeach()
  file(REMOVE_RECURSE "${INSTALL_PREFIX}")
  _run("install mir into ${INSTALL_PREFIX}"
    "${CMAKE_COMMAND}" --install "${MIR_BINARY_DIR}" --prefix "${INSTALL_PREFIX}" ${_config_args})
  file(GLOB_RECURSE _cfg "${INSTALL_PREFIX}/*/mirConfig.cmake")
  file(GLOB_RECURSE _ver "${INSTALL_PREFIX}/*/mirConfigVersion.cmake")
  file(GLOB_RECURSE _pc "${INSTALL_PREFIX}/*/pkgconfig/mir.pc")
  foreach(_h mir.hpp version.hpp config.hpp)
    if(NOT EXISTS "${INSTALL_PREFIX}/include/mir/${_h}")
      message(FATAL_ERROR "[${MODE}] install is incomplete: no ${INSTALL_PREFIX}/include/mir/${_h}")
    endif()
  endforeach()
  if(EXISTS "${INSTALL_PREFIX}/include/mir/version.hpp.in")
    message(FATAL_ERROR "[${MODE}] the template version.hpp.in was installed")
  endif()
  if(NOT _cfg OR NOT _ver OR NOT _pc)
    message(FATAL_ERROR "[${MODE}] install is incomplete: config='${_cfg}' version='${_ver}' pkg-config='${_pc}'")
  endif()
endfunction()

set(_build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(_config_args "")
set(_build_config_args "")
if(NOT "${CONFIG}" STREQUAL "")
  set(_config_args --config "${CONFIG}")
  set(_build_config_args -C "${CONFIG}")
endif()

set(_configure
  "${CMAKE_COMMAND}" -E env --unset=CXXFLAGS --unset=CPPFLAGS --unset=LDFLAGS
  "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${_build}"
  "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
  "-DMIR_EXPECT_LAPACK=${_expect_lapack}")
if(GENERATOR)
  list(APPEND _configure -G "${GENERATOR}")
endif()
if(MAKE_PROGRAM)
  list(APPEND _configure "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(NOT "${CONFIG}" STREQUAL "")
  list(APPEND _configure "-DCMAKE_BUILD_TYPE=${CONFIG}")
endif()

if(MODE STREQUAL "pkg_config")
  _install_mir()
  find_program(_pkg_config NAMES pkg-config pkgconf REQUIRED)
  file(GLOB _pc_dirs LIST_DIRECTORIES true "${INSTALL_PREFIX}/*/pkgconfig")
  set(ENV{PKG_CONFIG_PATH} "${_pc_dirs}")
  execute_process(COMMAND "${_pkg_config}" --cflags --libs mir
    OUTPUT_VARIABLE _flags ERROR_VARIABLE _err RESULT_VARIABLE _rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "[${MODE}] pkg-config --cflags --libs mir failed (${_rc}): ${_err}")
  endif()
  message(STATUS "[${MODE}] pkg-config --cflags --libs mir: ${_flags}")
  separate_arguments(_flags UNIX_COMMAND "${_flags}")
  # The (relocatable) include directory must be the prefix's.
  file(REAL_PATH "${INSTALL_PREFIX}/include" _want)
  set(_found_include FALSE)
  foreach(_f IN LISTS _flags)
    if(_f MATCHES "^-I(.+)$")
      file(REAL_PATH "${CMAKE_MATCH_1}" _dir)
      if(_dir STREQUAL _want)
        set(_found_include TRUE)
      endif()
    endif()
  endforeach()
  if(NOT _found_include)
    message(FATAL_ERROR "[${MODE}] the flags do not point at the prefix's include directory ${_want}")
  endif()
  set(_app "${WORK_DIR}/app")
  _run("compile consumer" "${CMAKE_COMMAND}" -E env --unset=CXXFLAGS --unset=CPPFLAGS --unset=LDFLAGS
    "${CXX_COMPILER}" -std=c++20 "-DMIR_EXPECT_LAPACK=${_expect_lapack}" "-DMIR_EXPECT_VERSION=\"${MIR_VERSION}\""
    "${CONSUMER_SOURCE_DIR}/main.cpp" -o "${_app}" ${_flags})
  _run("run consumer" "${_app}")
  return()
endif()

list(APPEND _configure ${CONSUMER_ARGS})
if(MIR_VERSION)
  list(APPEND _configure "-DMIR_EXPECT_VERSION=${MIR_VERSION}")
endif()
if(MODE STREQUAL "find_package")
  _install_mir()
  list(APPEND _configure
    "-DCMAKE_PREFIX_PATH=${INSTALL_PREFIX}"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    "-DMIR_EXPECTED_PREFIX=${INSTALL_PREFIX}")
else()
  list(APPEND _configure
    "-DMIR_SOURCE_DIR=${MIR_SOURCE_DIR}"
    "-DMIR_USE_LAPACK=${_lapack}")
endif()

if(DEFINED EXPECT_CONFIGURE_ERROR)
  message(STATUS "[${MODE}] configure consumer (must fail)")
  execute_process(COMMAND ${_configure} RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
  if(_rc EQUAL 0)
    message(FATAL_ERROR "[${MODE}] configuring the consumer succeeded; expected a failure matching "
                        "'${EXPECT_CONFIGURE_ERROR}':\n${_out}")
  endif()
  if(NOT _out MATCHES "${EXPECT_CONFIGURE_ERROR}")
    message(FATAL_ERROR "[${MODE}] configure failed, but without '${EXPECT_CONFIGURE_ERROR}':\n${_out}")
  endif()
  message(STATUS "[${MODE}] configure failed as expected:\n${_out}")
  return()
endif()

_run("configure consumer" ${_configure})
_run("build consumer" "${CMAKE_COMMAND}" --build "${_build}" ${_config_args})

# Default flags only: nothing of mir's project settings may reach the consumer.
file(READ "${_build}/compile_commands.json" _cc)
string(JSON _n LENGTH "${_cc}")
if(NOT _n EQUAL 1)
  message(FATAL_ERROR "[${MODE}] expected exactly one compiled file (the consumer's main.cpp), "
                      "got ${_n}: mir built its own targets inside a consumer?\n${_cc}")
endif()
string(JSON _cmd ERROR_VARIABLE _err GET "${_cc}" 0 command)
if(_err)
  string(JSON _cmd GET "${_cc}" 0 arguments)
endif()
foreach(_flag -Werror -Wall -Wextra -Wpedantic -Wshadow -fsanitize)
  string(FIND "${_cmd}" "${_flag}" _pos)
  if(NOT _pos EQUAL -1)
    message(FATAL_ERROR "[${MODE}] consumer compiled with mir's project flag ${_flag}:\n${_cmd}")
  endif()
endforeach()
message(STATUS "[${MODE}] consumer compile command (default flags): ${_cmd}")

_run("run consumer" "${CMAKE_CTEST_COMMAND}" --test-dir "${_build}" ${_build_config_args} --output-on-failure --verbose)
