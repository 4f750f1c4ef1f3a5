// The C++ tests' main. <gmp/gmp.hpp> comes first, alone: the header is self-contained.
#include <gmp/gmp.hpp>

#include <gtest/gtest.h>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // Death tests must re-execute the binary: the child of a plain fork() has none of the
  // runtime's threads, and every gmp call there fails with GMP_ESHUTDOWN.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  return RUN_ALL_TESTS();
}
