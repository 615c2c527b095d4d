#include "runtime/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace baton::runtime {

void init_log(const Paths& paths, bool also_stderr) {
  std::vector<spdlog::sink_ptr> sinks;
  try {
    sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        paths.logs_dir + "/daemon.log", 5u << 20, 3));
  } catch (const spdlog::spdlog_ex&) {
    // An unwritable log directory must not keep the daemon from running.
  }
  if (also_stderr) sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  auto logger = std::make_shared<spdlog::logger>("baton", sinks.begin(), sinks.end());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

void keep_stderr(const Paths& paths) {
  const std::string path = paths.logs_dir + "/daemon.stderr";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;  // stays /dev/null
  dup2(fd, STDERR_FILENO);
  close(fd);
}

}  // namespace baton::runtime
