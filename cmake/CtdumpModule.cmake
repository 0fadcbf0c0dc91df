# ctdump_module(<name> SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...] [DEPS ...]):
# one static library per module, target ctdump_<name>, public headers from
# include/, private ones from src/. PUBLIC_DEPS/PRIVATE_DEPS: the module's direct
# module dependencies, exactly the "depends on" row of docs/architecture.md
# (PUBLIC when a header of the module includes the dependency's headers); DEPS:
# external libraries (PUBLIC). tests/layering/check_layering.py checks them.
function(ctdump_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(ctdump_${name} STATIC ${M_SOURCES})
  target_include_directories(ctdump_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include)
  # Internal headers are included as "sys/file.h": -iquote keeps <sys/file.h>
  # pointing at the system header.
  target_compile_options(ctdump_${name} PUBLIC -iquote ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(ctdump_${name} PUBLIC ${M_PUBLIC_DEPS} ${M_DEPS} PRIVATE ${M_PRIVATE_DEPS})
endfunction()

# Sanitizer trees (CTDUMP_SANITIZE, see scripts/sanitize.sh) build and register
# only the tests labelled "unit"; a ThreadSanitizer tree only those of the
# modules below, the ones that start threads (the datastore's reader, writer
# and maintenance pools, the datastore provider's worker, the crypt and
# chunker tests' concurrent callers, the object stores, sys's thread helpers,
# the API's login limiter and request threads).
# Root-labelled tests run only in the main build: they clone into user
# namespaces, mount FUSE and loop devices and run real containers.
set(CTDUMP_TSAN_MODULES sys chunker objstore crypt datastore providers archive modes access server)
if(CTDUMP_BUILD_TESTS AND NOT TARGET unit_tests)
  # `ninja unit_tests`: every binary with unit-labelled tests.
  add_custom_target(unit_tests)
endif()

# ctdump_test(<name> SOURCES ... DEPS ... [LABELS ...] [ROOT_BY_NAME]): a
# GoogleTest binary whose tests are registered with CTest one by one. Label
# "root" marks tests that need root, namespaces, loop devices or real
# containers (CI runs them; CI is root). ROOT_BY_NAME: one binary, two labels —
# tests named *Root* get "root", the others "unit".
function(ctdump_test name)
  if(NOT CTDUMP_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(T "ROOT_BY_NAME" "" "SOURCES;DEPS;LABELS" ${ARGN})
  if(CTDUMP_SANITIZE)
    get_filename_component(module ${CMAKE_CURRENT_SOURCE_DIR} NAME)
    if((T_LABELS AND NOT "unit" IN_LIST T_LABELS) OR
       (CTDUMP_SANITIZE STREQUAL "thread" AND NOT module IN_LIST CTDUMP_TSAN_MODULES))
      return()
    endif()
  endif()
  add_executable(${name} ${T_SOURCES})
  if(T_ROOT_BY_NAME OR NOT T_LABELS OR "unit" IN_LIST T_LABELS)
    add_dependencies(unit_tests ${name})
  endif()
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  if(T_ROOT_BY_NAME)
    gtest_discover_tests(${name} NO_PRETTY_VALUES TEST_FILTER "-*Root*"
      PROPERTIES LABELS unit TIMEOUT 300 DISCOVERY_TIMEOUT 30)
    if(CTDUMP_SANITIZE)
      return()
    endif()
    gtest_discover_tests(${name} NO_PRETTY_VALUES TEST_FILTER "*Root*"
      PROPERTIES LABELS root TIMEOUT 300 DISCOVERY_TIMEOUT 30)
    return()
  endif()
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  gtest_discover_tests(${name} NO_PRETTY_VALUES PROPERTIES LABELS "${T_LABELS}" TIMEOUT 300
    DISCOVERY_TIMEOUT 30)
endfunction()

# ctdump_fuzz(<name> SOURCES ... DEPS ... [DEFINES ...]): a libFuzzer target,
# built only with -DCTDUMP_FUZZ=ON and clang. The parser sources are listed
# again in SOURCES so they are coverage-instrumented inside the fuzzer without
# instrumenting the libraries regular binaries link.
#
# Each target gets a smoke test (label "fuzz", CTest name fuzz_<name>): it runs
# for CTDUMP_FUZZ_SECONDS over the checked-in seeds in fuzz/corpus/<name>/
# (scripts/fuzz-smoke.sh); a crash, a leak, undefined behaviour or a missing
# corpus fails it. `ninja fuzz_targets` builds them all.
set(CTDUMP_FUZZ_SECONDS 10 CACHE STRING "Seconds each fuzz smoke test runs")
if(CTDUMP_FUZZ AND NOT TARGET fuzz_targets)
  add_custom_target(fuzz_targets)
endif()
function(ctdump_fuzz name)
  if(NOT CTDUMP_FUZZ OR NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    return()
  endif()
  cmake_parse_arguments(F "" "" "SOURCES;DEPS;DEFINES" ${ARGN})
  add_executable(${name} ${F_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/include)
  # -fno-sanitize-recover: undefined behaviour ends the run like a crash.
  target_compile_options(${name} PRIVATE -iquote ${PROJECT_SOURCE_DIR}/src
                         -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_compile_definitions(${name} PRIVATE ${F_DEFINES})
  target_link_libraries(${name} PRIVATE ${F_DEPS})
  add_dependencies(fuzz_targets ${name})
  add_test(NAME fuzz_${name}
    COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/fuzz-smoke.sh $<TARGET_FILE:${name}>
            ${PROJECT_SOURCE_DIR}/fuzz/corpus/${name} ${CMAKE_BINARY_DIR}/fuzz-out/${name}
            ${CTDUMP_FUZZ_SECONDS})
  set_tests_properties(fuzz_${name} PROPERTIES LABELS fuzz TIMEOUT 300)
endfunction()

# ctdump_ceph_gtest(<target> [TIMEOUT <s>]): registers a GoogleTest binary
# that runs against the Ceph test cluster: every test requires the fixture
# "ceph" (tests/CMakeLists.txt) and finds the cluster in CTDUMP_TEST_CEPH_DIR
# (it fails when the cluster is not there), labels "root;ceph".
# gtest_discover_tests cannot pass a list ("root;ceph") through PROPERTIES (it
# arrives as LABELS root and the pairs after it shift), and a keyword such as
# DISCOVERY_TIMEOUT ends PROPERTIES: the labels are set by a script CTest
# includes after the discovered tests (their names are in <target>_TESTS).
function(ctdump_ceph_gtest target)
  cmake_parse_arguments(ARG "" "TIMEOUT" "" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  gtest_discover_tests(${target} NO_PRETTY_VALUES DISCOVERY_TIMEOUT 30
    PROPERTIES TIMEOUT ${ARG_TIMEOUT} FIXTURES_REQUIRED ceph
      ENVIRONMENT CTDUMP_TEST_CEPH_DIR=${CTDUMP_TEST_CEPH_DIR})
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/${target}_labels.cmake
    "set_tests_properties(\${${target}_TESTS} PROPERTIES LABELS \"root;ceph\")\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES
    ${CMAKE_CURRENT_BINARY_DIR}/${target}_labels.cmake)
endfunction()
