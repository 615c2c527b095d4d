#include "plugin/trust.hpp"

#include <mutex>

#include <git2.h>
#include <nlohmann/json.hpp>

#include "plugin/atomic_file.hpp"

namespace baton::plugin {

namespace {

constexpr int kAllowedSchema = 1;

std::string allowed_path(const std::string& state_dir) {
  return state_dir + "/allowed.json";
}

// {"schema":1,"allowed":{"<repo_root>":"<hash>"}}, or nullopt when missing or unreadable: a
// corrupt file allows nothing, and the next allow() replaces it.
std::optional<nlohmann::json> read_allowed(const std::string& state_dir) {
  auto text = read_file(allowed_path(state_dir));
  if (!text) return std::nullopt;
  auto doc = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  auto schema = doc.find("schema");
  if (schema == doc.end() || *schema != kAllowedSchema) return std::nullopt;
  auto allowed = doc.find("allowed");
  if (allowed == doc.end() || !allowed->is_object()) return std::nullopt;
  return doc;
}

}  // namespace

std::string config_hash_of_contents(const std::vector<ConfigFile>& files) {
  // git_odb_hash needs the library's hash backend set up; init is reference-counted, so do
  // it once and never shut down.
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });

  std::string data;
  for (const auto& file : files) {
    data += file.path;
    data += '\0';
    data += file.content ? *file.content : std::string("<absent>");
    data += '\0';
  }
  git_oid oid;
  if (git_odb_hash(&oid, data.data(), data.size(), GIT_OBJECT_BLOB) != 0) return {};
  char hex[GIT_OID_HEXSZ + 1] = {};
  git_oid_fmt(hex, &oid);
  return hex;
}

std::string config_hash(const std::vector<std::string>& files) {
  std::vector<ConfigFile> contents;
  for (const auto& path : files) {
    auto text = read_file(path);
    // An unreadable file hashes by its error, which differs from any content allowed before.
    if (text)
      contents.push_back({path, *text});
    else if (text.error().empty())
      contents.push_back({path, std::nullopt});
    else
      contents.push_back({path, "<unreadable: " + text.error() + ">"});
  }
  return config_hash_of_contents(contents);
}

bool is_allowed(const std::string& state_dir, const std::string& repo_root,
                const std::string& hash) {
  if (hash.empty()) return false;
  auto doc = read_allowed(state_dir);
  if (!doc) return false;
  const auto& allowed = (*doc)["allowed"];
  auto it = allowed.find(repo_root);
  return it != allowed.end() && it->is_string() && it->get<std::string>() == hash;
}

tl::expected<void, std::string> allow(const std::string& state_dir, const std::string& repo_root,
                                      const std::string& hash) {
  if (hash.empty()) return tl::unexpected("allow " + repo_root + ": empty config hash");
  auto doc = read_allowed(state_dir);
  if (!doc) doc = nlohmann::json{{"schema", kAllowedSchema}, {"allowed", nlohmann::json::object()}};
  (*doc)["allowed"][repo_root] = hash;
  return write_file_atomic(allowed_path(state_dir), doc->dump(2) + "\n");
}

}  // namespace baton::plugin
