// echo_server.cpp: a TCP echo server on the netpoller, one goroutine per connection. The
// sockets are the C calls of <gmp/gmp.h> (gmp_socket, gmp_accept, gmp_read, gmp_write,
// gmp_close_fd) in a small RAII class: a read or an accept parks the goroutine, never
// its thread, so thousands of connections need only a few threads.
//
// Usage: echo_server [port] [connections]
//   Listens on 127.0.0.1:port (default 7778); try: nc 127.0.0.1 7778
//   With a number of connections, stops accepting after that many, waits until they
//   have all been served, prints a summary and exits (for scripted tests).
#include <gmp/gmp.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

namespace {

// A socket fd of the runtime's poller, closed (gmp_close_fd) when the object goes.
// Move-only. Failures throw gmp::error, whose code is the GMP_E* code or -errno.
class tcp_socket {
 public:
  tcp_socket() noexcept = default;
  explicit tcp_socket(int fd) noexcept : fd_(fd) {}
  tcp_socket(tcp_socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  tcp_socket& operator=(tcp_socket&& other) noexcept {
    if (this != &other) {
      close();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  tcp_socket(const tcp_socket&) = delete;
  tcp_socket& operator=(const tcp_socket&) = delete;
  ~tcp_socket() { close(); }

  /// A socket listening on 127.0.0.1:port (loopback only).
  static tcp_socket listen_loopback(std::uint16_t port, int backlog = 1024) {
    tcp_socket s(check(gmp_socket(AF_INET, SOCK_STREAM, 0), "socket"));
    const int one = 1;
    if (setsockopt(s.fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) throw_errno("setsockopt");
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(s.fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) < 0) throw_errno("bind");
    if (::listen(s.fd_, backlog) < 0) throw_errno("listen");
    return s;
  }

  /// Waits for a connection (parks the goroutine); `peer` gets "address:port".
  tcp_socket accept(std::string* peer = nullptr) {
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    tcp_socket conn(check(gmp_accept(fd_, reinterpret_cast<sockaddr*>(&sa), &len, GMP_FOREVER),
                          "accept"));
    if (peer) {
      char ip[INET_ADDRSTRLEN] = "?";
      inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
      *peer = std::string(ip) + ":" + std::to_string(ntohs(sa.sin_port));
    }
    return conn;
  }

  /// Reads what is there (at most n bytes), parking until something is; 0 at EOF.
  std::size_t read_some(void* buf, std::size_t n) {
    return static_cast<std::size_t>(check(gmp_read(fd_, buf, n, GMP_FOREVER), "read"));
  }

  /// Writes all n bytes, parking while the socket is full.
  void write_all(const void* buf, std::size_t n) { check(gmp_write(fd_, buf, n, GMP_FOREVER), "write"); }

  void close() noexcept {
    if (fd_ >= 0) gmp_close_fd(std::exchange(fd_, -1));
  }
  int fd() const noexcept { return fd_; }

 private:
  template <class Int>
  static Int check(Int rc, const char* what) {
    if (rc < 0) throw gmp::error(static_cast<int>(rc), what);
    return rc;
  }
  [[noreturn]] static void throw_errno(const char* what) { throw gmp::error(-errno, what); }

  int fd_ = -1;
};

struct totals {
  std::atomic<std::uint64_t> connections{0}, bytes{0}, failed{0};
};

// Echoes until the peer closes. Runs in the connection's own goroutine.
void serve(tcp_socket conn, const std::string& peer, totals& t) {
  char buf[16384];
  std::uint64_t echoed = 0;
  try {
    while (const std::size_t n = conn.read_some(buf, sizeof buf)) {
      conn.write_all(buf, n);
      echoed += n;
    }
  } catch (const gmp::error& e) {  // e.g. ECONNRESET: this connection ends, the server goes on
    std::printf("%s: %s\n", peer.c_str(), e.what());
    t.failed++;
  }
  t.bytes += echoed;
  std::printf("%s: closed, %llu bytes echoed\n", peer.c_str(), static_cast<unsigned long long>(echoed));
}

}  // namespace

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 7778;
  const long limit = argc > 2 ? std::atol(argv[2]) : 0;  // 0: serve forever
  if (port <= 0 || port > 65535 || limit < 0) {
    std::fprintf(stderr, "usage: echo_server [port] [connections]\n");
    return 2;
  }

  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // a line per event, also into a pipe or file
  totals t;
  int status = 0;
  gmp::main([&] {
    tcp_socket listener;
    try {
      listener = tcp_socket::listen_loopback(static_cast<std::uint16_t>(port));
    } catch (const gmp::error& e) {
      std::fprintf(stderr, "echo_server: %s\n", e.what());
      status = 1;
      return;
    }
    std::printf("echo server on 127.0.0.1:%d (try: nc 127.0.0.1 %d)\n", port, port);
    std::fflush(stdout);

    gmp::waitgroup active;  // connections being served
    for (long accepted = 0; limit == 0 || accepted < limit;) {
      std::string peer;
      tcp_socket conn;
      bool failed = false;
      try {
        conn = listener.accept(&peer);
      } catch (const gmp::error& e) {  // e.g. EMFILE: say so, keep serving
        std::fprintf(stderr, "echo_server: %s\n", e.what());
        failed = true;
      }
      if (failed) {  // wait outside the catch block: main may resume on another thread
        gmp::this_goroutine::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      accepted++;
      t.connections++;
      active.add();
      gmp::go([&t, &active, conn = std::move(conn), peer = std::move(peer)]() mutable {
        serve(std::move(conn), peer, t);
        active.done();
      });
    }
    active.wait();
    std::printf("served %llu connections, %llu bytes echoed, %llu ended by an error\n",
                static_cast<unsigned long long>(t.connections.load()),
                static_cast<unsigned long long>(t.bytes.load()),
                static_cast<unsigned long long>(t.failed.load()));
  });
  return status;
}
