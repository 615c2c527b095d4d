#include "runtime/daemon.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <spdlog/spdlog.h>

#include "runtime/connection.hpp"

namespace baton::runtime {

namespace {

// Like `mkdir -p`, with mode for the directories it creates.
tl::expected<void, std::string> make_dirs(const std::string& path, mode_t mode) {
  std::string cur;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (mkdir(cur.c_str(), mode) != 0 && errno != EEXIST)
      return tl::make_unexpected("cannot create " + cur + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return tl::make_unexpected(path + " is not a directory");
  return {};
}

}  // namespace

int daemonize() {
  int fds[2];
  if (pipe(fds) != 0) {
    std::perror("baton-daemon: pipe");
    std::exit(1);
  }
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("baton-daemon: fork");
    std::exit(1);
  }
  if (pid > 0) {
    close(fds[1]);
    int status;
    waitpid(pid, &status, 0);
    std::string msg;
    char buf[512];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) msg.append(buf, static_cast<std::size_t>(n));
    if (msg.empty()) {
      std::fprintf(stderr, "baton-daemon: the daemon exited before it was ready\n");
      std::exit(1);
    }
    const bool ok = msg[0] == '+';
    if (!ok) std::fprintf(stderr, "baton-daemon: %s\n", msg.c_str() + 1);
    std::exit(ok ? 0 : 1);
  }
  close(fds[0]);
  setsid();
  const pid_t second = fork();
  if (second < 0) _exit(1);
  if (second > 0) _exit(0);
  if (chdir("/") != 0) _exit(1);
  const int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    if (devnull > 2) close(devnull);
  }
  fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  return fds[1];
}

void report_ready(int ready_fd, bool ok, const std::string& message) {
  if (ready_fd < 0) return;
  std::string msg = (ok ? "+" : "-") + message;
  ssize_t n = write(ready_fd, msg.data(), msg.size());
  (void)n;
  close(ready_fd);
}

Daemon::Daemon(Paths paths) : paths_(std::move(paths)) {
  uv_loop_init(&loop_);
  holder_site_.binary = find_holder_binary();
  holder_site_.holders_dir = paths_.holders_dir;
  signal(SIGPIPE, SIG_IGN);
}

Daemon::~Daemon() {
  // A daemon that never ran (another one holds the lock, or listen failed) still owns its
  // handles, whose memory is freed only in their close callbacks. The socket is left alone:
  // it may be the running daemon's.
  if (!is_loop_closed_) {
    sessions_.clear();
    close_handles();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
  if (lock_fd_ >= 0) close(lock_fd_);
}

tl::expected<void, std::string> Daemon::lock() {
  if (auto r = make_dirs(paths_.home, 0700); !r) return r;
  if (auto r = make_dirs(paths_.run_dir, 0700); !r) return r;
  // Checked before the chmod: through a planted symlink it would loosen someone else's dir.
  if (auto r = check_run_dir(paths_.run_dir); !r) return r;
  chmod(paths_.run_dir.c_str(), 0700);
  if (auto r = make_dirs(paths_.holders_dir, 0700); !r) return r;
  if (auto r = check_run_dir(paths_.holders_dir); !r) return r;
  chmod(paths_.holders_dir.c_str(), 0700);
  if (auto r = make_dirs(paths_.state_dir, 0700); !r) return r;
  if (auto r = make_dirs(paths_.logs_dir, 0700); !r) return r;
  lock_fd_ = open(paths_.lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0)
    return tl::make_unexpected("cannot open " + paths_.lock + ": " + std::strerror(errno));
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    close(lock_fd_);
    lock_fd_ = -1;
    if (err == EWOULDBLOCK) return tl::make_unexpected(std::string(kAlreadyRunning));
    return tl::make_unexpected("cannot lock " + paths_.lock + ": " + std::strerror(err));
  }
  const std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(lock_fd_, 0) == 0) {
    ssize_t n = pwrite(lock_fd_, pid.data(), pid.size(), 0);
    (void)n;
  }
  return {};
}

tl::expected<void, std::string> Daemon::listen() {
  auto server = ControlServer::listen(&loop_, paths_.socket);
  if (!server) return tl::make_unexpected(server.error());
  server_.reset(*server);
  register_session_methods();
  sigterm_ = make_owned<Signal>(&loop_);
  sigterm_->start(SIGTERM, [this](int) { shutdown(nullptr); });
  sigint_ = make_owned<Signal>(&loop_);
  sigint_->start(SIGINT, [this](int) { shutdown(nullptr); });
  removal_timer_ = make_owned<Timer>(&loop_);
  spdlog::info("daemon {} listening on {}", getpid(), paths_.socket);
  return {};
}

int Daemon::run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
  sessions_.clear();
  // Sessions' handles close in their destructors; let their close callbacks run.
  uv_run(&loop_, UV_RUN_DEFAULT);
  const int rc = uv_loop_close(&loop_);
  is_loop_closed_ = true;
  spdlog::info("daemon {} stopped, uv_loop_close={}", getpid(), rc);
  return rc;
}

std::string Daemon::next_session_id() {
  for (;;) {
    // Appended, not `"s" + string`: GCC 12 gives a false -Wrestrict there at -O3 (DESIGN.md §8).
    std::string id(1, 's');
    id += std::to_string(next_id_++);
    if (!sessions_.count(id)) return id;
  }
}

tl::expected<Session*, std::string> Daemon::start_session(SessionSpec spec) {
  if (is_shutting_down_) return tl::make_unexpected(std::string("the daemon is shutting down"));
  if (spec.id.empty()) spec.id = next_session_id();
  if (sessions_.count(spec.id))
    return tl::make_unexpected("a session named '" + spec.id + "' already exists");
  auto s = Session::start(&loop_, holder_site_, std::move(spec));
  if (!s) return tl::make_unexpected(s.error());
  Session* raw = add_session(std::move(*s));
  spdlog::info("session {} started: pid {} (holder {}) in {}", raw->id(), raw->pid(),
               raw->holder_pid(), raw->cwd());
  return raw;
}

Session* Daemon::add_session(std::unique_ptr<Session> s) {
  Session* raw = s.get();
  raw->on_exit([this](Session& sess) {
    spdlog::info("session {} exited with status {}", sess.id(), sess.exit_status());
    auto fns = exit_fns_;
    for (auto& fn : fns) fn(sess);
    if (is_shutting_down_) shutdown(nullptr);
  });
  sessions_[raw->id()] = std::move(s);
  return raw;
}

std::vector<std::string> Daemon::adopt_holders(const AdoptStepFn& on_step) {
  std::vector<std::string> adopted;
  for (const auto& path : list_holder_sockets(paths_.holders_dir)) {
    auto held = adopt_holder(path);
    if (!held) {
      const AdoptFailure& failure = held.error();
      if (failure.reason == AdoptSkip::kGone) {
        spdlog::info("{}", failure.message);
      } else {
        spdlog::warn("{}", failure.message);
      }
      if (!failure.session_id.empty()) held_elsewhere_.insert(failure.session_id);
      continue;
    }
    if (on_step) on_step("recovery.adopting");
    const std::string id = held->hello.id;
    if (sessions_.count(id)) {
      // One id names one agent. Two holders claiming it (a relaunch that raced a daemon's
      // death) keep the one adopted first; the other agent is stopped, never left unheld.
      spdlog::warn("holder {} claims session {}, which is taken; stopping its agent (pid {})", path,
                   id, held->process.pid);
      send_holder_message(held->process.link_fd, HolderMessage::kKill, "");
      close(held->process.link_fd);
      close(held->process.master_fd);
      continue;
    }
    const pid_t pid = held->process.pid;
    const std::size_t kept = held->output.size();
    Session* s = add_session(Session::adopt(&loop_, *held));
    spdlog::info("session {} adopted: pid {} (holder {}), {} bytes printed while no daemon ran", id,
                 pid, s->holder_pid(), kept);
    adopted.push_back(id);
  }
  if (on_step) on_step("recovery.adopted");
  return adopted;
}

Session* Daemon::find_session(const std::string& target, std::string* follow_key) {
  if (resolver_) {
    ResolvedTarget r = resolver_(target);
    if (!r.session_id.empty()) {
      auto it = sessions_.find(r.session_id);
      if (it != sessions_.end()) {
        if (follow_key) *follow_key = std::move(r.follow_key);
        return it->second.get();
      }
    }
  }
  if (target.empty()) {
    // No target: the newest running session, as tmux attaches the most recent one.
    Session* best = nullptr;
    for (auto& [id, s] : sessions_) {
      if (!s->is_running()) continue;
      if (!best || s->created_at() >= best->created_at()) best = s.get();
    }
    return best;
  }
  auto it = sessions_.find(target);
  return it == sessions_.end() ? nullptr : it->second.get();
}

void Daemon::hand_over_followers(const std::string& follow_key, Session& next,
                                 const std::string& notice) {
  if (!server_) return;
  // Copied: resuming can close a connection, which removes it from the server's set.
  auto conns =
      std::vector<Connection*>(server_->connections().begin(), server_->connections().end());
  for (Connection* c : conns) {
    if (c->is_parked() && c->follow_key() == follow_key) c->resume_follow(next, notice);
  }
}

void Daemon::release_followers(const std::string& follow_key) {
  if (!server_) return;
  auto conns =
      std::vector<Connection*>(server_->connections().begin(), server_->connections().end());
  for (Connection* c : conns) {
    if (c->is_parked() && c->follow_key() == follow_key) c->end_follow();
  }
}

void Daemon::remove_session(const std::string& id) {
  sessions_.erase(id);
}

void Daemon::remove_session_later(const std::string& id) {
  // No timer once the handles are closed: the daemon is leaving and run() drops every session.
  if (!removal_timer_) return;
  pending_removals_.push_back(id);
  removal_timer_->start(0, [this] {
    auto ids = std::move(pending_removals_);
    pending_removals_.clear();
    for (const auto& removed : ids) remove_session(removed);
  });
}

void Daemon::shutdown(std::function<void()> on_sessions_stopped) {
  if (on_sessions_stopped) on_stopped_.push_back(std::move(on_sessions_stopped));
  if (!is_shutting_down_) {
    is_shutting_down_ = true;
    spdlog::info("shutting down");
    for (auto& [id, s] : sessions_) s->stop();
  }
  for (auto& [id, s] : sessions_) {
    if (s->is_running()) return;  // called again from each session's exit
  }
  auto fns = std::move(on_stopped_);
  on_stopped_.clear();
  for (auto& fn : fns) fn();
  close_all();
}

void Daemon::close_all() {
  if (!server_) return;
  // New clients must not reach a daemon that is leaving; they start a new one.
  unlink(paths_.socket.c_str());
  auto fns = std::move(shutdown_fns_);
  shutdown_fns_.clear();
  for (auto& fn : fns) fn();
  close_handles();
}

void Daemon::close_handles() {
  server_.reset();
  sigterm_.reset();
  sigint_.reset();
  removal_timer_.reset();
}

}  // namespace baton::runtime
