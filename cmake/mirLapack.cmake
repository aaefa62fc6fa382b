# mirLapack.cmake — detection of OpenBLAS (CBLAS) + LAPACKE for mir.
#
# Used twice: by mir's own CMakeLists.txt (to choose the MIR_USE_LAPACK
# default and build the target) and, installed next to mirConfig.cmake, by
# the package config (to recreate the same imported target on the consumer's
# machine before mirTargets.cmake refers to it).
#
#   mir_find_lapack(<out_var>)
#       Sets <out_var> to TRUE when both CBLAS (cblas.h + OpenBLAS) and
#       LAPACKE (lapacke.h + liblapacke) are found, FALSE otherwise, and sets
#       MIR_LAPACK_INCLUDE_DIRS, MIR_LAPACK_LIBRARIES and
#       MIR_LAPACK_NOT_FOUND_REASON in the caller's scope.
#
#   mir_add_lapack_target()
#       Creates the INTERFACE IMPORTED target `mir::lapack` (unless it
#       already exists) from the variables set by mir_find_lapack().
#       The exported mir::mir target links this exact name.
#
# Cache variables a user may set to point at non-standard locations:
#   MIR_CBLAS_INCLUDE_DIR, MIR_OPENBLAS_LIBRARY (only when OpenBLAS has no
#   CMake config), MIR_LAPACKE_INCLUDE_DIR, MIR_LAPACKE_LIBRARY.
include_guard(GLOBAL)

function(mir_find_lapack out_var)
  set(_inc "")
  set(_libs "")
  set(_reason "")

  # --- OpenBLAS (BLAS + CBLAS) -------------------------------------------
  # Debian ships OpenBLASConfig.cmake (OpenBLAS_INCLUDE_DIRS has cblas.h,
  # OpenBLAS_LIBRARIES the shared library).
  find_package(OpenBLAS CONFIG QUIET)
  if(OpenBLAS_FOUND AND OpenBLAS_LIBRARIES)
    find_path(MIR_CBLAS_INCLUDE_DIR cblas.h
      HINTS ${OpenBLAS_INCLUDE_DIRS} NO_DEFAULT_PATH)
    set(_blas_lib ${OpenBLAS_LIBRARIES})
  else()
    # Fallback for systems without the CMake config.
    find_path(MIR_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas)
    find_library(MIR_OPENBLAS_LIBRARY NAMES openblas)
    set(_blas_lib ${MIR_OPENBLAS_LIBRARY})
  endif()
  if(NOT MIR_CBLAS_INCLUDE_DIR OR NOT _blas_lib)
    string(APPEND _reason " OpenBLAS/cblas.h not found (Debian: libopenblas-dev).")
  endif()

  # --- LAPACKE -------------------------------------------------------------
  find_path(MIR_LAPACKE_INCLUDE_DIR lapacke.h
    HINTS ${OpenBLAS_INCLUDE_DIRS} PATH_SUFFIXES lapacke openblas)
  find_library(MIR_LAPACKE_LIBRARY NAMES lapacke)
  if(NOT MIR_LAPACKE_INCLUDE_DIR OR NOT MIR_LAPACKE_LIBRARY)
    string(APPEND _reason " LAPACKE (lapacke.h, liblapacke) not found (Debian: liblapacke-dev).")
  endif()

  if(_reason STREQUAL "")
    set(_inc ${MIR_CBLAS_INCLUDE_DIR} ${MIR_LAPACKE_INCLUDE_DIR})
    list(REMOVE_DUPLICATES _inc)
    # LAPACKE first: it needs LAPACK symbols that OpenBLAS provides.
    set(_libs ${MIR_LAPACKE_LIBRARY} ${_blas_lib})
    set(${out_var} TRUE PARENT_SCOPE)
  else()
    set(${out_var} FALSE PARENT_SCOPE)
  endif()
  set(MIR_LAPACK_INCLUDE_DIRS "${_inc}" PARENT_SCOPE)
  set(MIR_LAPACK_LIBRARIES "${_libs}" PARENT_SCOPE)
  string(STRIP "${_reason}" _reason)
  set(MIR_LAPACK_NOT_FOUND_REASON "${_reason}" PARENT_SCOPE)
endfunction()

function(mir_add_lapack_target)
  if(TARGET mir::lapack)
    return()
  endif()
  if(NOT MIR_LAPACK_LIBRARIES)
    message(FATAL_ERROR "mir_add_lapack_target(): call mir_find_lapack() first (and check its result).")
  endif()
  add_library(mir::lapack INTERFACE IMPORTED)
  set_target_properties(mir::lapack PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${MIR_LAPACK_INCLUDE_DIRS}"
    INTERFACE_LINK_LIBRARIES "${MIR_LAPACK_LIBRARIES}")
endfunction()

# mir_lapack_pkgconfig_flags(<cflags_var> <libs_var>)
# The pkg-config form of mir::lapack (for mir.pc): the MIR_USE_LAPACK define
# and include directories, and the libraries as full paths, from the
# variables set by mir_find_lapack().
function(mir_lapack_pkgconfig_flags cflags_var libs_var)
  set(_cflags "-DMIR_USE_LAPACK=1")
  foreach(_dir IN LISTS MIR_LAPACK_INCLUDE_DIRS)
    if(NOT _dir STREQUAL "/usr/include")
      string(APPEND _cflags " -I${_dir}")
    endif()
  endforeach()
  list(JOIN MIR_LAPACK_LIBRARIES " " _libs)
  set(${cflags_var} "${_cflags}" PARENT_SCOPE)
  set(${libs_var} "${_libs}" PARENT_SCOPE)
endfunction()
