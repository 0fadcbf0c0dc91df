#!/usr/bin/python3
"""gen-completion.py - bash and zsh completion for ctdump, at build time.

  gen-completion.py --ctdump BIN --bash OUT.bash --zsh OUT_ZSH

Reads the command tree from `BIN __cli-dump` (src/cli/cmd_cli_dump.cc: the
CLI11 tree that prints --help) and writes one function per shell that knows
every command, option and argument, plus what each argument's values are:

  storage     storage ids, the sections of <config-dir>/storage.cfg
  container   container names: the directories with a `config` under the
              lxcpath (--lxcpath, else `lxc-config lxc.lxcpath`, else
              /var/lib/lxc), as `ctdump backup --all` selects them
  volume      <storage>:<volname>: storage ids first, then the volume ids
              `ctdump --output-format json list <storage>` prints
  volname     the volume names of the storage given as the first argument
  job         job ids of <config-dir>/jobs.cfg
  target      notification targets of <config-dir>/notifications.cfg
  file, dir   paths
  =a b c      one of these words (CLI11's IsMember sets, 0|1 booleans)

<config-dir> is --config-dir when given on the line being completed, else
/etc/ctdump. The kind of each argument is named in KINDS below by the
argument's or option's name; a new option or argument with a name not listed
gets no value completion (and a new subcommand or option is completed at
once, being read from the dump).
"""
import argparse
import json
import os
import re
import subprocess
import sys

# (command path or "*", argument or option name) -> kind. The command path is
# the words after `ctdump` ("job run"); "*" applies to every command.
KINDS = {
    ("*", "storage"): "storage",
    ("*", "--storage"): "storage",
    ("*", "vmid"): "container",
    ("*", "--vmid"): "container",
    ("*", "--exclude"): "container",
    ("*", "--forget"): "container",
    ("*", "volume"): "volume",
    ("verify", "volume"): "volname",
    ("sync", "source"): "storage",
    ("sync", "target"): "storage",
    ("*", "id"): "job",
    ("*", "target"): "target",
    ("*", "file"): "file",
    ("*", "--script"): "file",
    ("*", "--tmpdir"): "dir",
    ("*", "--dumpdir"): "dir",
    ("*", "--target"): "dir",
    ("*", "--rootfs"): "dir",
    ("*", "--lxcpath"): "dir",
    ("*", "--config-dir"): "dir",
    ("*", "--include-mount"): None,  # a path inside the container
    ("datastore create", "path"): "dir",
    ("mount", "dir"): "dir",
    ("protect", "value"): "=0 1",
    ("*", "--compress"): "=0 1 gzip lzo zstd none",
}


def kind_of(path, opt):
    """The value kind of a positional or option; None: nothing to offer."""
    names = [opt["name"]] if not opt["names"] else opt["names"]
    for n in names:
        for key in ((path, n), ("*", n)):
            if key in KINDS:
                return KINDS[key]
    t = opt["type_name"]
    m = re.search(r"\{([^}]*)\}", t)
    if m:
        return "=" + " ".join(m.group(1).split(","))
    if t == "BOOLEAN":
        return "=0 1"
    # "info|notice|warning" as the whole description: those words.
    if re.fullmatch(r"[a-z-]+(\|[a-z-]+)+", opt["description"]):
        return "=" + opt["description"].replace("|", " ")
    return None


def flatten(cmd, prefix, out):
    """Every command by its path ("" is ctdump itself)."""
    opts = [o for o in cmd["options"]]
    out[prefix] = {
        "subs": [(s["name"], s["description"]) for s in cmd["subcommands"]],
        "opts": [(o["names"], o["description"], None if o["flag"] else kind_of(prefix, o) or "")
                 for o in opts],
        "pos": [(kind_of(prefix, p) or "", p["multiple"]) for p in cmd["positionals"]],
    }
    for s in cmd["subcommands"]:
        flatten(s, (prefix + " " + s["name"]).strip(), out)
    return out


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


# --- bash -------------------------------------------------------------------

BASH_ENGINE = r'''
# The storage ids of storage.cfg, the ids of jobs.cfg, the targets of
# notifications.cfg: section-config headers "<type>: <id>" at column 0.
_ctdump_sections() { # file [type-to-skip]
    [[ -r $1 ]] || return 0
    sed -n 's/^\([a-z][a-z0-9-]*\):[[:space:]]*\([^[:space:]]\{1,\}\).*/\1 \2/p' "$1" |
        while read -r t id; do [[ $t == "${2:-}" ]] || printf '%s\n' "$id"; done
}

_ctdump_lxcpath() {
    if [[ -n $_ctdump_lxcpath_opt ]]; then
        printf '%s\n' "$_ctdump_lxcpath_opt"
    else
        lxc-config lxc.lxcpath 2>/dev/null || printf '/var/lib/lxc\n'
    fi
}

_ctdump_containers() {
    local lp d
    lp=$(_ctdump_lxcpath)
    for d in "$lp"/*/config; do
        [[ -f $d ]] || continue
        d=${d%/config}
        printf '%s\n' "${d##*/}"
    done
}

# The volume ids of one storage, as `ctdump list` prints them (JSON: the
# "volid" fields, whatever the layout of the output around them).
_ctdump_volids() { # storage
    local bin=${_ctdump_bin:-ctdump}
    # No terminal to prompt on, and a slow provider does not hang the shell.
    timeout 10 "$bin" --config-dir "$_ctdump_confdir" --output-format json list "$1" \
        </dev/null 2>/dev/null |
        grep -o '"volid": *"[^"]*"' | sed 's/^"volid": *"//; s/"$//'
}

# Adds the values of `kind` that start with `cur` to COMPREPLY.
_ctdump_values() { # kind cur [first positional]
    local kind=$1 cur=$2 first=${3:-}
    case $kind in
        storage) COMPREPLY+=($(compgen -W "$(_ctdump_sections "$_ctdump_confdir/storage.cfg")" -- "$cur")) ;;
        container) # PVE lists: web,db
            local listed=
            [[ $cur == *,* ]] && listed=${cur%,*},
            COMPREPLY+=($(compgen -P "$listed" -W "$(_ctdump_containers)" -- "${cur##*,}")) ;;
        job) COMPREPLY+=($(compgen -W "$(_ctdump_sections "$_ctdump_confdir/jobs.cfg")" -- "$cur")) ;;
        target) COMPREPLY+=($(compgen -W "$(_ctdump_sections "$_ctdump_confdir/notifications.cfg" matcher)" -- "$cur")) ;;
        volume)
            if [[ $cur == *:* ]]; then
                COMPREPLY+=($(compgen -W "$(_ctdump_volids "${cur%%:*}")" -- "$cur"))
            else
                COMPREPLY+=($(compgen -S : -W "$(_ctdump_sections "$_ctdump_confdir/storage.cfg")" -- "$cur"))
                compopt -o nospace 2>/dev/null
            fi ;;
        volname)
            [[ -n $first ]] &&
                COMPREPLY+=($(compgen -W "$(_ctdump_volids "$first" | sed 's/^[^:]*://')" -- "$cur")) ;;
        file) compopt -o filenames 2>/dev/null; COMPREPLY+=($(compgen -f -- "$cur")) ;;
        dir) compopt -o filenames 2>/dev/null; COMPREPLY+=($(compgen -d -- "$cur")) ;;
        =*) COMPREPLY+=($(compgen -W "${kind#=}" -- "$cur")) ;;
    esac
}

_ctdump() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion -n =: || return
    else
        words=("${COMP_WORDS[@]}") cword=$COMP_CWORD cur=${COMP_WORDS[COMP_CWORD]}
    fi
    local _ctdump_confdir=/etc/ctdump _ctdump_lxcpath_opt= _ctdump_bin=${words[0]}
    [[ $_ctdump_bin == */* && -x $_ctdump_bin ]] || _ctdump_bin=ctdump
    local path= i w kind pending= npos=0 first=
    local subs opts
    local -a pos
    local -A valopts
    _ctdump_spec ""
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        if [[ -n $pending ]]; then
            [[ $pending == --config-dir ]] && _ctdump_confdir=$w
            [[ $pending == --lxcpath ]] && _ctdump_lxcpath_opt=$w
            pending=
            continue
        fi
        case $w in
            --config-dir=*) _ctdump_confdir=${w#*=}; continue ;;
            --lxcpath=*) _ctdump_lxcpath_opt=${w#*=}; continue ;;
            --*=*) continue ;;
            -*)
                [[ -n ${valopts[$w]+x} ]] && pending=$w
                continue ;;
        esac
        if [[ $npos -eq 0 && " $subs " == *" $w "* ]]; then
            path=${path:+$path }$w
            _ctdump_spec "$path"
            continue
        fi
        [[ $npos -eq 0 ]] && first=$w
        ((npos++))
    done
    COMPREPLY=()
    if [[ -n $pending ]]; then
        _ctdump_values "${valopts[$pending]}" "$cur" "$first"
    elif [[ $cur == --*=* && -n ${valopts[${cur%%=*}]+x} ]]; then
        # --opt=value: bash replaces only what follows the '=' (a word break)
        # unless COMP_WORDBREAKS lacks it.
        _ctdump_values "${valopts[${cur%%=*}]}" "${cur#*=}" "$first"
        [[ $COMP_WORDBREAKS == *=* ]] || COMPREPLY=("${COMPREPLY[@]/#/${cur%%=*}=}")
    elif [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    elif [[ -n $subs && $npos -eq 0 ]]; then
        COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    elif ((${#pos[@]} > 0)); then
        if ((npos < ${#pos[@]})); then
            kind=${pos[npos]}
        else
            kind=${pos[${#pos[@]} - 1]}
            [[ $kind == *'...' ]] || kind=
        fi
        _ctdump_values "${kind%...}" "$cur" "$first"
    fi
    declare -F __ltrim_colon_completions >/dev/null && __ltrim_colon_completions "$cur"
    return 0
}
complete -F _ctdump ctdump
'''


def gen_bash(cmds, version):
    out = ["# bash completion for ctdump(8) %s" % version,
           "# Generated by scripts/gen-completion.py from `ctdump __cli-dump`: do not edit.",
           "",
           "# The command at `path`: subs (subcommands), opts (every option), valopts",
           "# (option -> the kind of its value, for options that take one), pos (the",
           "# kinds of the positionals in order; \"...\" marks a repeatable last one).",
           "_ctdump_spec() {",
           "    case $1 in"]
    for path, c in cmds.items():
        opts = [n for names, _, _ in c["opts"] for n in names]
        out.append("        %s)" % sh_quote(path))
        out.append("            subs=%s" % sh_quote(" ".join(n for n, _ in c["subs"])))
        out.append("            opts=%s" % sh_quote(" ".join(opts)))
        vals = ["[%s]=%s" % (n, sh_quote(k)) for names, _, k in c["opts"] if k is not None
                for n in names]
        out.append("            valopts=(%s)" % " ".join(vals))
        out.append("            pos=(%s) ;;" % " ".join(
            sh_quote(k + ("..." if multi else "")) for k, multi in c["pos"]))
    out += ["    esac", "}"]
    return "\n".join(out) + "\n" + BASH_ENGINE


# --- zsh --------------------------------------------------------------------

ZSH_ENGINE = r'''
_ctdump_sections() { # file [type-to-skip]
  [[ -r $1 ]] || return 0
  local line t id
  while IFS= read -r line; do
    [[ $line =~ '^([a-z][a-z0-9-]*):[[:space:]]*([^[:space:]]+)' ]] || continue
    t=$match[1] id=$match[2]
    [[ $t == ${2:-} ]] || print -r -- $id
  done < $1
}

_ctdump_containers() {
  local lp=$_ctdump_lxcpath_opt d
  [[ -n $lp ]] || lp=$(lxc-config lxc.lxcpath 2>/dev/null) || lp=/var/lib/lxc
  [[ -n $lp ]] || lp=/var/lib/lxc
  for d in $lp/*/config(N); do print -r -- ${${d:h}:t}; done
}

_ctdump_volids() { # storage
  local bin=${_ctdump_bin:-ctdump}
  # No terminal to prompt on, and a slow provider does not hang the shell.
  timeout 10 $bin --config-dir $_ctdump_confdir --output-format json list $1 </dev/null 2>/dev/null |
    grep -o '"volid": *"[^"]*"' | sed 's/^"volid": *"//; s/"$//'
}

_ctdump_values() { # kind [first positional]
  local kind=$1 first=${2:-}
  local -a vals
  case $kind in
    storage) vals=(${(f)"$(_ctdump_sections $_ctdump_confdir/storage.cfg)"})
             _wanted storages expl 'storage' compadd -a vals ;;
    container) vals=(${(f)"$(_ctdump_containers)"})
               compset -P '*,'  # PVE lists: web,db
               _wanted containers expl 'container' compadd -a vals ;;
    job) vals=(${(f)"$(_ctdump_sections $_ctdump_confdir/jobs.cfg)"})
         _wanted jobs expl 'job' compadd -a vals ;;
    target) vals=(${(f)"$(_ctdump_sections $_ctdump_confdir/notifications.cfg matcher)"})
            _wanted targets expl 'notification target' compadd -a vals ;;
    volume)
      if [[ $PREFIX == *:* ]]; then
        vals=(${(f)"$(_ctdump_volids ${PREFIX%%:*})"})
        compset -P '*:'
        vals=(${vals#*:})
        _wanted volumes expl 'backup' compadd -a vals
      else
        vals=(${(f)"$(_ctdump_sections $_ctdump_confdir/storage.cfg)"})
        _wanted storages expl 'storage' compadd -S : -a vals
      fi ;;
    volname)
      [[ -n $first ]] && vals=(${${(f)"$(_ctdump_volids $first)"}#*:})
      _wanted volumes expl 'backup' compadd -a vals ;;
    file) _files ;;
    dir) _files -/ ;;
    =*) vals=(${=kind#=}); _wanted values expl 'value' compadd -a vals ;;
  esac
}

_ctdump() {
  # Not `path`: zsh ties it to PATH.
  local _ctdump_confdir=/etc/ctdump _ctdump_lxcpath_opt= _ctdump_bin=$words[1]
  [[ $_ctdump_bin == */* && -x $_ctdump_bin ]] || _ctdump_bin=ctdump
  local cmdpath= w kind pending= first= expl
  integer i npos=0
  local -a subs opts pos
  local -A valopts
  _ctdump_spec ''
  for ((i = 2; i < CURRENT; i++)); do
    w=$words[i]
    if [[ -n $pending ]]; then
      [[ $pending == --config-dir ]] && _ctdump_confdir=$w
      [[ $pending == --lxcpath ]] && _ctdump_lxcpath_opt=$w
      pending=
      continue
    fi
    case $w in
      --config-dir=*) _ctdump_confdir=${w#*=}; continue ;;
      --lxcpath=*) _ctdump_lxcpath_opt=${w#*=}; continue ;;
      --*=*) continue ;;
      -*) (( ${+valopts[$w]} )) && pending=$w; continue ;;
    esac
    if (( npos == 0 && ${subs[(I)${(b)w}:*]} )); then
      cmdpath=${cmdpath:+$cmdpath }$w
      _ctdump_spec $cmdpath
      continue
    fi
    (( npos == 0 )) && first=$w
    (( npos++ ))
  done
  if [[ -n $pending ]]; then
    _ctdump_values $valopts[$pending] $first
  elif [[ $PREFIX == --*=* ]] && (( ${+valopts[${PREFIX%%=*}]} )); then
    kind=$valopts[${PREFIX%%=*}]
    compset -P '*='
    _ctdump_values $kind $first
  elif [[ $PREFIX == -* ]]; then
    _describe -t options 'option' opts
  elif (( $#subs && npos == 0 )); then
    _describe -t commands 'command' subs
  elif (( $#pos )); then
    if (( npos < $#pos )); then
      kind=$pos[npos+1]
    else
      kind=$pos[-1]
      [[ $kind == *... ]] || kind=
    fi
    [[ -n $kind ]] && _ctdump_values ${kind%...} $first
  fi
}

_ctdump "$@"
'''


def zsh_desc(name, desc):
    return sh_quote(name.replace(":", "\\:") + ":" + desc.replace("\n", " "))


def gen_zsh(cmds, version):
    out = ["#compdef ctdump",
           "# zsh completion for ctdump(8) %s" % version,
           "# Generated by scripts/gen-completion.py from `ctdump __cli-dump`: do not edit.",
           "",
           "# The command at `path`: subs and opts (\"name:description\" for _describe),",
           "# valopts (option -> the kind of its value), pos (the kinds of the",
           "# positionals in order; \"...\" marks a repeatable last one).",
           "_ctdump_spec() {",
           "  valopts=()",
           "  case $1 in"]
    for path, c in cmds.items():
        out.append("    %s)" % sh_quote(path))
        out.append("      subs=(%s)" % " ".join(zsh_desc(n, d) for n, d in c["subs"]))
        out.append("      opts=(%s)" % " ".join(zsh_desc(n, d) for names, d, _ in c["opts"]
                                              for n in names))
        vals = ["%s %s" % (sh_quote(n), sh_quote(k)) for names, _, k in c["opts"]
                if k is not None for n in names]
        out.append("      valopts=(%s)" % " ".join(vals))
        out.append("      pos=(%s) ;;" % " ".join(
            sh_quote(k + ("..." if multi else "")) for k, multi in c["pos"]))
    out += ["  esac", "}"]
    return "\n".join(out) + "\n" + ZSH_ENGINE


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ctdump", required=True)
    ap.add_argument("--bash", required=True)
    ap.add_argument("--zsh", required=True)
    a = ap.parse_args()
    dump = json.loads(subprocess.run([a.ctdump, "__cli-dump"], check=True,
                                     stdout=subprocess.PIPE).stdout)
    cmds = flatten(dump["command"], "", {})
    for path, text in ((a.bash, gen_bash(cmds, dump["version"])),
                       (a.zsh, gen_zsh(cmds, dump["version"]))):
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
