// The stored form of tenant and queue settings (core/settings_format.h).
#include "core/settings_format.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace sluice::core
