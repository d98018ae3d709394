# cmake --install: the public headers, libvae (and libvae_c), the `vae` command, the CMake package
# (vaeConfig.cmake, vaeConfigVersion.cmake, exported targets vae::vae, vae::vae_c), vae.pc, and the
# Python package in Python's site-packages. Every path is relative to the prefix, so
# `cmake --install build --prefix P` works for any P.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
set(VAE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/vae)

install(DIRECTORY include/vae DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
set(vae_install_targets vae)
if(TARGET vae_c)
  list(APPEND vae_install_targets vae_c)
endif()
install(TARGETS ${vae_install_targets} EXPORT vaeTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS vae_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(BUILD_SHARED_LIBS)
  # The installed command and libvae_c find libvae.so in their own prefix, wherever it lies.
  file(RELATIVE_PATH vae_lib_from_bin /${CMAKE_INSTALL_BINDIR} /${CMAKE_INSTALL_LIBDIR})
  set_target_properties(vae_cli PROPERTIES INSTALL_RPATH "$ORIGIN/${vae_lib_from_bin}")
  if(TARGET vae_c)
    set_target_properties(vae_c PROPERTIES INSTALL_RPATH "$ORIGIN")
  endif()
endif()

# The CMake package.
get_property(VAE_FIND_DEPENDENCIES GLOBAL PROPERTY VAE_FIND_DEPENDENCIES)
install(EXPORT vaeTargets NAMESPACE vae:: DESTINATION ${VAE_CMAKE_DIR})
configure_package_config_file(cmake/vaeConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/vaeConfig.cmake
                              INSTALL_DESTINATION ${VAE_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/vaeConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/vaeConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/vaeConfigVersion.cmake
              cmake/vaeOpenBLAS.cmake cmake/vaeOneDNN.cmake
        DESTINATION ${VAE_CMAKE_DIR})

# pkg-config: the prefix found from the .pc file's own place, so the prefix can move.
get_property(vae_pc_libs GLOBAL PROPERTY VAE_PC_LIBS_PRIVATE)
list(JOIN vae_pc_libs " " VAE_PC_LIBS_PRIVATE)
file(RELATIVE_PATH VAE_PC_PREFIX /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
string(REGEX REPLACE "/$" "" VAE_PC_PREFIX "${VAE_PC_PREFIX}")
configure_file(cmake/vae.pc.in ${CMAKE_CURRENT_BINARY_DIR}/vae.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/vae.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The Python package, in the site-packages folder Python's sysconfig gives for the prefix
# (Debian's python3: lib/python3/dist-packages), with the path from it to libvae_c.
include(cmake/vaePython.cmake)
if(TARGET vae_c AND VAE_PYTHON)
  if(NOT VAE_PYTHON_INSTALL_DIR)
    execute_process(
      COMMAND ${VAE_PYTHON} -c "import sysconfig; n = sysconfig.get_scheme_names(); s = 'deb_system' if 'deb_system' in n else 'posix_prefix'; print(sysconfig.get_path('purelib', s, vars={'base': '', 'platbase': ''}).lstrip('/'))"
      OUTPUT_VARIABLE vae_site OUTPUT_STRIP_TRAILING_WHITESPACE)
    set(VAE_PYTHON_INSTALL_DIR ${vae_site} CACHE PATH "Where the Python package goes, relative to the prefix")
  endif()
  install(DIRECTORY python/vae DESTINATION ${VAE_PYTHON_INSTALL_DIR} PATTERN __pycache__ EXCLUDE)
  file(RELATIVE_PATH vae_lib_from_package /${VAE_PYTHON_INSTALL_DIR}/vae /${CMAKE_INSTALL_LIBDIR})
  string(REGEX REPLACE "/$" "" vae_lib_from_package "${vae_lib_from_package}")
  file(GENERATE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/python/_library.py
       CONTENT "# Written by cmake --install: where libvae_c lies, relative to this package.\nLIBRARY = \"${vae_lib_from_package}/$<TARGET_SONAME_FILE_NAME:vae_c>\"\n")
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/python/_library.py DESTINATION ${VAE_PYTHON_INSTALL_DIR}/vae)
endif()

# cpack -G DEB: a .deb of the same files, installed under /usr.
set(CPACK_PACKAGE_NAME vae)
set(CPACK_PACKAGE_CONTACT "vae.cpp <dev@vae.cpp>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "vae.cpp: variational autoencoders in C++ (library, command, Python package)")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # vae_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libopenblas0 | libopenblas-dev, libdnnl2 | libdnnl-dev, libgomp1, libpng16-16, libjpeg62-turbo, zlib1g, libstdc++6, python3-numpy")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libopenblas-dev, libpng-dev, libjpeg-dev, zlib1g-dev, pkg-config, cmake")
include(CPack)
