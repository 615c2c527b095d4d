#include "plugin/command_help.hpp"

#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "plugin/client_commands.hpp"

namespace baton::cli {

bool is_hidden(const CLI::App& command) {
  return command.get_group().empty();
}

std::vector<const CLI::App*> visible_subcommands(const CLI::App& command) {
  return command.get_subcommands([](const CLI::App* sub) { return !is_hidden(*sub); });
}

const CLI::App* find_command(const CLI::App& root, const std::vector<std::string>& path) {
  const CLI::App* command = &root;
  for (const auto& name : path) {
    const CLI::App* next = nullptr;
    for (const CLI::App* sub : visible_subcommands(*command)) {
      if (sub->get_name() == name) {
        next = sub;
        break;
      }
    }
    if (!next) return nullptr;
    command = next;
  }
  return command;
}

std::string command_help(const CLI::App& root, const std::vector<std::string>& path) {
  const CLI::App* command = find_command(root, path);
  if (!command) return "";
  // As CLI11's --help writes it: each command's usage line names the commands above it.
  std::string above = root.get_name();
  for (std::size_t i = 0; i + 1 < path.size(); ++i) above += " " + path[i];
  // root.help() would show the help of the command parsed last (`help` itself).
  if (path.empty())
    return root.get_formatter()->make_help(&root, root.get_name(), CLI::AppFormatMode::Normal);
  return command->help(above);
}

int cmd_help(const CLI::App& root, const std::vector<std::string>& path) {
  if (!find_command(root, path)) {
    std::string name;
    for (const auto& w : path) name += (name.empty() ? "" : " ") + w;
    std::fprintf(stderr, "baton: unknown command '%s' (see 'baton help')\n", name.c_str());
    return kExitUsage;
  }
  std::cout << command_help(root, path);
  return 0;
}

}  // namespace baton::cli
