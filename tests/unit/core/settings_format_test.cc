// The stored form of tenant and queue settings (core/settings_format.h).
#include "core/settings_format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace sluice::core {
namespace {

TEST(SettingsFormatTest, RoundTripsLimitsThePausedFlagAndBothRateUnits) {
  for (const RateUnit unit : {RateUnit::kTasks, RateUnit::kCost}) {
    for (const bool paused : {false, true}) {
      const Limits l{
          .weight = 7, .rate_per_s = 0.1, .burst = 2.5, .max_inflight = 12, .rate_unit = unit};
      StoredSettings out;
      const std::string text = EncodeSettings(l, paused);
      ASSERT_TRUE(DecodeSettings(text, &out)) << text;
      EXPECT_EQ(out, (StoredSettings{l, paused})) << text;
    }
  }
}

// Tasks is stored without a u field, byte for byte what releases before rate
// units wrote, so that they can still read it after a downgrade.
TEST(SettingsFormatTest, WritesTasksInTheEarlierFormAndCostWithAUnit) {
  EXPECT_EQ(EncodeSettings(Limits{3, 100, 10, 5}, false), "w=3 r=100 b=10 c=5 p=0");
  EXPECT_EQ(EncodeSettings(Limits{3, 100, 10, 5, RateUnit::kCost}, true),
            "w=3 r=100 b=10 c=5 p=1 u=cost");
}

TEST(SettingsFormatTest, ReadsTheFormatEarlierReleasesWroteAsTasks) {
  StoredSettings out;
  out.limits.rate_unit = RateUnit::kCost;  // the decoder must set it, not keep it
  ASSERT_TRUE(DecodeSettings("w=3 r=100 b=10 c=5 p=1", &out));
  EXPECT_EQ(out, (StoredSettings{Limits{3, 100, 10, 5, RateUnit::kTasks}, true}));
}

TEST(SettingsFormatTest, ReadsBothUnitsSpelledOut) {
  StoredSettings out;
  ASSERT_TRUE(DecodeSettings("w=3 r=100 b=10 c=5 p=0 u=cost", &out));
  EXPECT_EQ(out, (StoredSettings{Limits{3, 100, 10, 5, RateUnit::kCost}, false}));
  ASSERT_TRUE(DecodeSettings("w=3 r=100 b=10 c=5 p=0 u=tasks", &out));
  EXPECT_EQ(out, (StoredSettings{Limits{3, 100, 10, 5, RateUnit::kTasks}, false}));
}

TEST(SettingsFormatTest, RefusesWhatIsNotTheStoredForm) {
  StoredSettings out;
  for (const char* bad :
       {"", "w=3", "w=3 r=100 b=10 c=5", "w=3 r=100 b=10 c=5 p=2", "w=3 r=100 b=10 c=5 p=1 extra",
        "p=1 w=3 r=100 b=10 c=5", "w=x r=100 b=10 c=5 p=0", "w=3 r=100 b=10 c=5 p=0 u=",
        "w=3 r=100 b=10 c=5 p=0 u=tokens", "w=3 r=100 b=10 c=5 p=0 u=COST",
        "w=3 r=100 b=10 c=5 p=0 u=cost ", "w=3 r=100 b=10 c=5 p=0  u=cost",
        "w=3 r=100 b=10 c=5 p=0u=cost", "w=3 r=100 b=10 c=5 p=0 u=cost u=cost",
        "w=3 r=100 b=10 c=5 p=0 u=costly", "u=cost w=3 r=100 b=10 c=5 p=0"}) {
    EXPECT_FALSE(DecodeSettings(bad, &out)) << "'" << bad << "'";
  }
}

// v3: quotas after the unit, each only when set; a value without them is the
// v2 (or v1) value byte for byte, and v1/v2 values decode as "no quota".
TEST(SettingsFormatTest, QuotasRoundTripAndAreWrittenOnlyWhenSet) {
  const Limits quotas{.weight = 2, .max_queued = 1000, .max_bytes = 8589934592};
  EXPECT_EQ(EncodeSettings(quotas, false), "w=2 r=0 b=0 c=0 p=0 q=1000 s=8589934592");
  Limits cost = quotas;
  cost.rate_unit = RateUnit::kCost;
  cost.max_queued = 0;
  EXPECT_EQ(EncodeSettings(cost, false), "w=2 r=0 b=0 c=0 p=0 u=cost s=8589934592");
  for (const Limits& l : {quotas, cost, Limits{.max_queued = UINT64_MAX}}) {
    StoredSettings out;
    const std::string text = EncodeSettings(l, false);
    ASSERT_TRUE(DecodeSettings(text, &out)) << text;
    EXPECT_EQ(out, (StoredSettings{l, false})) << text;
  }
  StoredSettings out;
  out.limits.max_queued = 5;  // the decoder must clear them
  out.limits.max_bytes = 5;
  ASSERT_TRUE(DecodeSettings("w=3 r=100 b=10 c=5 p=0 u=cost", &out));
  EXPECT_EQ(out, (StoredSettings{Limits{3, 100, 10, 5, RateUnit::kCost}, false}));
  ASSERT_TRUE(DecodeSettings("w=3 r=100 b=10 c=5 p=0 u=tasks q=7", &out));
  EXPECT_EQ(out.limits.max_queued, 7u);
  EXPECT_EQ(out.limits.max_bytes, 0u);
}

TEST(SettingsFormatTest, RefusesMalformedQuotas) {
  StoredSettings out;
  for (const char* bad :
       {"w=1 r=0 b=0 c=0 p=0 q=", "w=1 r=0 b=0 c=0 p=0 q=-1", "w=1 r=0 b=0 c=0 p=0 q=+1",
        "w=1 r=0 b=0 c=0 p=0 q=1x", "w=1 r=0 b=0 c=0 p=0 s=1 q=1",
        "w=1 r=0 b=0 c=0 p=0 q=18446744073709551616", "w=1 r=0 b=0 c=0 p=0 q=1 ",
        "w=1 r=0 b=0 c=0 p=0 q=1  s=2", "w=1 r=0 b=0 c=0 p=0 q= 1",
        "w=1 r=0 b=0 c=0 p=0 q=1 u=cost", "w=1 r=0 b=0 c=0 p=0 q=1 q=1",
        "w=1 r=0 b=0 c=0 p=0 s=0x10", "w=1 r=0 b=0 c=0 p=0q=1"}) {
    EXPECT_FALSE(DecodeSettings(bad, &out)) << "'" << bad << "'";
  }
}

// The sscanf decoder of the releases before std::from_chars, kept as the reference:
// every value it accepted must decode to the same settings, every value it
// refused must still be refused.
bool SscanfDecode(std::string_view text, StoredSettings* out) {
  const std::string s(text);
  int paused = 0;
  int end = 0;
  if (std::sscanf(s.c_str(), "w=%u r=%lf b=%lf c=%u p=%d%n", &out->limits.weight,
                  &out->limits.rate_per_s, &out->limits.burst, &out->limits.max_inflight, &paused,
                  &end) != 5 ||
      (paused != 0 && paused != 1)) {
    return false;
  }
  const std::string_view rest = std::string_view(s).substr(static_cast<size_t>(end));
  if (rest.empty() || rest == " u=tasks") {
    out->limits.rate_unit = RateUnit::kTasks;
  } else if (rest == " u=cost") {
    out->limits.rate_unit = RateUnit::kCost;
  } else {
    return false;
  }
  out->paused = paused == 1;
  return true;
}

bool SameDouble(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || (a == b && std::signbit(a) == std::signbit(b));
}

TEST(SettingsFormatTest, AcceptsExactlyWhatTheSscanfDecoderAccepted) {
  using namespace std::string_literals;
  std::vector<std::string> corpus = {
      "w=3 r=100 b=10 c=5 p=0",
      "w=3 r=100 b=10 c=5 p=1 u=cost",
      "w=3  r=100 b=10 c=5 p=0",
      "w=3r=100 b=10 c=5 p=0",
      "w=3\tr=100\nb=10 c=5 p=0",
      "w= 3 r= 100 b= 10 c= 5 p= 1",
      "w=+3 r=+100 b=-10 c=+5 p=+1",
      "w=-3 r=1 b=1 c=-1 p=0",
      "w=4294967296 r=1 b=1 c=4294967297 p=0",
      "w=99999999999999999999999 r=1 b=1 c=5 p=0",
      "w=3 r=1 b=1 c=5 p=-1",
      "w=3 r=1 b=1 c=5 p=-0",
      "w=3 r=1 b=1 c=5 p=4294967297",
      "w=3 r=1 b=1 c=5 p=99999999999999999999",
      "w=3 r=1 b=1 c=5 p=01",
      "w=3 r=0.10000000000000001 b=2.5 c=12 p=0",
      "w=3 r=1e+20 b=1E-5 c=5 p=0",
      "w=3 r=4.9406564584124654e-324 b=1.7976931348623157e+308 c=5 p=0",
      "w=3 r=inf b=INF c=5 p=0",
      "w=3 r=-inf b=Infinity c=5 p=0",
      "w=3 r=nan b=-nan c=5 p=0",
      "w=3 r=NaN b=nAn c=5 p=0",
      "w=3 r=0x1p3 b=0X1.8 c=5 p=0",
      "w=3 r=.5 b=5. c=5 p=0",
      "w=3 r=1 b=1 c=5 p=0\n",
      "w=3 r=1 b=1 c=5 p=0 ",
      " w=3 r=1 b=1 c=5 p=0",
      "W=3 r=1 b=1 c=5 p=0",
      "w=3 r=1 b=1 c=5p=0 u=cost",
      "w=3 r=1 b=1 c=5 p=0\tu=cost",
      "w=3 r= b=1 c=5 p=0",
      "w=3 r=+ b=1 c=5 p=0",
      "w=+ r=1 b=1 c=5 p=0",
      "w=3 r=1 b=1 c=5 p=",
      "w=3 r=x b=1 c=5 p=0",
      "w=0x10 r=1 b=1 c=5 p=0",
      "w=3 r=1 b=1 c=5 p=0x1",
      "w=3 r=1e400 b=-1e400 c=5 p=0",
      "w=3 r=1e-400 b=1 c=5 p=0",
      "w=3 r=1e b=1 c=5 p=0",
      "w=3 r=0x b=1 c=5 p=0",
      "w=3 r=infinit b=1 c=5 p=0",
      "w=3 r=nan(12) b=1 c=5 p=0",
      "w=3 r=1e+ b=1E- c=5 p=0",
      "w=3 r=0x1p b=0x1P+ c=5 p=0",
      "w=3 r=2e5e b=1 c=5 p=0",
      "w=3 r=nane b=1 c=5 p=0",
      "w=3 r=infe b=infinitye c=5 p=0",
      "w=3 r=1e400e b=1 c=5 p=0",
      "w=3 r=1 b=1 c=5 p=0\0"s,
      "w=3 r=1 b=1 c=5 p=\0"
      "1"s,
  };
  for (const Limits& l : {Limits{7, 0.1, 2.5, 12}, Limits{1, 0, 0, 0, RateUnit::kCost},
                          Limits{10000, 1e9, 1e-9, 4294967295u}}) {
    for (const bool paused : {false, true}) corpus.push_back(EncodeSettings(l, paused));
  }
  for (const std::string& text : corpus) {
    StoredSettings want;
    StoredSettings got;
    const bool accepted = SscanfDecode(text, &want);
    ASSERT_EQ(DecodeSettings(text, &got), accepted) << "'" << text << "'";
    if (!accepted) continue;
    EXPECT_EQ(got.limits.weight, want.limits.weight) << text;
    EXPECT_TRUE(SameDouble(got.limits.rate_per_s, want.limits.rate_per_s)) << text;
    EXPECT_TRUE(SameDouble(got.limits.burst, want.limits.burst)) << text;
    EXPECT_EQ(got.limits.max_inflight, want.limits.max_inflight) << text;
    EXPECT_EQ(got.limits.rate_unit, want.limits.rate_unit) << text;
    EXPECT_EQ(got.paused, want.paused) << text;
  }
}

}  // namespace
}  // namespace sluice::core
