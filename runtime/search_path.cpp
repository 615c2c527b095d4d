#include "runtime/search_path.hpp"

#include <sys/stat.h>
#include <unistd.h>

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

std::string find_on_path(const std::string& command, const std::string& path_env) {
  if (command.empty()) return "";
  auto is_executable = [](const std::string& file) {
    struct stat st {};
    return ::stat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
           ::access(file.c_str(), X_OK) == 0;
  };
  if (command.find('/') != std::string::npos) return is_executable(command) ? command : "";
  size_t start = 0;
  while (start <= path_env.size()) {
    size_t end = path_env.find(':', start);
    if (end == std::string::npos) end = path_env.size();
    // An empty PATH entry means the current directory. Built by appending, not by assigning
    // "." or by `dir + "/" + command`: GCC 12 warns falsely (-Wrestrict) about both at -O3.
    std::string file = end == start ? std::string(".") : path_env.substr(start, end - start);
    file += '/';
    file += command;
    if (is_executable(file)) return file;
    start = end + 1;
  }
  return "";
}

}  // namespace baton::runtime
