# Runs at build time (cmake -P), after cargo: stages libgmp in <build>/lib as it will be
# installed.
#
#   libgmp.so.<version>        cargo's libgmp.so without its DWARF (strip --strip-debug),
#                              with a .gnu_debuglink to the file below; symbols and
#                              .eh_frame stay, so backtraces and unwinding still work
#   libgmp.so.<version>.debug  the DWARF split off (objcopy --only-keep-debug): gdb and
#                              perf find it through the debuglink, in the same directory
#   libgmp.so.<major> -> libgmp.so.<version>   (the SONAME)
#   libgmp-runtime.so -> libgmp.so.<major>     (for -lgmp-runtime: a name GNU MP does not use)
#   libgmp-runtime.a           CARGO_STATIC_OUT's libgmp.a (the fat-LTO build, or the
#                              main one) without DWARF
#
# No libgmp.so and no libgmp.a: those names are GNU MP's, and -lgmp or find_library(gmp)
# must keep finding GNU MP when both share a prefix.
#
# Inputs: CARGO_OUT, CARGO_STATIC_OUT, STAGE, VERSION, MAJOR, OBJCOPY (may be empty:
# then nothing is split or stripped).

file(MAKE_DIRECTORY "${STAGE}")
set(_so "${STAGE}/libgmp.so.${VERSION}")
set(_debug "${_so}.debug")
set(_ar "${STAGE}/libgmp-runtime.a")

# Redo the work only when cargo produced a newer file.
if(NOT EXISTS "${_so}" OR "${CARGO_OUT}/libgmp.so" IS_NEWER_THAN "${_so}")
  if(OBJCOPY)
    execute_process(COMMAND "${OBJCOPY}" --only-keep-debug "${CARGO_OUT}/libgmp.so" "${_debug}"
                    RESULT_VARIABLE rc1)
    # The debuglink names the file; objcopy reads it for its CRC, so run in STAGE.
    execute_process(COMMAND "${OBJCOPY}" --strip-debug
                            "--add-gnu-debuglink=libgmp.so.${VERSION}.debug"
                            "${CARGO_OUT}/libgmp.so" "${_so}.tmp"
                    WORKING_DIRECTORY "${STAGE}" RESULT_VARIABLE rc2)
    if(NOT rc1 EQUAL 0 OR NOT rc2 EQUAL 0)
      message(FATAL_ERROR "libgmp: objcopy failed splitting the debug info of libgmp.so")
    endif()
    file(RENAME "${_so}.tmp" "${_so}")
  else()
    execute_process(COMMAND "${CMAKE_COMMAND}" -E copy "${CARGO_OUT}/libgmp.so" "${_so}")
  endif()
endif()
if(NOT EXISTS "${_ar}" OR "${CARGO_STATIC_OUT}/libgmp.a" IS_NEWER_THAN "${_ar}")
  if(OBJCOPY)
    execute_process(COMMAND "${OBJCOPY}" --strip-debug "${CARGO_STATIC_OUT}/libgmp.a" "${_ar}.tmp"
                    RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "libgmp: objcopy --strip-debug failed on libgmp.a")
    endif()
    file(RENAME "${_ar}.tmp" "${_ar}")
  else()
    execute_process(COMMAND "${CMAKE_COMMAND}" -E copy "${CARGO_STATIC_OUT}/libgmp.a" "${_ar}")
  endif()
endif()
file(CREATE_LINK "libgmp.so.${VERSION}" "${STAGE}/libgmp.so.${MAJOR}" SYMBOLIC)
file(CREATE_LINK "libgmp.so.${MAJOR}" "${STAGE}/libgmp-runtime.so" SYMBOLIC)
# Earlier builds staged these names; they must not linger where a -L could find them.
file(REMOVE "${STAGE}/libgmp.so" "${STAGE}/libgmp.a")
