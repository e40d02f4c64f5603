"""The whole gtoken story on this machine, step by step (run through
scripts/sandbox.sh, which installs and builds what this needs).

A real kube-apiserver + etcd, the Google and AWS STS stand-ins,
gtoken-operator (controller + webhook with its own certificates), the CRD
and webhook configuration, the sample AwsRoleBinding, a pod under its
ServiceAccount, the agent run as that pod's sidecar would, and boto3 calling
STS with exactly the injected environment.

    scripts/sandbox.sh            run, print a summary, clean up
    scripts/sandbox.sh --keep     leave everything running and say how to reach it
    scripts/sandbox.sh --stop     stop what a --keep run left running
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

from cluster import BUILD, ControlPlane, Operator, eventually, free_port  # noqa: E402
from standins.harness import GoogleStandin, StsStandin  # noqa: E402

RUN = os.path.join(REPO, ".run", "sandbox")
STATE = os.path.join(RUN, "state.json")
NS = "jobs"
KSA = "orchestrator"
BINDING = "uploader"
PROJECT = "my-project"
COLOR = sys.stdout.isatty()


def say(kind: str, text: str):
    marks = {"step": "==>", "ok": " ok", "fail": "!!!", "info": "   "}
    colors = {"step": "1;34", "ok": "32", "fail": "1;31", "info": "0"}
    mark = marks[kind]
    if COLOR:
        mark = f"\033[{colors[kind]}m{mark}\033[0m"
    print(f"{mark} {text}", flush=True)


def kill_pids(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    time.sleep(0.5)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def stop_previous():
    if not os.path.exists(STATE):
        return False
    with open(STATE) as f:
        state = json.load(f)
    kill_pids(state.get("pids", []))
    if state.get("node_dir"):
        subprocess.run([os.path.join(REPO, "tests", "node", "node.sh"), "stop",
                        state["node_dir"]], capture_output=True)
    else:
        subprocess.run([os.path.join(REPO, "tests", "controlplane", "cp.sh"), "stop",
                        state["cp_dir"]], capture_output=True)
    try:
        os.remove(STATE)
    except FileNotFoundError:
        pass  # another run's --stop removed it meanwhile
    return True


class Sandbox:
    def __init__(self, keep: bool):
        self.keep = keep
        self.results: list[tuple[str, bool, str]] = []
        self.cp = ControlPlane("sandbox")
        self.google = GoogleStandin(project=PROJECT, in_process=False,
                                    state_dir=os.path.join(RUN, "google"),
                                    log_path=os.path.join(RUN, "google.log"))
        self.sts = None
        self.operator = None
        self.agent = None

    def step(self, title: str, fn):
        say("step", title)
        start = time.monotonic()
        try:
            detail = fn() or ""
            self.results.append((title, True, detail))
            say("ok", f"{detail} ({time.monotonic() - start:.1f}s)" if detail else
                f"done ({time.monotonic() - start:.1f}s)")
            return True
        except Exception as e:  # noqa: BLE001 - reported in the summary
            self.results.append((title, False, str(e)))
            say("fail", str(e))
            if os.environ.get("GTOKEN_SANDBOX_DEBUG"):
                traceback.print_exc()
            return False

    # -- steps -------------------------------------------------------------

    def start_control_plane(self):
        self.cp.start()
        version = json.loads(self.cp.kubectl("version", "-o", "json"))["serverVersion"]["gitVersion"]
        return f"kube-apiserver {version} at {self.cp.kubectl('config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}')}"

    def start_standins(self):
        os.makedirs(RUN, exist_ok=True)
        self.google.start()
        self.google.create_sa("gtoken-operator")
        self.google.config(instance_sa=f"gtoken-operator@{PROJECT}.iam.gserviceaccount.com")
        self.gsa = self.google.create_sa("uploader")
        self.sts = StsStandin(jwks_url=self.google.jwks_url, in_process=False,
                              state_dir=os.path.join(RUN, "sts"),
                              log_path=os.path.join(RUN, "sts.log"))
        self.sts.start()
        return (f"Google (metadata, IAM, OAuth) at {self.google.url}; "
                f"AWS STS at {self.sts.url}; GSA {self.gsa['email']} "
                f"uniqueId {self.gsa['uniqueId']}")

    def install(self):
        self.cp.install_crds()
        self.webhook_port = free_port()
        self.cp.kubectl("create", "namespace", "gtoken-system")
        # The webhook configuration as installed on a cluster, switched to URL
        # mode: this apiserver reaches the operator on loopback, not a Service.
        self.cp.kubectl("apply", "-f", os.path.join(REPO, "config", "webhook",
                                                    "mutatingwebhookconfiguration.yaml"))
        self.cp.kubectl("patch", "mutatingwebhookconfiguration", "gtoken-webhook", "--type=json",
                        "-p", json.dumps([{"op": "replace", "path": "/webhooks/0/clientConfig",
                                           "value": {"url": f"https://127.0.0.1:{self.webhook_port}/mutate"}}]))
        return ("CRD awsrolebindings.gtoken.io; MutatingWebhookConfiguration gtoken-webhook "
                f"-> https://127.0.0.1:{self.webhook_port}/mutate (caBundle left to the operator)")

    def start_operator(self):
        args = ["--namespace", "gtoken-system", "--leader-elect=false",
                "--webhook-port", str(self.webhook_port), "--webhook-bind-address", "127.0.0.1",
                "--webhook-extra-ip", "127.0.0.1",
                "--agent-image", "gtoken:dev"]
        self.operator = Operator(self.cp, self.google, args=args, name="gtoken-operator")
        self.operator.log_path = os.path.join(RUN, "operator.log")
        self.operator.start()

        def ready():
            if not self.operator.alive():
                raise RuntimeError("gtoken-operator exited:\n" + self.operator.logs()[-2000:])
            cfg = self.cp.get("mutatingwebhookconfiguration", "gtoken-webhook")
            return cfg and cfg["webhooks"][0]["clientConfig"].get("caBundle")
        eventually(ready, 60, what="the operator to publish its CA in caBundle")

        def serving():
            # /readyz: SA cache synced, certificate loaded, its CA in caBundle.
            import ssl
            import urllib.request
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            url = f"https://127.0.0.1:{self.webhook_port}/readyz"
            with urllib.request.urlopen(url, context=ctx, timeout=2) as r:
                return r.status == 200
        eventually(serving, 60, what="the webhook's /readyz\n" + self.operator.logs()[-2000:])
        return f"controller + webhook on https://127.0.0.1:{self.webhook_port}, log {self.operator.log_path}"

    def apply_policy(self):
        path = os.path.join(REPO, "config", "samples", "awsrolebindingpolicy.yaml")
        self.cp.kubectl("apply", "-f", path)
        spec = self.cp.get("awsrolebindingpolicy", "jobs")["spec"]
        return (f"AwsRoleBindingPolicy jobs: namespaces {spec['namespaces']['names']} may bind "
                f"{spec['gcpServiceAccounts']} to roles of {spec['awsRoles']} (nothing else is allowed)")

    def refuse_other_namespace(self):
        """A binding of the same GSA from a namespace no policy names."""
        self.cp.kubectl("create", "namespace", "evil")
        thief = {"apiVersion": "gtoken.io/v1alpha1", "kind": "AwsRoleBinding",
                 "metadata": {"name": "thief", "namespace": "evil"},
                 "spec": {"serviceAccountName": "thief", "gcpServiceAccount": self.gsa["email"],
                          "awsRoleArn": "arn:aws:iam::123456789012:role/my-data-uploader"}}
        try:
            self.cp.apply(thief)
        except Exception as e:  # noqa: BLE001 - the validating webhook refused it
            if "NotAllowed" not in str(e):
                raise
            return "refused at admission: " + str(e).strip().splitlines()[-1][:300]

        def refused():
            b = self.cp.get("awsrolebinding", "thief", "evil")
            conds = {c["type"]: c for c in b.get("status", {}).get("conditions", [])}
            r = conds.get("Ready")
            return r if r and r["reason"] == "NotAllowed" else None
        r = eventually(refused, 60, what="the binding in namespace evil to be NotAllowed")
        member = f"serviceAccount:{PROJECT}.svc.id.goog[evil/thief]"
        if any(member in b["members"] for b in self.google.policy(self.gsa["email"]).get("bindings", [])):
            raise RuntimeError(f"{member} was granted on the GSA")
        return f"evil/thief: Ready=False NotAllowed: {r['message']}"

    def apply_binding(self):
        self.cp.kubectl("create", "namespace", NS)
        self.cp.kubectl("apply", "-f", os.path.join(REPO, "config", "samples", "awsrolebinding.yaml"))

        def is_ready():
            b = self.cp.get("awsrolebinding", BINDING, NS)
            conds = {c["type"]: c for c in b.get("status", {}).get("conditions", [])}
            r = conds.get("Ready")
            return b if r and r["status"] == "True" else None
        b = eventually(is_ready, 60, what="the binding to become Ready")
        self.trust_policy = json.loads(b["status"]["awsTrustPolicy"])
        print(self.cp.kubectl("get", "arb", "-n", NS), end="")
        print("    AWS trust policy to attach to the role (status.awsTrustPolicy):")
        for line in json.dumps(self.trust_policy, indent=2).splitlines():
            print("      " + line)
        sa = self.cp.get("serviceaccount", KSA, NS)
        ann = sa["metadata"]["annotations"]
        member = f"serviceAccount:{PROJECT}.svc.id.goog[{NS}/{KSA}]"
        members = [m for b in self.google.policy(self.gsa["email"]).get("bindings", [])
                   if b["role"] == "roles/iam.workloadIdentityUser" for m in b["members"]]
        if member not in members:
            raise RuntimeError(f"{member} is not in the GSA's IAM policy")
        return (f"ServiceAccount {KSA}: iam.gke.io/gcp-service-account={ann['iam.gke.io/gcp-service-account']}; "
                f"IAM member {member}")

    def create_pod(self):
        role = self.cp.get("awsrolebinding", BINDING, NS)["spec"]["awsRoleArn"]
        self.sts.add_role(role, self.trust_policy)
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"generateName": "uploader-", "namespace": NS},
               "spec": {"serviceAccountName": KSA, "restartPolicy": "Never",
                        "containers": [{"name": "app", "image": "python:3.11",
                                        "command": ["python", "-c", "import boto3"]}]}}
        out = self.cp.kubectl("create", "-f", "-", "-o", "json", input=json.dumps(pod))
        self.pod = json.loads(out)
        spec = self.pod["spec"]
        agent = next(c for c in spec.get("initContainers", []) if c["name"] == "gtoken")
        app = next(c for c in spec["containers"] if c["name"] == "app")
        print("    mutated pod (as stored by the apiserver):")
        print("      volumes: " + json.dumps(spec.get("volumes", [])))
        print("      agent:   " + json.dumps({k: agent[k] for k in ("name", "image", "command", "args", "restartPolicy") if k in agent}))
        print("      app env: " + json.dumps(app.get("env", [])))
        print("      app mounts: " + json.dumps(app.get("volumeMounts", [])))
        self.agent_spec = agent
        self.app_spec = app
        return f"pod {self.pod['metadata']['name']} injected"

    def run_agent(self):
        mount = next(m for m in self.app_spec["volumeMounts"]
                     if m["mountPath"].startswith("/var/run/secrets/aws"))["mountPath"]
        local = os.path.join(RUN, "token")
        shutil.rmtree(local, ignore_errors=True)
        os.makedirs(local)
        self.token_dir = (mount, local)
        cmd = [os.path.join(BUILD, "agent", "gtoken")] + \
            [a.replace(mount, local) for a in
             self.agent_spec.get("command", [])[1:] + self.agent_spec.get("args", [])]
        listener = self.google.add_listener(f"{NS}/{KSA}")
        env = dict(os.environ, GCE_METADATA_HOST=f"127.0.0.1:{listener['port']}")
        self.agent_log = open(os.path.join(RUN, "agent.log"), "w")
        self.agent = subprocess.Popen(cmd, env=env, stdout=self.agent_log, stderr=subprocess.STDOUT)
        token_file = os.path.join(local, "gtoken")
        eventually(lambda: os.path.exists(token_file) and os.path.getsize(token_file) > 0, 30,
                   what="the agent to write the first token")
        probe = subprocess.run([cmd[0], "probe", f"--file={token_file}"], capture_output=True)
        if probe.returncode != 0:
            raise RuntimeError("gtoken probe failed on the written token")
        return f"{' '.join(cmd[1:])}: token written ({os.path.getsize(token_file)} bytes), probe passes"

    def call_sts(self):
        env = {"PATH": os.environ.get("PATH", ""), "HOME": RUN,
               "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null",
               "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
               "AWS_ENDPOINT_URL_STS": self.sts.url}
        for e in self.app_spec.get("env", []):
            if "value" in e:
                env[e["name"]] = e["value"]
        # The downward API fills $(GTOKEN_POD_NAME) in the kubelet; do it here.
        pod_name = self.pod["metadata"]["name"]
        for k, v in list(env.items()):
            env[k] = v.replace("$(GTOKEN_POD_NAME)", pod_name)
        mount, local = self.token_dir
        env["AWS_WEB_IDENTITY_TOKEN_FILE"] = env["AWS_WEB_IDENTITY_TOKEN_FILE"].replace(mount, local)
        code = ("import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])")
        p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 0:
            raise RuntimeError(p.stderr.strip().splitlines()[-1] if p.stderr else "boto3 failed")
        arn = p.stdout.strip()
        if f"/{NS}.{pod_name}" not in arn:
            raise RuntimeError(f"unexpected identity {arn}")
        shown = {k: env[k] for k in sorted(env) if k.startswith("AWS_")}
        print("    environment: " + json.dumps(shown))
        return f"boto3 sts.get_caller_identity() -> {arn}"

    # -- run ---------------------------------------------------------------

    def steps(self) -> list:
        return [("start kube-apiserver + etcd (built from source, cached)", self.start_control_plane),
                 ("start the Google and AWS STS stand-ins", self.start_standins),
                 ("install the CRD and the webhook configuration", self.install),
                 ("start gtoken-operator (controller + webhook, self-made certificates)", self.start_operator),
                 ("apply config/samples/awsrolebindingpolicy.yaml (deny by default)", self.apply_policy),
                 ("apply config/samples/awsrolebinding.yaml", self.apply_binding),
                 ("a binding of the same GSA from namespace evil is refused", self.refuse_other_namespace),
                 ("create a pod under ServiceAccount orchestrator", self.create_pod),
                 ("run the gtoken agent as the pod's sidecar would", self.run_agent),
                 ("call AWS STS with boto3 and the injected environment", self.call_sts)]

    def keep_text(self) -> str:
        return (f"\nEverything keeps running. Try:\n"
                f"  export KUBECONFIG={self.cp.kubeconfig}\n"
                f"  export PATH={self.cp.bin}:$PATH\n"
                f"  kubectl get arb -A\n"
                f"  kubectl edit arb {BINDING} -n {NS}\n"
                f"  kubectl delete arb {BINDING} -n {NS}   # and watch the cleanup\n"
                f"Google stand-in {self.google.url} (admin: {self.google.url}/_admin/state), "
                f"STS stand-in {self.sts.url if self.sts else '-'}\n"
                f"Operator log: {os.path.join(RUN, 'operator.log')}\n"
                f"Stop it all: scripts/sandbox.sh --stop")

    def run(self) -> int:
        steps = self.steps()
        for title, fn in steps:
            if not self.step(title, fn):
                break
        print()
        say("info", "summary:")
        for title, ok, _ in self.results:
            say("ok" if ok else "fail", title)
        for title, _ in steps[len(self.results):]:
            say("info", f"(not run) {title}")
        passed = len(self.results) == len(steps) and all(ok for _, ok, _ in self.results)
        print(f"{sum(ok for _, ok, _ in self.results)} passed, "
              f"{sum(not ok for _, ok, _ in self.results)} failed")
        if self.keep:
            self.save_state()
            print(self.keep_text())
        else:
            self.cleanup()
        return 0 if passed else 1

    def save_state(self):
        pids = [p.pid for p in (self.agent, self.operator.proc if self.operator else None) if p]
        for s in (self.google, self.sts):
            if s is not None and getattr(s, "proc", None) is not None:
                pids.append(s.proc.pid)
        with open(STATE, "w") as f:
            json.dump({"pids": pids, "cp_dir": self.cp.dir}, f)

    def cleanup(self):
        if self.agent is not None:
            self.agent.terminate()
            self.agent.wait(10)
        if self.operator is not None:
            self.operator.stop()
        for s in (self.sts, self.google):
            if s is not None:
                s.stop()
        self.cp.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", action="store_true", help="leave everything running")
    ap.add_argument("--stop", action="store_true", help="stop what a --keep run left running")
    ap.add_argument("--host-processes", action="store_true",
                    help="the story without a node: the agent and boto3 as host processes")
    a = ap.parse_args()
    os.makedirs(RUN, exist_ok=True)
    if a.stop:
        print("stopped" if stop_previous() else "nothing was running")
        return 0
    stop_previous()
    if not a.host_processes:
        why = node_unavailable()
        if why is None:
            from sandbox_node import NodeSandbox
            return NodeSandbox(a.keep).run()
        say("info", f"this machine cannot run the real node ({why}):")
        say("info", "running the story with the agent and boto3 as host processes instead")
    return Sandbox(a.keep).run()


def node_unavailable() -> str | None:
    """Why tests/node/node.sh cannot run here (None: it can)."""
    p = subprocess.run([os.path.join(REPO, "tests", "node", "node.sh"), "check",
                        os.path.join(RUN, "node")], capture_output=True, text=True)
    if p.returncode == 0:
        return None
    lines = [ln for ln in p.stderr.strip().splitlines() if ln]
    return lines[-1].replace("[node] error: ", "") if lines else f"node.sh check exited {p.returncode}"


if __name__ == "__main__":
    sys.exit(main())
