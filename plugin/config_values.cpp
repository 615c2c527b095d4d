#include "plugin/config_values.hpp"

#include <cstdint>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "plugin/toml_value.hpp"

namespace baton::plugin {

std::string position_of(const SourceFile& f, const toml::source_region& where) {
  return fmt::format("{}:{}:{}", f.path, where.begin.line, where.begin.column);
}

ConfigFailure fail_at(const SourceFile& f, const toml::source_region& where,
                      std::string_view message) {
  return ConfigFailure(fmt::format("{}: {}", position_of(f, where), message));
}

tl::expected<std::string, std::string> read_string(const SourceFile& f, const toml::node& node,
                                                   std::string_view what) {
  if (auto* s = node.as_string()) return s->get();
  return fail_at(f, node.source(), fmt::format("{} must be a string", what));
}

tl::expected<std::vector<std::string>, std::string> read_string_array(const SourceFile& f,
                                                                      const toml::node& node,
                                                                      std::string_view what) {
  auto* array = node.as_array();
  if (!array) return fail_at(f, node.source(), fmt::format("{} must be an array of strings", what));
  std::vector<std::string> out;
  for (const toml::node& item : *array) {
    auto* s = item.as_string();
    if (!s) return fail_at(f, item.source(), fmt::format("{} must be an array of strings", what));
    out.push_back(s->get());
  }
  return out;
}

tl::expected<int, std::string> read_duration_ms(const SourceFile& f, const toml::node& node,
                                                std::string_view what) {
  auto bad = [&] {
    return fail_at(f, node.source(),
                   fmt::format("{} must be a duration like \"5s\", \"500ms\" or \"2m\", or an "
                               "integer number of seconds",
                               what));
  };
  std::int64_t amount = 0;
  std::int64_t unit_ms = 1000;
  if (auto* i = node.as_integer()) {
    amount = i->get();
  } else if (auto* s = node.as_string()) {
    std::string_view text = s->get();
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0 || digits > 9) return bad();
    auto unit = text.substr(digits);
    if (unit == "ms")
      unit_ms = 1;
    else if (unit == "s")
      unit_ms = 1000;
    else if (unit == "m")
      unit_ms = 60'000;
    else if (unit == "h")
      unit_ms = 3'600'000;
    else
      return bad();
    for (char c : text.substr(0, digits)) amount = amount * 10 + (c - '0');
  } else {
    return bad();
  }
  if (amount < 0 || amount > std::numeric_limits<int>::max() / unit_ms) return bad();
  return static_cast<int>(amount * unit_ms);
}

tl::expected<CommandSpec, std::string> read_command(const SourceFile& f, const toml::node& node,
                                                    std::string_view what) {
  if (auto* s = node.as_string()) {
    if (s->get().empty()) return fail_at(f, node.source(), fmt::format("{} is empty", what));
    return CommandSpec{{"/bin/sh", "-c", s->get()}, s->get()};
  }
  if (!node.is_array())
    return fail_at(f, node.source(),
                   fmt::format("{} must be a string or an array of strings", what));
  auto argv = read_string_array(f, node, what);
  if (!argv) return tl::unexpected(argv.error());
  if (argv->empty() || (*argv)[0].empty())
    return fail_at(f, node.source(), fmt::format("{} has an empty command", what));
  auto source = toml_array(*argv);
  return CommandSpec{std::move(*argv), std::move(source)};
}

std::string written_value(const toml::node& node) {
  if (const auto* s = node.as_string()) return toml_quote(s->get());
  if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
  if (const auto* i = node.as_integer()) return std::to_string(i->get());
  if (const auto* d = node.as_floating_point()) return fmt::format("{}", d->get());
  if (const auto* a = node.as_array()) {
    std::string out = "[";
    for (std::size_t k = 0; k < a->size(); ++k) {
      if (k) out += ", ";
      out += written_value((*a)[k]);
    }
    return out + "]";
  }
  if (const auto* t = node.as_table()) {
    if (t->empty()) return "{}";
    std::string out = "{ ";
    bool first = true;
    for (auto&& [key, value] : *t) {
      if (!first) out += ", ";
      first = false;
      out += toml_key(key.str());
      out += " = ";
      out += written_value(value);
    }
    return out + " }";
  }
  // A date or a time, as TOML writes it.
  std::ostringstream out;
  node.visit([&out](const auto& v) { out << v; });
  return out.str();
}

tl::expected<std::map<std::string, std::string>, std::string> read_env_table(
    const SourceFile& f, const toml::node& node, std::string_view section,
    const Environment& environment) {
  auto* table = node.as_table();
  if (!table)
    return fail_at(f, node.source(), fmt::format("{} must be a table of strings", section));
  std::map<std::string, std::string> out;
  for (auto&& [key, value] : *table) {
    std::string name(key.str());
    auto what = fmt::format("{} {}", section, name);
    auto raw = read_string(f, value, what);
    if (!raw) return tl::unexpected(raw.error());
    auto expanded = expand_braced(*raw, environment);
    if (!expanded) return fail_at(f, value.source(), fmt::format("{}: {}", what, expanded.error()));
    out[name] = std::move(*expanded);
  }
  return out;
}

}  // namespace baton::plugin
