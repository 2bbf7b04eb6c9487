# Helpers shared by the library layers, the tool and the tests.

# Warnings for our own code only.
function(wrn_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
endfunction()

# Every target that includes LibTorch reuses one precompiled header: parsing
# <torch/torch.h> costs ~25 s per translation unit on two cores.
function(wrn_use_pch target)
  if(WRN_USE_PCH)
    target_precompile_headers(${target} REUSE_FROM wrn_pch)
  endif()
endfunction()

# wrn_add_layer(NAME DEPS <targets>...): a static library from src/wrn/NAME/*.cpp, target
# wrn_NAME, exported (cmake/WrnInstall.cmake) as wrn::NAME. Its headers are included as
# "wrn/NAME/x.h" from src/ in the build tree and from <prefix>/include once installed.
function(wrn_add_layer name)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/wrn/${name}/*.cpp)
  if(NOT sources)  # a layer with headers only
    add_library(wrn_${name} INTERFACE)
    target_include_directories(wrn_${name} INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src>
                                                     $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
    set_target_properties(wrn_${name} PROPERTIES EXPORT_NAME ${name})
    target_link_libraries(wrn_${name} INTERFACE ${ARG_DEPS})
    return()
  endif()
  add_library(wrn_${name} STATIC ${sources})
  target_include_directories(wrn_${name} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src>
                                                $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_compile_features(wrn_${name} PUBLIC cxx_std_17)
  set_target_properties(wrn_${name} PROPERTIES EXPORT_NAME ${name})
  target_link_libraries(wrn_${name} PUBLIC ${ARG_DEPS})
  wrn_warnings(wrn_${name})
  wrn_use_pch(wrn_${name})
endfunction()

# wrn_add_test(NAME LABELS <labels> SOURCES <files> DEPS <targets> [NEEDS_TOOL] [TIMEOUT s]):
# one GoogleTest executable whose tests are registered with CTest under the given labels.
# NEEDS_TOOL: its tests run the built `wrn`, which is then built first. With
# WRN_TESTS_UNIT_ONLY (the sanitizer build, which runs the unit label only) an executable
# without the unit label is not built.
function(wrn_add_test name)
  cmake_parse_arguments(ARG "NEEDS_TOOL" "TIMEOUT" "LABELS;SOURCES;DEPS" ${ARGN})
  if(WRN_TESTS_UNIT_ONLY AND NOT "unit" IN_LIST ARG_LABELS)
    return()
  endif()
  add_executable(${name} ${ARG_SOURCES})
  if(ARG_NEEDS_TOOL)
    add_dependencies(${name} wrn)
  endif()
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    WRN_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    WRN_TOOL_PATH="$<TARGET_FILE:wrn>")
  wrn_warnings(${name})
  wrn_use_pch(${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    DISCOVERY_TIMEOUT 120)
endfunction()
