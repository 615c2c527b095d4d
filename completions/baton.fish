# fish completion for baton. A thin wrapper: `baton __complete` (plugin/completion.cpp) knows
# the commands and options from baton's own command line definition, and the project names,
# session ids, worker and agent names from the running daemon (it never starts one).
# Installed as share/fish/vendor_completions.d/baton.fish; or `source` this file.

function __baton_complete
    set -l words (commandline -opc) (commandline -ct)
    # The baton being completed (a path works too), not a function of that name.
    set -l cmd (string replace -r '^~/' "$HOME/" -- $words[1])
    set -e words[1]
    set -l lines (command $cmd __complete --descriptions -- $words 2>/dev/null)
    or return
    set -l directive $lines[1]
    set -e lines[1]
    test (count $lines) -gt 0; and printf '%s\n' $lines
    switch "$directive"
        case :files
            __fish_complete_path (commandline -ct)
        case :dirs
            __fish_complete_directories (commandline -ct) ''
        case :commands
            __fish_complete_command
    end
end

complete -c baton -f -a '(__baton_complete)'
