#!/usr/bin/python3
"""Offline check of scripts/k8s/fp-sim-campaign.yaml (it was never applied to a cluster).

  check_k8s_manifest.py FP_SIM MANIFEST

Parses the manifest (python3-yaml), takes the coordinator's and the hosts' container command
lines apart and checks them against the real fp-sim: every option is one that
`fp-sim run --help` / `fp-sim host --help` lists, the required ones are there, and the
pieces agree (host counts and completions, workers and CPU requests, the Service's port and
the endpoints, the shared run folder, the key and endpoint files the coordinator writes).
Exit 77 (CTest: skipped) without python3-yaml, except under CI=true (a failure).
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    if os.environ.get("CI") == "true":
        print("FAIL: CI=true but python3-yaml is missing (scripts/setup installs it)")
        sys.exit(1)
    print("SKIPPED: python3-yaml is missing (scripts/setup installs it)")
    sys.exit(77)

FAILURES = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILURES.append(what)


def help_options(fp_sim, command):
    """The long options `fp-sim COMMAND --help` lists, and the positional-free usage."""
    out = subprocess.run([fp_sim, command, "--help"], capture_output=True, text=True, check=True)
    return set(re.findall(r"(?m)^\s+(--[a-z][a-z0-9-]*)", out.stdout)), out.stdout


def options_of(argv):
    """{--option: value} of an fp-sim command line (every option here takes a value)."""
    opts, i = {}, 0
    while i < len(argv):
        if argv[i].startswith("--"):
            opts[argv[i]] = argv[i + 1] if i + 1 < len(argv) else None
            i += 2
        else:
            i += 1
    return opts


def main():
    fp_sim, manifest = sys.argv[1], sys.argv[2]
    with open(manifest) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    check(len(docs) == len(by_kind), f"{len(docs)} objects with distinct kinds/names")
    service = by_kind.get(("Service", "fp-coordinator"))
    coord_job = by_kind.get(("Job", "fp-sim-coordinator"))
    hosts_job = by_kind.get(("Job", "fp-sim-hosts"))
    claim = by_kind.get(("PersistentVolumeClaim", "fp-sim-runs"))
    check(None not in (service, coord_job, hosts_job, claim),
          "Service fp-coordinator, Jobs fp-sim-coordinator and fp-sim-hosts, claim fp-sim-runs")
    if FAILURES:
        return 1
    check("ReadWriteMany" in claim["spec"]["accessModes"], "the run volume is ReadWriteMany")

    run_opts_known, _ = help_options(fp_sim, "run")
    host_opts_known, host_help = help_options(fp_sim, "host")

    # The coordinator: a plain argv.
    coord_pod = coord_job["spec"]["template"]["spec"]
    coord = coord_pod["containers"][0]
    argv = coord["command"]
    check(argv[:2] == ["fp-sim", "run"], f"coordinator runs fp-sim run: {argv[:2]}")
    run_opts = options_of(argv[3:])
    unknown = sorted(set(run_opts) - run_opts_known)
    check(not unknown, f"coordinator options known to fp-sim run --help (unknown: {unknown})")
    check(run_opts.get("--mode") == "external", "coordinator --mode external")

    # The hosts: sh -c 'wait for the endpoint file; exec fp-sim host ...'.
    hosts_spec = hosts_job["spec"]
    host_pod = hosts_spec["template"]["spec"]
    host = host_pod["containers"][0]
    cmd = host["command"]
    check(cmd[:2] == ["sh", "-c"] and len(cmd) == 3, "host command is sh -c SCRIPT")
    script = cmd[2]
    check(subprocess.run(["sh", "-n", "-c", script]).returncode == 0, "host script parses (sh -n)")
    words = shlex.split(script.replace(";", " ; "))
    at = words.index("exec") if "exec" in words else -1
    check(at >= 0 and words[at + 1:at + 3] == ["fp-sim", "host"], "host script execs fp-sim host")
    # The wait is bounded (FP_SIM_WAIT): run up to the exec against an empty run folder with
    # a 2 s limit, then with the endpoint file there.
    env_names = {e["name"]: e.get("value") for e in host.get("env", [])}
    check(str(env_names.get("FP_SIM_WAIT", "")).isdigit(), "hosts get FP_SIM_WAIT, a number of seconds")
    wait_part = script[:script.index("exec fp-sim host")] + " echo waited-out-ok"
    with tempfile.TemporaryDirectory() as d:
        shell = ["sh", "-c", wait_part.replace("/runs/campaign", d)]
        env = dict(os.environ, FP_SIM_WAIT="2")
        p = subprocess.run(shell, env=env, capture_output=True, text=True, timeout=60)
        check(p.returncode == 1 and "coordinator.endpoint after 2 s" in p.stderr and
              "waited-out-ok" not in p.stdout, f"a host gives up after FP_SIM_WAIT: {p.returncode} {p.stderr}")
        with open(os.path.join(d, "coordinator.endpoint"), "w") as f:
            f.write("tcp://fp-coordinator:5555\n")
        p = subprocess.run(shell, env=env, capture_output=True, text=True, timeout=60)
        check(p.returncode == 0 and "waited-out-ok" in p.stdout, "a host goes on once the file is there")
    host_argv = words[at + 3:]
    host_opts = options_of(host_argv)
    unknown = sorted(set(host_opts) - host_opts_known)
    check(not unknown, f"host options known to fp-sim host --help (unknown: {unknown})")
    for required in ("--coordinator", "--scenario", "--key", "--coordinator-key"):
        check(required in host_opts, f"host passes {required}")

    # Counts agree: completions, parallelism, both --hosts; workers and CPUs.
    n = hosts_spec.get("completions")
    check(hosts_spec.get("completionMode") == "Indexed", "hosts Job is Indexed (JOB_COMPLETION_INDEX)")
    check("JOB_COMPLETION_INDEX" in host_help, "fp-sim host --help names JOB_COMPLETION_INDEX")
    check(hosts_spec.get("parallelism") == n, f"parallelism == completions == {n}")
    check(run_opts.get("--hosts") == str(n), f"coordinator --hosts {run_opts.get('--hosts')} == {n}")
    check(host_opts.get("--hosts") == str(n), f"host --hosts {host_opts.get('--hosts')} == {n}")
    cpus = str(host["resources"]["requests"]["cpu"])
    check(host_opts.get("--workers") == cpus, f"host --workers {host_opts.get('--workers')} == cpu {cpus}")
    check(run_opts.get("--workers") == host_opts.get("--workers"), "coordinator --workers == host --workers")

    # The network: endpoint port == containerPort == Service targetPort; hosts dial the Service.
    port = int(run_opts["--endpoint"].rsplit(":", 1)[1])
    svc_port = service["spec"]["ports"][0]
    check(run_opts["--endpoint"].startswith("tcp://0.0.0.0:"), "coordinator binds every interface")
    check(coord["ports"][0]["containerPort"] == port, f"containerPort == {port}")
    check(svc_port["targetPort"] == port, f"Service targetPort == {port}")
    check(service["spec"]["selector"].items() <= coord_job["spec"]["template"]["metadata"]["labels"].items(),
          "Service selects the coordinator pod")
    want = f"tcp://{service['metadata']['name']}:{svc_port['port']}"
    check(host_opts.get("--coordinator") == want, f"hosts dial {want}")

    # Files: the coordinator's scenario from the ConfigMap, the hosts' its copy in the run
    # folder (what the run decided before listening, e.g. best_classes' pick); run folder,
    # keys and endpoint file shared.
    def mounts(pod, container):
        vols = {v["name"]: v for v in pod["volumes"]}
        return {m["mountPath"]: vols[m["name"]] for m in container["volumeMounts"]}

    def source(mounted, path):
        for mount, vol in mounted.items():
            if path.startswith(mount.rstrip("/") + "/"):
                return vol
        return None

    cm, hm = mounts(coord_pod, coord), mounts(host_pod, host)
    scenario = argv[2]
    out = run_opts.get("--out", "")
    check("configMap" in (source(cm, scenario) or {}),
          f"coordinator: {scenario} comes from a ConfigMap")
    check(host_opts.get("--scenario") == f"{out}/scenario.toml",
          "hosts read the run folder's copy of the scenario, which fp-sim run writes")
    for path in (out, run_opts.get("--endpoint-file", ""), host_opts["--key"],
                 host_opts.get("--scenario", ""),
                 host_opts["--coordinator-key"], host_opts.get("--work-dir", "")):
        for name, mounted in (("coordinator", cm), ("host", hm)):
            vol = source(mounted, path) or {}
            check(vol.get("persistentVolumeClaim", {}).get("claimName") == "fp-sim-runs",
                  f"{name}: {path} is on the shared claim")
    check(host_opts["--coordinator-key"] == f"{out}/keys/coordinator.pub",
          "hosts read the coordinator's public key where fp-sim run writes it")
    check(host_opts["--key"] == f"{out}/keys/host-${{JOB_COMPLETION_INDEX}}",
          "each host uses its own enrolled key pair, keys/host-<index>")
    check(f"[ -s {run_opts['--endpoint-file']} ]" in script,
          "hosts wait for the coordinator's endpoint file")

    print(f"{len(FAILURES)} failure(s)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
