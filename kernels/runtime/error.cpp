#include "kernels/runtime/error.h"

#include <string>

namespace acx {

void throw_error(const char* file, int line, const std::string& what) {
  std::string f(file);
  // Report paths relative to the source tree: shorter, and the same on every machine.
  for (const char* top : {"/kernels/", "/envs/", "/host/", "/tests/", "/bench/"}) {
    const auto pos = f.rfind(top);
    if (pos != std::string::npos) {
      f = f.substr(pos + 1);
      break;
    }
  }
  throw Error(f + ":" + std::to_string(line) + ": " + what);
}

void throw_usage_error(const std::string& what) { throw UsageError(what); }

}  // namespace acx
