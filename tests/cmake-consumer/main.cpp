// The C++ consumer: gmp::go, gmp::chan<std::string>, gmp::select, gmp::waitgroup.
#include <gmp/gmp.hpp>

#include <cstdio>
#include <string>

using namespace std::chrono_literals;

int main() {
  gmp::chan<std::string> words(4);
  gmp::waitgroup wg;
  for (const char* w : {"find_package", "gmp", "CONFIG", "REQUIRED"}) {
    wg.go([&words](std::string s) { words.send(std::move(s)); }, std::string(w));
  }
  wg.wait();
  words.close();
  std::size_t letters = 0;
  int received = 0;
  for (;;) {
    bool closed = false;
    gmp::select(gmp::recv_case(words,
                               [&](std::optional<std::string> s) {
                                 if (s) {
                                   letters += s->size();
                                   received++;
                                 } else {
                                   closed = true;
                                 }
                               }),
                gmp::timeout_case(5s, [&] { closed = true; }));
    if (closed) break;
  }
  std::printf("C++ consumer: libgmp %s, %d words, %zu letters\n", gmp::version(), received,
              letters);
  return received == 4 && letters == 29 ? 0 : 1;
}
