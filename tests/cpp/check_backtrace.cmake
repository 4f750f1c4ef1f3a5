# cmake -DGDB=<gdb> -DPROGRAM=<escape_backtrace> -P check_backtrace.cmake
# Runs the program under gdb in batch mode and checks that the backtrace of its abort
# holds the throwing function above __cxa_throw, i.e. the stack was not unwound before
# std::terminate.
execute_process(
  COMMAND "${GDB}" -nx -batch -ex "set debuginfod enabled off" -ex run -ex bt "${PROGRAM}"
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 120)
string(REGEX MATCH "#[0-9]+ +[^\n]*__cxa_throw[^\n]*\n#[0-9]+ +[^\n]*gmp_test_function_that_throws"
       hit "${out}")
if(NOT hit)
  message(FATAL_ERROR "the abort's backtrace has no gmp_test_function_that_throws right "
                      "above __cxa_throw:\n${out}\n${err}")
endif()
string(FIND "${out}" "SIGABRT" aborted)
if(aborted EQUAL -1)
  message(FATAL_ERROR "the program did not abort:\n${out}\n${err}")
endif()
message(STATUS "backtrace holds the throw site")
