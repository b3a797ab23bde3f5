#!/usr/bin/env bash
# The one place that knows where libtensorflow comes from.
#
# TensorFlow stopped publishing the standalone C library after 2.18, but the tensorflow-cpu wheel
# ships the C API: headers under tensorflow/include, the symbols exported (versioned) from
# libtensorflow_cc.so.2, which needs libtensorflow_framework.so.2 beside it. graft's cgo line
# links -ltensorflow, so we keep a link directory holding a libtensorflow.so symlink, and embed an
# rpath to the wheel so binaries run without LD_LIBRARY_PATH.
#
# Usage:
#   scripts/tfenv.sh CMD [ARGS...]   run CMD with CGO_ENABLED, CGO_CFLAGS and CGO_LDFLAGS set
#   scripts/tfenv.sh --print         print the export lines (eval them in a shell)
#   scripts/tfenv.sh --libdir        print the directory holding the wheel's shared libraries
# Environment: VENV (default .venv at the repo root), TFLINK_DIR (default build/tflink),
# TF_RPATH (default the wheel's directory; `$ORIGIN/../lib` for a relocatable bundle whose
# binary sits in bin/ beside lib/ holding the two libraries, as in the Docker image).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VENV:-$root/.venv}
link_dir=${TFLINK_DIR:-$root/build/tflink}

purelib=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
tf_dir=$purelib/tensorflow
for f in libtensorflow_cc.so.2 libtensorflow_framework.so.2 include/tensorflow/c/c_api.h; do
  if [ ! -e "$tf_dir/$f" ]; then
    echo "tfenv: $tf_dir/$f not found; run 'make venv' (tensorflow-cpu wheel) first" >&2
    exit 1
  fi
done

mkdir -p "$link_dir"
ln -sfn "$tf_dir/libtensorflow_cc.so.2" "$link_dir/libtensorflow.so"
ln -sfn "$tf_dir/libtensorflow_framework.so.2" "$link_dir/libtensorflow_framework.so"

export CGO_ENABLED=1
export CGO_CFLAGS="-I$tf_dir/include"
export CGO_LDFLAGS="-L$link_dir -ltensorflow -ltensorflow_framework -Wl,-rpath,${TF_RPATH:-$tf_dir}"

case "${1:-}" in
  --print)
    printf 'export CGO_ENABLED=1\nexport CGO_CFLAGS=%q\nexport CGO_LDFLAGS=%q\n' "$CGO_CFLAGS" "$CGO_LDFLAGS"
    ;;
  --libdir) echo "$tf_dir" ;;
  "") echo "usage: $0 CMD [ARGS...] | --print | --libdir" >&2; exit 2 ;;
  *) exec "$@" ;;
esac
