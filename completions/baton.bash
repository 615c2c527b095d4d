# bash completion for baton. A thin wrapper: `baton __complete` (plugin/completion.cpp) knows
# the commands and options from baton's own command line definition, and the project names,
# session ids, worker and agent names from the running daemon (it never starts one).
# Installed as share/bash-completion/completions/baton; or `source` this file.

_baton() {
  local -a words=() lines=()
  local i w is_glued=0 line
  # bash splits `--agent=co` at '=' (and words at ':', COMP_WORDBREAKS): glue them back, so
  # baton sees the words as the command line has them.
  for ((i = 1; i <= COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    if ((${#words[@]} > 0)) && [[ $w == [=:] ]]; then
      words[-1]+=$w
      is_glued=1
    elif ((is_glued)); then
      words[-1]+=$w
      is_glued=0
    else
      words+=("$w")
    fi
  done
  ((${#words[@]} > 0)) || words=("")
  # What readline replaces: the part of the word after the last '=' or ':'.
  local word=${COMP_WORDS[COMP_CWORD]}
  [[ $word == [=:] ]] && word=
  local trim=$((${#words[-1]} - ${#word}))
  # The baton being completed (a path works too), not a shell function of that name.
  local cmd=${COMP_WORDS[0]}
  [[ $cmd == "~/"* ]] && cmd=$HOME/${cmd#"~/"}
  mapfile -t lines < <(command "$cmd" __complete -- "${words[@]}" 2>/dev/null)
  COMPREPLY=()
  ((${#lines[@]} > 0)) || return 0
  for line in "${lines[@]:1}"; do
    COMPREPLY+=("${line:trim}")
  done
  case ${lines[0]} in
    :files)
      compopt -o filenames 2>/dev/null
      mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -f -- "$word")
      ;;
    :dirs)
      compopt -o filenames 2>/dev/null
      mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -d -- "$word")
      ;;
    :commands)
      mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -c -- "$word")
      ;;
  esac
  return 0
}
complete -F _baton baton
