// GoogleTest's main, with skips that count as skips. GoogleTest exits 0 when every test
// called GTEST_SKIP(), so ctest would report a GPU test on a machine without a GPU as
// "Passed". Here a run whose every selected test skipped exits kSkipExitCode, which
// cohort_add_test maps to ctest's "Skipped" (SKIP_RETURN_CODE), and each skip prints one
// `cohort-skip: Suite.Test: reason` line that scripts/test.sh collects. A binary whose
// cases partly pass and partly skip exits 0 with those lines: cohort_add_test's SPLIT
// registers such cases as ctest entries of their own, so that ctest shows both counts.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

constexpr int kSkipExitCode = 77;

class SkipRecorder : public testing::EmptyTestEventListener {
 public:
  // The name comes from OnTestStart: UnitTest::current_test_info() would take the lock
  // that GoogleTest holds while it reports a result.
  void OnTestStart(const testing::TestInfo& t) override {
    current_ = std::string(t.test_suite_name()) + "." + t.name();
  }
  void OnTestPartResult(const testing::TestPartResult& r) override {
    if (!r.skipped()) return;
    std::string why = r.message();
    for (char& c : why)
      if (c == '\n') c = ' ';
    skips_.push_back(current_ + ": " + (why.empty() ? "no reason given" : why));
  }
  const std::vector<std::string>& skips() const { return skips_; }

 private:
  std::string current_ = "(set-up)";
  std::vector<std::string> skips_;
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  auto* recorder = new SkipRecorder;  // the listener list owns it
  testing::UnitTest::GetInstance()->listeners().Append(recorder);
  const int status = RUN_ALL_TESTS();
  const auto* unit = testing::UnitTest::GetInstance();
  for (const auto& s : recorder->skips()) std::printf("cohort-skip: %s\n", s.c_str());
  if (status != 0) return status;
  const int ran = unit->test_to_run_count(), skipped = unit->skipped_test_count();
  if (ran > 0 && skipped == ran) return kSkipExitCode;
  if (skipped > 0) std::printf("cohort-skip: %d of %d tests skipped here\n", skipped, ran);
  return 0;
}
