# Builds libgmp with cargo and stages it as an installed library would look, then
# defines the targets gmp::gmp (shared) and gmp::gmp_static (static).
#
# No corrosion, no ExternalProject: a custom target runs `cargo build --release --lib`
# on every build (cargo's own fingerprints decide whether anything is rebuilt, so a
# no-op costs a fraction of a second) with CARGO_TARGET_DIR inside the CMake build tree,
# then cmake/gmpStage.cmake copies the outputs to <build>/lib (see there):
#
#   libgmp.so.<version>           the real file (SONAME libgmp.so.<major>), DWARF split off
#   libgmp.so.<version>.debug     the DWARF, found through a .gnu_debuglink
#   libgmp.so.<major> -> libgmp.so.<version>
#   libgmp-runtime.so -> libgmp.so.<major>   (for -lgmp-runtime; never libgmp.so)
#   libgmp-runtime.a              the static library, DWARF stripped (never libgmp.a);
#                                 with GMP_STATIC_LTO (default ON) a second cargo run
#                                 builds it alone with fat LTO and one codegen unit,
#                                 which folds the standard library in and drops what
#                                 libgmp does not use (33 MB -> 3.8 MB; a static hello
#                                 world 7.6 MB -> 0.8 MB)
#
# The targets are IMPORTED with IMPORTED_LOCATION, so programs link the file by its
# full path and record the SONAME: a link never says -lgmp, which GNU MP also answers.
#
# Inputs: GMP_CARGO_TARGET_DIR, GMP_CARGO_ARGS (cache), PROJECT_VERSION(_MAJOR).
# Outputs: GMP_STAGE_DIR, GMP_SHARED_FILE, GMP_SONAME, GMP_STATIC_FILE,
# GMP_STATIC_LINK_LIBRARIES.

find_program(GMP_CARGO_EXECUTABLE cargo HINTS "$ENV{CARGO_HOME}/bin" "$ENV{HOME}/.cargo/bin")
if(NOT GMP_CARGO_EXECUTABLE)
  message(FATAL_ERROR "libgmp: cargo not found; install Rust (https://rustup.rs) or set "
                      "GMP_CARGO_EXECUTABLE")
endif()

set(GMP_STAGE_DIR "${CMAKE_CURRENT_BINARY_DIR}/lib")
set(GMP_SONAME "libgmp.so.${PROJECT_VERSION_MAJOR}")  # build.rs gives the library this SONAME
set(GMP_SHARED_FILE "libgmp.so.${PROJECT_VERSION}")
set(_gmp_cargo_out "${GMP_CARGO_TARGET_DIR}/release")

set(GMP_STATIC_FILE "libgmp-runtime.a")
option(GMP_STATIC_LTO "Build libgmp-runtime.a with fat LTO in a second cargo run (smaller)" ON)
if(GMP_STATIC_LTO)
  # Its own target directory: the crate-type override must not touch the main build's
  # fingerprints (else each build would redo both).
  set(_gmp_static_target_dir "${GMP_CARGO_TARGET_DIR}/static-lto")
  set(_gmp_static_out "${_gmp_static_target_dir}/release")
  set(_gmp_static_cmd
    COMMAND "${CMAKE_COMMAND}" -E env "CARGO_TARGET_DIR=${_gmp_static_target_dir}"
            "${GMP_CARGO_EXECUTABLE}" rustc --release --lib --crate-type staticlib
            ${GMP_CARGO_ARGS} -- -C lto=fat -C codegen-units=1)
else()
  set(_gmp_static_out "${_gmp_cargo_out}")
  set(_gmp_static_cmd "")
endif()
if(CMAKE_OBJCOPY)
  set(GMP_OBJCOPY "${CMAKE_OBJCOPY}" CACHE FILEPATH "objcopy, to split off libgmp's debug info")
else()
  find_program(GMP_OBJCOPY objcopy)
endif()
if(NOT GMP_OBJCOPY)
  message(STATUS "libgmp: no objcopy: the staged library keeps its debug info inline")
endif()

add_custom_target(gmp_cargo ALL
  COMMAND "${CMAKE_COMMAND}" -E env "CARGO_TARGET_DIR=${GMP_CARGO_TARGET_DIR}"
          "${GMP_CARGO_EXECUTABLE}" build --release --lib ${GMP_CARGO_ARGS}
  ${_gmp_static_cmd}
  COMMAND "${CMAKE_COMMAND}" "-DCARGO_OUT=${_gmp_cargo_out}"
          "-DCARGO_STATIC_OUT=${_gmp_static_out}" "-DSTAGE=${GMP_STAGE_DIR}"
          "-DVERSION=${PROJECT_VERSION}" "-DMAJOR=${PROJECT_VERSION_MAJOR}"
          "-DOBJCOPY=${GMP_OBJCOPY}" -P "${CMAKE_CURRENT_LIST_DIR}/gmpStage.cmake"
  BYPRODUCTS "${GMP_STAGE_DIR}/${GMP_SHARED_FILE}" "${GMP_STAGE_DIR}/${GMP_SHARED_FILE}.debug"
             "${GMP_STAGE_DIR}/${GMP_SONAME}" "${GMP_STAGE_DIR}/libgmp-runtime.so"
             "${GMP_STAGE_DIR}/${GMP_STATIC_FILE}"
  WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
  USES_TERMINAL
  VERBATIM
  COMMENT "cargo build --release --lib (libgmp)")

# What the Rust staticlib needs besides itself (rustc --print native-static-libs:
# -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc). Threads as a flag here, not as the
# Threads::Threads target, which is local to the directory that found it and so would
# not resolve in a parent project that uses add_subdirectory.
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
set(GMP_STATIC_LINK_LIBRARIES ${CMAKE_THREAD_LIBS_INIT} ${CMAKE_DL_LIBS} m rt util gcc_s)

add_library(gmp_runtime_shared SHARED IMPORTED GLOBAL)
set_target_properties(gmp_runtime_shared PROPERTIES
  IMPORTED_LOCATION "${GMP_STAGE_DIR}/${GMP_SHARED_FILE}"
  IMPORTED_SONAME "${GMP_SONAME}"
  INTERFACE_INCLUDE_DIRECTORIES "${CMAKE_CURRENT_SOURCE_DIR}/include")
add_dependencies(gmp_runtime_shared gmp_cargo)

add_library(gmp_runtime_static STATIC IMPORTED GLOBAL)
set_target_properties(gmp_runtime_static PROPERTIES
  IMPORTED_LOCATION "${GMP_STAGE_DIR}/${GMP_STATIC_FILE}"
  IMPORTED_LINK_INTERFACE_LANGUAGES "C"
  INTERFACE_INCLUDE_DIRECTORIES "${CMAKE_CURRENT_SOURCE_DIR}/include"
  INTERFACE_LINK_LIBRARIES "${GMP_STATIC_LINK_LIBRARIES}")
add_dependencies(gmp_runtime_static gmp_cargo)

add_library(gmp::gmp ALIAS gmp_runtime_shared)
add_library(gmp::gmp_static ALIAS gmp_runtime_static)
