"""python/notebooks/gan.ipynb runs headless, top to bottom, with tiny settings (nbclient, a kernel on
this interpreter), and the version it exports loads in Python and in the Go host."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

nbclient = pytest.importorskip("nbclient", reason="notebook packages missing: pip install -r python/requirements-notebook.lock")
nbformat = pytest.importorskip("nbformat", reason="notebook packages missing: pip install -r python/requirements-notebook.lock")
pytest.importorskip("ipykernel", reason="notebook packages missing: pip install -r python/requirements-notebook.lock")
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "python" / "notebooks" / "gan.ipynb"
GANHOST_BIN = pathlib.Path(os.environ.get("GANHOST_BIN", REPO / "bin" / "ganhost"))
MNIST = REPO / "data" / "mnist"
TINY_STEPS, TINY_BATCH = 20, 16


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook run once with tiny settings; -> (executed notebook, export base path)."""
    if not (MNIST / "manifest.json").is_file():
        pytest.skip(f"{MNIST} missing (make data)")
    work = tmp_path_factory.mktemp("notebook")
    base = work / "export" / "mymodel"
    # A kernel on this very interpreter (the venv's python), whatever kernels the machine has.
    kernels = work / "kernels"
    (kernels / "ganhost-venv").mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "ganhost venv",
        "language": "python",
        "env": {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "python"), os.environ.get("PYTHONPATH")])),
            "KERAS_BACKEND": "tensorflow",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "GANHOST_NB_TINY": "1",
            "GANHOST_NB_STEPS": str(TINY_STEPS),
            "GANHOST_NB_BATCH": str(TINY_BATCH),
            "GANHOST_NB_EXPORT_BASE": str(base),
            "GANHOST_NB_DATA": str(MNIST),
            "JUPYTER_PLATFORM_DIRS": "1",
        },
    }
    (kernels / "ganhost-venv" / "kernel.json").write_text(json.dumps(spec))
    km = KernelManager(kernel_name="ganhost-venv", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, km=km, timeout=300, startup_timeout=120, resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    try:
        client.execute()
    finally:
        nbformat.write(nb, work / "gan.executed.ipynb")  # kept for a look after a failure
    return nb, base


def outputs(nb, kind):
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", []) if kind in o.get("data", {})]


def text(nb):
    return "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", []))


def test_notebook_runs_with_tiny_settings_and_shows_samples(executed):
    nb, base = executed
    log = text(nb)
    assert "'TINY': True" in log and f"'STEPS': {TINY_STEPS}" in log
    assert f"step {TINY_STEPS:6d}" in log  # the training loop's last log line
    assert f"exported version 1: {base / '1'}" in log
    pngs = outputs(nb, "image/png")
    assert len(pngs) == 3  # real digits, samples, samples from the export
    assert not [o for cell in nb.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]


def test_notebook_export_is_a_version_with_its_record(executed):
    _, base = executed
    assert sorted(p.name for p in base.iterdir()) == ["1", "1.training.json"]
    record = json.loads((base / "1.training.json").read_text())
    assert record["info"]["tiny"] is True and record["info"]["steps"] == TINY_STEPS
    assert record["generator"]["source"]["name"] == "my_generator"
    assert record["discriminator"]["source"]["name"] == "my_discriminator"


def test_notebook_export_loads_in_python(executed):
    _, base = executed
    loaded = tf.saved_model.load(str(base / "1"))
    z = np.random.default_rng(0).standard_normal((4, 100)).astype(np.float32)
    images = loaded.signatures["generate"](z=tf.constant(z))["images"].numpy()
    assert images.shape == (4, 28, 28, 1) and images.min() >= -1 and images.max() <= 1
    out = loaded.signatures["train_step"](images=tf.constant(images), z=tf.constant(z))
    assert out["step"].numpy() == 1 and np.isfinite(out["d_loss"].numpy())


def test_notebook_export_loads_in_go(executed, tmp_path):
    if not GANHOST_BIN.is_file():
        pytest.skip(f"{GANHOST_BIN} not built (make build)")
    _, base = executed
    png = tmp_path / "grid.png"
    proc = subprocess.run(
        [str(GANHOST_BIN), "generate", "-model-base", str(base), "-n", "4", "-out", str(png)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "version 1" in proc.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
