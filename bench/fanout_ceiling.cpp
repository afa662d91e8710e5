// fanout_ceiling: what the kernel charges a server for fanning the same bytes out to many
// loopback TCP sockets, with no server logic at all: the floor under the subscription hub's
// cost (bench/README.md, "Change streams").
//
// One sender thread (pinned to CPU 0) writes the same --chunk bytes to each of --sockets
// non-blocking sockets in turn, for --seconds; one reader thread (pinned to the last CPU)
// drains them all with epoll. The sender's CPU time (user + system, getrusage) divided by the
// bytes it got into the sockets is the price per byte. Two ways to send:
//   write   write(2) from one user buffer (a copy into socket buffers per socket: what the hub does)
//   splice  the chunk written once per turn into a memfd, then, per socket, spliced from the
//           memfd into a pipe and from the pipe into the socket (page references, no copy
//           of the payload on the sending side)
// Loopback delivers in the sender's context (the receiver's TCP processing runs there too),
// so the figure includes what a remote receiver's kernel would do.
//
// Run: ./scripts/build.sh release fanout_ceiling &&
//      nice -n -10 build/release/fanout_ceiling [--sockets 100] [--chunk 18000] [--seconds 5]
//      [--rounds 3]

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Options {
  int sockets = 100;
  size_t chunk = 18000;
  double seconds = 5;
  int rounds = 3;
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "fanout_ceiling: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);  // best effort: one CPU means both share it
}

double thread_cpu_seconds() {
  rusage r{};
  getrusage(RUSAGE_THREAD, &r);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  return s(r.ru_utime) + s(r.ru_stime);
}

// Connected loopback pairs: senders[i] (non-blocking) -> receivers[i].
void connect_pairs(int n, std::vector<int>& senders, std::vector<int>& receivers) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      listen(listener, 1024) != 0) {
    die("listen on 127.0.0.1");
  }
  for (int i = 0; i < n; ++i) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("connect");
    int s = accept(listener, nullptr, nullptr);
    if (s < 0) die("accept");
    fcntl(s, F_SETFL, O_NONBLOCK);
    senders.push_back(s);
    receivers.push_back(c);
  }
  close(listener);
}

struct Figure {
  double mb_per_s;
  double cpu_share;  // of one CPU
  double ns_per_byte;
};

Figure run(const Options& o, bool use_splice) {
  std::vector<int> senders, receivers;
  connect_pairs(o.sockets, senders, receivers);
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    pin(static_cast<int>(std::thread::hardware_concurrency()) - 1);
    int ep = epoll_create1(0);
    for (int i = 0; i < o.sockets; ++i) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = static_cast<uint32_t>(i);
      epoll_ctl(ep, EPOLL_CTL_ADD, receivers[static_cast<size_t>(i)], &ev);
    }
    std::vector<char> buf(size_t{1} << 16);
    epoll_event events[64];
    while (!stop.load(std::memory_order_relaxed)) {
      // A bounded wait so that the stop flag is seen once the sender is done.
      int k = epoll_wait(ep, events, 64, 50);
      for (int j = 0; j < k; ++j) {
        int fd = receivers[events[j].data.u32];
        while (recv(fd, buf.data(), buf.size(), MSG_DONTWAIT) > 0) {
        }
      }
    }
    close(ep);
  });

  pin(0);
  std::vector<char> payload(o.chunk, 'x');
  // splice: a memfd ring of 256 MiB written once per turn, and a pipe per socket that holds
  // what the socket has not taken yet.
  int memfd = -1;
  std::vector<int> pipe_r, pipe_w;
  std::vector<size_t> in_pipe(static_cast<size_t>(o.sockets), 0);
  const off_t ring = off_t{256} << 20;
  if (use_splice) {
    memfd = memfd_create("fanout", 0);
    if (memfd < 0) die("memfd_create");
    for (int i = 0; i < o.sockets; ++i) {
      int p[2];
      if (pipe2(p, O_NONBLOCK) != 0) die("pipe2");
      fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
      pipe_r.push_back(p[0]);
      pipe_w.push_back(p[1]);
    }
  }

  uint64_t sent = 0;
  off_t at = 0;
  const double cpu0 = thread_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  while (elapsed() < o.seconds) {
    if (use_splice) {
      if (at + static_cast<off_t>(o.chunk) > ring) at = 0;
      if (pwrite(memfd, payload.data(), o.chunk, at) != static_cast<ssize_t>(o.chunk)) die("pwrite");
    }
    for (size_t i = 0; i < senders.size(); ++i) {
      ssize_t w;
      if (!use_splice) {
        w = write(senders[i], payload.data(), o.chunk);
      } else {
        if (in_pipe[i] == 0) {
          loff_t from = at;
          ssize_t s = splice(memfd, &from, pipe_w[i], nullptr, o.chunk, SPLICE_F_NONBLOCK);
          if (s > 0) in_pipe[i] = static_cast<size_t>(s);
        }
        w = splice(pipe_r[i], nullptr, senders[i], nullptr, in_pipe[i],
                   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        if (w > 0) in_pipe[i] -= static_cast<size_t>(w);
      }
      if (w > 0) sent += static_cast<uint64_t>(w);
    }
    at += static_cast<off_t>(o.chunk);
  }
  const double seconds = elapsed();
  const double cpu = thread_cpu_seconds() - cpu0;
  stop = true;
  reader.join();
  for (int fd : senders) close(fd);
  for (int fd : receivers) close(fd);
  for (int fd : pipe_r) close(fd);
  for (int fd : pipe_w) close(fd);
  if (memfd >= 0) close(memfd);
  if (sent == 0) {
    errno = EIO;
    die("nothing was sent");
  }
  return {static_cast<double>(sent) / seconds / 1e6, cpu / seconds,
          cpu * 1e9 / static_cast<double>(sent)};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i += 2) {
    std::string arg = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "usage: %s [--sockets N] [--chunk BYTES] [--seconds S] [--rounds N]\n",
                   argv[0]);
      return 2;
    }
    const char* value = argv[i + 1];
    if (arg == "--sockets") o.sockets = std::atoi(value);
    else if (arg == "--chunk") o.chunk = std::strtoull(value, nullptr, 10);
    else if (arg == "--seconds") o.seconds = std::atof(value);
    else if (arg == "--rounds") o.rounds = std::atoi(value);
    else {
      std::fprintf(stderr, "unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  if (o.sockets < 1 || o.chunk < 1 || o.seconds <= 0 || o.rounds < 1) {
    std::fprintf(stderr, "--sockets, --chunk, --seconds and --rounds must be positive\n");
    return 2;
  }
  std::vector<double> write_ns, splice_ns;
  for (int r = 1; r <= o.rounds; ++r) {
    // Alternate the order between rounds: the machine is shared and noisy.
    for (bool use_splice : {r % 2 == 0, r % 2 != 0}) {
      Figure f = run(o, use_splice);
      std::printf("round %d %-6s %8.0f MB/s  sender cpu %.2f  %.3f ns/byte\n", r,
                  use_splice ? "splice" : "write", f.mb_per_s, f.cpu_share, f.ns_per_byte);
      std::fflush(stdout);
      (use_splice ? splice_ns : write_ns).push_back(f.ns_per_byte);
    }
  }
  std::printf("RESULT fanout_ceiling sockets=%d chunk=%zu write_ns_per_byte=%.3f "
              "splice_ns_per_byte=%.3f (medians of %d rounds)\n",
              o.sockets, o.chunk, median(write_ns), median(splice_ns), o.rounds);
  return 0;
}
