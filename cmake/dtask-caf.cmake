# CAF 0.17 as Debian 12 ships it (libcaf-dev) has no CMake package and no
# pkg-config file: this finds its header and its three libraries and wraps
# them as the imported targets CAF::core, CAF::io and CAF::openssl. Used by
# dtask's own build and by the installed package (dtaskConfig.cmake).
#
# Expects OpenSSL to be found already (CAF::openssl links OpenSSL::SSL).
# Sets DTASK_CAF_FOUND, and DTASK_CAF_MISSING to what was not found.

find_path(CAF_INCLUDE_DIR caf/all.hpp)
find_library(CAF_CORE_LIBRARY caf_core)
find_library(CAF_IO_LIBRARY caf_io)
find_library(CAF_OPENSSL_LIBRARY caf_openssl)

set(DTASK_CAF_MISSING "")
foreach(var CAF_INCLUDE_DIR CAF_CORE_LIBRARY CAF_IO_LIBRARY
            CAF_OPENSSL_LIBRARY)
  if(NOT ${var})
    list(APPEND DTASK_CAF_MISSING ${var})
  endif()
endforeach()
if(NOT DTASK_CAF_MISSING)
  # dtask is written against the 0.17 API, which 0.18 and later changed.
  file(STRINGS "${CAF_INCLUDE_DIR}/caf/config.hpp" _dtask_caf_version
       REGEX "^#define CAF_VERSION [0-9]+")
  string(REGEX REPLACE ".* ([0-9]+)$" "\\1" _dtask_caf_version
         "${_dtask_caf_version}")
  if(NOT _dtask_caf_version MATCHES "^17[0-9][0-9]$")
    list(APPEND DTASK_CAF_MISSING
         "CAF 0.17 (found CAF_VERSION ${_dtask_caf_version})")
  endif()
endif()
if(DTASK_CAF_MISSING)
  set(DTASK_CAF_FOUND FALSE)
  return()
endif()
set(DTASK_CAF_FOUND TRUE)

if(NOT TARGET CAF::core)
  add_library(CAF::core UNKNOWN IMPORTED)
  set_target_properties(CAF::core PROPERTIES
    IMPORTED_LOCATION "${CAF_CORE_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}")
endif()
if(NOT TARGET CAF::io)
  add_library(CAF::io UNKNOWN IMPORTED)
  set_target_properties(CAF::io PROPERTIES
    IMPORTED_LOCATION "${CAF_IO_LIBRARY}"
    INTERFACE_LINK_LIBRARIES CAF::core)
endif()
if(NOT TARGET CAF::openssl)
  add_library(CAF::openssl UNKNOWN IMPORTED)
  set_target_properties(CAF::openssl PROPERTIES
    IMPORTED_LOCATION "${CAF_OPENSSL_LIBRARY}"
    INTERFACE_LINK_LIBRARIES "CAF::io;OpenSSL::SSL")
endif()
