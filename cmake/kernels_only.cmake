# DSRT_KERNELS_ONLY: core + backends + the op-test runner, with no dependency beyond the C++
# standard library and threads, for targets whose Debian cross packages (gtest, CLI11, PCRE2,
# nlohmann-json) are missing, e.g. the aarch64 cross build of scripts/check-aarch64.sh.
find_package(Threads REQUIRED)
include_directories(${CMAKE_SOURCE_DIR}/src)
add_subdirectory(src/core)
add_subdirectory(src/backends)
add_executable(op_tests tests/kernels/op_tests_main.cpp)
target_link_libraries(op_tests PRIVATE dsrt_backends)
set_target_properties(op_tests PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
