// acx: the command-line entry point. Every command is a CLI11 subcommand;
// any error becomes one line on stderr and an exit code: 2 for usage errors
// (a wrong flag, a bad value, bad input files), 1 for runtime errors. The
// line goes through printable(): whatever input a message echoes, it cannot
// drive the terminal or run to megabytes.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <iostream>

#include "host/cli/commands.h"
#include "kernels/runtime/error.h"

int main(int argc, char** argv) {
  CLI::App app{"acx: CUDA-accelerated batched deterministic actor-critic training (DDPG, TD3)", "acx"};
  app.set_version_flag("--version", std::string("acx ") + ACX_VERSION);
  app.require_subcommand(1);
  app.fallthrough(false);
  acx::register_commands(app);

  // CLI11 would call an unknown first word "a missing subcommand"; name it.
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    std::string names;
    for (const CLI::App* sub : app.get_subcommands({})) {
      known = known || sub->get_name() == argv[1];
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      std::cerr << "acx: error: unknown command " << acx::quote_input(argv[1]) << " (commands: " << names << ")\n";
      return 2;
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "acx: error: " << acx::printable(e.what()) << " (see acx --help)\n";
    return 2;
  }

  try {
    acx::run_selected_command(app);
  } catch (const acx::UsageError& e) {
    std::cerr << "acx: error: " << acx::printable(e.what()) << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "acx: error: " << acx::printable(e.what()) << "\n";
    return 1;
  }
  return 0;
}
