# oneDNN (Debian's libdnnl-dev) as the imported target vae::onednn: what libvae links for the float
# GEMM when VAE_GEMM is onednn, found the same way by the build and by the installed
# vaeConfig.cmake (a static libvae passes it on). libvae calls omp_set_num_threads, so the OpenMP
# runtime that oneDNN threads through is linked too; no source is compiled with -fopenmp.
if(NOT TARGET vae::onednn)
  find_path(DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.h REQUIRED)
  find_library(DNNL_LIBRARY NAMES dnnl REQUIRED)
  find_package(OpenMP REQUIRED COMPONENTS CXX)
  add_library(vae::onednn UNKNOWN IMPORTED)
  set_target_properties(vae::onednn PROPERTIES IMPORTED_LOCATION "${DNNL_LIBRARY}"
                        INTERFACE_LINK_LIBRARIES "${OpenMP_CXX_LIBRARIES}")
endif()
