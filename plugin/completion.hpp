// `baton __complete`: what a shell's tab completion offers for a partial command line. The
// commands and options come from the CLI11 definition itself (plugin/baton_main.cpp), so a new
// command or option is offered without a second list to keep; project names, session ids,
// worker names and agent names come from the running daemon, which completion never starts.
// The scripts in completions/ are thin wrappers around it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}  // namespace CLI

namespace baton::cli {

// The hidden command the completion scripts call; not a CLI11 subcommand, so neither --help
// nor completion shows it.
inline constexpr std::string_view kCompleteCommand = "__complete";

// `baton __complete [--descriptions] -- WORD...`: WORDs are the command line after `baton` up
// to the cursor, the last one the word being completed (empty after a space). Prints what
// the shell adds of its own on the first line (`:none`, `:files`, `:dirs` or `:commands`),
// then one candidate a line, each a whole replacement of the last word (`--agent=codex` for
// `--agent=c`), followed with --descriptions by a tab and a description. Exit status 0 even
// when no daemon runs (the daemon's names are then left out), 2 on a usage error.
// `baton __complete --check` lists the value rules that name no option of `app` and exits 1
// when there is one: the test that keeps them from drifting.
int cmd_complete(const CLI::App& app, const std::vector<std::string>& args);

}  // namespace baton::cli
