// Run under gdb by goroutine_exception_backtrace (check_backtrace.cmake): an exception
// escapes a goroutine, and the abort's backtrace must still hold the function that threw
// (gmp::go's entry is a noexcept boundary with no handler: terminate runs at the throw
// site, as with std::thread).
#include <gmp/gmp.hpp>

#include <chrono>
#include <stdexcept>

[[gnu::noinline]] void gmp_test_function_that_throws(int depth) {
  if (depth > 0) throw std::runtime_error("escaped from a goroutine");
}

int main() {
  gmp::go([] { gmp_test_function_that_throws(1); });
  gmp::this_goroutine::sleep_for(std::chrono::seconds(60));
  return 0;  // not reached: the goroutine's exception terminates the process
}
