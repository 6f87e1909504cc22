// The frame decoder's fuzz corpus (fuzz/corpus/frame_decoder) replayed
// against the real sluiced, over plaintext and over TLS: each seed's byte
// stream goes to the broker after a Hello on a fresh connection; whatever
// the broker answers, it must stay up and go on serving the next client. The
// libFuzzer target (fuzz/frame_decoder_fuzz.cc) checks the decoder alone;
// this checks the session and the handlers behind it with the same inputs.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "integration/broker_process.h"
#include "integration/tls_connection.h"

namespace sluice::testing {
namespace {

namespace fb = wire::fb;

std::vector<std::filesystem::path> Seeds() {
  std::vector<std::filesystem::path> seeds;
  for (const auto& entry :
       std::filesystem::directory_iterator(SLUICE_SOURCE_DIR "/fuzz/corpus/frame_decoder")) {
    seeds.push_back(entry.path());
  }
  std::sort(seeds.begin(), seeds.end());
  return seeds;
}

class FuzzCorpusReplayTest : public TransportTest {};

TEST_P(FuzzCorpusReplayTest, BrokerSurvivesEverySeed) {
  const auto seeds = Seeds();
  ASSERT_GE(seeds.size(), 50u) << "the corpus is missing from this checkout";
  // Small limits, so that seeds also hit the frame-size and pipelining bounds.
  BrokerProcess broker(WithConfig("[limits]\nmax_frame_bytes = 65536\nmax_payload_bytes = 4096\n"
                                  "hello_timeout_ms = 2000\n" +
                                  transport_.Config()));
  ASSERT_TRUE(broker.Start());
  auto bystander = transport_.ConnectAndHello(broker.port());
  ASSERT_NE(bystander, nullptr);
  uint64_t rid = 1;
  int answered = 0;
  for (const auto& seed : seeds) {
    std::ifstream in(seed, std::ios::binary);
    const std::vector<uint8_t> input{std::istreambuf_iterator<char>(in),
                                     std::istreambuf_iterator<char>()};
    if (input.size() < 2) continue;
    auto conn = transport_.ConnectAndHello(broker.port());
    ASSERT_NE(conn, nullptr) << "before " << seed.filename();
    // Byte 0 and 1 steer the fuzz target (max frame size, read cuts); the
    // rest is what a peer sends.
    conn->SendBytes({input.data() + 2, input.size() - 2});
    if (conn->ReadFrame(200)) ++answered;
    conn.reset();
    ASSERT_TRUE(bystander->SendFrame(StatsFrame(++rid))) << "after " << seed.filename();
    const auto stats = bystander->ReadFrame(10'000);
    ASSERT_TRUE(stats && stats->type() == fb::Body::StatsResult)
        << "the broker stopped answering after " << seed.filename();
  }
  std::printf("%zu seeds replayed over %s, %d answered with a frame\n", seeds.size(),
              TransportName(GetParam()).c_str(), answered);
  EXPECT_GT(answered, 0);
  EXPECT_EQ(broker.Stop(), 0) << "sluiced did not shut down cleanly after the corpus";
}

INSTANTIATE_TEST_SUITE_P(Transports, FuzzCorpusReplayTest, AllTransports(), TransportParamName());

}  // namespace
}  // namespace sluice::testing
