// The handoff (DESIGN.md §5): replace a project's orchestrator(s) with a new one, in six
// phases — preflight, prepare, drain, retire, adopt, launch — each persisted before the next, so
// nothing destructive happens before preflight and prepare succeeded and a failure leaves a
// state the next `replace` finishes. `baton down` (plugin/down.hpp) shares the retire phase.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "plugin/message_typing.hpp"
#include "plugin/retirement.hpp"

namespace baton::plugin {

class Handoff : public Retirement, public LaunchWatch {
 public:
  Handoff(Orchestrator& orch, HandoffRequest req);

  void start() override;
  // The session this handoff started (or is starting).
  const std::string& new_session() const override { return new_id_; }
  // Ends the launch-grace watch without a fallback (the daemon is shutting down).
  void end_launch_grace(const std::string& launch_error) override;
  // A joining `replace --now` ends the drain's wait for the turn or for the notes.
  void skip_drain() override;

 private:
  // 1. preflight
  void preflight();
  void on_config(tl::expected<ProjectConfig, std::string> cfg);
  void on_checked(Expected<Preflight> checked) override;
  // 2. prepare
  void prepare();
  void on_prepared(Expected<std::vector<std::string>> notes);
  // The standby instead of a checkout (standby.hpp).
  void take_standby();
  // Why a handoff that retires someone prepares a tree ("" for the first `up`).
  std::string why_no_standby();
  // Runs post_create then before_spawn, from the i-th on, then retires.
  void run_prepare_hook(std::size_t i);
  void on_prepare_hook_failed(const std::string& message);
  // 3. drain: the turn's end (Retirement::drain_turn), then the summary of a responsive agent
  void drain();
  void summarize(const Drained& drained);
  void ask_for_notes(const Drained& drained, const std::string& path, const std::string& text);
  void on_summarized(WaitEnd end, const std::string& agent);
  // The handoff note (handoff_note.hpp), written off the loop before the stop: what the old
  // agent wrote there first, then baton's part. Then retire.
  void write_note();
  void on_note_written(const tl::expected<void, std::string>& written);
  // 4. retire, then the branch-free check
  void retire();
  void after_retire() override;
  // 5. adopt
  void adopt();
  void on_adopted(Expected<std::vector<std::string>> notes);
  // 6. launch, ending in verify
  void launch();
  // The rest of launch, on the loop once the agent was spawned (or could not be).
  void launched(SessionRecord rec, tl::expected<void, std::string> started);
  void verify();
  void on_verified(Expected<void> verified);
  // Off the loop, after the exec: the preserved and re-applied paths appended to the note, and
  // the branch tip the new agent started at (its start_commit). Then the reply.
  void finish_note();
  // The new agent runs: `replace` is answered, the launch grace watched, and the retired
  // trees deleted in the background while the project stays held.
  void reply();
  // The trees were deleted (or could not be): the project is free; `--wait` is answered once
  // the launch grace is over too.
  void after_put_away() override;
  // --wait: answered when both the launch grace and the deletion are over.
  void answer_waiting_when_over();
  void watch_launch_grace();
  // The new agent exited while its launch grace was watched.
  void on_launch_grace_exit(int status);
  // Closes the grace timer and removes the exit listener; idempotent.
  void stop_watching_launch_grace();
  // Starts the previous agent on the branch after a failed launch; `then` gets the message
  // once that fallback handoff has ended (at once when there is none to start).
  void fall_back(const std::string& why, const std::function<void(const std::string&)>& then);
  // One after the stop must not leave the project without an orchestrator.
  bool repair_after_stop(ErrorCode code, const std::string& message) override;
  // The note of a handoff that stopped nothing is for no one: deleted off the loop.
  void undo_before_stop() override;
  bool has_running_orchestrator();
  // The step a failure happened in, for the error `status` shows.
  std::string failed_step(ErrorCode code) const;
  HandoffJournal& journal();
  std::shared_ptr<Handoff> self();

  std::string new_id_;
  unsigned new_number_ = 0;
  std::string prepared_path_;
  std::string prepared_name_;
  std::string temp_branch_;
  std::vector<CommandSpec> prepare_hooks_;  // post_create, then before_spawn
  std::size_t post_create_count_ = 0;
  std::optional<StandbyRecord> standby_;  // the standby this handoff takes, if any
  bool is_standby_taken_ = false;         // it was: its post_create ran already
  git::SharedIndex standby_index_;        // its index, read ahead, for adopt
  // The recorded standby cannot be taken but holds the next number: discarded first.
  bool is_standby_discarded_ = false;
  bool has_fallen_back_ = false;
  bool is_grace_over_ = false;
  bool is_trash_put_away_ = false;
  std::string grace_error_;  // why the launch grace ended in a fallback; "" when it did not
  // A fallback the launch grace asked for while the retired trees were still being deleted:
  // started once they are (its retire and sweep touch the same trees and admin entries).
  std::shared_ptr<Handoff> waiting_fallback_;
  std::string note_path_;                       // "" when no note was written
  runtime::Owned<runtime::Timer> grace_timer_;  // owned until end_launch_grace
  runtime::Session::ExitListener grace_listener_ = 0;
  std::unique_ptr<MessageTyping> typing_;  // while the summary's request is typed
  std::unique_ptr<NoteWait> note_wait_;    // while the drain waits for the agent's notes
};

}  // namespace baton::plugin
