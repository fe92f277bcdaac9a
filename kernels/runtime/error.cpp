#include "kernels/runtime/error.h"

#include <cstdio>
#include <limits>
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

namespace {

// Length of the valid UTF-8 sequence at s[i] (1 to 4), or 0 when the bytes
// there are not one (overlong forms, surrogates and values past U+10FFFF
// included), so that they are shown as \xHH.
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  size_t n = 0;
  uint32_t cp = 0;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07;
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  // C1 controls (U+0080..U+009F) are terminal controls too.
  if (cp >= 0x80 && cp <= 0x9F) return 0;
  return n;
}

// Appends s[0, max_bytes) escaped; returns how many input bytes were left out.
size_t append_escaped(std::string& out, std::string_view s, size_t max_bytes, bool escape_quotes) {
  size_t i = 0;
  while (i < s.size() && i < max_bytes) {
    const char c = s[i];
    const size_t n = utf8_sequence(s, i);
    if (n == 1 && static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) {
      if (escape_quotes && (c == '"' || c == '\\')) out += '\\';
      out += c;
    } else if (n > 1) {
      if (i + n > max_bytes) break;  // do not cut a character in two
      out.append(s.substr(i, n));
      i += n;
      continue;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02X", static_cast<unsigned char>(c));
      out += hex;
    }
    ++i;
  }
  return s.size() - i;
}

std::string cut_note(size_t cut) {
  return " [" + std::to_string(cut) + " more byte" + (cut == 1 ? "" : "s") + " not shown]";
}

}  // namespace

std::string quote_input(std::string_view input, size_t max_bytes) {
  std::string out = "\"";
  const size_t cut = append_escaped(out, input, max_bytes, true);
  out += '"';
  if (cut > 0) out += cut_note(cut);
  return out;
}

std::string printable(std::string_view message, size_t max_bytes) {
  std::string out;
  const size_t cut = append_escaped(out, message, max_bytes, false);
  if (cut > 0) out += cut_note(cut);
  return out;
}

int64_t checked_product(std::initializer_list<int64_t> factors, const std::string& what) {
  int64_t p = 1;
  bool overflow = false;
  for (int64_t f : factors) {
    if (f < 0) throw_error(__FILE__, __LINE__, what + ": a negative size factor");
    if (f == 0) return 0;
  }
  for (int64_t f : factors) {
    if (p > std::numeric_limits<int64_t>::max() / f) overflow = true;
    if (!overflow) p *= f;
  }
  if (overflow) {
    std::string text;
    for (int64_t f : factors) text += (text.empty() ? "" : " x ") + std::to_string(f);
    throw UsageError(what + " = " + text + " does not fit in 64 bits");
  }
  return p;
}

}  // namespace acx
