// The non-throwing forms of <gmp/gmp.hpp>: std::error_code overloads and the channel
// *_status results. Built twice (gmp_cpp_tests and gmp_cpp_tests_noexcept, the latter
// with -fno-exceptions); in the second, misuse through a throwing form calls the error
// handler, whose default prints the message and aborts.
#include <gmp/gmp.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

using namespace std::chrono_literals;

TEST(NoThrow, ChannelStatusSaysWhatHappened) {
  gmp::chan<std::string> ch(1);
  EXPECT_EQ(ch.try_recv_status().status, gmp::chan_status::would_block);
  EXPECT_EQ(ch.recv_for_status(1ms).status, gmp::chan_status::timeout);

  std::string v(100, 'a');  // longer than the small-string buffer
  EXPECT_EQ(ch.send_status(v).status, gmp::chan_status::ok);
  std::string w = "kept";
  const gmp::send_result full = ch.try_send_status(w);
  EXPECT_EQ(full.status, gmp::chan_status::would_block);
  EXPECT_FALSE(full);
  EXPECT_EQ(w, "kept");  // a send that did not happen gives the value back
  EXPECT_EQ(ch.send_for_status(w, 1ms).status, gmp::chan_status::timeout);
  EXPECT_EQ(w, "kept");

  gmp::recv_result<std::string> r = ch.recv_status();
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, std::string(100, 'a'));

  std::error_code ec;
  ch.close(ec);
  EXPECT_FALSE(ec);
  ch.close(ec);  // twice: Go panics, here an error code
  EXPECT_EQ(ec, gmp::errc::closed);
  EXPECT_EQ(ch.recv_status().status, gmp::chan_status::closed);
  EXPECT_EQ(ch.try_recv_status().status, gmp::chan_status::closed);
  EXPECT_EQ(ch.send_status(w).status, gmp::chan_status::closed);
  EXPECT_EQ(w, "kept");
}

TEST(NoThrow, MovedFromChannelIsAnErrorNotACrash) {
  gmp::chan<int> a;
  gmp::chan<int> b(std::move(a));
  const gmp::recv_result<int> r = a.try_recv_status();  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(r.status, gmp::chan_status::error);
  EXPECT_EQ(r.error(), gmp::errc::invalid_argument);
  int v = 1;
  EXPECT_EQ(a.send_status(v).error(), gmp::errc::invalid_argument);
}

TEST(NoThrow, ErrorCodeOverloadsOfSyncAndGoroutines) {
  std::error_code ec;
  gmp::mutex m;
  m.unlock(ec);
  EXPECT_EQ(ec, gmp::errc::invalid_argument);  // not locked
  m.lock(ec);
  EXPECT_FALSE(ec);
  m.unlock(ec);
  EXPECT_FALSE(ec);

  gmp::waitgroup wg;
  wg.done(ec);
  EXPECT_EQ(ec, gmp::errc::invalid_argument);  // below zero

  gmp::this_goroutine::set_name("x", ec);
  EXPECT_EQ(ec, gmp::errc::not_goroutine);  // the test's thread is not a goroutine

  gmp::chan<int> done;
  auto t = gmp::go(ec, [&done] { done.send(7); });
  EXPECT_FALSE(ec);
  EXPECT_EQ(done.recv(), std::optional<int>(7));
  t.join(ec);
  EXPECT_FALSE(ec);
  t.join(ec);  // twice
  EXPECT_EQ(ec, gmp::errc::invalid_argument);

  gmp::condition_variable cv;
  std::unique_lock<gmp::mutex> not_held(m, std::defer_lock);
  cv.wait(not_held, ec);
  EXPECT_EQ(ec, gmp::errc::invalid_argument);
}

TEST(NoThrow, SelectWithErrorCode) {
  gmp::chan<std::unique_ptr<int>> closed(1);
  closed.close();
  auto p = std::make_unique<int>(5);
  std::error_code ec;
  bool ran = false;
  const std::size_t i = gmp::select(ec, gmp::send_case(closed, p, [&] { ran = true; }));
  EXPECT_EQ(i, 0u);
  EXPECT_EQ(ec, gmp::errc::closed);
  EXPECT_FALSE(ran);
  ASSERT_TRUE(p);  // given back
  EXPECT_EQ(*p, 5);

  gmp::chan<int> empty;
  const std::size_t j = gmp::select(ec, gmp::recv_case(empty), gmp::timeout_case(1ms, [] {}));
  EXPECT_EQ(j, 1u);
  EXPECT_FALSE(ec);
}

TEST(NoThrow, HomeWithErrorCode) {
  std::thread([] {
    std::error_code ec;
    gmp::home h(ec);
    ASSERT_FALSE(ec);
    gmp::home second(ec);  // one home per thread
    EXPECT_EQ(ec, gmp::errc::already);
    EXPECT_EQ(second.native_handle(), nullptr);
    int ran = 0;
    h.go(ec, [&ran] { ran++; });
    EXPECT_FALSE(ec);
    EXPECT_EQ(h.run(10ms, ec), 1u);
    EXPECT_EQ(ran, 1);
  }).join();
}

#if !GMP_HAS_EXCEPTIONS
// Without exceptions, a throwing form's failure calls the error handler; the default
// prints what a gmp::error would say and aborts.
TEST(NoThrowDeathTest, MisuseAbortsWithAMessage) {
  EXPECT_DEATH(
      {
        gmp::chan<int> ch;
        ch.close();
        ch.close();
      },
      "gmp::chan::close: .*built without exceptions");
}

TEST(NoThrowDeathTest, MisuseCallsTheInstalledHandler) {
  EXPECT_DEATH(
      {
        gmp::set_error_handler([](int code, const char* what) {
          std::fprintf(stderr, "engine handler: %s code %d\n", what, code);
          std::exit(3);
        });
        gmp::waitgroup wg;
        wg.done();
      },
      "engine handler: gmp::waitgroup::done code -22");
}
#endif
