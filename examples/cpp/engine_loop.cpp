// frame_loop.cpp: an engine's main loop with a gmp::home. Loader goroutines run on the
// runtime's threads and hand finished assets (std::unique_ptr, moved through a
// gmp::chan) to game-logic goroutines that live in the home, so they only ever run on
// the main thread, inside home.run(budget) once a frame. Linked with libgmp.a.
#include <gmp/gmp.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct asset {
  std::string name;
  std::vector<unsigned char> bytes;
};

}  // namespace

int main() {
  gmp::home home;  // bound to this (the main) thread
  gmp::chan<std::unique_ptr<asset>> loaded(4);
  const char* const names[] = {"terrain", "sky", "player", "music", "font", "ui"};

  gmp::waitgroup loaders;
  for (const char* name : names) {
    loaders.go([&loaded](std::string n) {
      gmp::this_goroutine::sleep_for(5ms);  // pretend to read a file
      loaded.send(std::make_unique<asset>(asset{n, std::vector<unsigned char>(1024 * n.size())}));
    }, std::string(name));
  }
  gmp::go([&] {
    loaders.wait();
    loaded.close();
  });

  std::vector<std::string> scene;  // touched only on the main thread: no lock needed
  bool all_loaded = false;
  home.go([&] {
    for (auto& a : loaded) scene.push_back(a->name + " (" + std::to_string(a->bytes.size()) + " B)");
    all_loaded = true;
  });

  int frame = 0;
  for (; !all_loaded && frame < 1000; frame++) {
    home.wait(16ms);  // or poll home.fd() with the window system's events
    home.run(2ms);    // the frame's budget for game logic
  }
  std::printf("scene ready after %d frames:", frame);
  for (const std::string& s : scene) std::printf(" %s;", s.c_str());
  std::printf("\n");
  return all_loaded && scene.size() == 6 ? 0 : 1;
}
