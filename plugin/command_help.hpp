// `baton help [COMMAND [SUBCOMMAND]]`: the text `baton COMMAND --help` prints, looked up in the
// command line's own definition (CLI11), as the manual page (plugin/manual.hpp) does too.
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace baton::cli {

// A command without a group is hidden (debug, __complete, __man): not in help, the manual
// or completion.
bool is_hidden(const CLI::App& command);

// The visible subcommands of a command, in the order they were defined.
std::vector<const CLI::App*> visible_subcommands(const CLI::App& command);

// The visible command a path of names leads to (`{"config", "check"}`), the root for an empty
// path; nullptr for an unknown or hidden one.
const CLI::App* find_command(const CLI::App& root, const std::vector<std::string>& path);

// What `baton PATH... --help` prints for that command (root: `baton --help`).
std::string command_help(const CLI::App& root, const std::vector<std::string>& path);

// Prints command_help; an unknown command is one line on stderr and exit 2.
int cmd_help(const CLI::App& root, const std::vector<std::string>& path);

}  // namespace baton::cli
