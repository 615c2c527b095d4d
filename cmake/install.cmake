# What `cmake --install` puts under the prefix (README.md, Install): the executables, the
# multiplexer plugins, the example hooks and the man pages. The completion scripts install
# from completions/CMakeLists.txt, their one place.
#
# Each target is guarded so a build that made only some of them (a fuzz build, a test build's
# subset) still configures; `executables` is what scripts/run and scripts/install build, and
# everything installed here needs nothing more.
include(GNUInstallDirs)

add_custom_target(executables)
foreach(target baton baton-daemon baton-holder)
  if(TARGET ${target})
    add_dependencies(executables ${target})
  endif()
endforeach()

# The client starts the daemon it finds beside itself (runtime/client.cpp).
foreach(target baton baton-daemon)
  if(TARGET ${target})
    install(TARGETS ${target} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()
# Not a command for people: the daemon finds it next to itself (the build tree) or in
# ../libexec/baton (runtime/holder_client.cpp, find_holder_binary).
if(TARGET baton-holder)
  install(TARGETS baton-holder RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/baton)
endif()

set(baton_share ${CMAKE_INSTALL_DATADIR}/baton)
# baton.tmux and kitty's baton-kitty look for PREFIX/bin/baton when they run from
# PREFIX/share/baton, so they need no @baton-bin or BATON_BIN.
install(PROGRAMS ${PROJECT_SOURCE_DIR}/plugin/tmux/baton.tmux DESTINATION ${baton_share}/tmux)
install(PROGRAMS ${PROJECT_SOURCE_DIR}/plugin/tmux/scripts/baton-tmux
  DESTINATION ${baton_share}/tmux/scripts)
install(FILES ${PROJECT_SOURCE_DIR}/plugin/kitty/baton.conf DESTINATION ${baton_share}/kitty)
install(PROGRAMS ${PROJECT_SOURCE_DIR}/plugin/kitty/baton-kitty DESTINATION ${baton_share}/kitty)
install(PROGRAMS
  ${PROJECT_SOURCE_DIR}/hooks/examples/notify-desktop
  ${PROJECT_SOURCE_DIR}/hooks/examples/notify-tmux
  ${PROJECT_SOURCE_DIR}/hooks/examples/replace-orchestrator
  DESTINATION ${baton_share}/hooks)
install(FILES ${PROJECT_SOURCE_DIR}/hooks/examples/README.md DESTINATION ${baton_share}/hooks)

# Kept in the tree, written by `baton __man` (tests/e2e/manual_test.cpp fails when they differ):
# a build of the executables alone installs them.
install(FILES ${PROJECT_SOURCE_DIR}/docs/man/baton.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/docs/man/baton.toml.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
