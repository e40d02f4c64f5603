"""The sandbox on a real node (scripts/sandbox.py picks it when the host can
run tests/node/node.sh): gtoken installed from config/default with its
images run by containerd, the sample policy and binding, and a Job of an
aws-sdk-go-v2 program that calls AWS STS from inside its container and
completes.

The operator gets AWS credentials of its own the way gtoken gives them to
pods (its GSA's ID token from the metadata server, AssumeRoleWithWebIdentity
into an administrator role) and, since the sample policy is switched to
`trustPolicy: Apply`, writes the role's trust policy itself: nobody pastes
status.awsTrustPolicy anywhere. A second binding, allowed by a policy
without Apply, is only verified.

The node runs in a network namespace of its own; the stand-ins run inside
it too (metadata at 169.254.169.254, as on GKE; STS at 10.200.0.1:8090, IAM
at 10.200.0.1:8091), as processes of their own so that --keep can leave
everything running.
"""

from __future__ import annotations

import json
import os
import sys

from sandbox import BINDING, BUILD, KSA, NS, PROJECT, REPO, RUN, STATE, Sandbox

sys.path.insert(0, os.path.join(REPO, "tests", "node"))

from cluster import eventually  # noqa: E402
from nodeutil import (NODE_IP, OPERATOR_NS, STS_PORT, Node, build_gtoken_images,  # noqa: E402
                      install_gtoken, operator_pods, wait_rollout, write_overlay)
from standins.harness import (GoogleStandin, StsStandin, google_trust_policy,  # noqa: E402
                              iam_admin_policy)

OPERATOR_GSA = f"gtoken-operator@{PROJECT}.iam.gserviceaccount.com"
IAM_PORT = 8091
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/my-data-uploader"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/gtoken-admin"
OPERATOR_AUDIENCE = "gtoken-operator/aws"
# What the role holds before gtoken comes: someone else's statement, which
# must stay as it is.
ROLE_BEFORE = ('{"Version": "2012-10-17", "Statement": [{"Sid": "BreakGlass", "Effect": "Allow", '
               '"Principal": {"AWS": "arn:aws:iam::' + ACCOUNT + ':root"}, '
               '"Action": "sts:AssumeRole"}]}')
# docs/reference.md's identity policy of the operator's AWS role, plus the
# sample's role (outside /gtoken/) it may write here.
ADMIN_POLICY = iam_admin_policy(ACCOUNT) + [
    {"Effect": "Allow", "Action": "iam:UpdateAssumeRolePolicy", "Resource": ROLE}]
REPORTS_NS = "reports"
WORKLOAD_IMAGE = "gtoken.local/gosdk:1"
JOB = "uploader-call"
POD = "uploader-doctor"


class NodeSandbox(Sandbox):
    def __init__(self, keep: bool):
        super().__init__(keep)
        self.cp = Node("sandbox-node", dir=os.path.join(RUN, "node"), owned=not keep)

    def steps(self) -> list:
        return [("build the gtoken images (images/build.sh) and start a real node in a network "
                 "namespace of its own", self.start_node),
                ("start the Google (metadata at 169.254.169.254) and AWS STS + IAM stand-ins in "
                 "the node", self.start_standins),
                ("install gtoken: kubectl apply -k config/default (+ a local overlay; the "
                 "operator's AWS access through its own GSA)", self.install),
                ("apply config/samples/awsrolebindingpolicy.yaml (deny by default), with "
                 "trustPolicy: Apply", self.apply_policy),
                ("apply config/samples/awsrolebinding.yaml: gtoken writes the role's trust "
                 "policy", self.apply_binding),
                ("a binding allowed by a policy without Apply is only verified",
                 self.verify_only),
                ("a binding of the same GSA from namespace evil is refused", self.refuse_other_namespace),
                ("run a Job of an aws-sdk-go-v2 program as ServiceAccount orchestrator",
                 self.run_job),
                ("kubectl gtoken doctor pod --sts on a running pod of that ServiceAccount",
                 self.doctor)]

    def start_node(self):
        archives = build_gtoken_images(os.path.join(RUN, "images"))
        self.cp.start()
        self.cp.import_images(list(archives.values()))
        info = json.loads(self.cp.kubectl("get", "node", "gtoken-node", "-o", "json"))["status"]["nodeInfo"]
        return (f"node gtoken-node (kubelet {info['kubeletVersion']}, "
                f"{info['containerRuntimeVersion']}) in netns {self.cp.netns}; images "
                + ", ".join(sorted(archives)))

    def start_standins(self):
        self.google = GoogleStandin(
            project=PROJECT, in_process=False, state_dir=os.path.join(RUN, "google"),
            log_path=os.path.join(RUN, "google.log"),
            extra_args=["--host", "0.0.0.0", "--port", "80",
                        "--pod-identity-kubeconfig", self.cp.kubeconfig])
        self.google.start()
        self.google.create_sa("gtoken-operator")
        self.google.bind_workload(OPERATOR_GSA, f"{OPERATOR_NS}/gtoken-operator")
        self.google.config(iam_callers=[OPERATOR_GSA])
        self.gsa = self.google.create_sa("uploader")
        # iam=True starts IAM beside STS; the fixed --iam-port given after its
        # own "--iam-port 0" wins, so the overlay can name it.
        self.sts = StsStandin(jwks_url="http://127.0.0.1:80/oauth2/v3/certs", in_process=False,
                              iam=True, state_dir=os.path.join(RUN, "sts"),
                              log_path=os.path.join(RUN, "sts.log"),
                              extra_args=["--host", "0.0.0.0", "--port", str(STS_PORT),
                                          "--iam-port", str(IAM_PORT)])
        self.sts.start()
        op_uid = self.google.sa(OPERATOR_GSA)["uniqueId"]
        self.sts.add_role(ADMIN_ROLE, google_trust_policy(op_uid, oaud=OPERATOR_AUDIENCE))
        self.sts.iam.allow(ADMIN_ROLE, ADMIN_POLICY)
        self.sts.add_role(ROLE, ROLE_BEFORE)
        return (f"metadata and Google IAM at 169.254.169.254:80 / {NODE_IP}:80 (pods known by "
                f"their IP); STS at {NODE_IP}:{STS_PORT}, AWS IAM at {NODE_IP}:{IAM_PORT}; GSA "
                f"{self.gsa['email']}; AWS role {ROLE} holds only someone else's statement")

    def role_policy(self) -> str:
        for r in self.sts.admin("GET", "/roles")["roles"]:
            if r["arn"] == ROLE:
                return r["trust_policy_text"]
        raise RuntimeError(f"no role {ROLE}")

    def apply_policy(self):
        said = super().apply_policy()
        self.cp.kubectl("patch", "awsrolebindingpolicy", "jobs", "--type=merge",
                        "-p", '{"spec":{"trustPolicy":"Apply"}}')
        print("    the role's trust policy before: " + self.role_policy())
        return said + "; trustPolicy: Apply (gtoken may write the roles it allows)"

    def trust_condition(self, ns: str, name: str, want) -> dict:
        def check():
            b = self.cp.get("awsrolebinding", name, ns) or {}
            for c in b.get("status", {}).get("conditions", []):
                if c["type"] == "TrustPolicyVerified" and want(c):
                    return c
            return None
        return eventually(check, 90, what=f"{ns}/{name} TrustPolicyVerified")

    def apply_binding(self):
        said = super().apply_binding()
        c = self.trust_condition(NS, BINDING, lambda c: c["status"] == "True")
        after = self.role_policy()
        print("    the role's trust policy after gtoken wrote it:")
        for line in json.dumps(json.loads(after), indent=2).splitlines():
            print("      " + line)
        if "BreakGlass" not in after:
            raise RuntimeError("gtoken lost the role's other statement")
        return said + f"; TrustPolicyVerified={c['status']} {c['reason']}"

    def verify_only(self):
        self.cp.kubectl("create", "namespace", REPORTS_NS)
        reporter = self.google.create_sa("reporter")
        self.cp.apply({"apiVersion": "gtoken.io/v1alpha1", "kind": "AwsRoleBindingPolicy",
                       "metadata": {"name": REPORTS_NS},
                       "spec": {"namespaces": {"names": [REPORTS_NS]},
                                "gcpServiceAccounts": [reporter["email"]], "awsRoles": [ROLE]}})
        self.cp.apply({"apiVersion": "gtoken.io/v1alpha1", "kind": "AwsRoleBinding",
                       "metadata": {"name": "reporter", "namespace": REPORTS_NS},
                       "spec": {"serviceAccountName": "reporter",
                                "gcpServiceAccount": reporter["email"], "awsRoleArn": ROLE}})
        before = self.role_policy()
        c = self.trust_condition(REPORTS_NS, "reporter", lambda c: c["status"] == "False")
        if self.role_policy() != before or reporter["uniqueId"] in before:
            raise RuntimeError("gtoken wrote the role for a binding without Apply")
        return f"{REPORTS_NS}/reporter: TrustPolicyVerified=False {c['reason']}: {c['message'][:240]}"

    def install(self):
        aws = [f"--aws-role-arn={ADMIN_ROLE}", f"--aws-audience={OPERATOR_AUDIENCE}",
               f"--aws-sts-endpoint=http://{NODE_IP}:{STS_PORT}",
               f"--aws-iam-endpoint=http://{NODE_IP}:{IAM_PORT}", "--aws-trust-policy=apply"]
        install_gtoken(self.cp, write_overlay(self.cp, PROJECT, OPERATOR_GSA, args=aws))
        wait_rollout(self.cp)
        names = sorted(p["metadata"]["name"] for p in operator_pods(self.cp))
        leader = eventually(lambda: (self.cp.get("lease", "gtoken-operator", OPERATOR_NS) or {})
                            .get("spec", {}).get("holderIdentity"), 60, what="a leader")
        print(self.cp.kubectl("get", "pods", "-n", OPERATOR_NS, "-o", "wide"), end="")
        return f"{len(names)} replicas Ready, leader {leader}; webhook through Service gtoken-webhook"

    @staticmethod
    def workload(args: list) -> dict:
        return {"name": "app", "image": WORKLOAD_IMAGE, "imagePullPolicy": "Never", "args": args,
                # Where the stand-in STS is: the one thing a user would not set.
                "env": [{"name": "AWS_ENDPOINT_URL_STS", "value": f"http://{NODE_IP}:{STS_PORT}"}],
                "securityContext": {"runAsUser": 1000, "runAsNonRoot": True,
                                    "readOnlyRootFilesystem": True,
                                    "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]}}}

    def run_job(self):
        # Nobody attaches the trust policy: gtoken wrote it (apply_binding).
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": JOB, "namespace": NS},
               "spec": {"backoffLimit": 0, "template": {"spec": {
                   "serviceAccountName": KSA, "restartPolicy": "Never",
                   "containers": [self.workload(["-n", "1"])]}}}}
        self.cp.apply(job)
        self.cp.kubectl("wait", "--for=condition=Complete", f"job/{JOB}", "-n", NS,
                        "--timeout=180s", timeout=190)
        pod = json.loads(self.cp.kubectl("get", "pods", "-n", NS, "-l", f"job-name={JOB}",
                                         "-o", "json"))["items"][0]
        inits = [c["name"] for c in pod["spec"].get("initContainers", [])]
        print(f"    pod {pod['metadata']['name']}: init containers {inits} "
              f"(gtoken: a native sidecar), phase {pod['status']['phase']}")
        line = self.cp.kubectl("logs", "-n", NS, pod["metadata"]["name"], "-c", "app").strip()
        print("    its log: " + line)
        got = json.loads(line.splitlines()[-1])
        if not got.get("ok"):
            raise RuntimeError(f"the SDK call failed: {got}")
        return f"Job {JOB} completed; aws-sdk-go-v2 sts:GetCallerIdentity -> {got['arn']}"

    def doctor(self):
        """The plugin walks the chain of a running pod with the caller's (here
        the admin) kubeconfig, reading the token's claims inside the pod
        through kubectl exec of the agent's probe --claims."""
        self.cp.apply({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": POD, "namespace": NS},
                       "spec": {"serviceAccountName": KSA, "restartPolicy": "Never",
                                "containers": [self.workload(["-n", "100000", "-interval", "30s"])]}})
        self.cp.kubectl("wait", "--for=condition=Ready", f"pod/{POD}", "-n", NS, "--timeout=180s",
                        timeout=190)
        plugin = os.path.join(BUILD, "plugin", "kubectl-gtoken")
        # --sts: also a real AssumeRoleWithWebIdentity from inside the pod, at
        # the STS the app container's env names (the stand-in).
        p = self.cp.node_sh("exec", self.cp.dir, plugin, "doctor", "pod", POD, "-n", NS, "--sts",
                            capture_output=True, check=False, timeout=120)
        lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
        for ln in lines:
            print("    " + ln)
        if p.returncode != 0:
            raise RuntimeError(f"kubectl gtoken doctor pod {POD}: exit {p.returncode}: "
                               + (p.stderr.strip()[-500:] or "a link is broken"))
        return f"kubectl gtoken doctor pod {POD} --sts: every link holds (exit 0)"

    def keep_text(self) -> str:
        node_sh = os.path.relpath(os.path.join(REPO, "tests", "node", "node.sh"))
        d = os.path.relpath(self.cp.dir)
        return (f"\nEverything keeps running, inside network namespace {self.cp.netns}. Try:\n"
                f"  {node_sh} exec {d} kubectl get pods -A -o wide\n"
                f"  {node_sh} exec {d} kubectl logs -n {NS} job/{JOB} -c app\n"
                f"  {node_sh} exec {d} kubectl logs -n {NS} job/{JOB} -c gtoken\n"
                f"  {node_sh} exec {d} {os.path.relpath(os.path.join(BUILD, 'plugin'))}/kubectl-gtoken "
                f"doctor pod {POD} -n {NS} --sts\n"
                f"  {node_sh} exec {d} kubectl logs -n {OPERATOR_NS} deploy/gtoken-operator\n"
                f"  {node_sh} exec {d} kubectl delete arb {BINDING} -n {NS}   # and watch the cleanup\n"
                f"  {node_sh} exec {d} bash     # a shell in the node, KUBECONFIG set\n"
                f"Node logs: {d}/*.log (kubelet, containerd, ...); pod logs: {d}/pod-logs\n"
                f"Stand-in logs: {os.path.relpath(RUN)}/google.log, sts.log\n"
                f"Stop it all: scripts/sandbox.sh --stop")

    def save_state(self):
        pids = [s.proc.pid for s in (self.google, self.sts)
                if s is not None and getattr(s, "proc", None) is not None]
        with open(STATE, "w") as f:
            json.dump({"pids": pids, "node_dir": self.cp.dir}, f)

    def cleanup(self):
        for s in (self.sts, self.google):
            if s is not None:
                s.stop()
        self.cp.stop()
