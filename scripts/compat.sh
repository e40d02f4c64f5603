#!/usr/bin/env bash
# The admission e2e suites against an older Kubernetes minor than the pinned
# one (tests/controlplane/versions.env): by default v1.29.15 with etcd
# v3.5.16 (the etcd kubeadm 1.29.15 installs), the oldest minor of GKE's
# support range that builds with Go 1.26. There --native-sidecars=auto must
# inject the classic pair (init container gtoken-init + sidecar gtoken),
# which test_chain and test_install assert by reading the apiserver's
# /version (cluster.ControlPlane.native_sidecars_auto).
#
#   scripts/compat.sh                    build what is missing, run the suites
#   scripts/compat.sh -k stored_pod      extra arguments go to every pytest run
#   scripts/compat.sh --no-build DIR     use the gtoken build in DIR as it is
#                                        (the ctest entry, label compat)
#
# Steps: scripts/setup.sh (Debian packages, .venv; skipped with --no-build);
# tests/controlplane/build-version.sh builds kube-apiserver, kubectl and etcd
# of that release once per machine (~/.cache/gtoken/k8s-VERSION-KEY, at nice
# 19); gtoken is built in its own tree, build-compat/ (RelWithDebInfo, ninja
# at nice 19, so the main build/ is left alone); then each suite runs with
# pytest on a control plane of its own (BUILD/compat-VERSION/cp-*),
# one suite at a time, and a summary with each suite's wall time is printed.
# Exits non-zero if any suite failed. Control planes die with this script.
#
# Knobs: GTOKEN_K8S_VERSION, GTOKEN_ETCD_VERSION (the release), and
# GTOKEN_COMPAT_SUITES (file names under tests/e2e, space-separated).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

build_dir="$repo/build-compat"
build=true
if [[ "${1:-}" == "--no-build" ]]; then
  [[ -n "${2:-}" ]] || { echo "usage: scripts/compat.sh --no-build BUILD_DIR [pytest args]" >&2; exit 2; }
  build=false
  build_dir="$(cd "$2" && pwd)"
  shift 2
fi

export GTOKEN_K8S_VERSION="${GTOKEN_K8S_VERSION:-v1.29.15}"
export GTOKEN_ETCD_VERSION="${GTOKEN_ETCD_VERSION:-v3.5.16}"
# The suites that go through admission on the apiserver: the mutating
# webhook on pods (chain, install, smuggling), the validating webhook on
# bindings (tenancy), the CRDs' schema and CEL rules (conflicts), and the
# install manifests under --dry-run=server (install).
suites="${GTOKEN_COMPAT_SUITES:-test_chain test_install test_smuggling test_tenancy test_controller_conflicts}"

log() { echo "[compat] $*" >&2; }
t0=$(date +%s)

$build && "$repo/scripts/setup.sh"
log "control plane $GTOKEN_K8S_VERSION (etcd $GTOKEN_ETCD_VERSION) ..."
bin="$("$repo/tests/controlplane/build-version.sh" | tail -1)"
log "control plane binaries: $bin ($(( $(date +%s) - t0 ))s)"

if $build; then
  t=$(date +%s)
  log "building gtoken in $build_dir ..."
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  nice -n 19 ninja -C "$build_dir" -j "${GTOKEN_JOBS:-$(nproc)}" >/dev/null ||
    nice -n 19 ninja -C "$build_dir" -j 1
  log "gtoken built ($(( $(date +%s) - t ))s)"
fi

# Control planes go to a folder of their own, so none shares a name with
# one of the e2e suites ctest may be running beside this from the same tree.
export GTOKEN_BUILD_DIR="$build_dir" GTOKEN_CP_ROOT="$build_dir/compat-$GTOKEN_K8S_VERSION"
export GTOKEN_CP_OWNER=$$ PYTHONDONTWRITEBYTECODE=1
mkdir -p "$GTOKEN_CP_ROOT"
cleanup() {
  local d
  for d in "$GTOKEN_CP_ROOT"/cp-*; do
    [[ -f "$d/etcd.pid" ]] && "$repo/tests/controlplane/cp.sh" stop "$d" >/dev/null 2>&1
  done
  return 0
}
trap cleanup EXIT INT TERM

failed=() summary=()
for s in $suites; do
  t=$(date +%s)
  log "$s against $GTOKEN_K8S_VERSION ..."
  rc=0
  GTOKEN_E2E_NAME="$s" \
    "$repo/.venv/bin/python" -m pytest -q -p no:cacheprovider "tests/e2e/$s.py" "$@" || rc=$?
  case $rc in
    0) summary+=("passed $s $(( $(date +%s) - t ))s") ;;
    5) summary+=("no test of $s selected") ;; # pytest's "no tests collected" (-k)
    *) summary+=("FAILED $s $(( $(date +%s) - t ))s"); failed+=("$s") ;;
  esac
done

log "Kubernetes $GTOKEN_K8S_VERSION, etcd $GTOKEN_ETCD_VERSION, gtoken from $build_dir:"
printf '[compat]   %s\n' "${summary[@]}" >&2
log "total $(( $(date +%s) - t0 ))s"
((${#failed[@]} == 0)) || { log "failed: ${failed[*]}"; exit 1; }
