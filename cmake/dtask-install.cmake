# `cmake --install build --prefix P`: the headers, the library, the programs
# dtask-node and dtask, and a CMake package, so that another project can
# find_package(dtask CONFIG REQUIRED) and link dtask::dtask. `cpack` (in the
# build directory) makes a .deb of the same.

include(CMakePackageConfigHelpers)

set(DTASK_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/dtask)

install(TARGETS dtask EXPORT dtaskTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS dtask-node dtask-cli
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/dtask
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT dtaskTargets NAMESPACE dtask::
        DESTINATION ${DTASK_CMAKE_DIR})

configure_package_config_file(cmake/dtaskConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/dtaskConfig.cmake
  INSTALL_DESTINATION ${DTASK_CMAKE_DIR})
# 0.x: a new minor version may break the API.
write_basic_package_version_file(
  ${CMAKE_CURRENT_BINARY_DIR}/dtaskConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/dtaskConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/dtaskConfigVersion.cmake
              cmake/dtask-caf.cmake
        DESTINATION ${DTASK_CMAKE_DIR})

# A .deb (Debian 12): `cpack` in the build directory.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dtask)
set(CPACK_PACKAGE_VENDOR dtask)
set(CPACK_PACKAGE_CONTACT "dtask maintainers")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Runs a task exactly once by name in a cluster of CAF nodes")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# The programs without their debug information (the static library keeps it:
# configure with -DCMAKE_BUILD_TYPE=Release for a smaller package).
set(CPACK_STRIP_FILES TRUE)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
# The programs link CAF's and prometheus-cpp's shared libraries; the
# package's users build against CAF's, OpenSSL's, Boost's, prometheus-cpp's
# and nlohmann-json's headers.
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libcaf-dev (>= 0.17.6), libcaf-dev (<< 0.18), libssl-dev, libboost-dev, prometheus-cpp-dev, nlohmann-json3-dev")
include(CPack)
