// metrics.h: what a training run reports, as it runs.
//
// MetricsWriter appends one row per logging step to DIR/metrics.csv (fixed
// columns, a header line, written and flushed to the OS row by row so a crash
// keeps every finished row) and sends the same scalars to a TensorBoard event
// file in DIR (host/io/tensorboard.h). Numbers are written in the shortest form
// that reads back exactly: a float32 column round-trips the float bit for bit
// (strtof), a float64 column the double. A missing value (NaN: no evaluation
// at this step) is an empty field and is not sent to TensorBoard.
//
// Resuming from a checkpoint at env step S: the rows with env_steps <= S are
// kept, later ones (written after that checkpoint by the run that stopped)
// are dropped, and new rows follow, so a resumed run's CSV matches one that
// never stopped (except the timing columns).
//
// ProgressLine is the live status on the terminal.
#pragma once

#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace acx {

class TensorBoardWriter;

enum class MetricKind { kInt, kFloat32, kFloat64 };

struct MetricColumn {
  std::string name;                          // CSV header, e.g. "eval_return"
  MetricKind kind = MetricKind::kFloat32;
  std::string tensorboard_tag;               // e.g. "eval/return"; empty: CSV only
};

struct MetricsOptions {
  bool tensorboard = true;
  // Set when resuming from a checkpoint taken at this many env steps.
  std::optional<int64_t> resume_env_steps = std::nullopt;
};

// A value as the CSV writes it: "" for NaN; kInt must be integral.
std::string format_metric(double value, MetricKind kind);

class MetricsWriter {
 public:
  // `columns[0]` must be {"env_steps", kInt}: the TensorBoard step and the
  // key for resuming. DIR must exist. A fresh run (no resume_env_steps)
  // refuses an existing DIR/metrics.csv; a resumed one requires its header
  // to match `columns` (acx::UsageError otherwise) and creates it if absent.
  MetricsWriter(std::string dir, std::vector<MetricColumn> columns, MetricsOptions options = {});
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;

  // One row, values in column order (NaN: not measured at this step).
  void write_row(const std::vector<double>& values);

  const std::vector<MetricColumn>& columns() const { return columns_; }
  const std::string& csv_path() const { return csv_path_; }
  std::string event_file_path() const;  // "" without TensorBoard
  size_t rows_kept() const { return rows_kept_; }  // rows carried over when resuming
  std::string header_line() const;  // "env_steps,updates,..." without the newline

 private:
  void open_resumed(int64_t resume_env_steps);

  std::string dir_, csv_path_;
  std::vector<MetricColumn> columns_;
  int fd_ = -1;
  size_t rows_kept_ = 0;
  std::unique_ptr<TensorBoardWriter> tensorboard_;
};

// What the status line shows. NaN return: none yet.
struct ProgressStatus {
  int64_t env_steps = 0;
  int64_t total_env_steps = 0;  // 0: unknown (no percentage, no ETA)
  double env_steps_per_s = 0;
  double train_return = std::numeric_limits<double>::quiet_NaN();
  double eval_return = std::numeric_limits<double>::quiet_NaN();
  double eval_cost_ratio = std::numeric_limits<double>::quiet_NaN();  // lqr: cost over the optimum
  double elapsed_s = 0;
};

// On a terminal: one line rewritten in place ("\r", at most every
// `tty_interval_s`). Elsewhere (CI logs, a file): a plain line every
// `plain_interval_s`. Time is the caller's elapsed_s, so tests are exact.
class ProgressLine {
 public:
  explicit ProgressLine(std::FILE* out = stderr, double plain_interval_s = 30.0);
  ProgressLine(std::FILE* out, bool is_tty, double plain_interval_s, double tty_interval_s = 0.25);

  void update(const ProgressStatus& status);  // prints if the interval has passed
  void finish(const ProgressStatus& status);  // the final state, then a newline on a TTY

  bool is_tty() const { return is_tty_; }
  // "steps 120.0k/1.00M (12.0%) | 45.2k steps/s | train -812.3 | eval -190.4 | 0:00:03 | ETA 0:00:19"
  static std::string render(const ProgressStatus& status);

 private:
  void print(const ProgressStatus& status);
  std::FILE* out_;
  bool is_tty_;
  double interval_s_;
  double last_print_s_ = -1;
  size_t last_width_ = 0;
};

}  // namespace acx
