#!/usr/bin/env bash
# baton.tmux — the baton tmux plugin: keys to open and replace the orchestrator of the
# pane's project, and a #{baton_status} status-line segment.
#
# Load it from ~/.tmux.conf, either with TPM or directly:
#   run-shell ~/.local/share/baton/tmux/baton.tmux     (installed: scripts/install)
#   run-shell /path/to/baton/plugin/tmux/baton.tmux    (a checkout)
#
# Options (set them before the plugin runs; an option set to "" binds nothing):
#   @baton-bin          the baton executable            (default: the baton installed with
#                                                        the plugin, else baton on PATH)
#   @baton-attach-key   prefix key: open the orchestrator (default: O)
#   @baton-replace-key  prefix key: replace it          (default: R)
#   @baton-popup-size   width and height of the popup   (default: 80%)
#   @baton-confirm      ask before replacing: on | off  (default: on)
# The bindings hold $BATON_TMUX_HELPER literally: the shell that runs them expands it.
# shellcheck disable=SC2016
set -u

plugin_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
helper="$plugin_dir/scripts/baton-tmux"

# The value of a global option, or $2 when the option is not set at all. An option set to
# the empty string stays empty: `show-options -gq @x` prints "@x ''" for it, nothing when unset.
option() {
  if [[ -n "$(tmux show-options -gq "$1" 2>/dev/null)" ]]; then
    tmux show-options -gqv "$1"
  else
    printf '%s' "$2"
  fi
}

# A word for /bin/sh: single-quoted, with ' written as '\''.
sh_quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# Inside a format (#(...), run-shell), a literal # is written ##.
format_escape() { printf '%s' "${1//#/##}"; }

# tmux 3.3a -> 303; "master", "next-3.4" and friends count as new.
tmux_version() {
  local v
  v="$(tmux -V 2>/dev/null)"
  v="${v#tmux }"
  v="${v#next-}"
  if [[ "$v" =~ ^([0-9]+)\.([0-9]+) ]]; then
    echo $((BASH_REMATCH[1] * 100 + BASH_REMATCH[2]))
  else
    echo 9999
  fi
}

# Installed as PREFIX/share/baton/tmux/baton.tmux, the plugin runs PREFIX/bin/baton: tmux's
# PATH (the one of the shell that started the server) often lacks ~/.local/bin.
default_bin=baton
if [[ "$plugin_dir" == */share/baton/tmux && -x "${plugin_dir%/share/baton/tmux}/bin/baton" ]]; then
  default_bin="${plugin_dir%/share/baton/tmux}/bin/baton"
fi

version="$(tmux_version)"
bin="$(option @baton-bin "$default_bin")"
[[ -z "$bin" ]] && bin="$default_bin"
attach_key="$(option @baton-attach-key O)"
replace_key="$(option @baton-replace-key R)"
popup_size="$(option @baton-popup-size 80%)"
[[ -z "$popup_size" ]] && popup_size=80%
confirm="$(option @baton-confirm on)"

# The bindings run the helper through an environment variable, so its path (spaces, quotes,
# # and all) never passes through tmux's command parser or format expansion: confirm-before
# expands and parses its command once more before running it.
tmux set-environment -g BATON_TMUX_HELPER "$helper"
# The helper's baton when @baton-bin is not set (it reads the option first, so a later change
# of the option counts).
tmux set-environment -g BATON_TMUX_BIN "$default_bin"

if [[ -n "$attach_key" ]]; then
  if ((version >= 302)); then
    tmux bind-key -T prefix "$attach_key" display-popup -E -d '#{pane_current_path}' \
      -w "$popup_size" -h "$popup_size" '"$BATON_TMUX_HELPER" attach'
  else
    tmux bind-key -T prefix "$attach_key" new-window -c '#{pane_current_path}' -n baton \
      '"$BATON_TMUX_HELPER" attach'
  fi
fi

if [[ -n "$replace_key" ]]; then
  # #{client_name} (a tty path) and #{pane_id} (%N) need no quoting.
  run="run-shell -b '\"\$BATON_TMUX_HELPER\" replace #{client_name} #{pane_id}'"
  case "$confirm" in
    off | no | false | 0)
      tmux bind-key -T prefix "$replace_key" run-shell -b '"$BATON_TMUX_HELPER" replace #{client_name} #{pane_id}'
      ;;
    *)
      tmux bind-key -T prefix "$replace_key" confirm-before -p "Replace orchestrator? (y/n)" "$run"
      ;;
  esac
fi

# #{baton_status} -> #(BIN status --tmux PATH), re-run every status-interval for the active
# pane's directory. #{q:...} quotes the path for the shell (tmux >= 3.2 here, to be safe).
if ((version >= 302)); then
  path_arg='#{q:pane_current_path}'
else
  path_arg="'#{pane_current_path}'"
fi
segment="#($(format_escape "$(sh_quote "$bin")") status --tmux $path_arg)"
for side in status-right status-left; do
  value="$(tmux show-options -gqv "$side")"
  if [[ "$value" == *'#{baton_status}'* ]]; then
    tmux set-option -gq "$side" "${value//"#{baton_status}"/"$segment"}"
  fi
done
