// The change record of each project's orchestrator tree (docs/orchestrator.md, "The change
// record"): after a handoff, and after start-up recovery, baton watches the active
// orchestrator's tree (TreeChanges) and then scans it in full once, in the background at idle
// priority. The next handoff's retire scans only what changed since, plus what that full scan
// reported: the scan for uncommitted work no longer reads every file of the old tree. Without
// a complete record (no inotify, a watch limit, a lost event, too many changes, the full scan
// not yet done) the retire scans everything, as before.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "git/preserve.hpp"
#include "plugin/off_loop.hpp"
#include "plugin/tree_changes.hpp"

namespace baton::plugin {

class Orchestrator;

// What a retire needs to limit its scan: the record and the full scan it started from.
struct ScanHint {
  std::shared_ptr<TreeChanges> changes;
  std::shared_ptr<const git::ScanBaseline> baseline;
  git::SharedIndex index;  // the tree's index, read after the full scan (null: none)
};

// Off the loop: the limit for preserve_uncommitted, read from the record now (every queued
// event included); nullopt when the record is incomplete. `why_not` says why.
std::optional<git::ScanLimit> scan_limit(const ScanHint& hint, std::string& why_not);

class ChangeRecords {
 public:
  explicit ChangeRecords(Orchestrator& orch);
  ChangeRecords(const ChangeRecords&) = delete;
  ChangeRecords& operator=(const ChangeRecords&) = delete;

  // Records the tree of the project's newest active orchestrator: a record of another
  // session (or none, when nothing runs) is dropped first. A no-op while a handoff or `down`
  // holds the project; it calls this again when it ends.
  void refresh(const std::string& project);
  // The retire of `session` begins: its record (when its full scan ended), for the retire's
  // limited scan. The record is dropped either way: the tree is leaving.
  std::optional<ScanHint> take(const std::string& project, const std::string& session);
  // "recording" (the full scan ended: a retire scans only what changed), "scanning" (watched,
  // the full scan runs), "off" (no record: a retire scans everything).
  std::string_view state(const std::string& project) const;
  // Shutdown: drops every record and starts none.
  void stop();

 private:
  struct Record {
    std::string session;
    std::unique_ptr<TreeChangesReader> reader;
    std::shared_ptr<const git::ScanBaseline> baseline;
    git::SharedIndex index;
    std::shared_ptr<BackgroundJob> job;  // the watches and the full scan, while they run
    std::uint64_t generation = 0;
  };
  void drop(const std::string& project);

  Orchestrator& orch_;
  std::map<std::string, Record> records_;  // by project
  std::uint64_t next_generation_ = 1;
  bool is_stopped_ = false;
};

}  // namespace baton::plugin
