#include "host/cli/commands.h"

#include <CLI/CLI.hpp>

#include <filesystem>
#include <map>

#include "kernels/runtime/error.h"

namespace acx {

namespace {
std::map<const CLI::App*, CommandRunner>& runners() {
  static std::map<const CLI::App*, CommandRunner> r;
  return r;
}
}  // namespace

void add_command(CLI::App* sub, CommandRunner run) { runners()[sub] = std::move(run); }

const CLI::Validator& non_empty() {
  static const CLI::Validator v([](std::string& s) { return s.empty() ? std::string("is empty") : std::string(); },
                                "NOT EMPTY");
  return v;
}

void prepare_output_dir(const std::string& dir, const std::string& option) {
  namespace fs = std::filesystem;
  ACX_USAGE_CHECK(!dir.empty(), option + " is empty: give a directory");
  std::error_code ec;
  ACX_USAGE_CHECK(!fs::exists(dir, ec) || fs::is_directory(dir, ec),
                  option + " " + quote_input(dir) + " is a file, not a directory");
  fs::create_directories(dir, ec);
  ACX_USAGE_CHECK(!ec, "cannot create the " + option + " directory " + quote_input(dir) + ": " + ec.message());
}

void register_commands(CLI::App& app) {
  register_devices_command(app);
  register_envs_commands(app);
  register_gradcheck_command(app);
  register_train_commands(app);
  register_bench_command(app);
}

void run_selected_command(CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) {
    const auto it = runners().find(sub);
    ACX_CHECK(it != runners().end(), "no runner for command " + sub->get_name());
    it->second();
    return;
  }
  throw UsageError("no command given (see acx --help)");
}

}  // namespace acx
