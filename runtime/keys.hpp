// Key names for `baton send --keys` and `--detach-key`, as tmux names them
// (Enter, Tab, Escape, Up, C-c, M-x, F1 ...).
#pragma once

#include <string>

#include <tl/expected.hpp>

namespace baton::runtime {

// The bytes a terminal sends for a named key; a word that names no key is sent as text,
// as `tmux send-keys` does.
std::string key_bytes(const std::string& word);

// A single control byte for a detach key: "C-\\", "C-a", "^A", "^\\".
tl::expected<unsigned char, std::string> parse_detach_key(const std::string& spec);

}  // namespace baton::runtime
