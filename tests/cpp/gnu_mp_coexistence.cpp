// GNU MP and libgmp in one program: both headers, both libraries (GNU MP's libgmp.so.10
// through -lgmp, ours by full path as libgmp.so.0). A goroutine computes 100! and 2^1000
// with mpz and sends the digits over a gmp::chan<std::string>.
#include <gmp.h>  // GNU MP, first on purpose: our header must not care

#include <gmp/gmp.hpp>  // libgmp, the scheduler

#include <cstdio>
#include <string>

namespace {

const char* const factorial_100 =
    "93326215443944152681699238856266700490715968264381621468592963895217599993229915608941"
    "463976156518286253697920827223758251185210916864000000000000000000000000";

std::string to_decimal(const mpz_t n) {
  std::string s(mpz_sizeinbase(n, 10) + 2, '\0');
  mpz_get_str(&s[0], 10, n);
  s.resize(std::char_traits<char>::length(s.c_str()));
  return s;
}

}  // namespace

int main() {
  gmp::chan<std::string> results(2);
  gmp::waitgroup wg;
  wg.go([&results] {
    mpz_t f;
    mpz_init_set_ui(f, 1);
    for (unsigned long i = 2; i <= 100; i++) {
      mpz_mul_ui(f, f, i);
      if (i % 10 == 0) gmp::this_goroutine::yield();  // a switch point mid-computation
    }
    results.send(to_decimal(f));
    mpz_clear(f);
  });
  wg.go([&results] {
    mpz_t p;
    mpz_init(p);
    mpz_ui_pow_ui(p, 2, 1000);
    results.send(to_decimal(p));
    mpz_clear(p);
  });
  wg.wait();
  int failures = 0;
  for (int i = 0; i < 2; i++) {
    const std::string s = results.recv().value();
    if (s.size() == 158) {
      failures += s != factorial_100;
    } else {
      int digit_sum = 0;
      for (char c : s) digit_sum += c - '0';
      failures += !(s.size() == 302 && digit_sum == 1366 && s.compare(0, 10, "1071508607") == 0);
    }
  }
  std::printf("GNU MP %s and libgmp %s in one process: 100! and 2^1000 %s\n", gmp_version,
              gmp::version(), failures == 0 ? "right" : "WRONG");
  return failures == 0 ? 0 : 1;
}
