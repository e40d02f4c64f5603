# shellcheck shell=bash
# Pieces shared by the scripts that build a Go program from the module proxy
# once per machine and cache it under $GTOKEN_CACHE (default ~/.cache/gtoken),
# keyed by what went into it. Source it; every function logs through the
# caller's log() (to stderr).
#
# tests/controlplane/build.sh and tests/node/build.sh keep their own copies
# of these steps on purpose: their own bytes are part of their cache keys, so
# moving them here would rebuild Kubernetes on every machine. They can use
# this file whenever their keys change anyway (a new pinned release).

# The cache root.
gobuild_cache() {
  echo "${GTOKEN_CACHE:-$HOME/.cache/gtoken}"
}

# The Go environment of every cached build: the module and build caches that
# the control plane's and the node's builds share, no cgo.
gobuild_env() { # cache
  command -v go >/dev/null || {
    log "go is required (Debian: golang, or the machine's Go)"
    return 1
  }
  export GOMODCACHE="$1/go/mod"
  export GOCACHE="$1/go/build"
  export CGO_ENABLED=0
  mkdir -p "$GOMODCACHE" "$GOCACHE"
}

# Holds an exclusive lock on fd 9 until the caller exits (two test runs on one
# machine build once; the second waits, then finds the first one's result).
gobuild_lock() { # cache name
  exec 9>"$1/.build-$2.lock"
  flock 9
}

# Runs a build command at nice 19 with a heartbeat line every 30 s, so a
# person watching a long first build knows it is alive.
gobuild_run() { # name command...
  local name="$1" start ticker rc=0
  shift
  start=$(date +%s)
  log "building $name ..."
  (while sleep 30; do log "... still building $name ($(($(date +%s) - start))s)"; done) &
  ticker=$!
  nice -n 19 "$@" || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  ((rc == 0)) || { log "building $name failed ($rc)"; return "$rc"; }
  log "built $name in $(($(date +%s) - start))s"
}
