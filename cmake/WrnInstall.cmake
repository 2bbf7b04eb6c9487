# Installation: `cmake --install build --prefix P` puts
#   P/include/wrn/<layer>/*.h          the headers (included as "wrn/<layer>/x.h")
#   P/lib*/libwrn_<layer>.a            the layer libraries (one per src/wrn folder)
#   P/lib*/cmake/wrn/                  wrnConfig.cmake: find_package(wrn) -> wrn::wrn
#   P/bin/wrn                          the tool
#   P/share/wrn/presets/*.yaml         the presets, found by the tool as <bin>/../share/wrn/presets
include(CMakePackageConfigHelpers)

set(WRN_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/wrn)
# Fixed relative to bin/: wrn::train::preset_dir() looks there (src/wrn/config/presets.h).
set(WRN_INSTALL_PRESETDIR share/wrn/presets)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/src/wrn DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(TARGETS wrn_core wrn_kernels wrn_models wrn_data wrn_io wrn_dist wrn_optim wrn_report wrn_infer wrn_config wrn_setup
                wrn_eval wrn_train wrn_sweep wrn_lib EXPORT wrnTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS wrn RUNTIME DESTINATION bin)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/presets/ DESTINATION ${WRN_INSTALL_PRESETDIR}
        FILES_MATCHING PATTERN "*.yaml")

install(EXPORT wrnTargets NAMESPACE wrn:: FILE wrnTargets.cmake DESTINATION ${WRN_INSTALL_CMAKEDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/wrnConfig.cmake.in
  ${PROJECT_BINARY_DIR}/wrnConfig.cmake
  INSTALL_DESTINATION ${WRN_INSTALL_CMAKEDIR}
  PATH_VARS WRN_INSTALL_PRESETDIR)
# 0.x: a minor version may break the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/wrnConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/wrnConfig.cmake ${PROJECT_BINARY_DIR}/wrnConfigVersion.cmake
        ${PROJECT_SOURCE_DIR}/cmake/WrnTorch.cmake DESTINATION ${WRN_INSTALL_CMAKEDIR})
