// commands.h: the CLI's subcommands. Each command file adds its subcommand
// and the function that runs it; main() dispatches after parsing, so that
// the command's errors go through one error path.
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace acx {

void register_commands(CLI::App& app);
// Runs the subcommand that was parsed.
void run_selected_command(CLI::App& app);

// Each command file provides one of these; register_commands calls them.
using CommandRunner = std::function<void()>;
void add_command(CLI::App* sub, CommandRunner run);

void register_devices_command(CLI::App& app);
void register_envs_commands(CLI::App& app);
void register_gradcheck_command(CLI::App& app);
void register_train_commands(CLI::App& app);
void register_bench_command(CLI::App& app);

}  // namespace acx
