#include "plugin/allow_prompt.hpp"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "plugin/client_commands.hpp"
#include "plugin/printable.hpp"
#include "runtime/client.hpp"
#include "runtime/paths.hpp"

namespace baton::cli {

namespace {

using baton::runtime::ControlClient;
using baton::runtime::Paths;
using Json = baton::runtime::protocol::Json;

bool is_yes(std::string answer) {
  while (!answer.empty() && (answer.back() == ' ' || answer.back() == '\r')) answer.pop_back();
  const auto start = answer.find_first_not_of(' ');
  answer = start == std::string::npos ? "" : answer.substr(start);
  return answer == "y" || answer == "Y" || answer == "yes" || answer == "Yes" || answer == "YES";
}

}  // namespace

bool can_ask_to_allow() {
  return isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
}

bool ask_to_allow(const std::string& target, const Json& env) {
  const Paths paths = Paths::from_env();
  auto review =
      ControlClient::request(paths, false, "review", Json{{"target", target}, {"env", env}});
  if (!review) return false;
  // Allowed meanwhile (another terminal ran `baton allow`): nothing to ask, try again.
  if (review->value("allowed", false)) return true;
  if (!(*review)["settings"].is_array() || (*review)["settings"].empty()) return false;
  const Json& r = *review;
  std::string text = "baton: " + printable_list(r["trust_files"], " and ") +
                     " sets what takes effect only after you allow it:\n";
  for (const auto& s : r["settings"]) {
    text += "  " + printable(s.value("key", std::string())) + " = " +
            printable(s.value("value", std::string())) + "\n";
  }
  text += "Allow? [y/N] ";
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
  std::string answer;
  if (!std::getline(std::cin, answer)) {
    std::fputs("\n", stdout);  // Ctrl-D: the refusal goes on a line of its own
    return false;
  }
  if (!is_yes(answer)) return false;
  auto allowed = ControlClient::request(
      paths, false, "allow",
      Json{{"target", r.value("path", target)}, {"env", env}, {"hash", r.value("hash", "")}});
  if (!allowed) {
    fail(allowed.error().message);
    return false;
  }
  std::fprintf(stderr, "baton: allowed %s\n", printable_list((*allowed)["files"], " ").c_str());
  return true;
}

}  // namespace baton::cli
