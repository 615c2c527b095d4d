// `baton --version`, `baton help` and the manual pages (plugin/command_help.hpp,
// plugin/manual.hpp): the pages kept in docs/man/ are what `baton __man` writes, each
// command's --help is in baton.1, `help COMMAND` is `COMMAND --help`, and hidden commands stay
// out of all of them.
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/e2e/harness.hpp"

namespace baton::test {
namespace {

const std::vector<std::string> kPages = {"baton.1", "baton.toml.5"};
const std::vector<std::string> kHidden = {"debug", "__complete", "__man"};

bool has_program(const std::string& name) {
  return run_process({"sh", "-c", "command -v " + name}).status == 0;
}

// The names CLI11's help lists under "Subcommands:".
std::vector<std::string> subcommands_in(const std::string& help) {
  std::vector<std::string> names;
  std::stringstream in(help);
  bool is_inside = false;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != ' ') {
      is_inside = line == "Subcommands:";
      continue;
    }
    if (is_inside && line.size() > 2 && line[2] != ' ')
      names.push_back(line.substr(2, line.find(' ', 2) - 2));
  }
  return names;
}

// As plugin/manual.cpp writes text into roff.
std::string roff(const std::string& text) {
  std::string out;
  bool is_line_start = true;
  for (const char c : text) {
    if (is_line_start && (c == '.' || c == '\'')) out += "\\&";
    out += c == '\\' ? std::string("\\e") : c == '-' ? std::string("\\-") : std::string(1, c);
    is_line_start = c == '\n';
  }
  return out;
}

class Manual : public BatonTest {
 protected:
  // Every visible command as its path of names: "up", "config", "config check" ...
  std::vector<std::vector<std::string>> commands() {
    std::vector<std::vector<std::string>> all;
    std::vector<std::vector<std::string>> todo{{}};
    while (!todo.empty()) {
      const auto path = todo.back();
      todo.pop_back();
      auto args = path;
      args.push_back("--help");
      for (const auto& name : subcommands_in(baton_ok(args))) {
        auto sub = path;
        sub.push_back(name);
        all.push_back(sub);
        todo.push_back(sub);
      }
    }
    return all;
  }

  std::string source_page(const std::string& page) {
    return read_file(std::string(BATON_SOURCE_DIR) + "/docs/man/" + page);
  }
};

TEST_F(Manual, VersionNamesTheReleaseAndTheCommitAndTheDaemonSaysTheSame) {
  const std::string version = baton_ok({"--version"});
  std::smatch m;
  ASSERT_TRUE(std::regex_match(version, m,
                               std::regex(R"(baton (\d+\.\d+\.\d+ \(([0-9a-f]{4,}|unknown)\))\n)")))
      << version;
  // `baton doctor` compares the daemon's ping with the client: the same full string.
  baton_ok({"sessions"});
  const std::string doctor = baton({"doctor"}).out;
  EXPECT_NE(doctor.find("version " + m[1].str()), std::string::npos) << doctor;
}

TEST_F(Manual, PagesInDocsManAreWhatBatonWrites) {
  for (const auto& page : kPages) {
    const auto r = baton({"__man", page});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(source_page(page), r.out)
        << "docs/man/" << page << " differs from `baton __man " << page
        << "`: run build/baton __man " << page << " > docs/man/" << page;
  }
  const auto other = baton({"__man", "baton.8"});
  EXPECT_EQ(other.status, 2);
  EXPECT_EQ(other.out, "");
}

TEST_F(Manual, EveryCommandsHelpIsInTheManualPage) {
  const std::string page = source_page("baton.1");
  const auto all = commands();
  ASSERT_GT(all.size(), 20u);
  for (const auto& path : all) {
    auto args = path;
    args.push_back("--help");
    const std::string help = baton_ok(args);
    EXPECT_NE(page.find(roff(help)), std::string::npos) << help;
  }
}

TEST_F(Manual, HelpCommandPrintsWhatDashDashHelpPrints) {
  EXPECT_EQ(baton_ok({"help"}), baton_ok({"--help"}));
  for (const auto& path : commands()) {
    auto help = path;
    help.insert(help.begin(), "help");
    auto dashdash = path;
    dashdash.push_back("--help");
    EXPECT_EQ(baton_ok(help), baton_ok(dashdash)) << dashdash[0];
  }
  // The usage lines say "baton", not the path it ran from.
  EXPECT_NE(baton_ok({"help", "config", "check"}).find("Usage: baton config check "),
            std::string::npos);
}

TEST_F(Manual, HelpOfAnUnknownOrHiddenCommandIsOneLineAndUsageError) {
  for (const std::string name : {"nosuch", "debug", "__man"}) {
    const auto r = baton({"help", name});
    EXPECT_EQ(r.status, 2) << name;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "baton: unknown command '" + name + "' (see 'baton help')\n");
  }
}

TEST_F(Manual, HiddenCommandsStayOutOfHelpManualAndCompletion) {
  const std::string help = baton_ok({"--help"});
  const std::string page = source_page("baton.1");
  const std::string completion = baton_ok({"__complete", "--", ""});
  const std::string after_help = baton_ok({"__complete", "--", "help", ""});
  EXPECT_NE(after_help.find("\nup\n"), std::string::npos) << after_help;
  EXPECT_NE(completion.find("\nhelp\n"), std::string::npos) << completion;
  EXPECT_NE(page.find(".SS \"baton up\""), std::string::npos);
  for (const auto& name : kHidden) {
    EXPECT_EQ(help.find("  " + name + " "), std::string::npos) << name;
    EXPECT_EQ(page.find(".SS \"baton " + roff(name)), std::string::npos) << name;
    EXPECT_EQ(completion.find("\n" + name + "\n"), std::string::npos) << name;
    EXPECT_EQ(after_help.find("\n" + name + "\n"), std::string::npos) << name;
  }
}

TEST_F(Manual, ManRendersBothPages) {
  if (!has_program("man")) GTEST_SKIP() << "man is not installed (scripts/setup --test)";
  for (const auto& page : kPages) {
    const auto r = run_process(
        {"man", "--warnings", "-l", std::string(BATON_SOURCE_DIR) + "/docs/man/" + page},
        RunOptions{.env = {{"MANPAGER", "cat"}, {"PAGER", "cat"}, {"MANWIDTH", "100"}}});
    EXPECT_EQ(r.status, 0) << page << ": " << r.err;
    EXPECT_EQ(r.err, "") << page;
    const std::string expected = page == "baton.1" ? "Usage: baton up" : "holder_buffer";
    EXPECT_NE(r.out.find(expected), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace baton::test
