// acx: the command-line entry point. Every command is a CLI11 subcommand;
// any error becomes one line on stderr and an exit code: 2 for usage errors
// (a wrong flag, a bad value, bad input files), 1 for runtime errors. The
// line goes through printable(): whatever input a message echoes, it cannot
// drive the terminal or run to megabytes.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <iostream>

#include "host/cli/commands.h"
#include "host/dist/comm.h"
#include "kernels/runtime/error.h"

namespace {

// One line on stderr. In a launch of several ranks it names the rank, and a
// failure every rank reached together (host/dist/comm.h) is printed once.
void report(const char* what) {
  if (acx::dist::world_started() && acx::dist::world().distributed()) {
    const acx::dist::Comm& w = acx::dist::world();
    if (w.agreed_failure() && w.rank() != 0) return;
    if (!w.agreed_failure()) {
      std::cerr << "acx: error: rank " << w.rank() << " of " << w.size() << ": " << acx::printable(what) << "\n";
      return;
    }
  }
  std::cerr << "acx: error: " << acx::printable(what) << "\n";
}

// Ends MPI (when a launcher started this process) and returns the code.
int finish(int code) {
  acx::dist::shutdown(code);
  return code;
}

}  // namespace

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
    report(e.what());
    return finish(2);
  } catch (const std::exception& e) {
    report(e.what());
    return finish(1);
  }
  return finish(0);
}
