"""deploy/kubernetes: schema-valid manifests (kubernetes-validate ships the Kubernetes schemas,
so this works offline) describing one trainer (single writer) and read-only replicas."""

import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML comes with requirements-dev.lock (make test installs it)")
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
MANIFESTS = sorted(p for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")


def docs():
    return [d for p in MANIFESTS for d in yaml.safe_load_all(p.read_text()) if d]


def by_kind_name(kind, name):
    (doc,) = [d for d in docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def test_manifests_validate_strictly():
    exe = Path(sys.executable).parent / "kubernetes-validate"
    if not exe.exists():
        pytest.skip("kubernetes-validate comes with requirements-dev.lock (make test installs it)")
    r = subprocess.run([str(exe), "--strict", *map(str, MANIFESTS)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_kustomization_lists_every_manifest():
    k = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert sorted(k["resources"]) == sorted(p.name for p in MANIFESTS)


def test_single_trainer_and_read_only_replicas():
    trainer = by_kind_name("Deployment", "ganhost-trainer")["spec"]
    assert trainer["replicas"] == 1 and trainer["strategy"]["type"] == "Recreate"
    replicas = by_kind_name("Deployment", "ganhost")["spec"]["template"]["spec"]
    (c,) = replicas["containers"]
    assert "-replica" in c["args"]
    assert all(m.get("readOnly") for m in c["volumeMounts"])
    for dep in ("ganhost", "ganhost-trainer"):
        (c,) = by_kind_name("Deployment", dep)["spec"]["template"]["spec"]["containers"]
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    hpa = by_kind_name("HorizontalPodAutoscaler", "ganhost")["spec"]
    assert hpa["scaleTargetRef"]["name"] == "ganhost"
