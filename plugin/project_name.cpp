#include "plugin/project_name.hpp"

#include <array>
#include <filesystem>

namespace baton::plugin {

namespace {

bool is_slug_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// ASCII for the letters of Latin-1 (U+00C0..U+00FF, UTF-8 "\xC3\x80".."\xC3\xBF"); "" for
// the two signs among them (× ÷), which become separators.
constexpr std::array<std::string_view, 64> kLatin1Ascii = {
    "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E", "I", "I", "I",  "I",
    "D", "N", "O", "O", "O", "O", "O",  "",  "O", "U", "U", "U", "U", "Y", "TH", "ss",
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
    "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "y"};

// A directory's name as a project id a reader recognises: "my proj é" gives "my-proj-e".
// Accented Latin letters lose their accents, every other run of characters outside the
// charset becomes one '-', and no '-', '.' or '_' leads or trails.
std::string slug_of(std::string_view text) {
  std::string slug;
  bool gap = false;
  auto put = [&](std::string_view part) {
    if (gap && !slug.empty()) slug += '-';
    gap = false;
    slug += part;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (is_slug_char(text[i]) && c != '-') {
      put(std::string_view(&text[i], 1));
    } else if (c == 0xC3 && i + 1 < text.size() &&
               (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80) {
      auto ascii = kLatin1Ascii[static_cast<unsigned char>(text[i + 1]) - 0x80];
      ++i;
      if (ascii.empty())
        gap = true;
      else
        put(ascii);
    } else {
      // '-' itself, a space, punctuation, or any byte of another UTF-8 character.
      gap = true;
    }
  }
  const auto first = slug.find_first_not_of("._-");
  if (first == std::string::npos) return "";
  slug.erase(0, first);
  slug.erase(slug.find_last_not_of("._-") + 1);
  return slug;
}

}  // namespace

bool is_slug(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_slug_char(c)) return false;
  return true;
}

bool is_project_name(std::string_view s) {
  return is_slug(s) && s.front() != '.' && s.front() != '-';
}

// Leading '.' and '-' go too: a ".dotfiles" repo would otherwise make the default branch an
// invalid ref.
std::string default_project_name(std::string_view repo_root) {
  std::string slug = slug_of(std::filesystem::path(repo_root).filename().string());
  return slug.empty() ? std::string("project") : slug;
}

// "my-project-x" not "my-project-" (and the session "my-project-1", not "my-project--1").
std::string default_session_prefix(std::string_view project_name) {
  std::string prefix(project_name.substr(0, 12));
  const auto last = prefix.find_last_not_of("._-");
  prefix.erase(last == std::string::npos ? 0 : last + 1);
  return prefix.empty() ? std::string("project") : prefix;
}

}  // namespace baton::plugin
