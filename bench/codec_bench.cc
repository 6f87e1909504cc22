// Frame codec benchmarks: encode (build + FinishFrame) and decode (Feed +
// Next, which verifies) of Enqueue frames of 1 and 64 tasks with 256-byte
// payloads. Quote medians: --benchmark_repetitions=3
// --benchmark_report_aggregates_only=true.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "wire/frame_codec.h"

namespace {

namespace f = ::sluice::wire::fb;
constexpr size_t kPayloadBytes = 256;
constexpr char kTraceparent[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

// Builds one Enqueue frame of `tasks` tasks into `fbb` (cleared first).
void BuildEnqueue(flatbuffers::FlatBufferBuilder& fbb, int tasks, uint64_t request_id,
                  const std::vector<uint8_t>& payload) {
  fbb.Clear();
  std::vector<flatbuffers::Offset<f::TaskSpec>> specs;
  specs.reserve(static_cast<size_t>(tasks));
  for (int i = 0; i < tasks; ++i) {
    const auto queue = fbb.CreateSharedString("inference");
    const auto tenant = fbb.CreateSharedString("acme");
    const auto body = fbb.CreateVector(payload);
    const auto traceparent =
        f::CreateHeader(fbb, fbb.CreateSharedString("traceparent"), fbb.CreateString(kTraceparent));
    const auto headers = fbb.CreateVector(&traceparent, 1);
    f::TaskSpecBuilder spec(fbb);
    spec.add_queue(queue);
    spec.add_tenant(tenant);
    spec.add_priority(static_cast<uint8_t>(i % 8));
    spec.add_payload(body);
    spec.add_headers(headers);
    spec.add_max_attempts(5);
    spec.add_cost(512);
    specs.push_back(spec.Finish());
  }
  const auto enqueue = f::CreateEnqueue(fbb, fbb.CreateVector(specs));
  sluice::wire::FinishFrame(fbb,
                            f::CreateFrame(fbb, request_id, f::Body::Enqueue, enqueue.Union()));
}

void BM_EncodeEnqueue(benchmark::State& state) {
  const int tasks = static_cast<int>(state.range(0));
  const std::vector<uint8_t> payload(kPayloadBytes, 0x5a);
  flatbuffers::FlatBufferBuilder fbb(1024);
  uint64_t id = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    BuildEnqueue(fbb, tasks, ++id, payload);
    const auto wire = sluice::wire::FrameBytes(fbb);
    benchmark::DoNotOptimize(wire.data());
    bytes += wire.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetItemsProcessed(state.iterations() * tasks);
}

void BM_DecodeEnqueue(benchmark::State& state) {
  const int tasks = static_cast<int>(state.range(0));
  const std::vector<uint8_t> payload(kPayloadBytes, 0x5a);
  flatbuffers::FlatBufferBuilder fbb(1024);
  BuildEnqueue(fbb, tasks, 1, payload);
  const auto wire = sluice::wire::FrameBytes(fbb);
  sluice::wire::FrameDecoder dec;
  for (auto _ : state) {
    dec.Feed(wire);
    auto r = dec.Next();
    if (!r.ok() || !r->has_value()) {
      state.SkipWithError("decode failed");
      break;
    }
    benchmark::DoNotOptimize((*r)->frame->body_as_Enqueue()->tasks()->size());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
  state.SetItemsProcessed(state.iterations() * tasks);
}

void BM_EncodeDecodeEnqueue(benchmark::State& state) {
  const int tasks = static_cast<int>(state.range(0));
  const std::vector<uint8_t> payload(kPayloadBytes, 0x5a);
  flatbuffers::FlatBufferBuilder fbb(1024);
  sluice::wire::FrameDecoder dec;
  uint64_t id = 0;
  for (auto _ : state) {
    BuildEnqueue(fbb, tasks, ++id, payload);
    dec.Feed(sluice::wire::FrameBytes(fbb));
    auto r = dec.Next();
    if (!r.ok() || !r->has_value()) {
      state.SkipWithError("decode failed");
      break;
    }
    benchmark::DoNotOptimize((*r)->request_id());
  }
  state.SetItemsProcessed(state.iterations() * tasks);
}

BENCHMARK(BM_EncodeEnqueue)->Arg(1)->Arg(64);
BENCHMARK(BM_DecodeEnqueue)->Arg(1)->Arg(64);
BENCHMARK(BM_EncodeDecodeEnqueue)->Arg(1)->Arg(64);

}  // namespace
