// Selection and health (DESIGN.md §6): one newest_active() and the documented order.
#include <gtest/gtest.h>

#include "plugin/health.hpp"

namespace baton::plugin {
namespace {

SessionRecord rec(const std::string& id, unsigned n, SessionState state, const std::string& created,
                  const std::string& agent = "codex") {
  SessionRecord r;
  r.id = id;
  r.number = n;
  r.state = state;
  r.created_at = created;
  r.updated_at = created;
  r.agent = agent;
  return r;
}

TEST(Health, NewestActivePicksTheNewestNotTheOldest) {
  auto a = rec("p-1", 1, SessionState::kActive, "2026-11-26T00:00:01.000Z");
  auto b = rec("p-2", 2, SessionState::kActive, "2026-11-26T00:00:02.000Z");
  EXPECT_EQ(newest_active({&a, &b})->id, "p-2");
  EXPECT_EQ(newest_active({&b, &a})->id, "p-2");
}

TEST(Health, NewestActiveBreaksTiesByUpdatedAtThenNumber) {
  auto a = rec("p-9", 9, SessionState::kActive, "2026-11-26T00:00:01.000Z");
  auto b = rec("p-10", 10, SessionState::kActive, "2026-11-26T00:00:01.000Z");
  EXPECT_EQ(newest_active({&a, &b})->id, "p-10");
  a.updated_at = "2026-11-26T00:00:05.000Z";
  EXPECT_EQ(newest_active({&a, &b})->id, "p-9");
}

TEST(Health, NewestActiveIgnoresRetiredAndExited) {
  auto a = rec("p-1", 1, SessionState::kActive, "2026-11-26T00:00:01.000Z");
  auto b = rec("p-2", 2, SessionState::kRetired, "2026-11-26T00:00:02.000Z");
  auto c = rec("p-3", 3, SessionState::kExited, "2026-11-26T00:00:03.000Z");
  EXPECT_EQ(newest_active({&a, &b, &c})->id, "p-1");
  EXPECT_EQ(newest_active({&b, &c}), nullptr);
}

TEST(Health, FollowsTheDocumentedOrder) {
  auto active = rec("p-1", 1, SessionState::kActive, "2026-11-26T00:00:01.000Z");
  auto dup = rec("p-2", 2, SessionState::kActive, "2026-11-26T00:00:02.000Z");
  auto stuck = rec("p-3", 3, SessionState::kRetiring, "2026-11-26T00:00:00.000Z");
  stuck.last_error = "cannot delete x: Operation not permitted";
  auto exited = rec("p-4", 4, SessionState::kExited, "2026-11-26T00:00:04.000Z");
  HealthInputs in;
  in.configured_agent = "codex";
  in.is_replacing = true;
  in.sessions = {&active, &dup, &stuck};
  EXPECT_EQ(compute_health(in), "replacing");
  in.is_replacing = false;
  EXPECT_EQ(compute_health(in), "stuck");
  in.sessions = {&active, &dup};
  EXPECT_EQ(compute_health(in), "duplicate");
  in.sessions = {};
  EXPECT_EQ(compute_health(in), "missing");
  in.sessions = {&exited};
  EXPECT_EQ(compute_health(in), "exited");
  in.sessions = {&active};
  in.configured_agent = "claude-code";
  EXPECT_EQ(compute_health(in), "restart_needed");
  in.configured_agent = "codex";
  EXPECT_EQ(compute_health(in), "ok");
  in.launch_error = "claude-code exited with status 1 within 5 s; relaunched codex";
  EXPECT_EQ(compute_health(in), "restart_needed");
}

}  // namespace
}  // namespace baton::plugin
