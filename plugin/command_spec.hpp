// A command a config names (a hook, a post_create step): a TOML string runs through
// `/bin/sh -c`, an array is argv. The loader reads it and the hook runner runs it. Apart from
// plugin/config.hpp so the value readers below the loader return one without including the
// loader's header.
#pragma once

#include <string>
#include <vector>

namespace baton::plugin {

struct CommandSpec {
  std::vector<std::string> argv;  // for a string: {"/bin/sh", "-c", string}
  std::string source;             // as written, for messages
};

}  // namespace baton::plugin
