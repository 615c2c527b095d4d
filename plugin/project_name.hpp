// The names a project goes by: its id ([project] name) and its session prefix, which end up
// in branch names, directory names under the workspace root and session ids; and the
// defaults made from the repository directory's name. Pure.
#pragma once

#include <string>
#include <string_view>

namespace baton::plugin {

// Not empty, only A-Z a-z 0-9 . _ - (an [agents.NAME] table's name).
bool is_slug(std::string_view s);

// A project name or session prefix: slug characters, not starting with '.' (".", "..", a
// hidden directory under the workspace root) or '-' (a session id read as an option).
bool is_project_name(std::string_view s);

// The name of the directory at repo_root as a project id ("my proj é" gives "my-proj-e");
// "project" when nothing of it is left.
std::string default_project_name(std::string_view repo_root);

// The project id cut to 12 characters without a dangling separator.
std::string default_session_prefix(std::string_view project_name);

}  // namespace baton::plugin
