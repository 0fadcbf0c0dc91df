# bench/datastore/corpora.sh - the corpora of run.sh (sourced, not run).
# build_corpus NAME sets $corpus to <work>/corpus-NAME[-SIZE], which holds
# base/ (the tree), stats.json (treecheck stats) and stamp (the recipe: a
# corpus is reused only while its stamp matches).  Uses run.sh's $work,
# $size, $here, $repo, $ROOTFS_TAR, log and die.
# shellcheck shell=bash disable=SC2154

# slices of the host's /usr copied into base/usrcopy-N/ (missing ones skipped)
if [ "$size" = small ]; then
    usr_copies=1
    usr_dirs=(sbin include lib/python3 lib/python3.11 share/doc share/perl)
else
    usr_copies=2
    usr_dirs=(bin sbin include lib/x86_64-linux-gnu lib/python3 lib/python3.11 share)
fi
unique_dirs=(share include)   # of /usr, each copied once
tiny_files=200000 tiny_dirs=2000 tiny_seed=42

rootfs_source() {   # prints a description of the rootfs source; creates the tarball if needed
    local d
    if [ ! -s "$ROOTFS_TAR" ]; then
        for d in /var/cache/ctdump/rootfs-*minbase*; do
            [ -d "$d" ] && { echo "dir $d"; return 0; }
        done
        log "no cached rootfs; creating $ROOTFS_TAR (tests/realenv/make-rootfs-cache.sh)"
        ROOTFS_TAR=$ROOTFS_TAR bash "$repo/tests/realenv/make-rootfs-cache.sh" >&2
    fi
    echo "tar $ROOTFS_TAR $(stat -c '%s %Y' "$ROOTFS_TAR")"
}

# extract_rootfs SOURCE-DESCRIPTION DIR: the minbase rootfs into DIR
extract_rootfs() {
    case $1 in
        tar\ *) tar --numeric-owner --xattrs '--xattrs-include=*' --acls -xpf "$ROOTFS_TAR" -C "$2" ;;
        dir\ *) cp -a "${1#dir }/." "$2/" ;;
    esac
}

corpus_recipe() {   # NAME [ROOTFS-SOURCE]: the stamp
    case $1 in
        dedup)
            echo "recipe 1"
            echo "rootfs $2"
            echo "usr-copies $usr_copies"
            echo "usr-dirs ${usr_dirs[*]}" ;;
        unique)
            echo "unique 1"
            echo "usr-dirs ${unique_dirs[*]}" ;;
        tiny)
            echo "tiny 1 files=$tiny_files dirs=$tiny_dirs seed=$tiny_seed" ;;
    esac
}

# fill_corpus NAME TMPDIR [ROOTFS-SOURCE]: build TMPDIR/base
fill_corpus() {
    local name=$1 tmp=$2 src=${3:-} i d
    case $name in
        dedup)
            log "building corpus $tmp/base (${src%% *} rootfs + $usr_copies × /usr/{$(IFS=,; echo "${usr_dirs[*]}")})"
            extract_rootfs "$src" "$tmp/base"
            for ((i = 1; i <= usr_copies; i++)); do
                for d in "${usr_dirs[@]}"; do
                    [ -d "/usr/$d" ] || continue
                    mkdir -p "$tmp/base/usrcopy-$i/$(dirname "$d")"
                    cp -a "/usr/$d" "$tmp/base/usrcopy-$i/$d"
                done
            done ;;
        unique)
            log "building corpus $tmp/base (the host's /usr/{$(IFS=,; echo "${unique_dirs[*]}")} once)"
            for d in "${unique_dirs[@]}"; do
                [ -d "/usr/$d" ] && cp -a "/usr/$d" "$tmp/base/usr-$d"
            done ;;
        tiny)
            log "building corpus $tmp/base ($tiny_files files in $tiny_dirs directories; about a minute)"
            rmdir "$tmp/base"
            python3 "$here/corpus.py" tiny "$tmp/base" --files "$tiny_files" --dirs "$tiny_dirs" \
                --seed "$tiny_seed" >"$tmp/tiny.json" ;;
    esac
}

build_corpus() {   # NAME; sets $corpus (the directory holding base/)
    local name=$1 src="" stamp tmp
    corpus=$work/corpus-$name
    [ "$name" = dedup ] && corpus=$work/corpus-$size   # the name run.sh always used
    [ "$name" = dedup ] && src=$(rootfs_source)
    stamp=$(corpus_recipe "$name" "$src")
    if [ -d "$corpus/base" ] && [ -f "$corpus/stamp" ] && [ "$(cat "$corpus/stamp")" = "$stamp" ]; then
        log "reusing corpus $corpus/base"
        return 0
    fi
    tmp=$corpus.tmp
    rm -rf --one-file-system "$corpus" "$tmp"
    mkdir -p "$tmp/base"
    fill_corpus "$name" "$tmp" "$src"
    python3 "$here/treecheck.py" stats "$tmp/base" >"$tmp/stats.json"
    printf '%s\n' "$stamp" >"$tmp/stamp"
    sync -f "$tmp/stamp"
    mv "$tmp" "$corpus"
}

corpus_desc() {   # NAME: one line for the results
    case $1 in
        dedup) echo "minbase rootfs + ${usr_copies}× /usr/{$(IFS=,; echo "${usr_dirs[*]}")} (--size $size)" ;;
        unique) echo "the host's /usr/{$(IFS=,; echo "${unique_dirs[*]}")} once, no rootfs" ;;
        tiny) echo "$tiny_files files of 0.1-2 KB text in $tiny_dirs directories (corpus.py tiny, seed $tiny_seed)" ;;
    esac
}

build_many() {   # sets $many_dir
    local stamp="many 1 dirs=1000 files=1000 seed=42" dir=$work/corpus-many
    many_dir=$dir/many
    if [ -d "$many_dir" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
        log "reusing $many_dir"
        return 0
    fi
    rm -rf --one-file-system "$dir" "$dir.tmp"
    mkdir -p "$dir.tmp"
    log "building $many_dir (1,000,000 files; a few minutes)"
    python3 "$here/mutate.py" many "$dir.tmp/many" --dirs 1000 --files 1000 --seed 42 >/dev/null
    python3 "$here/treecheck.py" stats "$dir.tmp/many" >"$dir.tmp/stats.json"
    printf '%s\n' "$stamp" >"$dir.tmp/stamp"
    mv "$dir.tmp" "$dir"
}
