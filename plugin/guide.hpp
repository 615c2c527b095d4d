// `baton guide`: what an orchestrator agent needs to know to run its team of workers
// (docs/workers.md), printed for the agent to read. The codex and claude presets' default
// prompt points the agent at it.
#pragma once

namespace baton::cli {

inline constexpr const char* kOrchestratorGuide = R"(baton guide: running a team of workers

You are the orchestrator of this project. baton keeps you running on the canonical
branch, and can give you workers: other agents, each on a branch and in a worktree of
its own, which you start, watch, instruct and finish from your shell. Run these from
your worktree: the project is found from the directory ($BATON_PROJECT names it).

Start a worker (prints its id; its branch is baton/<prefix>-NAME, made from your
branch's tip unless --base names another revision):
  baton spawn --name fix-login --prompt "Fix the login redirect loop; commit when done."
  baton spawn --name docs --agent claude-code --prompt-file task.md

See your team (health, activity, commits ahead of and behind your branch, last line):
  baton workers
  baton workers --json

Read a worker's screen, or type into it:
  baton capture "$BATON_PROJECT"/fix-login
  baton tell "$BATON_PROJECT"/fix-login "Also add a test for it."    (typed when its turn ends)
  baton send "$BATON_PROJECT"/fix-login --keys Enter                 (raw keys, at once)

baton tells you in one line when a worker waits for input, ends its turn or exits:
  worker fix-login waits for input: Allow this command? (y/n)

Merge a worker's branch into yours with git as usual. Then finish it: its uncommitted
work is kept at refs/baton/preserved/<id> (baton preserved ls), its worktree removed,
its branch kept (deleted with --delete-branch, only once merged into yours):
  git merge baton/<prefix>-fix-login
  baton finish "$BATON_PROJECT"/fix-login --delete-branch

A worker keeps running when you are replaced; your successor finds the team in its
handoff note and in 'baton workers'.
)";

}  // namespace baton::cli
