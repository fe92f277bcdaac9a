#include "host/cli/commands.h"

#include <CLI/CLI.hpp>

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
