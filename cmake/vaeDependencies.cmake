# vae_private_dependency(TARGET PACKAGE PC_LIBS): libvae links TARGET privately (the build's
# find_package found it), and the installed files say so to users of a static libvae:
#   vaeConfig.cmake  find_dependency(PACKAGE) before it defines vae::vae (PACKAGE "" when the
#                    config defines the target itself, as vae::openblas in vaeOpenBLAS.cmake)
#   vae.pc           PC_LIBS in Libs.private ("-lz")
# Adding a dependency is one call, e.g. vae_private_dependency(DNNL::dnnl dnnl "-ldnnl").
function(vae_private_dependency target package pc_libs)
  target_link_libraries(vae PRIVATE ${target})
  if(package)
    set_property(GLOBAL APPEND PROPERTY VAE_FIND_DEPENDENCIES ${package})
  endif()
  set_property(GLOBAL APPEND PROPERTY VAE_PC_LIBS_PRIVATE ${pc_libs})
endfunction()
