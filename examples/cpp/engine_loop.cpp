// engine_loop.cpp: the shape of a game engine on libgmp. The main thread runs a
// fixed-rate frame loop (60 Hz) and owns a gmp::home: goroutines that touch render state
// live in the home, so they only ever run on the main thread, inside home.run(budget)
// once a frame (2 ms) and never concurrently with the frame's own code: render state
// needs no locks. Everything else runs on the runtime's P's, on the other cores:
//   * simulation workers: each frame the main thread hands the particle chunks to a
//     worker pool (gmp::chan<std::unique_ptr<chunk>>, ownership moves with the
//     pointer); workers step them and send them back to the home's "apply" goroutine,
//     which copies the positions into render state;
//   * asset loaders: now and then a "level section" streams in; loader goroutines make
//     heightmaps and send them to the home's "uploader", which turns them into meshes
//     (normals) a few rows at a time, yielding between slices, so a big upload spreads
//     over several frames instead of stalling one.
// The loop runs in two phases of N frames each: first without worker load (no chunks
// dispatched, nothing streamed: only the frame and the idle home), then with it. For
// each phase it prints frame interval, frame work and home-pump times (p50, p99, max
// over the phase's frames). It also checks that every slice of a home goroutine ran on
// the main thread (the share is printed; anything under 100% fails), and that
// every pump kept its budget: pump time <= budget + the longest goroutine slice run in
// it (home.run checks the clock between goroutines, so the last one may overrun) + a
// small slack. A pump during which the OS took the CPU away from the main thread
// (an involuntary context switch) says nothing about the budget and is not judged.
// Linked with libgmp.a (gmp::gmp_static).
//
// Usage: engine_loop [frames] [-v]   (frames per phase, default 600, i.e. 10 s a phase;
// -v: print every frame, else every 30th)
#include <gmp/gmp.hpp>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

constexpr auto frame_period = std::chrono::microseconds(16667);  // 60 Hz
constexpr auto pump_budget = 2ms;
constexpr auto pump_slack = 250us;  // the home's own bookkeeping between goroutines
constexpr float dt = 1.0f / 60.0f;
constexpr int n_chunks = 8;
constexpr int particles_per_chunk = 4096;
constexpr int substeps = 16;
constexpr int section_every = 30;  // frames between level sections
constexpr int assets_per_section = 4;
constexpr int heightmap_size = 512;  // vertices per side
constexpr int rows_per_slice = 32;   // upload granularity: about 0.2 ms of work

double ms(steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// ---- simulation (workers) --------------------------------------------------------------

struct particle {
  float x, y, vx, vy;
};

struct chunk {
  int id = 0;
  std::vector<particle> p;
};

std::unique_ptr<chunk> make_chunk(int id) {
  auto c = std::make_unique<chunk>();
  c->id = id;
  c->p.resize(particles_per_chunk);
  for (int i = 0; i < particles_per_chunk; i++) {
    const float a = 0.001f * static_cast<float>(i * 7919 % 6283) + static_cast<float>(id);
    const float r = 1.0f + 0.5f * static_cast<float>(i % 97) / 97.0f;
    c->p[static_cast<std::size_t>(i)] = {r * std::cos(a), r * std::sin(a), -std::sin(a), std::cos(a)};
  }
  return c;
}

// Particles orbiting a point mass at the origin, semi-implicit Euler.
void step(chunk& c) {
  const float h = dt / substeps;
  for (int s = 0; s < substeps; s++) {
    for (particle& q : c.p) {
      const float r2 = q.x * q.x + q.y * q.y + 0.01f;
      const float inv = 1.0f / (r2 * std::sqrt(r2));
      q.vx -= q.x * inv * h;
      q.vy -= q.y * inv * h;
      q.x += q.vx * h;
      q.y += q.vy * h;
    }
  }
}

// ---- assets (loaders) -----------------------------------------------------------------

struct heightmap {
  std::string name;
  std::vector<float> h;  // heightmap_size^2
};

std::unique_ptr<heightmap> make_heightmap(std::string name, int seed) {
  auto m = std::make_unique<heightmap>();
  m->name = std::move(name);
  m->h.resize(static_cast<std::size_t>(heightmap_size) * heightmap_size);
  for (int y = 0; y < heightmap_size; y++) {
    for (int x = 0; x < heightmap_size; x++) {
      const float fx = static_cast<float>(x) * 0.05f, fy = static_cast<float>(y) * 0.05f;
      m->h[static_cast<std::size_t>(y) * heightmap_size + static_cast<std::size_t>(x)] =
          std::sin(fx + static_cast<float>(seed)) * std::cos(fy * 1.3f) +
          0.25f * std::sin(3.1f * fx * fy);
    }
  }
  return m;
}

// ---- render state (main thread only: the frame's code and the home's goroutines) -------

struct mesh {
  std::string name;
  std::vector<std::uint32_t> normals;  // per vertex, packed 10:10:10 as a GPU wants them
  int rows_done = 0;
};

struct render_state {
  std::vector<std::unique_ptr<chunk>> at_home;  // chunks back from the workers; null: in flight
  std::vector<std::vector<particle>> drawn;     // what the renderer draws, per chunk
  std::vector<mesh> meshes;  // the current level section's, replaced by the next one's
  std::size_t meshes_uploaded = 0;
  std::uint64_t chunks_applied = 0;
  std::uint64_t chunks_late = 0;  // not back in time for their next dispatch
};

// The longest stretch a home goroutine ran without a switch, this pump.
steady::duration longest_slice{};

// Where the home's goroutines ran: every slice checks its OS thread (a real gettid, never
// cached: a goroutine's thread-locals could be another thread's after a switch).
long main_tid = 0;
std::uint64_t slices_total = 0;
std::uint64_t slices_on_main = 0;

[[gnu::noinline]] long current_tid() { return static_cast<long>(::syscall(SYS_gettid)); }

template <class F>
void slice(F&& work) {
  slices_total++;
  if (current_tid() == main_tid) slices_on_main++;
  const auto t0 = steady::now();
  work();
  longest_slice = std::max(longest_slice, steady::now() - t0);
}

std::uint32_t pack_10_10_10(float x, float y, float z) {
  auto q = [](float v) { return static_cast<std::uint32_t>(std::lround((v * 0.5f + 0.5f) * 1023.0f)) & 0x3ffu; };
  return q(x) | q(y) << 10 | q(z) << 20;
}

// "Uploads" rows [y0, y1): smoothed normals (3x3 Sobel), packed for the GPU.
void upload_rows(const heightmap& hm, mesh& m, int y0, int y1) {
  const int n = heightmap_size;
  auto at = [&](int x, int y) {
    x = std::clamp(x, 0, n - 1);
    y = std::clamp(y, 0, n - 1);
    return hm.h[static_cast<std::size_t>(y) * n + static_cast<std::size_t>(x)];
  };
  for (int y = y0; y < y1; y++) {
    for (int x = 0; x < n; x++) {
      const float dx = (at(x + 1, y - 1) + 2 * at(x + 1, y) + at(x + 1, y + 1)) -
                       (at(x - 1, y - 1) + 2 * at(x - 1, y) + at(x - 1, y + 1));
      const float dy = (at(x - 1, y + 1) + 2 * at(x, y + 1) + at(x + 1, y + 1)) -
                       (at(x - 1, y - 1) + 2 * at(x, y - 1) + at(x + 1, y - 1));
      const float len = std::sqrt(dx * dx + dy * dy + 64.0f);
      m.normals[static_cast<std::size_t>(y) * n + static_cast<std::size_t>(x)] =
          pack_10_10_10(-dx / len, -dy / len, 8.0f / len);
    }
  }
  m.rows_done = y1;
}

// ---- statistics -----------------------------------------------------------------------

struct series {
  std::vector<double> v;
  void add(double x) { v.push_back(x); }
  double quantile(double q) const {
    if (v.empty()) return 0;
    std::vector<double> s = v;
    std::sort(s.begin(), s.end());
    const auto i = static_cast<std::size_t>(std::ceil(q * static_cast<double>(s.size()))) - 1;
    return s[std::min(i, s.size() - 1)];
  }
  double max() const { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }
  void print(const char* what) const {
    std::printf("  %-16s p50 %6.2f ms   p99 %6.2f ms   max %6.2f ms\n", what, quantile(0.5),
                quantile(0.99), max());
  }
};

long involuntary_switches() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_nivcsw;
}

}  // namespace

int main(int argc, char** argv) {
  int frames = 600;  // per phase
  bool verbose = false;
  // --no-budget-check: report the budget but judge only behaviour (the ctest run: the
  // project puts no wall-clock bound in a test; a busy machine can push one pump over).
  bool check_budget = true;
  for (int i = 1; i < argc; i++) {
    if (std::string(argv[i]) == "-v") verbose = true;
    else if (std::string(argv[i]) == "--no-budget-check") check_budget = false;
    else frames = std::max(1, std::atoi(argv[i]));
  }

  main_tid = current_tid();
  gmp::home home;  // bound to this (the main) thread
  render_state rs;
  rs.at_home.resize(n_chunks);
  rs.drawn.resize(n_chunks);
  for (int i = 0; i < n_chunks; i++) rs.at_home[static_cast<std::size_t>(i)] = make_chunk(i);

  // Simulation: the pool steps chunks on the runtime's P's and sends them home.
  gmp::chan<std::unique_ptr<chunk>> jobs(n_chunks), stepped(n_chunks);
  gmp::waitgroup workers;
  const int n_workers = std::max(2, gmp::maxprocs());
  for (int w = 0; w < n_workers; w++) {
    workers.go([&jobs, &stepped] {
      for (auto& c : jobs) {
        step(*c);
        stepped.send(std::move(c));
      }
    });
  }
  gmp::waitgroup home_tasks;  // the home's two long-lived goroutines
  home_tasks.add(2);
  home.go([&rs, &stepped, &home_tasks] {  // apply: stepped chunks into render state
    for (auto& c : stepped) {
      slice([&] {
        const auto id = static_cast<std::size_t>(c->id);
        rs.drawn[id] = c->p;
        rs.chunks_applied++;
        rs.at_home[id] = std::move(c);
      });
    }
    home_tasks.done();
  });

  // Streaming: loaders make heightmaps on the P's; the uploader builds meshes at home.
  gmp::chan<std::unique_ptr<heightmap>> loaded(assets_per_section);
  gmp::waitgroup loaders;
  home.go([&rs, &loaded, &home_tasks] {  // uploader: a few rows per slice, then let others run
    for (auto& hm : loaded) {
      const std::size_t k = rs.meshes_uploaded % assets_per_section;
      slice([&] {
        if (rs.meshes.size() <= k) rs.meshes.resize(k + 1);
        rs.meshes[k] = mesh{hm->name, std::vector<std::uint32_t>(hm->h.size()), 0};
      });
      for (int y = 0; y < heightmap_size; y += rows_per_slice) {
        gmp::this_goroutine::yield();
        slice([&] { upload_rows(*hm, rs.meshes[k], y, std::min(y + rows_per_slice, heightmap_size)); });
      }
      rs.meshes_uploaded++;
    }
    home_tasks.done();
  });

  series interval, work, pump, pump_judged;
  series phase_interval[2], phase_work[2], phase_pump[2];  // [0]: no worker load, [1]: load
  double longest_any = 0, worst_over = -1e9, worst_over_slice = 0;
  int judged = 0, over_budget = 0, preempted = 0, sections = 0;
  const auto budget_ms = ms(pump_budget);
  const auto start = steady::now();
  auto prev = start;
  std::printf("engine loop: 2 x %d frames (without, then with worker load) at %.0f Hz, home "
              "budget %.1f ms, %d workers on %d P's\n",
              frames, 1000.0 / ms(frame_period), budget_ms, n_workers, gmp::maxprocs());

  const int total_frames = 2 * frames;
  for (int frame = 0; frame < total_frames; frame++) {
    const int phase = frame < frames ? 0 : 1;  // 1: the workers and loaders have work
    std::this_thread::sleep_until(start + frame * frame_period);  // fixed rate ("vsync")
    const auto t0 = steady::now();

    // The home's slot: its goroutines run here, on this thread, for at most ~2 ms: the
    // chunks the workers stepped since the last frame go into render state, uploads go on.
    longest_slice = {};
    const long csw0 = involuntary_switches();
    const auto p0 = steady::now();
    const std::size_t ran = home.run(pump_budget);
    const auto p1 = steady::now();
    const bool os_preempted = involuntary_switches() != csw0;

    // Game logic: hand every chunk that is back home to the workers; they step it while
    // this frame renders, and the next frame's pump applies it.
    for (auto& c : rs.at_home) {
      if (phase == 0) break;  // no worker load yet
      if (!c) {
        rs.chunks_late++;
      } else if (!jobs.try_send(c)) {  // cannot fail: room for every chunk
        std::fprintf(stderr, "jobs full\n");
        return 1;
      }
    }
    if (phase == 1 && (frame - frames) % section_every == 0) {  // a level section streams in
      for (int i = 0; i < assets_per_section; i++) {
        loaders.go(
            [&loaded](std::string name, int seed) { loaded.send(make_heightmap(std::move(name), seed)); },
            "section" + std::to_string(sections) + "/tile" + std::to_string(i), sections * 16 + i);
      }
      sections++;
    }

    // "Render": read render state, no locks (only this thread ever touches it).
    double checksum = 0;
    for (const auto& d : rs.drawn)
      if (!d.empty()) checksum += static_cast<double>(d.front().x + d.back().y);
    const auto t1 = steady::now();

    const double pump_ms = ms(p1 - p0), slice_ms = ms(longest_slice);
    interval.add(frame == 0 ? ms(frame_period) : ms(t0 - prev));
    work.add(ms(t1 - t0));
    pump.add(pump_ms);
    phase_interval[phase].add(interval.v.back());
    phase_work[phase].add(work.v.back());
    phase_pump[phase].add(pump_ms);
    longest_any = std::max(longest_any, slice_ms);
    prev = t0;
    if (os_preempted) {
      preempted++;
    } else {
      judged++;
      pump_judged.add(pump_ms);
      if (pump_ms - budget_ms > worst_over) {
        worst_over = pump_ms - budget_ms;
        worst_over_slice = slice_ms;
      }
      if (pump_ms > budget_ms + slice_ms + ms(pump_slack)) {
        over_budget++;
        std::printf("  frame %d: pump %.3f ms over budget %.1f ms + longest slice %.3f ms\n", frame,
                    pump_ms, budget_ms, slice_ms);
      }
    }
    if (verbose || frame % 30 == 0 || frame == total_frames - 1) {
      std::printf("frame %4d  interval %6.2f ms  work %5.2f ms  pump %5.2f ms (%3zu runs, longest %.2f ms)"
                  "  meshes %2zu/%2d  sim %+.3f\n",
                  frame, interval.v.back(), work.v.back(), pump_ms, ran, slice_ms,
                  rs.meshes_uploaded, sections * assets_per_section, checksum);
    }
  }

  // Shut down: no more jobs or assets; the workers and loaders end, then the home's
  // goroutines drain their channels and end. Waiting in a gmp call on the home's thread
  // runs the home's goroutines meanwhile (here without a budget).
  jobs.close();
  workers.wait();
  stepped.close();
  loaders.wait();
  loaded.close();
  home_tasks.wait();

  for (int ph = 0; ph < 2; ph++) {
    std::printf("\n%d frames at %.2f ms (%.0f Hz), %s:\n", frames, ms(frame_period),
                1000.0 / ms(frame_period), ph == 0 ? "no worker load" : "with worker load");
    phase_interval[ph].print("frame interval");
    phase_work[ph].print("frame work");
    phase_pump[ph].print("home pump");
  }
  std::printf("\nall %d frames:\n", total_frames);
  interval.print("frame interval");
  work.print("frame work");
  pump.print("home pump");
  pump_judged.print("  judged frames");
  const double on_main_pct =
      slices_total == 0 ? 100.0
                        : 100.0 * static_cast<double>(slices_on_main) / static_cast<double>(slices_total);
  std::printf("home goroutines on the main thread: %llu of %llu slices (%.1f%%)\n",
              static_cast<unsigned long long>(slices_on_main),
              static_cast<unsigned long long>(slices_total), on_main_pct);
  std::printf("  longest goroutine slice in the home: %.3f ms\n", longest_any);
  if (judged > 0)
    std::printf("  judged frames: the pump went at most %.3f ms past its budget (that frame's longest"
                " slice: %.3f ms)\n", std::max(0.0, worst_over), worst_over_slice);
  std::printf("simulation: %llu chunk steps applied, %llu late; streaming: %d sections, %zu meshes\n",
              static_cast<unsigned long long>(rs.chunks_applied),
              static_cast<unsigned long long>(rs.chunks_late), sections, rs.meshes_uploaded);
  std::printf("budget: held in %d of %d judged frames (pump <= %.1f ms + longest slice + %.2f ms)",
              judged - over_budget, judged, budget_ms, ms(pump_slack));
  if (preempted) std::printf("; %d frames not judged (the OS preempted the main thread)", preempted);
  std::printf("\n");
  const bool ok = (over_budget == 0 || !check_budget) && rs.chunks_applied > 0 &&
                  slices_on_main == slices_total && slices_total > 0 &&
                  rs.meshes_uploaded == static_cast<std::size_t>(sections * assets_per_section);
  std::printf("%s\n", ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}
