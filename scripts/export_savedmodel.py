#!/usr/bin/env python3
"""Export a trained generator and discriminator (.keras files) as the next version of a model
base path, which the Go host (bin/ganhost generate/train/serve -model-base DIR) serves and keeps
training.

    PYTHONPATH=python .venv/bin/python scripts/export_savedmodel.py \\
        --generator gen.keras --discriminator disc.keras --base savedmodel/mymodel [--conditional]

The networks' contract and the adaptations made are described in python/ganhost/export_tools.py.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

# Keras picks its backend at import; the Makefile sets these too.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:
    import ganhost  # noqa: F401
except ImportError:  # run without PYTHONPATH=python
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from ganhost import export_tools  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="export_savedmodel.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export_tools.add_arguments(parser)
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    return export_tools.run(args, command="scripts/export_savedmodel.py " + shlex.join(argv))


if __name__ == "__main__":
    sys.exit(main())
