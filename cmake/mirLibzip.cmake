# mirLibzip.cmake — libzip for mir::io, without libzip's CMake package.
#
# Debian's libzip-dev ships libzip-config.cmake, but the targets file it
# loads also imports the zipcmp, zipmerge and ziptool programs, which live in
# other packages: without them, find_package(libzip CONFIG) stops the whole
# configure with a FATAL_ERROR, QUIET or not. So mir finds zip.h and the
# library itself (pkg-config hints when available) and wraps them in its own
# imported target `mir::libzip`; when the consuming project has already
# loaded libzip's package (TARGET libzip::zip), mir::libzip just links that.
#
# Used by mir's CMakeLists.txt and, installed next to mirConfig.cmake, by the
# package config (which recreates mir::libzip before mirTargets.cmake needs it).
#
#   mir_find_libzip(<out_var>)
#       TRUE when libzip is usable, else FALSE with the reason in
#       MIR_LIBZIP_NOT_FOUND_REASON (caller's scope).
#   mir_add_libzip_target()
#       Creates the INTERFACE IMPORTED target mir::libzip (once).
#
# Cache variables for non-standard locations: MIR_LIBZIP_INCLUDE_DIR,
# MIR_LIBZIP_LIBRARY.
include_guard(GLOBAL)

function(mir_find_libzip out_var)
  if(TARGET libzip::zip)
    set(${out_var} TRUE PARENT_SCOPE)
    return()
  endif()
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(MIR_PC_LIBZIP QUIET libzip)
  endif()
  find_path(MIR_LIBZIP_INCLUDE_DIR zip.h HINTS ${MIR_PC_LIBZIP_INCLUDE_DIRS})
  find_library(MIR_LIBZIP_LIBRARY NAMES zip libzip HINTS ${MIR_PC_LIBZIP_LIBRARY_DIRS})
  if(MIR_LIBZIP_INCLUDE_DIR AND MIR_LIBZIP_LIBRARY)
    set(${out_var} TRUE PARENT_SCOPE)
  else()
    set(${out_var} FALSE PARENT_SCOPE)
    set(MIR_LIBZIP_NOT_FOUND_REASON
      "libzip (zip.h, libzip) not found (Debian: libzip-dev; or set MIR_LIBZIP_INCLUDE_DIR / MIR_LIBZIP_LIBRARY)"
      PARENT_SCOPE)
  endif()
endfunction()

function(mir_add_libzip_target)
  if(TARGET mir::libzip)
    return()
  endif()
  add_library(mir::libzip INTERFACE IMPORTED)
  if(TARGET libzip::zip)
    set_target_properties(mir::libzip PROPERTIES INTERFACE_LINK_LIBRARIES libzip::zip)
  else()
    set_target_properties(mir::libzip PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${MIR_LIBZIP_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "${MIR_LIBZIP_LIBRARY}")
  endif()
endfunction()
