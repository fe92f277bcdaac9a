// Input acx does not trust, and the mechanisms that guard against it:
// messages that echo input (escaped and cut), bounded file reads, checked
// size products, the run directory's lock and the removal of what killed
// writes left, and the validation of a checkpoint's metadata field by field.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <algorithm>
#include <functional>
#include <limits>
#include <string>

#include "envs/vec_env.h"
#include "host/io/read_file.h"
#include "host/io/run_lock.h"
#include "host/learn/checkpoint.h"
#include "host/learn/train_config.h"
#include "kernels/runtime/error.h"
#include "tests/test_util.h"

namespace acx {
namespace {

namespace fs = std::filesystem;

TEST(QuoteInput, EscapesWhatCouldDriveATerminalOrEndAMessage) {
  EXPECT_EQ(quote_input("plain run-1"), "\"plain run-1\"");
  EXPECT_EQ(quote_input("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(quote_input(std::string("x\x1b[31my", 7)), "\"x\\x1B[31my\"");
  EXPECT_EQ(quote_input(std::string("a\0b", 3)), "\"a\\x00b\"");
  EXPECT_EQ(quote_input("l1\nl2\tt\r"), "\"l1\\nl2\\tt\\r\"");
  EXPECT_EQ(quote_input("\x7f"), "\"\\x7F\"");
  // Valid UTF-8 stays readable; invalid bytes, overlong forms and C1 controls do not pass.
  EXPECT_EQ(quote_input("caf\xc3\xa9 \xe2\x82\xac"), "\"caf\xc3\xa9 \xe2\x82\xac\"");
  EXPECT_EQ(quote_input("\xff\xfe"), "\"\\xFF\\xFE\"");
  EXPECT_EQ(quote_input("\xc0\xaf"), "\"\\xC0\\xAF\"");
  EXPECT_EQ(quote_input("\xc2\x9b"), "\"\\xC2\\x9B\"");  // U+009B, the 8-bit CSI
  EXPECT_EQ(quote_input("\xed\xa0\x80"), "\"\\xED\\xA0\\x80\"");  // a surrogate
}

TEST(QuoteInput, CutsLongInputAndSaysHowMuch) {
  const std::string big(50'000'000, 'v');
  const std::string q = quote_input(big);
  EXPECT_EQ(q.size(), 1 + kQuotedMaxBytes + 1 + std::string(" [49999840 more bytes not shown]").size()) << q.substr(0, 300);
  EXPECT_CONTAINS(q, "[49999840 more bytes not shown]");
  // A multi-byte character is not cut in two.
  const std::string e = quote_input("\xe2\x82\xac\xe2\x82\xac", 4);
  EXPECT_EQ(e, "\"\xe2\x82\xac\" [3 more bytes not shown]");
  const std::string p = printable(std::string(10'000, '\x1b'));
  EXPECT_EQ(p.find('\x1b'), std::string::npos);
  EXPECT_LT(p.size(), kMessageMaxBytes * 4 + 100);
  EXPECT_CONTAINS(p, "more bytes not shown]");
}

TEST(CheckedProduct, RefusesWhatOverflowsAndNamesIt) {
  EXPECT_EQ(checked_product({3, 4, 5}, "x"), 60);
  EXPECT_EQ(checked_product({std::numeric_limits<int64_t>::max(), 0}, "x"), 0);
  EXPECT_EQ(checked_product({int64_t{1} << 31, int64_t{1} << 31}, "x"), int64_t{1} << 62);
  const std::string e = usage_error_of([] { checked_product({int64_t{1} << 40, int64_t{1} << 30}, "replay rows"); });
  EXPECT_CONTAINS(e, "replay rows = 1099511627776 x 1073741824 does not fit in 64 bits");
}

class InputFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("acx_in_" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& n) const { return (dir_ / n).string(); }
  fs::path dir_;
};

TEST_F(InputFiles, ReadFileRefusesDevicesDirectoriesFifosAndOversizedFiles) {
  std::ofstream(path("small")) << "hello";
  EXPECT_EQ(read_file(path("small"), 5, "test file"), "hello");
  EXPECT_CONTAINS(usage_error_of([&] { read_file(path("small"), 4, "test file"); }),
                  "is 5 bytes, over the 4 bytes limit of a test file");
  EXPECT_CONTAINS(usage_error_of([&] { read_file("/dev/zero", 1 << 20, "test file"); }), "is not a regular file");
  EXPECT_CONTAINS(usage_error_of([&] { read_file(dir_.string(), 1 << 20, "test file"); }), "is a directory");
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  EXPECT_CONTAINS(usage_error_of([&] { read_file(path("fifo"), 1 << 20, "test file"); }), "is not a regular file");
  EXPECT_CONTAINS(usage_error_of([&] { read_file(path("missing"), 1, "test file"); }), "cannot open");
}

TEST_F(InputFiles, ARunDirectoryHasOneOwner) {
  {
    const RunLock first(dir_.string());
    const std::string e = usage_error_of([&] { RunLock second(dir_.string()); });
    EXPECT_CONTAINS(e, "is in use by another acx process (pid " + std::to_string(::getpid()));
    EXPECT_CONTAINS(e, "one owner at a time");
  }
  // Released with its owner: the next one takes it.
  EXPECT_NO_THROW(RunLock again(dir_.string()));
}

TEST_F(InputFiles, StaleTemporariesAreRemovedAndNothingElse) {
  for (const char* n : {"checkpoint.safetensors.tmp.1234", "summary.json.tmp.99", "config.toml", "metrics.csv",
                        "notes.tmp", "x.tmp.12a"}) {
    std::ofstream(path(n)) << std::string(100, 'x');
  }
  uint64_t bytes = 0;
  std::vector<std::string> removed = remove_stale_temporaries(dir_.string(), &bytes);
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed, (std::vector<std::string>{"checkpoint.safetensors.tmp.1234", "summary.json.tmp.99"}));
  EXPECT_EQ(bytes, 200u);
  for (const char* n : {"config.toml", "metrics.csv", "notes.tmp", "x.tmp.12a"}) EXPECT_TRUE(fs::exists(path(n))) << n;
}

// ---- checkpoint metadata ----------------------------------------------------

// A consistent checkpoint's metadata for a small pendulum run at env step 400.
struct MetaFixture {
  Config cfg{train_schema()};
  EnvInfo env = find_registered_env("pendulum");
  CheckpointMeta m;
  MetaFixture() {
    cfg.apply_override("env.n_envs=4");
    cfg.apply_override("run.total_env_steps=1000");
    cfg.apply_override("algo.learning_starts=100");
    cfg.apply_override("algo.batch_size=32");
    cfg.apply_override("net.actor_hidden=[16, 16]");
    m.acx_version = "0.1.0";
    m.env = "pendulum";
    m.algo = "td3";
    m.agents = 1;
    m.config = cfg.to_toml();
    m.env_steps = 400;
    m.updates = updates_due(cfg, 400);
    m.actor_updates = m.updates / 2;
    m.wall_s = 1.5;
    m.evals = {EvalRecord{200, 0.5, -1200.0, 30.0, {-1200.0}, {}}, EvalRecord{400, 1.4, -900.0, 20.0, {-900.0}, {}}};
    m.actor_layers = actor_layers_json(cfg, env);
    m.action_low = "[-2.0]";
    m.action_high = "[2.0]";
  }
  std::map<std::string, std::string> metadata() const { return checkpoint_metadata(m); }
  void check(const std::map<std::string, std::string>& md) const {
    const CheckpointMeta p = parse_checkpoint_meta(md, "ck");
    check_checkpoint_meta(p, checkpoint_config(p, "ck"), env, "ck");
  }
};

TEST(CheckpointMeta, AConsistentOneRoundTrips) {
  MetaFixture f;
  EXPECT_EQ(f.m.updates, 400 - 100 + 4);  // the schedule: floor(1 x (400 - 100 + 4))
  const CheckpointMeta p = parse_checkpoint_meta(f.metadata(), "ck");
  EXPECT_EQ(p.env_steps, 400);
  ASSERT_EQ(p.evals.size(), 2u);
  EXPECT_EQ(p.evals[1].per_agent, std::vector<double>{-900.0});
  EXPECT_TRUE(std::isnan(p.last_train_return));
  EXPECT_NO_THROW(f.check(f.metadata()));
}

// Every field: a value that does not parse, or one out of range, is
// corruption (acx::Error, exit 1) naming the field, never a crash or a
// silent resume at a made-up step.
TEST(CheckpointMeta, EveryFieldIsParsedStrictlyAndNamed) {
  MetaFixture f;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"env_steps", "abc"},        {"env_steps", "-400"},       {"env_steps", "4e2"},
      {"env_steps", " 400"},       {"env_steps", "99999999999999999999"},
      {"updates", "1.5"},          {"actor_updates", "100000"}, {"agents", "0"},
      {"agents", "4097"},          {"wall_s", "nan"},           {"wall_s", "-1"},
      {"wall_s", "inf"},           {"last_train_return", "x"},  {"replay_saved", "yes"},
      {"evals", "{"},              {"evals", "{}"},             {"evals", "[1]"},
      {"evals", R"([{"env_steps":200,"wall_s":1,"mean":null,"std":0,"per_agent":[0]}])"},
      {"evals", R"([{"env_steps":-1,"wall_s":1,"mean":0,"std":0,"per_agent":[0]}])"},
      {"evals", R"([{"env_steps":200,"wall_s":1,"mean":0,"std":0,"per_agent":[0],"x":1}])"},
      {"acx_version", ""},
  };
  for (const auto& [field, value] : bad) {
    std::map<std::string, std::string> md = f.metadata();
    md[field] = value;
    const std::string e = error_of([&] { f.check(md); });
    EXPECT_CONTAINS(e, "corrupt checkpoint ck: metadata field '" + field + "'");
  }
  std::map<std::string, std::string> md = f.metadata();
  md.erase("updates");
  EXPECT_CONTAINS(error_of([&] { f.check(md); }), "metadata field 'updates' is missing");
  md = f.metadata();
  md["extra"] = "1";
  EXPECT_CONTAINS(error_of([&] { f.check(md); }), "unexpected metadata field \"extra\"");
}

// Fields that parse but disagree with the config or each other.
TEST(CheckpointMeta, FieldsMustAgreeWithTheConfigAndEachOther) {
  const std::vector<std::pair<std::string, std::function<void(CheckpointMeta&)>>> cases = {
      {"env_steps", [](CheckpointMeta& m) { m.env_steps = 402; }},           // not a multiple of n_envs
      {"env_steps", [](CheckpointMeta& m) { m.env_steps = 1004; }},          // past the run's total
      {"updates", [](CheckpointMeta& m) { m.updates += 1; }},                // not the schedule's
      {"actor_updates", [](CheckpointMeta& m) { m.actor_updates -= 1; }},    // not updates / policy_delay
      {"agents", [](CheckpointMeta& m) { m.agents = 2; }},
      {"env", [](CheckpointMeta& m) { m.env = "lqr"; }},
      {"algo", [](CheckpointMeta& m) { m.algo = "ddpg"; }},
      {"evals", [](CheckpointMeta& m) { m.evals[1].env_steps = 100; }},       // out of order
      {"evals", [](CheckpointMeta& m) { m.evals[1].env_steps = 800; }},       // after the checkpoint
      {"evals", [](CheckpointMeta& m) { m.evals[0].per_agent.push_back(1); }},
      {"lqr_optimal_return", [](CheckpointMeta& m) { m.lqr_optimal_return = -5; }},
      {"actor_layers", [](CheckpointMeta& m) { m.actor_layers = "[]"; }},
      {"action_low", [](CheckpointMeta& m) { m.action_low = "[-3.0]"; }},
  };
  for (const auto& [field, spoil] : cases) {
    MetaFixture f;
    spoil(f.m);
    EXPECT_CONTAINS(error_of([&] { f.check(f.metadata()); }), "metadata field '" + field + "'");
  }
  MetaFixture f;
  f.m.config = "[algo]\ngamma = \"no\"\n";
  EXPECT_CONTAINS(error_of([&] { f.check(f.metadata()); }), "corrupt checkpoint ck: its embedded config does not parse");
}

// Not a checkpoint, or one of another format: the user's mistake (exit 2),
// not corruption.
TEST(CheckpointMeta, OtherFilesAndFormatsAreUsageErrors) {
  MetaFixture f;
  std::map<std::string, std::string> md = f.metadata();
  md.erase("format");
  EXPECT_CONTAINS(usage_error_of([&] { f.check(md); }), "is not an acx checkpoint");
  md["format"] = "acx-checkpoint-1";
  EXPECT_CONTAINS(usage_error_of([&] { f.check(md); }), "this acx reads acx-checkpoint-2");
}

}  // namespace
}  // namespace acx
