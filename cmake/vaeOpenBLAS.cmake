# OpenBLAS (its CBLAS interface) as the imported target vae::openblas: what libvae links, found
# the same way by the build and by the installed vaeConfig.cmake (a static libvae passes it on).
if(NOT TARGET vae::openblas)
  find_library(OPENBLAS_LIBRARY NAMES openblas REQUIRED)
  add_library(vae::openblas UNKNOWN IMPORTED)
  set_target_properties(vae::openblas PROPERTIES IMPORTED_LOCATION "${OPENBLAS_LIBRARY}")
endif()
