// `baton __man PAGE`: the manual pages in roff, written from what also makes `--help` (the
// command line's CLI11 definition, through plugin/command_help.hpp) and from the list of
// config keys (plugin/config_keys.hpp), so neither page can drift from the program. The pages
// are kept in docs/man/ and a test compares them with this output.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}

namespace baton::cli {

// Hidden: no help, page or completion names it.
inline constexpr std::string_view kManCommand = "__man";

// "baton.1" or "baton.toml.5"; "" for another name.
std::string manual_page(const CLI::App& root, std::string_view page);

// Prints manual_page; another name is one line on stderr and exit 2.
int cmd_man(const CLI::App& root, const std::vector<std::string>& args);

}  // namespace baton::cli
