#include "runtime/search_path.hpp"

namespace baton::runtime {

std::string search_path(const std::vector<std::string>& env) {
  constexpr std::string_view kKey = "PATH=";
  for (const auto& e : env) {
    if (e.size() > kKey.size() && e.compare(0, kKey.size(), kKey) == 0)
      return e.substr(kKey.size());
  }
  return std::string(kDefaultPath);
}

std::string search_path(const std::map<std::string, std::string>& env) {
  const auto it = env.find("PATH");
  return it == env.end() || it->second.empty() ? std::string(kDefaultPath) : it->second;
}

}  // namespace baton::runtime
