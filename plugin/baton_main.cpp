// baton: the thin client's command line. Defines the subcommands, their options and usage
// text (CLI11), and calls the one given (plugin/client_commands.hpp). Exit codes are 0 ok,
// 1 failed, 2 usage.
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "baton_version.hpp"
#include "plugin/client_commands.hpp"
#include "plugin/command_help.hpp"
#include "plugin/completion.hpp"
#include "plugin/doctor.hpp"
#include "plugin/manual.hpp"

using namespace baton::cli;

// What escapes the commands (an allocation failure, a CLI11 error outside parse) is one line
// and exit status 1, not an abort with a core dump.
int main(int argc, char** argv) try {
  CLI::App app{
      "baton: keeps AI coding agents in pseudo-terminals and hands their branch over safely"};
  // Not argv[0]: the usage lines, which the manual page repeats, say "baton" however it ran.
  app.name("baton");
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", std::string("baton ") + baton::kBatonVersion);

  auto* daemon = app.add_subcommand("daemon", "Start the daemon (in the background)");
  bool foreground = false;
  daemon->add_flag("--foreground", foreground, "Stay in the foreground and log to stderr");

  auto* nw = app.add_subcommand("new", "Start a session running CMD");
  std::string name;
  std::string cwd;
  std::vector<std::string> env_kv;
  std::vector<std::string> command;
  nw->add_option("--name", name, "Session id");
  nw->add_option("--cwd", cwd, "Working directory (default: the current one)");
  nw->add_option("--env", env_kv, "K=V added to the environment")->allow_extra_args(false);
  nw->add_option("command", command, "CMD [ARG...]")->required();

  std::string target;
  auto* sessions = app.add_subcommand("sessions", "List sessions");
  bool all = false;
  bool as_json = false;
  sessions->add_option("target", target, "Only this project's sessions");
  sessions->add_flag("--all", all, "Include exited sessions");
  sessions->add_flag("--json", as_json, "Print JSON");

  auto* attach = app.add_subcommand("attach", "Attach to a session (detach with Ctrl-\\)");
  bool read_only = false;
  std::string detach_key = "C-\\";
  attach->add_option("target", target, "Session");
  attach->add_flag("--read-only", read_only, "Watch without typing");
  attach->add_option("--detach-key", detach_key, "Detach key (default C-\\)");

  auto* capture = app.add_subcommand("capture", "Print a session's screen");
  bool raw = false;
  capture->add_option("target", target, "Session");
  capture->add_flag("--raw", raw, "Keep screen rows (do not join soft-wrapped lines)");
  capture->add_flag("--json", as_json, "Print JSON");
  bool history = false;
  capture->add_flag("--history", history,
                    "Print the scrollback as plain lines (what scrolled past, oldest first)");

  auto* send = app.add_subcommand("send", "Type text into a session");
  bool keys = false;
  std::vector<std::string> text;
  send->add_option("target", target, "Session")->required();
  send->add_flag("--keys", keys, "Words are key names (Enter, Up, C-c ...)");
  send->add_option("text", text, "TEXT...")->required();

  auto* tell = app.add_subcommand("tell", "Queue a message, typed when the agent's turn ends");
  bool tell_now = false;
  tell->add_option("target", target, "Project path, project id or session id")->required();
  tell->add_option("text", text, "TEXT...")->required();
  tell->add_flag("--now", tell_now, "Type it at once when the agent waits for input");

  auto* outbox = app.add_subcommand("outbox", "See and drop messages not yet delivered");
  std::vector<std::string> outbox_args;
  outbox->add_option("args", outbox_args, "[TARGET] ls | drop ID");
  outbox->add_flag("--json", as_json, "Print JSON");

  auto* kill = app.add_subcommand("kill", "Stop a session and remove it");
  kill->add_option("target", target, "Session")->required();

  app.add_subcommand("shutdown", "Stop every session and the daemon");

  auto* up = app.add_subcommand("up", "Start the project's orchestrator (or reuse it) and attach");
  std::string agent;
  bool detach = false;
  up->add_option("path", target, "A path inside the project (default: .)");
  up->add_option("--agent", agent, "Agent for this start");
  up->add_flag("--detach", detach, "Do not attach");

  auto* replace = app.add_subcommand("replace", "Hand the branch to a new orchestrator");
  HandoffFlags flags;
  replace->add_option("target", target, "Project path, project id or session id (default: .)");
  replace->add_option("--agent", flags.agent, "Agent for this handoff only");
  replace->add_flag(
      "--wait", flags.wait,
      "Also wait out launch_grace and the old tree's deletion; fail if either failed");
  replace->add_flag("--now", flags.now, "Do not wait for the old agent's turn to end");
  replace->add_flag("--fresh", flags.fresh, "Start the new agent with neither note nor prompt");
  replace->add_option("--reason", flags.reason, "Why, for the handoff note");
  replace->add_flag("--json", as_json, "Print JSON");
  replace->add_flag("--progress", flags.progress,
                    "Print the progress lines to stderr even when it is no terminal");

  auto* down = app.add_subcommand("down", "Retire the project's orchestrator for good");
  down->add_option("target", target, "Project (default: .)");
  down->add_flag("--now", flags.now, "Do not wait for the agent's turn to end");

  auto* spawn = app.add_subcommand("spawn", "Start a worker on its own branch and worktree");
  SpawnFlags spawn_flags;
  spawn->add_option("target", target, "Project (default: .)");
  spawn
      ->add_option("--name", spawn_flags.name,
                   "The worker's name (its branch: baton/<prefix>-NAME)")
      ->required();
  spawn->add_option("--agent", spawn_flags.agent, "Agent (default: [workers] agent)");
  spawn->add_option("--base", spawn_flags.base,
                    "Revision its branch starts at (default: the "
                    "orchestrator's branch)");
  auto* spawn_prompt = spawn->add_option("--prompt", spawn_flags.prompt, "Its initial prompt");
  spawn->add_option("--prompt-file", spawn_flags.prompt_file, "Read the initial prompt from F")
      ->excludes(spawn_prompt);
  spawn->add_flag("--reuse-branch", spawn_flags.reuse_branch,
                  "Take the worker's branch as it is when it exists");
  spawn->add_flag("--json", as_json, "Print JSON");

  auto* workers = app.add_subcommand("workers", "List the project's workers");
  workers->add_option("target", target, "Project (default: .)");
  workers->add_flag("--json", as_json, "Print JSON");

  auto* finish =
      app.add_subcommand("finish", "Stop a worker, keep its work and branch, remove its worktree");
  bool delete_branch = false;
  finish->add_option("target", target, "PROJECT/NAME")->required();
  finish->add_flag("--delete-branch", delete_branch,
                   "Also delete its branch when it is merged into the orchestrator's");
  finish->add_flag("--now", flags.now, "Do not wait for the worker's turn to end");
  finish->add_flag("--json", as_json, "Print JSON");

  auto* guide = app.add_subcommand("guide", "What an orchestrator agent needs to run workers");

  auto* status = app.add_subcommand("status", "Health of the project's orchestrator");
  bool tmux = false;
  status->add_option("target", target, "Project (default: .)");
  status->add_flag("--json", as_json, "Print JSON");
  status->add_flag("--tmux", tmux, "One short line for a status bar");

  auto* ls = app.add_subcommand("ls", "List projects");
  ls->add_flag("--json", as_json, "Print JSON");

  auto* allow_cmd =
      app.add_subcommand("allow", "Trust the settings of the project's baton.toml as they are now");
  allow_cmd->add_option("path", target, "Project (default: .)");

  auto* preserved = app.add_subcommand("preserved", "See and reuse preserved uncommitted work");
  std::vector<std::string> preserved_args;
  preserved->add_option("args", preserved_args, "[TARGET] ls | show ID | apply ID | drop ID")
      ->required();

  auto* notes = app.add_subcommand("notes", "List a project's handoff notes, or show one");
  std::vector<std::string> notes_args;
  notes->add_option("args", notes_args, "[TARGET] [ID]")->expected(0, 2);
  notes->add_flag("--json", as_json, "Print JSON");

  auto* signal = app.add_subcommand(
      "signal", "Say what the agent in this session is doing (run by the agent or its hooks)");
  std::string signal_state;
  std::string signal_session;
  std::vector<std::string> signal_hook;
  signal->add_option("state", signal_state, "working | waiting_input | idle | exited");
  signal->add_option("--session", signal_session, "Session (default: $BATON_SESSION)");
  signal->add_option("--hook", signal_hook, "claude EVENT (JSON on stdin) | codex JSON")
      ->expected(2);

  // Test support, hidden from --help: the handoff's fault points (plugin/fault.hpp).
  auto* debug = app.add_subcommand("debug", "")->group("");
  auto* debug_faults = debug->add_subcommand("fault-points", "List the handoff's fault points");
  auto* debug_waits = debug->add_subcommand("waits", "Count the daemon's activity listeners");
  auto* debug_delivery = debug->add_subcommand("delivery", "What message delivery holds");

  auto* config = app.add_subcommand("config", "Project configuration");
  config->require_subcommand(1);
  auto* config_check = config->add_subcommand("check", "Validate and print the effective config");
  config_check->add_option("path", target, "Project (default: .)");

  auto* doctor =
      app.add_subcommand("doctor", "Check the setup (tmux, kitty, agents, daemon, trust ...)");
  doctor->add_flag("--json", as_json, "Print JSON");

  auto* help = app.add_subcommand("help", "Print a command's help, as COMMAND --help does");
  std::vector<std::string> help_path;
  help->add_option("command", help_path, "COMMAND [SUBCOMMAND]");

  // Shell completion (completions/) reads the definition above; before parsing, which would
  // refuse the partial command line it is given.
  if (argc > 1 && argv[1] == kCompleteCommand)
    return cmd_complete(app, std::vector<std::string>(argv + 2, argv + argc));
  if (argc > 1 && argv[1] == kManCommand)
    return cmd_man(app, std::vector<std::string>(argv + 2, argv + argc));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11 2.1 exits 106/109 on usage errors; baton's contract is 2.
    std::fprintf(stderr, "baton: %s (see 'baton --help')\n", e.what());
    return kExitUsage;
  }

  if (app.got_subcommand(daemon)) return cmd_daemon(foreground);
  if (app.got_subcommand(nw)) return cmd_new(name, cwd, env_kv, command);
  if (app.got_subcommand(sessions)) return cmd_sessions(target, all, as_json);
  if (app.got_subcommand(up)) return cmd_up(target, agent, detach);
  if (app.got_subcommand(signal)) return cmd_signal(signal_state, signal_session, signal_hook);
  if (app.got_subcommand(replace)) return cmd_handoff("replace", target, flags, as_json);
  if (app.got_subcommand(spawn)) {
    if (spawn_flags.prompt.empty() && spawn_flags.prompt_file.empty()) {
      std::fprintf(stderr,
                   "baton: spawn needs --prompt TEXT or --prompt-file F (see 'baton "
                   "spawn --help')\n");
      return kExitUsage;
    }
    return cmd_spawn(target, spawn_flags, as_json);
  }
  if (app.got_subcommand(workers)) return cmd_workers(target, as_json);
  if (app.got_subcommand(finish)) return cmd_finish(target, delete_branch, flags.now, as_json);
  if (app.got_subcommand(guide)) return cmd_guide();
  if (app.got_subcommand(down)) {
    HandoffFlags down_flags;
    down_flags.now = flags.now;
    return cmd_handoff("down", target, down_flags, false);
  }
  if (app.got_subcommand(status)) return cmd_status(target, as_json, tmux);
  if (app.got_subcommand(ls)) return cmd_ls(as_json);
  if (app.got_subcommand(allow_cmd)) return cmd_allow(target);
  if (app.got_subcommand(preserved)) return cmd_preserved(preserved_args, as_json);
  if (app.got_subcommand(notes)) return cmd_notes(notes_args, as_json);
  if (debug->got_subcommand(debug_faults)) return cmd_fault_points();
  if (debug->got_subcommand(debug_waits)) return cmd_debug_waits();
  if (debug->got_subcommand(debug_delivery)) return cmd_delivery_state();
  if (config->got_subcommand(config_check)) return cmd_config_check(target);
  if (app.got_subcommand(doctor)) return cmd_doctor(as_json);
  if (app.got_subcommand(help)) return cmd_help(app, help_path);
  if (app.got_subcommand(attach)) return cmd_attach(target, read_only, detach_key);
  if (app.got_subcommand(capture)) return cmd_capture(target, raw, history, as_json);
  if (app.got_subcommand(send)) return cmd_send(target, keys, text);
  if (app.got_subcommand(kill)) return cmd_kill(target);
  if (app.got_subcommand(tell)) return cmd_tell(target, text, tell_now);
  if (app.got_subcommand(outbox)) return cmd_outbox(outbox_args, as_json);
  if (app.got_subcommand("shutdown")) return cmd_shutdown();
  std::cout << app.help();
  return kExitUsage;
} catch (const std::exception& e) {
  return fail(e.what());
} catch (...) {
  return fail("unknown error");
}
