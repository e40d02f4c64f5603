#!/usr/bin/env bash
# gtoken agent footprint against the Google stand-in (tests/standins/google.py),
# with the command lines the webhook generates. Prints numbers, asserts nothing.
#
#   tests/bench/agent_bench.sh [RUNS=20] [REFRESHES=30]
#
# Builds gtoken as the agent image does (Release, GTOKEN_STATIC_DEPS=ON; extra
# compiler flags from $GTOKEN_AGENT_CXXFLAGS) in $GTOKEN_AGENT_RELEASE_DIR
# (default build-agent-release; only the agent targets), or measures
# $GTOKEN_AGENT_BIN if set. Loopback only.
#
# Figures, comparable between builds (before/after a change: run it twice with
# GTOKEN_AGENT_BIN set to each binary):
#   binary size and dynamic dependencies;
#   exec -> token file written (--refresh), median of RUNS cold starts;
#   RSS and threads 0.3 s after the first write, and SIGTERM -> exit;
#   RSS peak over REFRESHES refreshes in one process (2 s tokens, sampled every
#   20 ms; VmHWM at the end), with its anonymous/file split and thread count;
#   --once exec -> exit and max RSS; probe exec -> exit.
# With a writable memory cgroup (v1 or v2) the refreshing run is repeated in a
# cgroup of its own capped at GTOKEN_AGENT_CGROUP_LIMIT (default 4Mi, the
# container's request; the pod's limit is 16Mi), from a fresh copy of the
# binary dropped from the page cache so its pages are charged to that cgroup:
# it prints the cgroup's peak usage, failcnt and OOM kills.
# With GTOKEN_AGENT_BASELINE=/path/to/another/gtoken, the cold starts alternate
# between the two binaries (baseline, measured, baseline, ...) and both medians
# are printed: on a loaded machine that is the fair comparison.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
runs="${1:-20}"
refreshes="${2:-30}"
py="$repo/.venv/bin/python"
[[ -x $py ]] || "$repo/scripts/setup-python.sh"

bin="${GTOKEN_AGENT_BIN:-}"
if [[ -z $bin ]]; then
  build="${GTOKEN_AGENT_RELEASE_DIR:-$repo/build-agent-release}"
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGTOKEN_STATIC_DEPS=ON \
    -DCMAKE_CXX_FLAGS="${GTOKEN_AGENT_CXXFLAGS:-}" >/dev/null
  ninja -C "$build" -j "${GTOKEN_JOBS:-2}" gtoken >/dev/null
  # Only reported; gtoken does not need it to be measured.
  ninja -C "$build" -j "${GTOKEN_JOBS:-2}" gtoken-https >/dev/null 2>&1 ||
    echo "gtoken-https did not build (see docs/benchmarks.md#agent); measuring gtoken alone" >&2
  bin="$build/agent/gtoken"
fi

work="$(mktemp -d /tmp/gtoken-agent-bench.XXXXXX)"
google_pid=""
cleanup() {
  [[ -n $google_pid ]] && kill "$google_pid" 2>/dev/null && wait "$google_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/seed.json" <<'EOF'
{"service_accounts": [{"account_id": "bench",
   "policy": {"version": 1, "bindings": [{"role": "roles/iam.workloadIdentityUser",
              "members": ["serviceAccount:bench-project.svc.id.goog[bench/app]"]}]}}],
 "annotations": {"bench/app": "bench@bench-project.iam.gserviceaccount.com"},
 "default_workload": "bench/app"}
EOF
(cd "$repo/tests" && exec "$py" -m standins.google --port 0 --project bench-project \
  --state-dir "$work/state" --seed "$work/seed.json" >"$work/google.out" 2>"$work/google.err") &
google_pid=$!
for _ in $(seq 100); do [[ -f $work/state/google.port ]] && break; sleep 0.1; done
[[ -f $work/state/google.port ]] || { cat "$work/google.err" >&2; exit 1; }
port="$(cat "$work/state/google.port")"

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); agent $("$bin" --version)"
GTOKEN_BASELINE="${GTOKEN_AGENT_BASELINE:-}" GTOKEN_BIN="$bin" METADATA_HOST="127.0.0.1:$port" WORK="$work" RUNS="$runs" REFRESHES="$refreshes" \
  GTOKEN_AGENT_CGROUP_LIMIT="${GTOKEN_AGENT_CGROUP_LIMIT:-4Mi}" \
  "$py" - <<'EOF'
import json, os, signal, statistics, subprocess, time, urllib.request

BIN, HOST, WORK, RUNS = (os.environ["GTOKEN_BIN"], os.environ["METADATA_HOST"],
                         os.environ["WORK"], int(os.environ["RUNS"]))
REFRESHES = int(os.environ["REFRESHES"])
CG_LIMIT = os.environ.get("GTOKEN_AGENT_CGROUP_LIMIT", "4Mi")
BASELINE = os.environ.get("GTOKEN_BASELINE", "")
AUD = "--audience=gtoken/sts/assume-role-with-web-identity"
ENV = {"PATH": "/usr/bin:/bin", "GCE_METADATA_HOST": HOST}


def ms(xs):
    xs = sorted(xs)
    return (f"median {statistics.median(xs) * 1000:.1f} ms, "
            f"min {xs[0] * 1000:.1f}, max {xs[-1] * 1000:.1f} ({len(xs)} runs)")


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split()[1]


def set_lifetime(seconds):
    req = urllib.request.Request(f"http://{HOST}/_admin/config", method="POST",
                                 data=json.dumps({"id_token_lifetime": seconds}).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).read()


def describe(path):
    size = os.path.getsize(path)
    deps = subprocess.run(["ldd", path], capture_output=True, text=True).stdout.split("\n")
    deps = sorted({d.split()[0] for d in deps if "=>" in d and "vdso" not in d})
    return (f"{size:,} bytes ({size / 2**20:.2f} MiB); "
            f"dynamic: {', '.join(deps) if deps else 'none (static)'}")


print(f"binary size: {describe(BIN)}")
helper = os.path.join(os.path.dirname(BIN), "gtoken-https")
if os.path.exists(helper):
    print(f"gtoken-https (only for an https:// --iam-endpoint): {describe(helper)}")

# Cold start to first token written: the native sidecar's command line.
def cold_start(binary, d):
    """exec -> token file written; returns (seconds, process)."""
    os.mkdir(d)
    path = os.path.join(d, "gtoken")
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, f"--file={path}", "--refresh", AUD], env=ENV,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.exists(path):
        if time.perf_counter() - t0 > 10:
            raise SystemExit("no token written in 10 s")
        time.sleep(0.0002)
    return time.perf_counter() - t0, p


cold, rss, hwm, threads, term, base_cold = [], [], [], [], [], []
for i in range(RUNS):
    if BASELINE:
        took, b = cold_start(BASELINE, os.path.join(WORK, f"b{i}"))
        base_cold.append(took)
        b.send_signal(signal.SIGTERM)
        b.wait(5)
    took, p = cold_start(BIN, os.path.join(WORK, f"r{i}"))
    cold.append(took)
    time.sleep(0.3)  # settled, asleep until the refresh
    rss.append(int(status(p.pid, "VmRSS")))
    hwm.append(int(status(p.pid, "VmHWM")))
    threads.append(int(status(p.pid, "Threads")))
    t1 = time.perf_counter()
    p.send_signal(signal.SIGTERM)
    rc = p.wait(5)
    term.append(time.perf_counter() - t1)
    assert rc == 0, rc
if BASELINE:
    print(f"baseline {BASELINE}, alternating: exec -> token file written: {ms(base_cold)}")
print(f"exec -> token file written (--refresh): {ms(cold)}")
print(f"RSS while refreshing (VmRSS): median {statistics.median(rss) / 1024:.1f} MiB, "
      f"peak (VmHWM) max {max(hwm) / 1024:.1f} MiB; threads {max(threads)}")
print(f"SIGTERM -> exit, asleep: {ms(term)}")

# Many refreshes in one process: 2 s tokens, so the agent refreshes about
# every second (the late path); RSS sampled every 20 ms throughout.
def refreshing(binary, d, preexec=None):
    os.mkdir(d)
    path = os.path.join(d, "gtoken")
    log = open(os.path.join(d, "log"), "w+")
    p = subprocess.Popen([binary, f"--file={path}", "--refresh", AUD], env=ENV,
                         stdout=subprocess.DEVNULL, stderr=log, preexec_fn=preexec)
    peak = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0, "Threads": 0}
    t0 = time.perf_counter()
    writes = 0
    while writes < REFRESHES + 1:
        if time.perf_counter() - t0 > 10 + 3 * REFRESHES or p.poll() is not None:
            rc = p.poll()
            p.kill()
            p.wait()
            raise SystemExit(f"only {writes} tokens written (exit {rc})")
        for k in peak:
            peak[k] = max(peak[k], int(status(p.pid, k)))
        time.sleep(0.02)
        log.seek(0)
        writes = log.read().count('"msg":"token written"')
    hwm = int(status(p.pid, "VmHWM"))
    p.send_signal(signal.SIGTERM)
    assert p.wait(5) == 0
    log.seek(0)
    errors = log.read().count('"level":"error"')
    return peak, hwm, writes - 1, time.perf_counter() - t0, errors


def quantity(q):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return int(q[:-2]) * units[q[-2:]] if q[-2:] in units else int(q)


def memory_cgroup():
    """(kind, path of a new cgroup) or None when no writable memory cgroup."""
    name = f"gtoken-agent-bench-{os.getpid()}"
    for kind, root in (("v2", "/sys/fs/cgroup"), ("v1", "/sys/fs/cgroup/memory")):
        marker = "memory.max" if kind == "v2" else "memory.limit_in_bytes"
        if kind == "v2" and not os.path.exists(os.path.join(root, "cgroup.controllers")):
            continue
        try:
            path = os.path.join(root, name)
            os.mkdir(path)
        except OSError:
            continue
        if os.path.exists(os.path.join(path, marker)):
            return kind, path
        os.rmdir(path)
    return None


def read(path):
    with open(path) as f:
        return f.read()


if REFRESHES > 0:
    set_lifetime(2)
    peak, hwm, n, took, errors = refreshing(BIN, os.path.join(WORK, "refreshing"))
    print(f"RSS over {n} refreshes (2 s tokens, {took:.0f} s): "
          f"VmRSS peak {peak['VmRSS'] / 1024:.2f} MiB (anon {peak['RssAnon'] / 1024:.2f}, "
          f"file {peak['RssFile'] / 1024:.2f}), VmHWM {hwm / 1024:.2f} MiB; "
          f"threads {peak['Threads']}; error lines {errors}")
    cg = memory_cgroup()
    if cg is None:
        print("memory cgroup: none writable here; skipped")
    else:
        kind, cgpath = cg
        try:
            # A fresh copy, dropped from the page cache: its pages are read
            # (and charged) inside the cgroup, as on a node seeing the image
            # for the first time.
            fresh = os.path.join(WORK, "gtoken-fresh")
            with open(BIN, "rb") as src, open(fresh, "wb") as dst:
                dst.write(src.read())
                dst.flush()
                os.fsync(dst.fileno())
                os.posix_fadvise(dst.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            os.chmod(fresh, 0o755)
            limit = quantity(CG_LIMIT)
            with open(os.path.join(cgpath, "memory.max" if kind == "v2"
                                   else "memory.limit_in_bytes"), "w") as f:
                f.write(str(limit))
            procs = os.path.join(cgpath, "cgroup.procs")

            def enter():
                with open(procs, "w") as f:
                    f.write(str(os.getpid()))

            _, _, n, took, errors = refreshing(fresh, os.path.join(WORK, "cgroup"), enter)
            if kind == "v2":
                peak_b = int(read(os.path.join(cgpath, "memory.peak")))
                ev = dict(l.split() for l in read(os.path.join(cgpath, "memory.events")).splitlines())
                fails, ooms = ev.get("max", "?"), ev.get("oom_kill", "?")
            else:
                peak_b = int(read(os.path.join(cgpath, "memory.max_usage_in_bytes")))
                fails = read(os.path.join(cgpath, "memory.failcnt")).strip()
                oc = dict(l.split() for l in read(os.path.join(cgpath, "memory.oom_control")).splitlines())
                ooms = oc.get("oom_kill", "?")
            print(f"memory cgroup ({kind}) capped at {CG_LIMIT}: {n} refreshes in {took:.0f} s, "
                  f"peak usage {peak_b / 2**20:.2f} MiB, limit hits {fails}, OOM kills {ooms}, "
                  f"error lines {errors}")
        finally:
            os.rmdir(cgpath)
    set_lifetime(3600)

# One-shot (classic init container): exec -> exit, and max RSS.
once, maxrss = [], []
for i in range(RUNS):
    path = os.path.join(WORK, f"r{i}", "once")
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", BIN, f"--file={path}", AUD, "--once",
                        "--once-timeout=600s"], env=ENV, capture_output=True, text=True)
    once.append(time.perf_counter() - t0)
    assert p.returncode == 0, p.stderr
    maxrss.append(int(p.stderr.strip().splitlines()[-1]))
print(f"exec -> exit (--once, via /usr/bin/time): {ms(once)}; "
      f"max RSS median {statistics.median(maxrss) / 1024:.1f} MiB")

# The startup probe.
probe = []
for i in range(RUNS):
    path = os.path.join(WORK, f"r{i}", "gtoken")
    t0 = time.perf_counter()
    rc = subprocess.run([BIN, "probe", "--file", path], env=ENV).returncode
    probe.append(time.perf_counter() - t0)
    assert rc == 0
print(f"exec -> exit (probe): {ms(probe)}")
EOF
