// metrics.cpp: see metrics.h.
#include "host/io/metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "host/io/atomic_file.h"
#include "host/io/tensorboard.h"
#include "kernels/runtime/error.h"

namespace acx {
namespace {

void write_all(int fd, const std::string& text, const std::string& path) {
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(path + ": write failed: " + std::strerror(n < 0 ? errno : ENOSPC));
    p += n;
    left -= static_cast<size_t>(n);
  }
}

int open_append(const std::string& path, bool create_new) {
  const int flags = O_WRONLY | O_APPEND | O_CLOEXEC | (create_new ? O_CREAT | O_EXCL : 0);
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) throw Error(path + ": cannot open for appending: " + std::strerror(errno));
  return fd;
}

std::string clock_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  return fmt::format("{}:{:02d}:{:02d}", s / 3600, (s / 60) % 60, s % 60);
}

// 950, 12.3k, 1.25M, 3.00G: steps and rates at a glance.
std::string si(double x) {
  const double a = std::fabs(x);
  if (a >= 1e9) return fmt::format("{:.2f}G", x / 1e9);
  if (a >= 1e6) return fmt::format("{:.2f}M", x / 1e6);
  if (a >= 1e3) return fmt::format("{:.1f}k", x / 1e3);
  return fmt::format("{:.0f}", x);
}

}  // namespace

std::string format_metric(double value, MetricKind kind) {
  if (std::isnan(value)) return "";
  switch (kind) {
    case MetricKind::kInt: {
      ACX_CHECK(std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 9.2e18,
                fmt::format("integer metric given {}", value));
      return std::to_string(static_cast<int64_t>(value));
    }
    // fmt's "{}" is the shortest text that reads back as the same value
    // (float for float, double for double): exact and short, unlike %.9g.
    case MetricKind::kFloat32: return fmt::format("{}", static_cast<float>(value));
    case MetricKind::kFloat64: return fmt::format("{}", value);
  }
  return "";
}

MetricsWriter::MetricsWriter(std::string dir, std::vector<MetricColumn> columns, MetricsOptions options)
    : dir_(std::move(dir)), columns_(std::move(columns)) {
  ACX_CHECK(!columns_.empty() && columns_[0].name == "env_steps" && columns_[0].kind == MetricKind::kInt,
            "the first metrics column must be env_steps (kInt)");
  for (const MetricColumn& c : columns_) {
    ACX_CHECK(!c.name.empty() && c.name.find_first_of(",\"\n\r") == std::string::npos,
              "metrics column name '" + c.name + "' is empty or needs CSV quoting");
  }
  csv_path_ = dir_ + "/metrics.csv";
  if (!std::filesystem::is_directory(dir_)) throw UsageError(dir_ + ": not a directory (the run's output directory)");

  if (options.resume_env_steps) {
    open_resumed(*options.resume_env_steps);
  } else {
    if (std::filesystem::exists(csv_path_))
      throw UsageError(csv_path_ + " already exists: resume that run (--resume) or choose a new output directory");
    fd_ = open_append(csv_path_, /*create_new=*/true);
    write_all(fd_, header_line() + "\n", csv_path_);
  }
  if (options.tensorboard) {
    std::optional<int64_t> first_step;
    if (options.resume_env_steps) first_step = *options.resume_env_steps + 1;
    tensorboard_ = std::make_unique<TensorBoardWriter>(dir_, first_step);
  }
}

MetricsWriter::~MetricsWriter() {
  if (fd_ >= 0) ::close(fd_);
}

std::string MetricsWriter::header_line() const {
  std::string line;
  for (size_t i = 0; i < columns_.size(); ++i) line += (i ? "," : "") + columns_[i].name;
  return line;
}

std::string MetricsWriter::event_file_path() const { return tensorboard_ ? tensorboard_->path() : std::string(); }

void MetricsWriter::open_resumed(int64_t resume_env_steps) {
  if (!std::filesystem::exists(csv_path_)) {
    fd_ = open_append(csv_path_, /*create_new=*/true);
    write_all(fd_, header_line() + "\n", csv_path_);
    return;
  }
  std::ifstream in(csv_path_, std::ios::binary);
  if (!in) throw UsageError(csv_path_ + ": cannot open for reading");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();

  const size_t header_end = text.find('\n');
  const std::string header = text.substr(0, header_end);
  if (header != header_line())
    throw UsageError(csv_path_ + ": its columns (" + header + ") are not this run's (" + header_line() +
                     "); it belongs to another version or configuration: resume with the acx that wrote it, or "
                     "start a new output directory");

  // Keep whole rows up to the checkpoint's step; a torn last line (a crash
  // mid-write) and every row after the checkpoint go.
  size_t keep_end = header_end == std::string::npos ? text.size() : header_end + 1;
  size_t line_no = 1;
  for (size_t pos = keep_end; pos < text.size();) {
    ++line_no;
    const size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) break;  // torn
    const std::string_view row(text.data() + pos, nl - pos);
    const std::string_view first = row.substr(0, row.find(','));
    int64_t steps = 0;
    const auto [end, ec] = std::from_chars(first.data(), first.data() + first.size(), steps);
    if (ec != std::errc() || end != first.data() + first.size())
      throw UsageError(fmt::format("{}:{}: cannot read env_steps from '{}'", csv_path_, line_no, first));
    if (steps > resume_env_steps) break;
    ++rows_kept_;
    keep_end = nl + 1;
    pos = nl + 1;
  }
  if (header_end == std::string::npos) {
    write_file_atomic(csv_path_, header_line() + "\n");
  } else if (keep_end != text.size()) {
    write_file_atomic(csv_path_, std::string_view(text).substr(0, keep_end));
  }
  fd_ = open_append(csv_path_, /*create_new=*/false);
}

void MetricsWriter::write_row(const std::vector<double>& values) {
  ACX_CHECK(values.size() == columns_.size(),
            fmt::format("metrics row has {} values for {} columns", values.size(), columns_.size()));
  std::string line;
  std::vector<std::pair<std::string, double>> scalars;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) line += ',';
    line += format_metric(values[i], columns_[i].kind);
    if (!columns_[i].tensorboard_tag.empty() && !std::isnan(values[i]))
      scalars.emplace_back(columns_[i].tensorboard_tag, values[i]);
  }
  line += '\n';
  write_all(fd_, line, csv_path_);  // one write per row: a crash keeps whole rows
  if (tensorboard_ && !scalars.empty()) tensorboard_->add_scalars(static_cast<int64_t>(values[0]), scalars);
}

// ---- ProgressLine -------------------------------------------------------------------------------

ProgressLine::ProgressLine(std::FILE* out, double plain_interval_s)
    : ProgressLine(out, ::isatty(::fileno(out)) == 1, plain_interval_s) {}

ProgressLine::ProgressLine(std::FILE* out, bool is_tty, double plain_interval_s, double tty_interval_s)
    : out_(out), is_tty_(is_tty), interval_s_(is_tty ? tty_interval_s : plain_interval_s) {}

std::string ProgressLine::render(const ProgressStatus& s) {
  std::string line = "steps " + si(static_cast<double>(s.env_steps));
  if (s.total_env_steps > 0)
    line += fmt::format("/{} ({:.1f}%)", si(static_cast<double>(s.total_env_steps)),
                        100.0 * static_cast<double>(s.env_steps) / static_cast<double>(s.total_env_steps));
  line += " | " + si(s.env_steps_per_s) + " steps/s";
  line += std::isnan(s.train_return) ? std::string(" | train --") : fmt::format(" | train {:.1f}", s.train_return);
  line += std::isnan(s.eval_return) ? std::string(" | eval --") : fmt::format(" | eval {:.1f}", s.eval_return);
  if (!std::isnan(s.eval_cost_ratio)) line += fmt::format(" ({:.3f}x optimal cost)", s.eval_cost_ratio);
  line += " | " + clock_text(s.elapsed_s);
  if (s.total_env_steps > 0) {
    const double left = static_cast<double>(s.total_env_steps - s.env_steps);
    line += " | ETA " + (s.env_steps_per_s > 0 ? clock_text(left / s.env_steps_per_s) : std::string("--:--"));
  }
  return line;
}

void ProgressLine::print(const ProgressStatus& status) {
  const std::string line = render(status);
  if (is_tty_) {
    // Pad over the tail of a longer previous line instead of relying on an
    // escape sequence: works on any terminal.
    const size_t pad = last_width_ > line.size() ? last_width_ - line.size() : 0;
    std::fprintf(out_, "\r%s%*s", line.c_str(), static_cast<int>(pad), "");
    last_width_ = line.size();
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
  last_print_s_ = status.elapsed_s;
}

void ProgressLine::update(const ProgressStatus& status) {
  if (last_print_s_ >= 0 && status.elapsed_s - last_print_s_ < interval_s_) return;
  print(status);
}

void ProgressLine::finish(const ProgressStatus& status) {
  print(status);
  if (is_tty_) {
    std::fputc('\n', out_);
    std::fflush(out_);
  }
  last_width_ = 0;
}

}  // namespace acx
