# Helpers shared by every module's CMakeLists.txt.

# weasel_module(<target> [DEPS ...]): a static library of every .cpp in the current
# directory (an INTERFACE library while the module is header-only).
function(weasel_module name)
  cmake_parse_arguments(M "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  if(srcs)
    add_library(${name} STATIC ${srcs})
    target_link_libraries(${name} PUBLIC ${M_DEPS})
  else()
    add_library(${name} INTERFACE)
    target_link_libraries(${name} INTERFACE ${M_DEPS})
  endif()
endfunction()

# weasel_test(<name> SOURCES ... [DEPS ...] [LABELS ...]): a doctest executable registered
# with CTest. Label "concurrency" marks tests that the TSan build also runs.
function(weasel_test name)
  cmake_parse_arguments(T "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES} ${PROJECT_SOURCE_DIR}/tests/doctest_main.cpp)
  target_link_libraries(${name} PRIVATE ${T_DEPS} doctest::doctest Threads::Threads)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})  # tests/temp_dir.hpp
  add_test(NAME ${name} COMMAND ${name})
  if(T_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}")
  endif()
endfunction()

# weasel_bench(<name> SOURCES ... [DEPS ...]): a Google Benchmark executable (never a test).
function(weasel_bench name)
  cmake_parse_arguments(B "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${B_SOURCES})
  target_link_libraries(${name} PRIVATE ${B_DEPS} benchmark::benchmark Threads::Threads)
endfunction()
