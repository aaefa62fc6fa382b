# mirHelpers.cmake — small functions shared by mir's own CMakeLists (not installed).
include_guard(GLOBAL)

# mir_add_interface_target(<name> <libs>...)
# The INTERFACE target mir_<name>, aliased and exported as mir::<name>, linking
# <libs>, installed into the mirTargets export set (mirConfig.cmake's components).
function(mir_add_interface_target name)
  add_library(mir_${name} INTERFACE)
  add_library(mir::${name} ALIAS mir_${name})
  set_target_properties(mir_${name} PROPERTIES EXPORT_NAME ${name})
  target_link_libraries(mir_${name} INTERFACE ${ARGN})
  install(TARGETS mir_${name} EXPORT mirTargets)
endfunction()
