// host/cli/: the command line: main.cpp, one cmd_*.cpp per subcommand, and
// the `acx bench` measurements and regression check (bench.h). It may
// include every floor beneath it and nothing includes it: it is built as
// its own library (acx_cli) outside acx_core, so that another face of the
// engine links acx_core without it.
//
// commands.h: the CLI's subcommands. Each command file adds its subcommand
// and the function that runs it; main() dispatches after parsing, so that
// the command's errors go through one error path.
#pragma once

#include <functional>
#include <string>

namespace CLI {
class App;
class Validator;
}  // namespace CLI

namespace acx {

void register_commands(CLI::App& app);
// Runs the subcommand that was parsed.
void run_selected_command(CLI::App& app);

// Each command file provides one of these; register_commands calls them.
using CommandRunner = std::function<void()>;
void add_command(CLI::App* sub, CommandRunner run);

// A CLI11 check that refuses an empty value ("--out ''" must not mean the default).
const CLI::Validator& non_empty();

// The directory an option names for output, created if absent: UsageError
// when it is empty, names an existing file, or cannot be created.
void prepare_output_dir(const std::string& dir, const std::string& option);

void register_devices_command(CLI::App& app);
void register_envs_commands(CLI::App& app);
void register_gradcheck_command(CLI::App& app);
void register_train_commands(CLI::App& app);
void register_bench_command(CLI::App& app);

}  // namespace acx
