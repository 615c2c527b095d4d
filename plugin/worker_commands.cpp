// The client's worker commands (docs/workers.md): spawn, workers, finish, and the guide an
// orchestrator agent reads.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "plugin/client_commands.hpp"
#include "plugin/guide.hpp"
#include "runtime/client.hpp"
#include "runtime/paths.hpp"
#include "runtime/protocol.hpp"

namespace baton::cli {

namespace {

using baton::runtime::ClientError;
using baton::runtime::ControlClient;
using baton::runtime::Paths;
using Json = baton::runtime::protocol::Json;

int fail_with(const ClientError& e) {
  return fail(e.message);
}

// A spawn or a finish says what it does on stderr, one line a step, when a person watches.
tl::expected<Json, ClientError> request_with_progress(const std::string& method, Json params,
                                                      bool quiet) {
  return ControlClient::request(
      Paths::from_env(), true, method, std::move(params), [quiet](const Json& ev) {
        if (quiet) return;
        std::fprintf(stderr, "baton: %s\n", ev.value("detail", std::string()).c_str());
      });
}

std::string text_of(const Json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

}  // namespace

int cmd_spawn(const std::string& target, const SpawnFlags& flags, bool as_json) {
  std::string prompt = flags.prompt;
  if (!flags.prompt_file.empty()) {
    std::ifstream in(flags.prompt_file, std::ios::binary);
    if (!in) return fail("cannot read the prompt file " + flags.prompt_file);
    std::ostringstream text;
    text << in.rdbuf();
    prompt = text.str();
  }
  Json params{{"target", absolute_target(target)},
              {"name", flags.name},
              {"prompt", prompt},
              {"reuse_branch", flags.reuse_branch},
              {"env", environment_json()}};
  if (!flags.agent.empty()) params["agent"] = flags.agent;
  if (!flags.base.empty()) params["base"] = flags.base;
  const bool quiet = as_json || !isatty(STDERR_FILENO);
  auto r = request_with_progress("spawn", std::move(params), quiet);
  if (!r) return fail_with(r.error());
  if (as_json) {
    std::cout << r->dump() << "\n";
    return 0;
  }
  std::cout << (*r)["id"].get<std::string>() << "\n";
  for (const auto& note : r->value("notes", Json::array()))
    std::fprintf(stderr, "baton: %s\n", note.get<std::string>().c_str());
  return 0;
}

int cmd_workers(const std::string& target, bool as_json) {
  auto r = ControlClient::request(Paths::from_env(), true, "workers",
                                  Json{{"target", absolute_target(target)}});
  if (!r) return fail_with(r.error());
  if (as_json) {
    std::cout << Json{{"workers", (*r)["workers"]}}.dump() << "\n";
    return 0;
  }
  for (const auto& w : (*r)["workers"]) {
    std::cout << w["name"].get<std::string>() << "  " << w["id"].get<std::string>() << "  "
              << w["agent"].get<std::string>() << "  " << w["health"].get<std::string>() << "  "
              << text_of(w, "activity") << "  +" << text_of(w, "ahead") << "/-"
              << text_of(w, "behind") << "  " << w["branch"].get<std::string>() << "\n";
    const std::string line = w.value("last_line", std::string());
    if (!line.empty()) std::cout << "    " << line << "\n";
  }
  return 0;
}

int cmd_finish(const std::string& target, bool delete_branch, bool now, bool as_json) {
  Json params{{"target", absolute_target(target)},
              {"delete_branch", delete_branch},
              {"now", now},
              {"env", environment_json()}};
  const bool quiet = as_json || !isatty(STDERR_FILENO);
  auto r = request_with_progress("finish", std::move(params), quiet);
  if (!r) return fail_with(r.error());
  if (as_json) {
    std::cout << r->dump() << "\n";
    return 0;
  }
  const Json& preserved = (*r)["preserved"];
  std::cout << "finished " << (*r)["id"].get<std::string>();
  if (preserved.is_object())
    std::cout << "; uncommitted work at " << preserved["ref"].get<std::string>();
  std::cout << "\n";
  if ((*r)["kept_dir"].is_string())
    std::fprintf(stderr, "baton: kept what no commit holds in %s\n",
                 (*r)["kept_dir"].get<std::string>().c_str());
  if ((*r)["branch_kept"].is_string())
    std::fprintf(stderr, "baton: %s\n", (*r)["branch_kept"].get<std::string>().c_str());
  for (const auto& note : r->value("notes", Json::array()))
    std::fprintf(stderr, "baton: %s\n", note.get<std::string>().c_str());
  return 0;
}

int cmd_guide() {
  std::cout << kOrchestratorGuide;
  return 0;
}

}  // namespace baton::cli
