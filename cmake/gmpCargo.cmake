# Builds libgmp with cargo and stages it as an installed library would look, then
# defines the targets gmp::gmp (shared) and gmp::gmp_static (static).
#
# No corrosion, no ExternalProject: a custom target runs `cargo build --release --lib`
# on every build (cargo's own fingerprints decide whether anything is rebuilt, so a
# no-op costs a fraction of a second) with CARGO_TARGET_DIR inside the CMake build tree,
# then copies the outputs to <build>/lib:
#
#   libgmp.so.<version>           the real file (cargo's libgmp.so, SONAME libgmp.so.<major>)
#   libgmp.so.<major> -> libgmp.so.<version>
#   libgmp.so -> libgmp.so.<major>
#   libgmp.a
#
# The targets are IMPORTED with IMPORTED_LOCATION, so programs link the file by its
# full path and record the SONAME: a link never says -lgmp, which GNU MP also answers.
#
# Inputs: GMP_CARGO_TARGET_DIR, GMP_CARGO_ARGS (cache), PROJECT_VERSION(_MAJOR).
# Outputs: GMP_STAGE_DIR, GMP_SHARED_FILE, GMP_SONAME, GMP_STATIC_LINK_LIBRARIES.

find_program(GMP_CARGO_EXECUTABLE cargo HINTS "$ENV{CARGO_HOME}/bin" "$ENV{HOME}/.cargo/bin")
if(NOT GMP_CARGO_EXECUTABLE)
  message(FATAL_ERROR "libgmp: cargo not found; install Rust (https://rustup.rs) or set "
                      "GMP_CARGO_EXECUTABLE")
endif()

set(GMP_STAGE_DIR "${CMAKE_CURRENT_BINARY_DIR}/lib")
set(GMP_SONAME "libgmp.so.${PROJECT_VERSION_MAJOR}")  # build.rs gives the library this SONAME
set(GMP_SHARED_FILE "libgmp.so.${PROJECT_VERSION}")
set(_gmp_cargo_out "${GMP_CARGO_TARGET_DIR}/release")

add_custom_target(gmp_cargo ALL
  COMMAND "${CMAKE_COMMAND}" -E env "CARGO_TARGET_DIR=${GMP_CARGO_TARGET_DIR}"
          "${GMP_CARGO_EXECUTABLE}" build --release --lib ${GMP_CARGO_ARGS}
  COMMAND "${CMAKE_COMMAND}" -E make_directory "${GMP_STAGE_DIR}"
  COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${_gmp_cargo_out}/libgmp.so"
          "${GMP_STAGE_DIR}/${GMP_SHARED_FILE}"
  COMMAND "${CMAKE_COMMAND}" -E create_symlink "${GMP_SHARED_FILE}" "${GMP_STAGE_DIR}/${GMP_SONAME}"
  COMMAND "${CMAKE_COMMAND}" -E create_symlink "${GMP_SONAME}" "${GMP_STAGE_DIR}/libgmp.so"
  COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${_gmp_cargo_out}/libgmp.a"
          "${GMP_STAGE_DIR}/libgmp.a"
  BYPRODUCTS "${GMP_STAGE_DIR}/${GMP_SHARED_FILE}" "${GMP_STAGE_DIR}/${GMP_SONAME}"
             "${GMP_STAGE_DIR}/libgmp.so" "${GMP_STAGE_DIR}/libgmp.a"
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
  IMPORTED_LOCATION "${GMP_STAGE_DIR}/libgmp.a"
  IMPORTED_LINK_INTERFACE_LANGUAGES "C"
  INTERFACE_INCLUDE_DIRECTORIES "${CMAKE_CURRENT_SOURCE_DIR}/include"
  INTERFACE_LINK_LIBRARIES "${GMP_STATIC_LINK_LIBRARIES}")
add_dependencies(gmp_runtime_static gmp_cargo)

add_library(gmp::gmp ALIAS gmp_runtime_shared)
add_library(gmp::gmp_static ALIAS gmp_runtime_static)
