// `baton doctor`: checks what users get wrong and says how to fix each — the multiplexers and
// their plugins, the agents and their versions, the run directory, the daemon, the current
// project's config and trust, the inotify limit, the systemd user manager. It never starts a
// daemon: the config and trust checks ask one that runs (the client links no TOML or git
// library), and say so when none does. docs/doctor.md.
#pragma once

namespace baton::cli {

// One line per check (`ok`, `warn` or `fail`, its name, what it found, the fix), or with
// as_json {"checks": [...]}. Returns 0 when nothing failed (warnings allowed), else kExitFailed.
int cmd_doctor(bool as_json);

}  // namespace baton::cli
