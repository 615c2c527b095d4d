# baton_version: the generated header baton_version.hpp with kBatonVersion, "0.1.0 (1a2b3c4)": the
# project's version and the git commit the build was configured at ("unknown" outside a git
# checkout, as in a source tarball). `baton --version` prints it and the daemon's ping returns
# it, so `baton doctor` compares the same full string on both sides.
find_package(Git QUIET)
set(BATON_GIT_COMMIT unknown)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --short HEAD
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} OUTPUT_VARIABLE commit
    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE failed)
  if(NOT failed AND commit)
    set(BATON_GIT_COMMIT ${commit})
    # HEAD's reflog changes with every commit and checkout: CMake configures again and the
    # header follows. The header is rewritten only when its text changes.
    execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --path-format=absolute --git-path logs/HEAD
      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} OUTPUT_VARIABLE reflog
      OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(reflog AND EXISTS ${reflog})
      set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${reflog})
    endif()
  endif()
endif()
set(BATON_FULL_VERSION "${PROJECT_VERSION} (${BATON_GIT_COMMIT})")
configure_file(${CMAKE_CURRENT_LIST_DIR}/baton_version.hpp.in
  ${CMAKE_BINARY_DIR}/generated/baton_version.hpp @ONLY)
add_library(baton_version INTERFACE)
target_include_directories(baton_version INTERFACE ${CMAKE_BINARY_DIR}/generated)
