"""The Dockerfile must only use what the repository provides: Makefile targets that exist and
files that are in git. No Docker engine runs here, so this and hadolint (make lint-docker) are
the checks we can make; the image itself is not built in CI."""

import re
import shlex
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def instructions(kind: str) -> list[str]:
    """Arguments of every `kind` instruction, with line continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in text.splitlines() if line.strip().upper().startswith(kind + " ")]


def make_targets_in_run_lines() -> list[str]:
    targets = []
    for run in instructions("RUN"):
        for cmd in re.split(r"&&|;", run):
            words = shlex.split(cmd)
            if words and words[0] == "make":
                targets += [w for w in words[1:] if "=" not in w and not w.startswith("-")]
    return targets


def test_run_lines_use_existing_make_targets():
    targets = make_targets_in_run_lines()
    assert {"venv", "data", "bundle"} <= set(targets), targets
    for t in targets:
        # `make -n` fails with "No rule to make target" for a target the Makefile lacks.
        r = subprocess.run(["make", "-n", t], cwd=REPO, capture_output=True, text=True)
        assert r.returncode == 0, f"Dockerfile runs `make {t}`: {r.stderr}"


def test_copy_sources_exist_in_git():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, check=True, capture_output=True, text=True).stdout.split()
    for copy in instructions("COPY"):
        args = [a for a in shlex.split(copy) if not a.startswith("--")]
        if re.search(r"--from=", copy):
            continue
        for src in args[:-1]:
            src = src.rstrip("/")
            assert any(f == src or f.startswith(src + "/") for f in tracked), f"COPY {src}: not in git"


def test_image_is_safe_by_default():
    assert re.search(r"^USER 10001$", DOCKERFILE, re.M), "the runtime must not run as root"
    assert "HEALTHCHECK" in DOCKERFILE and "/healthz" in DOCKERFILE
    assert re.search(r"^EXPOSE 8080$", DOCKERFILE, re.M)
    # No token baked in: the server refuses 0.0.0.0 without GANHOST_TOKEN or an explicit -insecure.
    assert "GANHOST_TOKEN" not in "".join(instructions("ENV")) and "-insecure" not in DOCKERFILE.split("CMD")[-1]


def test_compose_keeps_versions_on_a_named_volume():
    compose = (REPO / "docker-compose.yml").read_text()
    assert re.search(r"^\s+- ganhost-models:/var/lib/ganhost$", compose, re.M)
    assert re.search(r"^volumes:\n\s+ganhost-models:", compose, re.M)
    assert "GANHOST_MODEL_BASE=/var/lib/ganhost/gan" in DOCKERFILE
