// metrics.csv and TensorBoard event files: exact CSV text and float round
// trips, resuming (truncate to the checkpoint, then append) equal to a run
// that never stopped, the TFRecord framing re-read by an independent reader
// here (its own bitwise CRC-32C, checked against RFC 3720) and decoded with
// the generated protobuf classes, and the progress line.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "host/io/metrics.h"
#include "host/io/tensorboard.h"
#include "host/io/tensorboard_event.pb.h"
#include "kernels/philox.h"
#include "kernels/runtime/error.h"

namespace acx {
namespace {

namespace fs = std::filesystem;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- an independent TFRecord reader ---------------------------------------------------------

// Bit by bit, straight from the definition (reflected polynomial 0x82F63B78):
// shares nothing with the table-driven CRC under test.
uint32_t reference_crc32c(const uint8_t* p, size_t n) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
  }
  return crc ^ 0xffffffffu;
}

uint32_t reference_masked(const uint8_t* p, size_t n) {
  const uint32_t c = reference_crc32c(p, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

uint64_t le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}
uint32_t le32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{p[i]} << (8 * i);
  return v;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every record's payload; fails the test on a bad length, CRC or tail.
std::vector<tensorboard::Event> read_events(const std::string& path) {
  const std::vector<uint8_t> bytes = read_bytes(path);
  std::vector<tensorboard::Event> events;
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (bytes.size() - pos < 12) {
      ADD_FAILURE() << path << ": " << bytes.size() - pos << " stray bytes at the end";
      break;
    }
    const uint64_t length = le64(&bytes[pos]);
    EXPECT_EQ(le32(&bytes[pos + 8]), reference_masked(&bytes[pos], 8)) << "length CRC at offset " << pos;
    if (bytes.size() - pos - 12 < length + 4) {
      ADD_FAILURE() << path << ": record at " << pos << " runs past the end";
      break;
    }
    const uint8_t* data = &bytes[pos + 12];
    EXPECT_EQ(le32(data + length), reference_masked(data, length)) << "data CRC at offset " << pos;
    tensorboard::Event event;
    EXPECT_TRUE(event.ParseFromArray(data, static_cast<int>(length))) << "record at " << pos;
    events.push_back(event);
    pos += 12 + length + 4;
  }
  return events;
}

// ---- CRC-32C ------------------------------------------------------------------------------

TEST(Crc32c, MatchesRfc3720KnownAnswers) {
  // RFC 3720 (iSCSI), appendix B.4.
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xff), ascending(32), descending(32);
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<uint8_t>(i);
    descending[i] = static_cast<uint8_t>(31 - i);
  }
  EXPECT_EQ(crc32c(zeros.data(), 32), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), 32), 0x62A8AB43u);
  EXPECT_EQ(crc32c(ascending.data(), 32), 0x46DD794Eu);
  EXPECT_EQ(crc32c(descending.data(), 32), 0x113FDB5Cu);
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);  // the catalogued check value
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
  // The test's own reader agrees on the same vectors.
  EXPECT_EQ(reference_crc32c(zeros.data(), 32), 0x8A9136AAu);
  EXPECT_EQ(reference_crc32c(ones.data(), 32), 0x62A8AB43u);
  EXPECT_EQ(reference_crc32c(ascending.data(), 32), 0x46DD794Eu);
}

TEST(Crc32c, AgreesWithTheBitwiseDefinitionAndChains) {
  PhiloxStream rng(0x5eed, RngPurpose::kTest, 77, 0);
  std::vector<uint8_t> bytes(1000);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng.uniform(0.0f, 256.0f));
  for (size_t n : {1u, 7u, 8u, 63u, 1000u}) EXPECT_EQ(crc32c(bytes.data(), n), reference_crc32c(bytes.data(), n)) << n;
  EXPECT_EQ(crc32c(bytes.data() + 300, 700, crc32c(bytes.data(), 300)), crc32c(bytes.data(), 1000));
  EXPECT_EQ(masked_crc32c(bytes.data(), 100), reference_masked(bytes.data(), 100));
}

TEST(TfRecord, FramesAPayload) {
  const std::string record = tfrecord_frame("abc");
  ASSERT_EQ(record.size(), 8u + 4 + 3 + 4);
  const auto* p = reinterpret_cast<const uint8_t*>(record.data());
  EXPECT_EQ(le64(p), 3u);
  EXPECT_EQ(le32(p + 8), reference_masked(p, 8));
  EXPECT_EQ(record.substr(12, 3), "abc");
  EXPECT_EQ(le32(p + 15), reference_masked(p + 12, 3));
}

// ---- MetricsWriter -------------------------------------------------------------------------

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("acx_metrics_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string dir(const std::string& sub = "") const {
    const fs::path p = sub.empty() ? dir_ : dir_ / sub;
    fs::create_directories(p);
    return p.string();
  }

  static std::vector<MetricColumn> columns() {
    return {{"env_steps", MetricKind::kInt, ""},
            {"updates", MetricKind::kInt, "train/updates"},
            {"train_return", MetricKind::kFloat32, "train/return"},
            {"eval_return", MetricKind::kFloat32, "eval/return"},
            {"critic_loss", MetricKind::kFloat64, "loss/critic"}};
  }

  fs::path dir_;
};

TEST_F(MetricsTest, WritesAHeaderAndExactRows) {
  {
    MetricsWriter w(dir(), columns());
    w.write_row({1000, 250, -812.25, kNaN, 0.1});
    w.write_row({2000, 500, 0.1, -190.5, 1e-300});
    w.write_row({3000, 750, -std::numeric_limits<double>::infinity(), 3.4028234663852886e38, 2.0 / 3.0});
    EXPECT_EQ(w.header_line(), "env_steps,updates,train_return,eval_return,critic_loss");
  }
  EXPECT_EQ(read_text(dir() + "/metrics.csv"),
            "env_steps,updates,train_return,eval_return,critic_loss\n"
            "1000,250,-812.25,,0.1\n"
            "2000,500,0.1,-190.5,1e-300\n"
            "3000,750,-inf,3.4028235e+38,0.6666666666666666\n");
}

TEST_F(MetricsTest, EveryRowIsOnDiskAsSoonAsItIsWritten) {
  MetricsWriter w(dir(), columns());
  w.write_row({1000, 1, 1, 1, 1});
  // Read while the writer is still open (a crash now keeps this row).
  EXPECT_EQ(read_text(dir() + "/metrics.csv"), w.header_line() + "\n1000,1,1,1,1\n");
}

TEST_F(MetricsTest, FloatsRoundTripExactly) {
  std::vector<float> floats = {0.1f, 1.0f / 3.0f, 16777217.0f, 1e-45f, 1.17549435e-38f, 3.4028235e38f, -0.0f,
                               std::nextafter(1.0f, 2.0f)};
  std::vector<double> doubles = {0.1, 1.0 / 3.0, 5e-324, 1.7976931348623157e308, -0.0, std::nextafter(1.0, 2.0)};
  PhiloxStream rng(0x5eed, RngPurpose::kTest, 78, 0);
  for (int i = 0; i < 2000; ++i) {
    const float mantissa = rng.uniform(-1.0f, 1.0f);
    const int exponent = static_cast<int>(rng.uniform(-140.0f, 120.0f));
    floats.push_back(std::ldexp(mantissa, exponent));
    doubles.push_back(std::ldexp(static_cast<double>(mantissa) + rng.uniform(0.0f, 1.0f) * 1e-9, exponent * 8));
  }
  {
    MetricsWriter w(dir(), columns(), {.tensorboard = false});
    for (size_t i = 0; i < floats.size(); ++i)
      w.write_row({static_cast<double>(i), 0, floats[i], floats[i], doubles[i % doubles.size()]});
  }
  std::ifstream in(dir() + "/metrics.csv");
  std::string line;
  std::getline(in, line);
  size_t i = 0, mismatches = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    size_t start = 0;
    for (size_t comma; (comma = line.find(',', start)) != std::string::npos; start = comma + 1)
      fields.push_back(line.substr(start, comma - start));
    fields.push_back(line.substr(start));
    ASSERT_EQ(fields.size(), 5u) << line;
    const float f = std::strtof(fields[2].c_str(), nullptr);
    const double d = std::strtod(fields[4].c_str(), nullptr);
    const double want_d = doubles[i % doubles.size()];
    if (std::memcmp(&f, &floats[i], sizeof f) != 0 || std::memcmp(&d, &want_d, sizeof d) != 0) {
      if (mismatches++ < 5) ADD_FAILURE() << "row " << i << ": " << line;
    }
    ++i;
  }
  EXPECT_EQ(i, floats.size());
  EXPECT_EQ(mismatches, 0u);
}

TEST_F(MetricsTest, FormatsMissingAndIntegerValues) {
  EXPECT_EQ(format_metric(kNaN, MetricKind::kFloat32), "");
  EXPECT_EQ(format_metric(kNaN, MetricKind::kInt), "");
  EXPECT_EQ(format_metric(123456789012.0, MetricKind::kInt), "123456789012");
  EXPECT_EQ(format_metric(0.1, MetricKind::kFloat32), "0.1");
  EXPECT_EQ(format_metric(0.1, MetricKind::kFloat64), "0.1");
  EXPECT_EQ(format_metric(static_cast<float>(0.1), MetricKind::kFloat64), "0.10000000149011612");
  EXPECT_THROW(format_metric(1.5, MetricKind::kInt), Error);
}

TEST_F(MetricsTest, RejectsBadSetups) {
  EXPECT_THROW(MetricsWriter(dir(), {{"updates", MetricKind::kInt, ""}}), Error);
  EXPECT_THROW(MetricsWriter(dir(), {{"env_steps", MetricKind::kInt, ""}, {"a,b", MetricKind::kFloat32, ""}}), Error);
  EXPECT_THROW(MetricsWriter(dir() + "/missing", columns()), UsageError);
  { MetricsWriter w(dir(), columns()); }
  try {
    MetricsWriter again(dir(), columns());
    ADD_FAILURE() << "a fresh run overwrote metrics.csv";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("metrics.csv already exists"), std::string::npos) << e.what();
  }
  MetricsWriter w(dir("b"), columns(), {.tensorboard = false});
  EXPECT_THROW(w.write_row({1, 2}), Error);
  EXPECT_EQ(w.event_file_path(), "");
}

// Deterministic rows: what the trainer's metrics would be at env step `s`.
std::vector<double> row_at(int64_t s) {
  const double x = static_cast<double>(s);
  return {x, x / 4, std::sin(x) * 100, s % 300 == 0 ? std::cos(x) * 50 : kNaN, 1.0 / (1.0 + x)};
}

TEST_F(MetricsTest, ResumedRunEqualsOneThatNeverStopped) {
  {  // never stopped
    MetricsWriter w(dir("straight"), columns());
    for (int64_t s = 100; s <= 1500; s += 100) w.write_row(row_at(s));
  }
  {  // stopped at 1100 (checkpoint at 700), with a torn last line
    MetricsWriter w(dir("resumed"), columns());
    for (int64_t s = 100; s <= 1100; s += 100) w.write_row(row_at(s));
  }
  {
    std::ofstream torn(dir("resumed") + "/metrics.csv", std::ios::app);
    torn << "1200,300,-0.5";
  }
  {
    MetricsWriter w(dir("resumed"), columns(), {.resume_env_steps = 700});
    EXPECT_EQ(w.rows_kept(), 7u);
    EXPECT_EQ(read_text(w.csv_path()).size(), read_text(dir("straight") + "/metrics.csv").find("\n800,") + 1);
    for (int64_t s = 800; s <= 1500; s += 100) w.write_row(row_at(s));
  }
  EXPECT_EQ(read_text(dir("resumed") + "/metrics.csv"), read_text(dir("straight") + "/metrics.csv"));

  {  // resuming at the last row keeps everything; a torn tail alone goes
    std::ofstream torn(dir("resumed") + "/metrics.csv", std::ios::app);
    torn << "1600,4";
  }
  MetricsWriter w(dir("resumed"), columns(), {.tensorboard = false, .resume_env_steps = 1500});
  EXPECT_EQ(w.rows_kept(), 15u);
  EXPECT_EQ(read_text(w.csv_path()), read_text(dir("straight") + "/metrics.csv"));
}

TEST_F(MetricsTest, ResumeChecksTheHeader) {
  { MetricsWriter w(dir(), columns(), {.tensorboard = false}); }
  std::vector<MetricColumn> other = columns();
  other.push_back({"actor_loss", MetricKind::kFloat64, ""});
  try {
    MetricsWriter w(dir(), other, {.tensorboard = false, .resume_env_steps = 0});
    ADD_FAILURE() << "resumed with other columns";
  } catch (const UsageError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(dir() + "/metrics.csv: its columns (env_steps,updates,train_return,eval_return,critic_loss) "
                               "are not this run's (env_steps,updates,train_return,eval_return,critic_loss,actor_loss)"),
              std::string::npos)
        << msg;
  }
  {
    std::ofstream bad(dir("garbled") + "/metrics.csv");
    bad << "env_steps,updates,train_return,eval_return,critic_loss\n100,1,2,3,4\nxyz,1,2,3,4\n";
  }
  EXPECT_THROW(MetricsWriter(dir("garbled"), columns(), {.tensorboard = false, .resume_env_steps = 500}), UsageError);
  // No metrics.csv yet (lost, or never written): a resume starts one.
  MetricsWriter fresh(dir("empty"), columns(), {.tensorboard = false, .resume_env_steps = 500});
  EXPECT_EQ(read_text(fresh.csv_path()), fresh.header_line() + "\n");
}

TEST_F(MetricsTest, TensorBoardFileHasVersionThenOneEventPerRow) {
  std::string event_path;
  {
    MetricsWriter w(dir(), columns());
    event_path = w.event_file_path();
    w.write_row({1000, 250, -812.25, kNaN, 0.5});
    w.write_row({2000, 500, 0.1, -190.5, 0.25});
  }
  const std::string name = fs::path(event_path).filename().string();
  EXPECT_EQ(name.rfind("events.out.tfevents.", 0), 0u) << name;
  EXPECT_NE(name.find(".acx"), std::string::npos) << name;
  EXPECT_EQ(fs::path(event_path).parent_path(), dir_);

  const std::vector<tensorboard::Event> events = read_events(event_path);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].file_version(), "brain.Event:2");
  EXPECT_GT(events[0].wall_time(), 1.6e9);  // seconds since 1970, now-ish

  EXPECT_EQ(events[1].step(), 1000);
  ASSERT_EQ(events[1].summary().value_size(), 3);  // eval/return was NaN: left out
  EXPECT_EQ(events[1].summary().value(0).tag(), "train/updates");
  EXPECT_EQ(events[1].summary().value(0).simple_value(), 250.0f);
  EXPECT_EQ(events[1].summary().value(1).tag(), "train/return");
  EXPECT_EQ(events[1].summary().value(1).simple_value(), -812.25f);
  EXPECT_EQ(events[1].summary().value(2).tag(), "loss/critic");

  EXPECT_EQ(events[2].step(), 2000);
  ASSERT_EQ(events[2].summary().value_size(), 4);
  EXPECT_EQ(events[2].summary().value(2).tag(), "eval/return");
  EXPECT_EQ(events[2].summary().value(2).simple_value(), -190.5f);
  EXPECT_GE(events[2].wall_time(), events[0].wall_time());
}

TEST_F(MetricsTest, ResumedTensorBoardFileStartsASession) {
  { MetricsWriter w(dir(), columns()); w.write_row(row_at(300)); }
  std::string second;
  {
    MetricsWriter w(dir(), columns(), {.resume_env_steps = 300});
    second = w.event_file_path();
    w.write_row(row_at(400));
  }
  size_t n_files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) n_files += entry.path().filename().string().find("tfevents") != std::string::npos;
  EXPECT_EQ(n_files, 2u);  // the old file stays; TensorBoard reads both, in name order
  std::string first;
  for (const auto& entry : fs::directory_iterator(dir_))
    if (entry.path() != second && entry.path().filename().string().find("tfevents") != std::string::npos)
      first = entry.path().filename().string();
  EXPECT_LT(first, fs::path(second).filename().string());
  const std::vector<tensorboard::Event> events = read_events(second);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].file_version(), "brain.Event:2");
  ASSERT_TRUE(events[1].has_session_log());
  EXPECT_EQ(events[1].session_log().status(), tensorboard::SessionLog::START);
  EXPECT_EQ(events[1].step(), 301);  // TensorBoard drops older events from here on
  EXPECT_EQ(events[2].step(), 400);
}

// ---- ProgressLine --------------------------------------------------------------------------

std::string captured(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  for (int c; (c = std::fgetc(f)) != EOF;) out += static_cast<char>(c);
  return out;
}

TEST(ProgressLine, RendersStepsRateReturnsAndEta) {
  ProgressStatus s;
  s.env_steps = 120000;
  s.total_env_steps = 1000000;
  s.env_steps_per_s = 45200;
  s.train_return = -812.34;
  s.eval_return = -190.44;
  s.elapsed_s = 3;
  EXPECT_EQ(ProgressLine::render(s),
            "steps 120.0k/1.00M (12.0%) | 45.2k steps/s | train -812.3 | eval -190.4 | 0:00:03 | ETA 0:00:19");
  ProgressStatus start;
  EXPECT_EQ(ProgressLine::render(start), "steps 0 | 0 steps/s | train -- | eval -- | 0:00:00");
  start.total_env_steps = 500;
  EXPECT_EQ(ProgressLine::render(start), "steps 0/500 (0.0%) | 0 steps/s | train -- | eval -- | 0:00:00 | ETA --:--");
  s.eval_cost_ratio = 1.01549;  // lqr
  EXPECT_EQ(ProgressLine::render(s), "steps 120.0k/1.00M (12.0%) | 45.2k steps/s | train -812.3 | eval -190.4 "
                                     "(1.015x optimal cost) | 0:00:03 | ETA 0:00:19");
}

TEST(ProgressLine, PlainLinesAtIntervalsWhenNotATerminal) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  ProgressLine p(f, /*is_tty=*/false, /*plain_interval_s=*/10.0);
  ProgressStatus s;
  for (int t = 0; t <= 25; ++t) {
    s.elapsed_s = t;
    s.env_steps = 1000 * t;
    p.update(s);
  }
  p.finish(s);
  const std::string out = captured(f);
  std::fclose(f);
  EXPECT_EQ(out.find('\r'), std::string::npos);
  // t = 0, 10, 20, then the final line at 25.
  EXPECT_EQ(out,
            "steps 0 | 0 steps/s | train -- | eval -- | 0:00:00\n"
            "steps 10.0k | 0 steps/s | train -- | eval -- | 0:00:10\n"
            "steps 20.0k | 0 steps/s | train -- | eval -- | 0:00:20\n"
            "steps 25.0k | 0 steps/s | train -- | eval -- | 0:00:25\n");
}

TEST(ProgressLine, RewritesOneLineOnATerminal) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  ProgressLine p(f, /*is_tty=*/true, /*plain_interval_s=*/10.0, /*tty_interval_s=*/0.5);
  ProgressStatus s;
  s.env_steps = 123456;
  s.elapsed_s = 0;
  p.update(s);
  s.elapsed_s = 0.1;  // too soon: skipped
  p.update(s);
  s.env_steps = 5;
  s.elapsed_s = 1;
  p.update(s);
  p.finish(s);
  const std::string out = captured(f);
  std::fclose(f);
  const std::string first = "steps 123.5k | 0 steps/s | train -- | eval -- | 0:00:00";
  const std::string second = "steps 5 | 0 steps/s | train -- | eval -- | 0:00:01";
  const std::string pad(first.size() - second.size(), ' ');
  EXPECT_EQ(out, "\r" + first + "\r" + second + pad + "\r" + second + "\n");
}

}  // namespace
}  // namespace acx
