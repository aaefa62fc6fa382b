# ctest man_page_installed: installs the build into a fresh PREFIX and
# checks that man(1) finds mir(1) there with MANPATH set and renders it
# (the NAME line and every subcommand's section), and that the result
# schemas are installed beside it (share/mir/schema).
#   cmake -DBUILD_DIR=<build> -DPREFIX=<dir> -P checkManInstall.cmake
file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}"
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc}): ${err}")
endif()
include(GNUInstallDirs)
set(page "${PREFIX}/${CMAKE_INSTALL_MANDIR}/man1/mir.1")
if(NOT EXISTS "${page}")
  message(FATAL_ERROR "no man page at ${page} after cmake --install")
endif()
find_program(MAN man)
if(NOT MAN)
  message(FATAL_ERROR "man(1) is not installed (Debian: man-db); scripts/install-deps.sh test installs it")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" -E env "MANPATH=${PREFIX}/${CMAKE_INSTALL_MANDIR}" "${MAN}" -w mir
                OUTPUT_VARIABLE where OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT where STREQUAL "${page}")
  message(FATAL_ERROR "man -w mir with MANPATH=${PREFIX}/${CMAKE_INSTALL_MANDIR} gave '${where}' (${rc}), expected ${page}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" -E env "MANPATH=${PREFIX}/${CMAKE_INSTALL_MANDIR}" MANPAGER=cat
                        MANWIDTH=100 LC_ALL=C.UTF-8 "${MAN}" mir
                OUTPUT_VARIABLE text ERROR_VARIABLE warnings RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "man mir failed (${rc}): ${warnings}")
endif()
if(warnings)
  message(FATAL_ERROR "man mir printed warnings: ${warnings}")
endif()
foreach(want "Modality Integration Rate" "MIR compute" "MIR synth" "MIR inspect" "MIR moca-init" "MIR bench-sqrt"
        "EXIT STATUS" "--threads")
  string(FIND "${text}" "${want}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "man mir does not show '${want}':\n${text}")
  endif()
endforeach()
foreach(schema compute merge result moca-init bench-sqrt track provenance)
  if(NOT EXISTS "${PREFIX}/${CMAKE_INSTALL_DATADIR}/mir/schema/${schema}.schema.json")
    message(FATAL_ERROR "no ${schema}.schema.json in ${PREFIX}/${CMAKE_INSTALL_DATADIR}/mir/schema after cmake --install")
  endif()
endforeach()
message(STATUS "man mir: ${page} found and rendered; the result schemas installed")
