// Safetensors checkpoints and atomic writes: round trips, a file laid out by
// hand from the format's description (not by our writer), every kind of
// corruption giving its own clear error, and a failed write leaving the old
// file intact.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "host/io/atomic_file.h"
#include "host/io/safetensors.h"
#include "kernels/runtime/error.h"

namespace acx {
namespace {

namespace fs = std::filesystem;
using safetensors::DType;
using safetensors::load_safetensors;
using safetensors::save_safetensors;
using safetensors::Tensor;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("acx_st_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  static std::vector<uint8_t> read_bytes(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  static void write_bytes(const std::string& p, const std::vector<uint8_t>& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }

  // A file: 8-byte little-endian length (assembled byte by byte), the header
  // text as given, then `data`.
  static std::vector<uint8_t> file_bytes(const std::string& header, const std::vector<uint8_t>& data,
                                         uint64_t length_field = UINT64_MAX) {
    const uint64_t n = length_field == UINT64_MAX ? header.size() : length_field;
    std::vector<uint8_t> bytes;
    for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<uint8_t>((n >> (8 * i)) & 0xff));
    bytes.insert(bytes.end(), header.begin(), header.end());
    bytes.insert(bytes.end(), data.begin(), data.end());
    return bytes;
  }

  // Loads `bytes` and expects the corruption error: acx::Error (not a usage
  // error), naming the file, saying "corrupt checkpoint", containing `what`.
  void expect_corrupt(const std::vector<uint8_t>& bytes, const std::string& what) {
    const std::string p = path("bad.safetensors");
    write_bytes(p, bytes);
    try {
      load_safetensors(p);
      ADD_FAILURE() << "loaded a corrupt file; expected an error containing: " << what;
    } catch (const UsageError& e) {
      ADD_FAILURE() << "corruption reported as a usage error: " << e.what();
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("corrupt checkpoint " + p + ": "), std::string::npos) << msg;
      EXPECT_NE(msg.find(what), std::string::npos) << "expected '" << what << "' in: " << msg;
    }
  }

  fs::path dir_;
};

std::vector<Tensor> sample_tensors() {
  std::vector<float> f32(6);
  for (size_t i = 0; i < f32.size(); ++i) f32[i] = std::ldexp(1.0f, -static_cast<int>(i)) * (i % 2 ? -3.25f : 1.0f);
  f32[5] = std::nextafter(1.0f, 2.0f);
  return {
      Tensor::from<float>("actor.params", {2, 3}, f32),
      Tensor::from<double>("critic.params", {4}, {0.1, -1e300, 5e-324, 3.0}),
      Tensor::from<int64_t>("step", {}, {int64_t{1} << 40}),
      Tensor::from<int32_t>("empty", {0, 7}, {}),
      Tensor::from<uint8_t>("flags", {3, 1, 2}, {0, 1, 2, 253, 254, 255}),
      Tensor::from<uint32_t>("rng.counters", {5}, {0u, 1u, 0xffffffffu, 12345u, 7u}),
  };
}

TEST_F(SafetensorsTest, RoundTripsEveryDtypeAndShape) {
  const std::vector<Tensor> tensors = sample_tensors();
  const std::map<std::string, std::string> metadata = {{"format", "acx"}, {"env", "pendulum"}, {"quote", "a\"b\\c\n"}};
  save_safetensors(path("ckpt.safetensors"), tensors, metadata);

  const auto file = load_safetensors(path("ckpt.safetensors"));
  EXPECT_TRUE(file.checksummed());
  std::map<std::string, std::string> without_checksums = file.metadata();
  EXPECT_EQ(without_checksums.erase(acx::safetensors::kChecksumKey), 1u);
  EXPECT_EQ(without_checksums, metadata);
  ASSERT_EQ(file.tensors().size(), tensors.size());
  for (const Tensor& want : tensors) {
    const Tensor& got = file.expect(want.name, want.dtype, want.shape);
    EXPECT_EQ(got.data, want.data) << want.name;
  }
  EXPECT_EQ(file.get("critic.params").values<double>(), (std::vector<double>{0.1, -1e300, 5e-324, 3.0}));
  EXPECT_EQ(file.get("step").numel(), 1);
  EXPECT_EQ(file.get("empty").numel(), 0);
  EXPECT_EQ(file.meta("env"), "pendulum");

  // The layout the format asks of a writer: the header is JSON starting with
  // '{', padded with spaces so that the data starts 8-byte aligned.
  const std::vector<uint8_t> bytes = read_bytes(path("ckpt.safetensors"));
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t{bytes[i]} << (8 * i);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes[8], '{');
  EXPECT_EQ(bytes[8 + n - 1] == ' ' || bytes[8 + n - 1] == '}', true);
}

TEST_F(SafetensorsTest, WritesTheExactBytesTheFormatDescribes) {
  save_safetensors(path("a.safetensors"), {Tensor::from<float>("a", {2}, {1.0f, -2.5f})}, {{"format", "pt"}});
  // The checksums, as Python computes them (independently of acx):
  //   zlib.crc32(b"format\x00pt\x00") = 0x68e5a7ae,
  //   zlib.crc32(struct.pack("<ff", 1.0, -2.5)) = 0x560302f4.
  const std::string header =
      R"({"__metadata__":{"crc32":"{\"__metadata__\":\"68e5a7ae\",\"a\":\"560302f4\"}","format":"pt"},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string padded = header;
  padded.append((8 - padded.size() % 8) % 8, ' ');
  // 1.0f = 0x3f800000, -2.5f = 0xc0200000, little-endian.
  const std::vector<uint8_t> want = file_bytes(padded, {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0});
  EXPECT_EQ(read_bytes(path("a.safetensors")), want);
}

TEST_F(SafetensorsTest, ReadsAFileLaidOutByHand) {
  // Written as another implementation might: keys in no particular order,
  // metadata last, tensors listed out of data order, no padding, spaces in
  // the JSON.
  const std::string header =
      R"({"b": {"dtype": "I32", "shape": [2], "data_offsets": [8, 16]}, )"
      R"("a": {"dtype": "F32", "shape": [1, 2], "data_offsets": [0, 8]}, )"
      R"("z": {"dtype": "U8", "shape": [3], "data_offsets": [16, 19]}, )"
      R"("__metadata__": {"format": "np"}})";
  const std::vector<uint8_t> data = {
      0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0,  // a: 1.0f, -2.5f
      0x07, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,  // b: 7, -1
      0x01, 0x02, 0x03,                                // z
  };
  write_bytes(path("hand.safetensors"), file_bytes(header, data));
  const auto file = load_safetensors(path("hand.safetensors"));
  EXPECT_EQ(file.metadata().at("format"), "np");
  EXPECT_EQ(file.expect("a", DType::kF32, {1, 2}).values<float>(), (std::vector<float>{1.0f, -2.5f}));
  EXPECT_EQ(file.expect("b", DType::kI32, {2}).values<int32_t>(), (std::vector<int32_t>{7, -1}));
  EXPECT_EQ(file.expect("z", DType::kU8, {3}).values<uint8_t>(), (std::vector<uint8_t>{1, 2, 3}));
  ASSERT_EQ(file.tensors().size(), 3u);
  EXPECT_EQ(file.tensors()[0].name, "a");  // data-offset order
}

TEST_F(SafetensorsTest, MissingOrMismatchedTensorsNameFileTensorWantedAndFound) {
  save_safetensors(path("c.safetensors"), sample_tensors());
  const auto file = load_safetensors(path("c.safetensors"));
  try {
    file.get("critic2.params");
    ADD_FAILURE() << "no throw";
  } catch (const UsageError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path("c.safetensors")), std::string::npos) << msg;
    EXPECT_NE(msg.find("no tensor 'critic2.params'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("actor.params"), std::string::npos) << msg;  // what it has
  }
  try {
    file.expect("actor.params", DType::kF32, {3, 2});
    ADD_FAILURE() << "no throw";
  } catch (const UsageError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path("c.safetensors")), std::string::npos) << msg;
    EXPECT_NE(msg.find("'actor.params' is F32 [2, 3], expected F32 [3, 2]"), std::string::npos) << msg;
  }
  EXPECT_THROW(file.expect("actor.params", DType::kF64, {2, 3}), UsageError);
  EXPECT_THROW(file.get("actor.params").values<double>(), UsageError);
  EXPECT_THROW(file.meta("nope"), UsageError);
  EXPECT_THROW(load_safetensors(path("does-not-exist.safetensors")), UsageError);
}

TEST_F(SafetensorsTest, RefusesToWriteInconsistentTensors) {
  Tensor bad = Tensor::from<float>("x", {2}, {1.0f, 2.0f});
  bad.data.pop_back();
  EXPECT_THROW(save_safetensors(path("x.safetensors"), {bad}), Error);
  const Tensor ok = Tensor::from<float>("x", {2}, {1.0f, 2.0f});
  EXPECT_THROW(save_safetensors(path("x.safetensors"), {ok, ok}), Error);
  EXPECT_THROW(save_safetensors(path("x.safetensors"), {Tensor::from<float>("__metadata__", {1}, {1.0f})}), Error);
  EXPECT_THROW(Tensor::from<float>("y", {3}, {1.0f}), Error);
  EXPECT_FALSE(fs::exists(path("x.safetensors")));
}

TEST_F(SafetensorsTest, TruncatedFilesGiveCorruptionErrors) {
  save_safetensors(path("good.safetensors"), sample_tensors(), {{"format", "acx"}});
  const std::vector<uint8_t> good = read_bytes(path("good.safetensors"));
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t{good[i]} << (8 * i);
  const auto cut = [&](size_t size) { return std::vector<uint8_t>(good.begin(), good.begin() + size); };
  expect_corrupt(cut(0), "too short for the 8-byte header length");
  expect_corrupt(cut(5), "too short for the 8-byte header length");
  expect_corrupt(cut(8), "runs past the end of the file");
  expect_corrupt(cut(8 + n / 2), "runs past the end of the file");
  expect_corrupt(cut(8 + n - 1), "runs past the end of the file");
  expect_corrupt(cut(8 + n), "run past the end of the data");
  expect_corrupt(cut(8 + n + 3), "run past the end of the data");
  expect_corrupt(cut(good.size() - 1), "run past the end of the data (");
  // Every cut point fails cleanly with a corruption error.
  for (size_t size = 0; size < good.size(); ++size) {
    write_bytes(path("cut.safetensors"), cut(size));
    EXPECT_THROW(load_safetensors(path("cut.safetensors")), Error) << "cut at " << size;
  }
}

TEST_F(SafetensorsTest, BadHeadersGiveTheirOwnErrors) {
  const std::string a = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::vector<uint8_t> data8(8, 0);
  expect_corrupt(file_bytes("{" + a + "}", data8, uint64_t{1} << 40), "over the 100000000-byte limit");
  expect_corrupt(file_bytes("{" + a + "}", data8, 1000), "runs past the end of the file");
  expect_corrupt(file_bytes("", {}, 0), "header length is 0");
  expect_corrupt(file_bytes("[1, 2]", data8), "does not start with '{'");
  expect_corrupt(file_bytes(" {" + a + "}", data8), "does not start with '{'");
  expect_corrupt(file_bytes("{" + a, data8), "header is not valid JSON");
  expect_corrupt(file_bytes("{\"a\";1}", data8), "header is not valid JSON");
  expect_corrupt(file_bytes("{" + a + "," + a + "}", data8), "header repeats the key \"a\"");
  expect_corrupt(file_bytes(R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data8),
                 "repeats the key \"dtype\"");
  expect_corrupt(file_bytes(R"({"a":[1]})", data8), "tensor \"a\": header entry is a JSON array");
  expect_corrupt(file_bytes(R"({"a":{"dtype":"F32","shape":[2]}})", data8), "lacks dtype, shape or data_offsets");
  expect_corrupt(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", data8),
                 "unexpected key \"x\"");
  expect_corrupt(file_bytes(R"({"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}})", data8),
                 "tensor \"a\": unknown dtype \"BF16\"");
  expect_corrupt(file_bytes(R"({"a":{"dtype":3,"shape":[2],"data_offsets":[0,8]}})", data8), "dtype is not a string");
  expect_corrupt(file_bytes(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data8),
                 "is not a list of non-negative integers");
  expect_corrupt(file_bytes(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", data8),
                 "is not a list of non-negative integers");
  expect_corrupt(file_bytes(R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", data8), "shape is not a list");
  expect_corrupt(file_bytes(R"({"__metadata__":{"k":1},)" + a + "}", data8), "__metadata__[\"k\"] is not a string");
  expect_corrupt(file_bytes(R"({"__metadata__":[],)" + a + "}", data8), "__metadata__ is a JSON array");
  expect_corrupt(
      file_bytes(R"({"a":{"dtype":"F32","shape":[4611686018427387904,8],"data_offsets":[0,8]}})", data8),
      "is too large");
}

TEST_F(SafetensorsTest, BadOffsetsGiveTheirOwnErrors) {
  const auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape, uint64_t b,
                        uint64_t e) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
           std::to_string(b) + "," + std::to_string(e) + "]}";
  };
  const std::vector<uint8_t> d(16, 0);
  expect_corrupt(file_bytes("{" + entry("a", "F32", "[2]", 8, 0) + "}", d), "end before they begin");
  expect_corrupt(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", d),
                 "is not a pair of non-negative integers");
  expect_corrupt(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", d),
                 "is not a pair of non-negative integers");
  expect_corrupt(file_bytes("{" + entry("a", "F32", "[4]", 0, 16) + "}", std::vector<uint8_t>(12, 0)),
                 "tensor \"a\": data_offsets [0, 16] run past the end of the data (12 bytes");
  expect_corrupt(file_bytes("{" + entry("a", "F32", "[2, 3]", 0, 16) + "}", d),
                 "tensor \"a\": F32 [2, 3] needs 24 bytes, but data_offsets [0, 16] hold 16");
  expect_corrupt(file_bytes("{" + entry("a", "F64", "[2]", 0, 16) + "," + entry("b", "F32", "[2]", 4, 12) + "}", d),
                 "tensor \"b\" at data_offsets [4, 12] overlaps tensor \"a\" at [0, 16]");
  expect_corrupt(file_bytes("{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "U8", "[4]", 12, 16) + "}", d),
                 "4 bytes of gap in the data before tensor \"b\"");
  expect_corrupt(file_bytes("{" + entry("a", "F32", "[2]", 8, 16) + "}", d), "8 bytes of gap in the data before tensor \"a\"");
  expect_corrupt(file_bytes("{" + entry("a", "F32", "[2]", 0, 8) + "}", d), "8 bytes of trailing data after the last tensor");
  expect_corrupt(file_bytes("{}", {1, 2, 3}), "3 bytes of trailing data");

  // Trailing garbage after a file our writer made.
  save_safetensors(path("good.safetensors"), sample_tensors());
  std::vector<uint8_t> bytes = read_bytes(path("good.safetensors"));
  bytes.push_back(0);
  expect_corrupt(bytes, "1 bytes of trailing data after the last tensor");
}

TEST_F(SafetensorsTest, FlippedHeaderBytesNeverCrashOrLoadWrongData) {
  // Every single-byte change of the header either fails with acx::Error or
  // loads a file whose data still tiles the data section (the reader's
  // checks hold whatever the bytes say).
  save_safetensors(path("good.safetensors"), sample_tensors(), {{"format", "acx"}});
  const std::vector<uint8_t> good = read_bytes(path("good.safetensors"));
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t{good[i]} << (8 * i);
  size_t failures = 0;
  for (size_t i = 0; i < 8 + n; ++i) {
    for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}}) {
      std::vector<uint8_t> bytes = good;
      bytes[i] ^= flip;
      write_bytes(path("flip.safetensors"), bytes);
      try {
        const auto file = load_safetensors(path("flip.safetensors"));
        size_t total = 0;
        for (const Tensor& t : file.tensors()) total += t.data.size();
        EXPECT_EQ(total, good.size() - 8 - n) << "byte " << i;
      } catch (const Error&) {
        ++failures;
      }
    }
  }
  EXPECT_GT(failures, n);  // most flips break the JSON or the layout
}

// ---- atomic writes ---------------------------------------------------------------------------

TEST_F(SafetensorsTest, FailedWriteLeavesTheOldFileIntact) {
  const std::string p = path("ckpt.safetensors");
  save_safetensors(p, {Tensor::from<float>("old", {1}, {1.0f})});
  const std::vector<uint8_t> old_bytes = read_bytes(p);

  // The temporary file cannot be created: its name is taken by a directory.
  const std::string temp = p + ".tmp." + std::to_string(::getpid());
  fs::create_directory(temp);
  try {
    save_safetensors(p, {Tensor::from<float>("new", {1}, {2.0f})});
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(p + ": cannot write"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_bytes(p), old_bytes);
  fs::remove(temp);

  // The write fails halfway (the file-size limit stands in for a full disk):
  // the old file stays and the temporary file is removed.
  const std::vector<float> big(100000, 3.0f);
  struct rlimit saved {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto saved_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  bool threw = false;
  std::string message;
  try {
    save_safetensors(p, {Tensor::from<float>("new", {100000}, big)});
  } catch (const Error& e) {
    threw = true;
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, saved_handler);
  EXPECT_TRUE(threw);
  EXPECT_NE(message.find("write failed"), std::string::npos) << message;
  EXPECT_EQ(read_bytes(p), old_bytes);
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_EQ(load_safetensors(p).get("old").values<float>(), std::vector<float>{1.0f});

  // A directory that does not exist: an error naming the path, nothing created.
  EXPECT_THROW(save_safetensors(path("no/such/dir/x.safetensors"), {}), Error);
}

TEST_F(SafetensorsTest, AtomicWriteReplacesAndLeavesNoTemporaries) {
  const std::string p = path("summary.json");
  write_file_atomic(p, std::string_view("{\"a\": 1}\n"));
  write_file_atomic(p, std::string_view("{\"a\": 2}\n"));
  std::ifstream in(p);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()), "{\"a\": 2}\n");
  size_t n_files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) n_files += entry.is_regular_file();
  EXPECT_EQ(n_files, 1u);

  {  // Abandoned (an exception between write and commit): nothing changes.
    AtomicFileWriter out(p);
    out.write("partial");
  }
  std::ifstream again(p);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(again), std::istreambuf_iterator<char>()), "{\"a\": 2}\n");
  EXPECT_FALSE(fs::exists(p + ".tmp." + std::to_string(::getpid())));

  const std::vector<uint8_t> bytes = {0, 1, 2, 255};
  write_file_atomic(path("b.bin"), bytes);
  EXPECT_EQ(read_bytes(path("b.bin")), bytes);
}


// A flipped bit anywhere is named as corruption: in a tensor's data (by the
// tensor's name), in a metadata value, or in the checksums themselves.
TEST_F(SafetensorsTest, ChecksumsNameTheCorruptTensorOrTheHeader) {
  const std::vector<Tensor> tensors = sample_tensors();
  save_safetensors(path("ok.safetensors"), tensors, {{"env", "pendulum"}, {"steps", "4000"}});
  const std::vector<uint8_t> good = read_bytes(path("ok.safetensors"));
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t{good[i]} << (8 * i);
  const size_t data_start = 8 + n;

  // Every byte of the data section, one bit flipped at a time: never loads,
  // and names the tensor the byte belongs to (offsets from the header).
  const auto ok = load_safetensors(path("ok.safetensors"));
  size_t offset = 0;
  for (const Tensor& t : tensors) {
    for (size_t i = 0; i < t.data.size(); ++i) {
      std::vector<uint8_t> bad = good;
      bad[data_start + offset + i] ^= 0x10;
      expect_corrupt(bad, "tensor \"" + t.name + "\" fails its CRC-32 check");
    }
    offset += t.data.size();
  }
  // A digit of a metadata value: the header's checksum.
  const std::string text(good.begin() + 8, good.begin() + 8 + static_cast<long>(n));
  const size_t digit = text.find("4000");
  ASSERT_NE(digit, std::string::npos);
  std::vector<uint8_t> bad = good;
  bad[8 + digit] = '5';
  expect_corrupt(bad, "the metadata fails its CRC-32 check");
  // A checksum that is not 8 hex digits.
  const size_t crc = text.find("\\\"__metadata__\\\":\\\"");
  ASSERT_NE(crc, std::string::npos) << text;
  bad = good;
  bad[8 + crc + 19] = 'z';
  expect_corrupt(bad, "is not 8 hex digits");
}

TEST_F(SafetensorsTest, FilteredLoadsReadOnlyWhatIsAskedAndKnowEveryShape) {
  save_safetensors(path("f.safetensors"), sample_tensors());
  const auto f = load_safetensors(path("f.safetensors"), [](const std::string& n) { return n == "step"; });
  ASSERT_EQ(f.tensors().size(), 1u);
  EXPECT_EQ(f.get("step").values<int64_t>(), std::vector<int64_t>{int64_t{1} << 40});
  EXPECT_EQ(f.header().size(), sample_tensors().size());
  EXPECT_EQ(f.header().at("actor.params").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_NO_THROW(f.expect_header("actor.params", DType::kF32, {2, 3}));
  EXPECT_THROW(f.expect_header("actor.params", DType::kF32, {3, 2}), UsageError);
  try {
    f.get("actor.params");
    ADD_FAILURE() << "a tensor left out by the filter was returned";
  } catch (const UsageError&) {
    ADD_FAILURE() << "a tensor left out by the filter is a programming error, not the user's";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("was not read"), std::string::npos) << e.what();
  }
  // The same bytes from memory.
  const std::vector<uint8_t> bytes = read_bytes(path("f.safetensors"));
  const auto m = safetensors::parse_safetensors(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                                                "memory");
  EXPECT_EQ(m.tensors().size(), sample_tensors().size());
}

// What is not a regular file is refused before a byte is read: a directory
// (which "opens" and reads as garbage), a device that never ends.
TEST_F(SafetensorsTest, OnlyRegularFilesAreRead) {
  for (const std::string& p : {dir_.string(), std::string("/dev/zero")}) {
    try {
      load_safetensors(p);
      ADD_FAILURE() << "loaded " << p;
    } catch (const UsageError& e) {
      const std::string msg = e.what();
      EXPECT_TRUE(msg.find("is a directory") != std::string::npos || msg.find("not a regular file") != std::string::npos)
          << msg;
    }
  }
}

}  // namespace
}  // namespace acx
