#!/usr/bin/env bash
# TPM runs *.tmux at a plugin repository's root; the plugin itself lives in plugin/tmux/.
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/plugin/tmux/baton.tmux" "$@"
