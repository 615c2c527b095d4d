// The runtime's own control methods: new, sessions, attach, capture, send, kill, shutdown,
// ping. Names and fields are a contract (issue 2); the plugin adds its methods beside them.
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "runtime/connection.hpp"
#include "runtime/daemon.hpp"
#include "runtime/scrollback_text.hpp"

extern char** environ;

namespace baton::runtime {

namespace proto = protocol;
using proto::Json;

Json session_json(const Session& s) {
  return Json{{"id", s.id()},
              {"command", s.argv()},
              {"cwd", s.cwd()},
              {"pid", s.pid()},
              {"state", s.is_running() ? "running" : "exited"},
              {"exit_status", s.is_running() ? Json(nullptr) : Json(s.exit_status())},
              {"created_at", s.created_at()},
              {"holder_pid", s.holder_pid()},
              {"adopted", s.is_adopted()}};
}

namespace {

// Reads an optional parameter of the given JSON type; a wrong type is an error reply.
template <typename T>
bool param(const RequestPtr& req, const char* name, T& out) {
  if (auto error = proto::read_param(req->params(), name, out)) {
    req->fail(proto::code::kBadParams, *error);
    return false;
  }
  return true;
}

}  // namespace

void Daemon::register_session_methods() {
  auto target_session = [this](const RequestPtr& req,
                               std::string* follow_key = nullptr) -> Session* {
    std::string target;
    std::string cwd;
    if (!param(req, "target", target) || !param(req, "cwd", cwd)) return nullptr;
    // No target: the client's directory picks the session when the plugin knows it (a
    // project's orchestrator), else the newest running session, as tmux attaches.
    Session* s =
        target.empty() && !cwd.empty() && resolver_ ? find_session(cwd, follow_key) : nullptr;
    if (!s) s = find_session(target, follow_key);
    if (!s) {
      req->fail(proto::code::kNotFound,
                target.empty() ? std::string("no running session") : "no session '" + target + "'");
    }
    return s;
  };

  // "version" is the protocol's; "baton_version" the program's.
  add_method("ping", [this](const RequestPtr& req) {
    req->reply(Json{{"version", proto::kVersion}, {"pid", getpid()}, {"baton_version", version_}});
  });

  add_method("new", [this](const RequestPtr& req) {
    std::vector<std::string> command;
    std::string cwd;
    std::string name;
    std::map<std::string, std::string> env;
    int rows = 40;
    int cols = 120;
    if (!param(req, "command", command) || !param(req, "cwd", cwd) || !param(req, "name", name) ||
        !param(req, "env", env) || !param(req, "rows", rows) || !param(req, "cols", cols))
      return;
    if (command.empty()) {
      req->fail(proto::code::kBadParams, "\"command\" must be a non-empty array of strings");
      return;
    }
    if (name.find_first_of(" \t\n/") != std::string::npos) {
      req->fail(proto::code::kBadParams,
                "session name '" + name + "' must not contain spaces or '/'");
      return;
    }
    SessionSpec spec;
    spec.id = name;
    spec.spawn.argv = std::move(command);
    spec.spawn.cwd = cwd.empty() ? std::string("/") : cwd;
    std::vector<std::string> extra;
    extra.reserve(env.size());
    for (auto& [k, v] : env) extra.push_back(k + "=" + v);
    // A client sends its whole environment, as a shell would pass it to a child; a bare
    // request gets the daemon's.
    spec.spawn.env = session_environment(req->params().contains("env") ? nullptr : environ, extra);
    if (rows > 0 && rows < 10000) spec.spawn.rows = static_cast<unsigned short>(rows);
    if (cols > 0 && cols < 10000) spec.spawn.cols = static_cast<unsigned short>(cols);
    auto s = start_session(std::move(spec));
    if (!s) {
      req->fail(proto::code::kSpawnFailed, s.error());
      return;
    }
    req->reply(Json{{"session", session_json(**s)}});
  });

  add_method("sessions", [this](const RequestPtr& req) {
    bool all = false;
    if (!param(req, "all", all)) return;
    Json list = Json::array();
    std::vector<const Session*> ordered;
    for (auto& [id, s] : sessions_) {
      if (all || s->is_running()) ordered.push_back(s.get());
    }
    std::sort(ordered.begin(), ordered.end(),
              [](const Session* a, const Session* b) { return a->created_at() < b->created_at(); });
    for (const Session* s : ordered) list.push_back(session_json(*s));
    req->reply(Json{{"sessions", std::move(list)}});
  });

  add_method("attach", [target_session](const RequestPtr& req) {
    bool read_only = false;
    int rows = 0;
    int cols = 0;
    if (!param(req, "read_only", read_only) || !param(req, "rows", rows) ||
        !param(req, "cols", cols))
      return;
    std::string follow_key;
    Session* s = target_session(req, &follow_key);
    if (!s) return;
    Connection* conn = req->connection();
    if (!conn) return;
    req->reply(Json{{"session", session_json(*s)}, {"follows", !follow_key.empty()}});
    conn->follow(std::move(follow_key));
    conn->start_attach(*s, !read_only, rows, cols);
  });

  add_method("capture", [target_session](const RequestPtr& req) {
    bool raw = false;
    bool history = false;
    if (!param(req, "raw", raw) || !param(req, "history", history)) return;
    Session* s = target_session(req);
    if (!s) return;
    if (history) {
      req->reply(Json{{"session", s->id()}, {"lines", scrollback_lines(s->scrollback())}});
      return;
    }
    req->reply(Json{{"session", s->id()}, {"lines", s->capture(!raw)}});
  });

  add_method("send", [target_session](const RequestPtr& req) {
    std::string data;
    if (!param(req, "data", data)) return;
    Session* s = target_session(req);
    if (!s) return;
    if (!s->is_running()) {
      req->fail(proto::code::kFailed, "session '" + s->id() + "' has exited");
      return;
    }
    s->write_input(data);
    req->reply(Json{{"session", s->id()}, {"bytes", data.size()}});
  });

  add_method("kill", [this, target_session](const RequestPtr& req) {
    Session* s = target_session(req);
    if (!s) return;
    const std::string id = s->id();
    if (!s->is_running()) {
      remove_session(id);
      req->reply(Json{{"session", id}});
      return;
    }
    s->on_exit([this, req, id](Session&) {
      req->reply(Json{{"session", id}});
      remove_session_later(id);
    });
    s->stop();
  });

  add_method("shutdown", [this](const RequestPtr& req) {
    shutdown([req] { req->reply(Json{{"stopped", true}}); });
  });
}

}  // namespace baton::runtime
