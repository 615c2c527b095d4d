#include "fixture.hpp"

#include <stdlib.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <git2.h>

#include "git/branch.hpp"
#include "git/handles.hpp"

namespace baton::git::testing {

namespace fs = std::filesystem;

namespace {

// Neither the machine's nor root's git configuration may leak into the tests: the git CLI
// gets an empty HOME and no system config, libgit2 empty global/xdg/system search paths.
// Identities come from each fixture repository's own config (or are absent on purpose).
struct IsolatedGitConfig {
  TempDir home_dir{"baton-git-home"};
  fs::path home = home_dir.path();
  IsolatedGitConfig() {
    ::setenv("HOME", home.c_str(), 1);
    ::setenv("XDG_CONFIG_HOME", (home / ".config").c_str(), 1);
    ::setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    ::setenv("GIT_CONFIG_GLOBAL", (home / ".gitconfig").c_str(), 1);
    ::unsetenv("GIT_DIR");
    ::unsetenv("GIT_WORK_TREE");
    ::unsetenv("GIT_INDEX_FILE");
    // No `git maintenance run --auto` after each fixture commit; quiet detached HEADs.
    write_file(home / ".gitconfig",
               "[maintenance]\n\tauto = false\n[gc]\n\tauto = 0\n[advice]\n"
               "\tdetachedHead = false\n[init]\n\tdefaultBranch = main\n");
    init_libgit2();
    for (int level : {GIT_CONFIG_LEVEL_GLOBAL, GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_SYSTEM,
                      GIT_CONFIG_LEVEL_PROGRAMDATA}) {
      git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, home.c_str());
    }
  }
};

IsolatedGitConfig g_isolated_config;

}  // namespace

CommandResult shell(const std::string& command) {
  std::string full = command + " 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::string output;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
  int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

CommandResult git_cli(const fs::path& dir, std::string_view args) {
  return shell("git -C '" + dir.native() + "' " + std::string(args));
}

std::string git_ok(const fs::path& dir, std::string_view args) {
  auto result = git_cli(dir, args);
  EXPECT_EQ(result.status, 0) << "git " << args << " in " << dir << ":\n" << result.output;
  return result.output;
}

void write_file(const fs::path& file, std::string_view content) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// Fixture repositories are built in-process with libgit2: a git CLI process costs ~30 ms
// here, and hundreds of them would make the suite slow.
static void check(int rc, const char* what) {
  if (rc < 0) {
    const git_error* e = git_error_last();
    ADD_FAILURE() << what << ": " << (e != nullptr ? e->message : "?");
  }
}

void make_repo(const fs::path& dir) {
  git_repository_init_options opts = GIT_REPOSITORY_INIT_OPTIONS_INIT;
  opts.flags = GIT_REPOSITORY_INIT_MKPATH;
  opts.initial_head = "main";
  git_repository* raw = nullptr;
  check(git_repository_init_ext(&raw, dir.c_str(), &opts), "init");
  RepositoryPtr repo(raw);
  git_config* config = nullptr;
  check(git_repository_config(&config, repo.get()), "config");
  check(git_config_set_string(config, "user.name", "Test User"), "user.name");
  check(git_config_set_string(config, "user.email", "test@example.com"), "user.email");
  git_config_free(config);
  commit_file(dir, "README.md", "hello\n", "Initial commit");
}

void commit_file(const fs::path& dir, const std::string& file, std::string_view content,
                 const std::string& message) {
  write_file(dir / file, content);
  git_repository* raw = nullptr;
  check(git_repository_open(&raw, dir.c_str()), "open");
  RepositoryPtr repo(raw);
  git_index* raw_index = nullptr;
  check(git_repository_index(&raw_index, repo.get()), "index");
  IndexPtr index(raw_index);
  check(git_index_add_bypath(index.get(), file.c_str()), "add");
  check(git_index_write(index.get()), "write index");
  git_oid tree_oid;
  check(git_index_write_tree(&tree_oid, index.get()), "write tree");
  git_tree* raw_tree = nullptr;
  check(git_tree_lookup(&raw_tree, repo.get(), &tree_oid), "tree");
  TreePtr tree(raw_tree);
  git_signature* raw_sig = nullptr;
  check(git_signature_now(&raw_sig, "Test User", "test@example.com"), "signature");
  SignaturePtr sig(raw_sig);
  git_object* raw_parent = nullptr;
  CommitPtr parent;
  if (git_revparse_single(&raw_parent, repo.get(), "HEAD^{commit}") == 0) {
    parent.reset(reinterpret_cast<git_commit*>(raw_parent));
  }
  const git_commit* parents[] = {parent.get()};
  git_oid commit_oid;
  check(git_commit_create(&commit_oid, repo.get(), "HEAD", sig.get(), sig.get(), nullptr,
                          message.c_str(), tree.get(), parent ? 1 : 0, parents),
        "commit");
}

void ProjectTest::SetUp() {
  make_repo(repo_dir());
  auto project = open_project(repo_dir());
  ASSERT_TRUE(project) << project.error().message;
  project_ = std::move(*project);
  auto branch = ensure_canonical_branch(repo(), kCanonical, "");
  ASSERT_TRUE(branch) << branch.error().message;
}

}  // namespace baton::git::testing
