// sluice-soak: N kill -9 cycles of the real sluiced under mixed load, with
// the crash oracle over everything acknowledged (issue 19).
//
//   sluice-soak [--cycles N] [--seed S] [--min-load-ms A] [--max-load-ms B]
//               [--producers P] [--workers W] [--operators O]
//               [--durability sync|async] [--wal-spare-bytes N]
//
// Each cycle: the load (tests/soak/soak_load.h) runs against the broker for a
// seeded random A..B ms, the broker is SIGKILLed mid-request, the load is
// stopped (its requests in flight stay pending in the oracle), the broker is
// restarted on the same data directory with a seeded config, and everything
// it holds is checked against the oracle (tests/soak/soak_verify.h). Every
// broken promise is printed to stderr as it is found, naming the task id and
// its history; the run goes on to the last cycle unless a restart or a read
// fails.
//
// Output: one JSON line on stdout at the end (cycles, seed, acknowledged
// requests by kind, acked_tasks_lost, acks_resurrected, violations by kind,
// duration). Exit code 0 when nothing was broken, 1 otherwise, 2 for bad
// flags. The seed (random unless --seed or SLUICE_SEED) is printed first, so
// any run can be replayed: the seed fixes every choice of the load and the
// kill times; thread timing still varies.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "client/client.h"
#include "integration/broker_process.h"
#include "soak/soak_load.h"
#include "soak/soak_verify.h"
#include "soak/soak_world.h"

namespace sluice::soak {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

struct Options {
  int cycles = 20;
  uint64_t seed = 0;
  bool seed_given = false;
  int min_load_ms = 20;
  int max_load_ms = 400;
  LoadOptions load;
  std::string durability = "sync";
  uint64_t wal_spare_bytes = 1 << 20;
};

constexpr const char* kUsage =
    "usage: sluice-soak [--cycles N] [--seed S] [--min-load-ms A] [--max-load-ms B]\n"
    "                   [--producers P] [--workers W] [--operators O]\n"
    "                   [--durability sync|async] [--wal-spare-bytes N]\n"
    "N kill -9 cycles of sluiced under mixed load, checked by the crash oracle.\n"
    "Prints one JSON summary line; exit 1 on any broken promise.\n";

// Parses the flags; false (with a message) on anything it does not know.
bool Parse(int argc, char** argv, Options* o) {
  if (const char* env = std::getenv("SLUICE_SEED"); env != nullptr && *env != '\0') {
    o->seed = std::strtoull(env, nullptr, 10);
    o->seed_given = true;
  }
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "sluice-soak: %s needs a value\n%s", flag.c_str(), kUsage);
      return false;
    }
    const std::string value = argv[++i];
    char* end = nullptr;
    const unsigned long long n = std::strtoull(value.c_str(), &end, 10);
    const bool numeric = !value.empty() && *end == '\0';
    if (flag == "--durability") {
      if (value != "sync" && value != "async") {
        std::fprintf(stderr, "sluice-soak: --durability is sync or async, not %s\n", value.c_str());
        return false;
      }
      o->durability = value;
      continue;
    }
    if (!numeric) {
      std::fprintf(stderr, "sluice-soak: %s wants a number, not '%s'\n%s", flag.c_str(),
                   value.c_str(), kUsage);
      return false;
    }
    if (flag == "--cycles") {
      o->cycles = static_cast<int>(n);
    } else if (flag == "--seed") {
      o->seed = n;
      o->seed_given = true;
    } else if (flag == "--min-load-ms") {
      o->min_load_ms = static_cast<int>(n);
    } else if (flag == "--max-load-ms") {
      o->max_load_ms = static_cast<int>(n);
    } else if (flag == "--producers") {
      o->load.producers = static_cast<int>(n);
    } else if (flag == "--workers") {
      o->load.workers = static_cast<int>(n);
    } else if (flag == "--operators") {
      o->load.operators = static_cast<int>(n);
    } else if (flag == "--wal-spare-bytes") {
      o->wal_spare_bytes = n;
    } else {
      std::fprintf(stderr, "sluice-soak: unknown flag %s\n%s", flag.c_str(), kUsage);
      return false;
    }
  }
  if (o->cycles < 1 || o->min_load_ms < 1 || o->max_load_ms < o->min_load_ms ||
      o->load.producers < 1 || o->load.workers < 1 || o->load.operators < 0) {
    std::fprintf(stderr,
                 "sluice-soak: want cycles >= 1, 1 <= min-load-ms <= max-load-ms, at least "
                 "one producer and one worker\n");
    return false;
  }
  if (!o->seed_given) o->seed = std::random_device{}();
  return true;
}

// The broker's config for one cycle. Varied by the cycle's generator: the
// lease marker delay (0: every lease is recorded at once, so a restart finds
// lost attempts; 250: the default).
std::string ConfigFor(const Options& o, std::mt19937_64& rng) {
  static constexpr uint32_t kMarkerDelays[] = {0, 20, 250};
  return "[storage]\n"
         "durability = \"" +
         o.durability +
         "\"\n"
         "wal_spare_bytes = " +
         std::to_string(o.wal_spare_bytes) +
         "\n"
         "[tasks]\n"
         "lease_ms = " +
         std::to_string(o.load.lease_ms) +
         "\n"
         "lease_marker_delay_ms = " +
         std::to_string(kMarkerDelays[rng() % 3]) +
         "\n"
         "backoff_initial_ms = 5\n"
         "backoff_max_ms = 50\n";
}

std::unique_ptr<client::Client> ConnectTo(const testing::BrokerProcess& broker) {
  client::ClientOptions o;
  o.host = broker.host();
  o.port = broker.port();
  o.client_name = "soak-verify";
  o.request_timeout = milliseconds(30'000);
  auto c = client::Client::Connect(o);
  return c.ok() ? std::move(*c) : nullptr;
}

std::string Json(const Options& o, int cycles_run, const SoakWorld& world, size_t tasks_checked,
                 double seconds) {
  std::string out = "{\"cycles\":" + std::to_string(cycles_run) +
                    ",\"seed\":" + std::to_string(o.seed) + ",\"durability\":\"" + o.durability +
                    "\",\"ops_acknowledged\":{";
  for (size_t k = 0; k < static_cast<size_t>(OpKind::kCount); ++k) {
    const OpKind kind = static_cast<OpKind>(k);
    out += (k ? ",\"" : "\"") + std::string(Name(kind)) + "\":" + std::to_string(world.count(kind));
  }
  const std::map<std::string, uint64_t> found = world.violation_counts();
  auto count = [&](const std::string& kind) {
    auto it = found.find(kind);
    return it == found.end() ? uint64_t{0} : it->second;
  };
  out += "},\"acked_tasks_lost\":" + std::to_string(count("acked_tasks_lost")) +
         ",\"acks_resurrected\":" + std::to_string(count("acks_resurrected")) +
         ",\"other_violations\":{";
  bool first = true;
  for (const auto& [kind, n] : found) {
    if (kind == "acked_tasks_lost" || kind == "acks_resurrected") continue;
    out += (first ? "\"" : ",\"") + kind + "\":" + std::to_string(n);
    first = false;
  }
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.1f", seconds);
  out += "},\"violations_total\":" + std::to_string(world.violations()) +
         ",\"tasks_checked\":" + std::to_string(tasks_checked) + ",\"duration_s\":" + secs + "}";
  return out;
}

int Run(const Options& o) {
  std::fprintf(stderr, "[seed] sluice-soak: --seed %llu (or SLUICE_SEED=%llu)\n",
               static_cast<unsigned long long>(o.seed), static_cast<unsigned long long>(o.seed));
  const auto start = SteadyClock::now();
  std::mt19937_64 rng(o.seed);
  testing::BrokerOptions broker_options;
  broker_options.extra_args = {"--log-level", "warn"};
  testing::BrokerProcess broker(broker_options);
  SoakWorld world;
  SoakLoad load(world, o.load);
  size_t tasks_checked = 0;
  int cycles_run = 0;

  broker.SetConfig(ConfigFor(o, rng));
  if (!broker.Start()) {
    world.Report(0, "restart", "sluiced did not start");
  }
  for (int cycle = 1; cycle <= o.cycles && world.violation_counts().count("restart") == 0;
       ++cycle) {
    const uint64_t before = world.violations();
    const uint64_t cycle_seed = rng();
    const int load_ms =
        o.min_load_ms +
        static_cast<int>(rng() % static_cast<uint64_t>(o.max_load_ms - o.min_load_ms + 1));
    if (Status st = load.Start(broker.host(), broker.port(), cycle_seed, cycle); !st.ok()) {
      world.Report(cycle, "restart", "the load cannot connect: " + st.ToString());
      break;
    }
    std::this_thread::sleep_for(milliseconds(load_ms));
    broker.Kill();  // SIGKILL, mid-request
    load.Stop();
    broker.SetConfig(ConfigFor(o, rng));
    if (auto started = broker.Restart(); !started) {
      world.Report(cycle, "restart", started.message());
      break;
    }
    auto checker = ConnectTo(broker);
    if (checker == nullptr) {
      world.Report(cycle, "restart", "cannot connect to the restarted broker");
      break;
    }
    const VerifyResult v = VerifyAfterRestart(*checker, world, cycle);
    ++cycles_run;
    tasks_checked += v.live + v.dead;
    std::fprintf(stderr,
                 "[soak] cycle %d/%d: load %d ms, broker holds %zu live + %zu dead (oracle "
                 "%zu..%zu), %llu new violations\n",
                 cycle, o.cycles, load_ms, v.live, v.dead, v.must, v.may,
                 static_cast<unsigned long long>(world.violations() - before));
    if (!v.read_ok) {
      world.Report(cycle, "restart", "a read of the restarted broker failed; stopping");
      break;
    }
  }
  broker.Stop();
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  std::printf("%s\n", Json(o, cycles_run, world, tasks_checked, seconds).c_str());
  std::fflush(stdout);
  if (world.violations() != 0) {
    std::fprintf(stderr, "[soak] FAILED: %llu broken promises (replay: --seed %llu)\n",
                 static_cast<unsigned long long>(world.violations()),
                 static_cast<unsigned long long>(o.seed));
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace sluice::soak

int main(int argc, char** argv) {
  sluice::soak::Options options;
  if (!sluice::soak::Parse(argc, argv, &options)) return 2;
  return sluice::soak::Run(options);
}
