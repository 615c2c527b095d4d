#include "git/branch.hpp"

#include <fmt/format.h>
#include <git2.h>

#include "git/handles.hpp"

namespace baton::git {

std::string oid_hex(const git_oid& oid) {
  char hex[GIT_OID_HEXSZ + 1] = {};
  git_oid_tostr(hex, sizeof(hex), &oid);
  return hex;
}

std::string full_branch_ref(std::string_view name) {
  if (name.starts_with("refs/")) return std::string(name);
  return fmt::format("{}{}", kHeadsPrefix, name);
}

std::string temp_branch_name(std::string_view session_id) {
  return fmt::format("{}{}", kTempBranchPrefix, session_id);
}

std::optional<std::string> branch_name_problem(std::string_view name) {
  // The named rules come first only to say which one is broken; libgit2 has the last word.
  if (name.empty()) return "it is empty";
  if (name == "@") return "it is '@'";
  if (name == "HEAD") return "it is HEAD";
  if (name.front() == '-') return "it starts with '-'";
  if (name.front() == '/') return "it starts with '/'";
  if (name.back() == '/') return "it ends with '/'";
  if (name.back() == '.') return "it ends with '.'";
  if (name.find("..") != std::string_view::npos) return "it contains '..'";
  if (name.find("//") != std::string_view::npos) return "it contains '//'";
  if (name.find("@{") != std::string_view::npos) return "it contains '@{'";
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return "it contains a control character";
    if (std::string_view(" ~^:?*[\\").find(c) != std::string_view::npos)
      return fmt::format("it contains '{}'", c);
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    auto component = name.substr(start, end - start);
    if (component.starts_with('.'))
      return fmt::format("its component '{}' starts with '.'", component);
    if (component.ends_with(".lock"))
      return fmt::format("its component '{}' ends with '.lock'", component);
    start = end + 1;
  }
  init_libgit2();
  int is_valid = 0;
  std::string ref = fmt::format("{}{}", kHeadsPrefix, name);
  if (git_reference_name_is_valid(&is_valid, ref.c_str()) < 0 || !is_valid)
    return "git does not accept it in a ref name";
  return std::nullopt;
}

Result<void> validate_branch_name(std::string_view name) {
  auto problem = name.starts_with("refs/")
                     ? std::optional<std::string>("give the short name, without refs/")
                     : branch_name_problem(name);
  if (!problem) return {};
  return tl::unexpected(
      Error{kInvalidName, fmt::format("validate branch name \"{}\": {}", name, *problem)});
}

Result<void> validate_session_id(std::string_view session_id) {
  auto invalid = [&](std::string_view why) {
    return tl::unexpected(
        Error{kInvalidName, fmt::format("validate session id \"{}\": {}", session_id, why)});
  };
  if (session_id.empty()) return invalid("empty");
  if (session_id.front() == '.' || session_id.front() == '-') {
    return invalid("starts with '.' or '-'");
  }
  for (char c : session_id) {
    bool is_allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    if (!is_allowed) return invalid("only letters, digits, '.', '_' and '-' are allowed");
  }
  if (session_id.ends_with(".lock") || session_id.find("..") != std::string_view::npos) {
    return invalid("not usable in a git ref name");
  }
  return {};
}

Result<git_oid> branch_tip(git_repository* repo, std::string_view branch) {
  std::string ref_name = full_branch_ref(branch);
  git_oid oid;
  int rc = git_reference_name_to_id(&oid, repo, ref_name.c_str());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "resolve branch", ref_name));
  return oid;
}

// The commit `base` names; an empty base is the main worktree's HEAD.
static Result<CommitPtr> resolve_base(git_repository* repo, std::string_view base) {
  std::string spec = base.empty() ? std::string("HEAD") : std::string(base);
  git_object* raw = nullptr;
  int rc = git_revparse_single(&raw, repo, spec.c_str());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "resolve base branch", spec));
  ObjectPtr object(raw);
  git_object* peeled = nullptr;
  rc = git_object_peel(&peeled, object.get(), GIT_OBJECT_COMMIT);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "resolve base branch", spec));
  return CommitPtr(reinterpret_cast<git_commit*>(peeled));
}

Result<CanonicalBranch> ensure_canonical_branch(git_repository* repo, std::string_view name,
                                                std::string_view base) {
  init_libgit2();
  if (auto valid = validate_branch_name(name); !valid) return tl::unexpected(valid.error());
  CanonicalBranch branch{std::string(name), full_branch_ref(name), {}, false};

  if (auto tip = branch_tip(repo, name)) {
    branch.tip = oid_hex(*tip);
    return branch;
  } else if (tip.error().code != GIT_ENOTFOUND) {
    return tl::unexpected(tip.error());
  }

  auto commit = resolve_base(repo, base);
  if (!commit) return tl::unexpected(commit.error());
  // git_reference_create with force=0, not git_branch_create: no checked-out query (the
  // libgit2 1.5 bug, DESIGN.md §8), and a concurrent creator makes this fail with
  // GIT_EEXISTS instead of moving the branch.
  git_reference* raw = nullptr;
  std::string message = fmt::format("baton: create orchestrator branch from {}",
                                    base.empty() ? std::string_view("HEAD") : base);
  int rc = git_reference_create(&raw, repo, branch.ref.c_str(), git_commit_id(commit->get()), 0,
                                message.c_str());
  if (rc == GIT_EEXISTS) {
    auto tip = branch_tip(repo, name);
    if (!tip) return tl::unexpected(tip.error());
    branch.tip = oid_hex(*tip);
    return branch;
  }
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "create branch", branch.ref));
  ReferencePtr created(raw);
  branch.tip = oid_hex(*git_commit_id(commit->get()));
  branch.was_created = true;
  return branch;
}

}  // namespace baton::git
