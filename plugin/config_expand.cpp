#include "plugin/config_expand.hpp"

#include <fmt/format.h>

namespace baton::plugin {

namespace {

bool is_var_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

}  // namespace

bool is_var_char(char c) {
  return is_var_start(c) || (c >= '0' && c <= '9');
}

std::string environment_value(const Environment& environment, const std::string& name) {
  auto it = environment.find(name);
  return it == environment.end() ? std::string() : it->second;
}

tl::expected<std::string, std::string> expand_braced(std::string_view value,
                                                     const Environment& environment) {
  std::string out;
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '$' || i + 1 == value.size()) {
      out += value[i];
      continue;
    }
    if (value[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (value[i + 1] != '{') {
      out += '$';
      continue;
    }
    auto close = value.find('}', i + 2);
    if (close == std::string_view::npos) return tl::unexpected(std::string("unterminated ${"));
    std::string name(value.substr(i + 2, close - i - 2));
    if (name.empty() || !is_var_start(name[0]))
      return tl::unexpected(fmt::format("bad variable name '${{{}}}'", name));
    for (char c : name)
      if (!is_var_char(c)) return tl::unexpected(fmt::format("bad variable name '${{{}}}'", name));
    out += environment_value(environment, name);
    i = close;
  }
  return out;
}

std::string expand_path(std::string_view value, const std::string& baton_home,
                        const Environment& environment) {
  auto var = [&](const std::string& name) {
    if (name == "BATON_HOME" && !baton_home.empty()) return baton_home;
    return environment_value(environment, name);
  };
  std::string out;
  size_t i = 0;
  if (value == "~" || value.starts_with("~/")) {
    out = var("HOME");
    i = 1;
  }
  for (; i < value.size(); ++i) {
    char c = value[i];
    if (c != '$' || i + 1 == value.size()) {
      out += c;
      continue;
    }
    if (value[i + 1] == '{') {
      auto close = value.find('}', i + 2);
      if (close == std::string_view::npos) {
        out += value.substr(i);
        break;
      }
      out += var(std::string(value.substr(i + 2, close - i - 2)));
      i = close;
    } else if (is_var_start(value[i + 1])) {
      size_t end = i + 1;
      while (end < value.size() && is_var_char(value[end])) ++end;
      out += var(std::string(value.substr(i + 1, end - i - 1)));
      i = end - 1;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace baton::plugin
