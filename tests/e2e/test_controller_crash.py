"""The operator SIGKILLed in the middle of reconciling 100 bindings (twice),
with spec changes and deletes made while it is down: after a restart every
binding converges, no member is duplicated, nothing is left behind."""

import concurrent.futures as cf
import random
import time

from arbutil import (Api, PROJECT, ROLE, binding, gtoken_annotations, is_ready, start_operator,
                     wait_all_ready, wi_members)
from cluster import eventually

N = 100
GSAS = 5


def _check_no_orphans(api: Api, google, ns: str, gsas: list[str]):
    bindings = {b["metadata"]["name"]: b for b in api.bindings(ns)}
    by_ksa = {b["spec"]["serviceAccountName"]: b for b in bindings.values()}
    # Google: exactly the members the bindings ask for, each once
    for g in gsas:
        members = [m for m in wi_members(google, g) if f"[{ns}/" in m]
        assert len(members) == len(set(members)), f"duplicate member on {g}: {members}"
        want = sorted(f"serviceAccount:{PROJECT}.svc.id.goog[{ns}/{b['spec']['serviceAccountName']}]"
                      for b in bindings.values() if b["spec"]["gcpServiceAccount"] == g)
        assert sorted(members) == want, f"{g}: members {members} != {want}"
    # Kubernetes: gtoken's annotations only on ServiceAccounts a binding names, with its values
    for sa in api.service_accounts(ns):
        name = sa["metadata"]["name"]
        ann = gtoken_annotations(sa)
        if name == "default":
            assert ann == {}
            continue
        b = by_ksa.get(name)
        if b is None:
            assert ann == {}, f"orphan annotations on ServiceAccount {name}: {ann}"
            assert name.startswith("pre-"), f"ServiceAccount {name} created by gtoken left behind"
            continue
        assert ann["gtoken.io/binding"] == b["metadata"]["name"]
        assert ann["iam.gke.io/gcp-service-account"] == b["spec"]["gcpServiceAccount"]
        assert ann["amazonaws.com/role-arn"] == b["spec"]["awsRoleArn"]
        assert ("gtoken.io/created-by" in ann) == (not name.startswith("pre-"))
    for b in bindings.values():
        assert is_ready(b), b["metadata"]["name"]
        assert len(b["status"]["appliedTargets"]) == 1, b["status"]["appliedTargets"]
    # every binding's ServiceAccount exists
    names = {sa["metadata"]["name"] for sa in api.service_accounts(ns)}
    assert set(by_ksa) <= names


def test_sigkill_mid_reconcile_then_restart_converges(cp, google):
    rnd = random.Random(7)
    gsas = [google.create_sa(f"crash-gsa-{i}")["email"] for i in range(GSAS)]
    for g in gsas:  # someone else's member, to keep
        google.add_member(g, "roles/iam.workloadIdentityUser",
                          f"serviceAccount:{PROJECT}.svc.id.goog[other/keep]")
    ns = cp.create_namespace("crash")
    api = Api(cp)
    # Half the bindings use ServiceAccounts that exist already ("pre-*").
    for i in range(0, N, 2):
        api.create(f"/api/v1/namespaces/{ns}/serviceaccounts",
                   {"metadata": {"name": f"pre-{i}", "annotations": {"keep": "me"}}})
    objs = [binding(f"b{i}", ns, f"pre-{i}" if i % 2 == 0 else f"new-{i}", gsas[i % GSAS])
            for i in range(N)]
    # Slow Google a little so the kill lands in the middle of the work.
    google.latency("/v1/", 15)

    op = start_operator(cp, google, "--workers=4").start()
    try:
        with cf.ThreadPoolExecutor(8) as pool:
            list(pool.map(api.create_binding, objs))
        # first kill: after a fair part is done
        eventually(lambda: sum(is_ready(b) for b in api.bindings(ns)) >= N // 4, 120,
                   interval=0.2, what="a quarter Ready")
        op.kill()
        ready_at_kill = sum(is_ready(b) for b in api.bindings(ns))
        assert ready_at_kill < N, "the kill should land mid-way"

        # second run, killed again soon after it starts
        op = start_operator(cp, google, "--workers=4", name="operator-2").start()
        time.sleep(1.5)
        op.kill()

        # while it is down: move some bindings, delete some
        moved = rnd.sample(range(N), 10)
        for i in moved:
            b = api.binding(ns, f"b{i}")
            b["spec"]["gcpServiceAccount"] = gsas[(i + 1) % GSAS]
            if i % 3 == 0:
                b["spec"]["serviceAccountName"] = f"moved-{i}"
            b["spec"]["awsRoleArn"] = ROLE.replace("my-data-uploader", f"moved-{i}")
            api.request("PUT", f"/apis/gtoken.io/v1alpha1/namespaces/{ns}/awsrolebindings/b{i}",
                        b)
        deleted = rnd.sample([i for i in range(N) if i not in moved], 10)
        for i in deleted:
            api.delete_binding(ns, f"b{i}")

        google.clear_faults()
        op = start_operator(cp, google, "--workers=4", name="operator-3").start()
        wait_all_ready(api, ns, N - len(deleted), timeout=150, op=op)
        eventually(lambda: all(api.binding(ns, f"b{i}") is None for i in deleted), 60,
                   what="deleted bindings gone")
        _check_no_orphans(api, google, ns, gsas)
        for g in gsas:
            assert f"serviceAccount:{PROJECT}.svc.id.goog[other/keep]" in wi_members(google, g)
        # pre-existing ServiceAccounts kept their own annotation throughout
        for sa in api.service_accounts(ns):
            if sa["metadata"]["name"].startswith("pre-"):
                assert sa["metadata"]["annotations"]["keep"] == "me"

        # and a clean delete of everything leaves nothing behind
        for b in api.bindings(ns):
            api.delete_binding(ns, b["metadata"]["name"])
        eventually(lambda: api.bindings(ns) == [], 120, interval=1, what="all deleted")
        for g in gsas:
            assert wi_members(google, g) == [f"serviceAccount:{PROJECT}.svc.id.goog[other/keep]"]
        left = sorted(sa["metadata"]["name"] for sa in api.service_accounts(ns)
                      if sa["metadata"]["name"] != "default")
        assert left == sorted(f"pre-{i}" for i in range(0, N, 2))
        assert all(gtoken_annotations(sa) == {} for sa in api.service_accounts(ns))
    finally:
        op.stop()
