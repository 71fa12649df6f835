# DSRT_KERNELS_ONLY: core + backends + the op-test runner, plus loaders + models + the
# gtest-free model check, with no dependency beyond the C++ standard library, threads and the
# header-only nlohmann-json, for targets whose Debian cross packages (gtest, CLI11, PCRE2) are
# missing, e.g. the aarch64 cross build of scripts/check-aarch64.sh.
find_package(Threads REQUIRED)
include_directories(${CMAKE_SOURCE_DIR}/src)
add_subdirectory(src/core)
add_subdirectory(src/backends)
add_executable(op_tests tests/kernels/op_tests_main.cpp)
target_link_libraries(op_tests PRIVATE dsrt_backends)
set_target_properties(op_tests PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)

# nlohmann-json is header-only and architecture-independent (Debian's nlohmann-json3-dev is
# "Architecture: all"), so the host's copy serves a cross build. Only its own folder is put on
# the include path (through a link in the build tree), never the host's /usr/include.
find_path(DSRT_NLOHMANN_DIR nlohmann/json.hpp PATHS /usr/include NO_CMAKE_FIND_ROOT_PATH)
if(NOT DSRT_NLOHMANN_DIR)
  message(FATAL_ERROR "nlohmann/json.hpp not found (Debian package nlohmann-json3-dev)")
endif()
set(_json_shim ${CMAKE_BINARY_DIR}/host-json)
file(MAKE_DIRECTORY ${_json_shim})
file(CREATE_LINK ${DSRT_NLOHMANN_DIR}/nlohmann ${_json_shim}/nlohmann SYMBOLIC)
add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
set_target_properties(nlohmann_json::nlohmann_json PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${_json_shim})
add_subdirectory(src/loaders)
add_subdirectory(src/models)
add_executable(model_check tests/kernels/model_check_main.cpp)
target_link_libraries(model_check PRIVATE dsrt_models)
set_target_properties(model_check PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
