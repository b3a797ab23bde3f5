#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_TIME (go test's -fuzztime: 5s, 10m, 1000x) and reports how much
# each one ran. Called by `make fuzz-short`.
#
# Usage: scripts/fuzz.sh [OUT]    (OUT defaults to build/reliability)
# Environment: FUZZ_TIME (default 5s), FUZZ_MINIMIZE_TIME (default 10s).
# Writes OUT/fuzz/<target>.log (each target's full output, also shown as it runs) and
# OUT/fuzz.json, a list with one object per target:
#   target, package, fuzztime  what ran, and for how long
#   execs, new_interesting     from go test's last "fuzz: elapsed: ..., execs: N (.../sec),
#                              new interesting: M (total: T)" line (null if it never got there)
#   corpus_total               T of that line: the corpus the fuzzer held at the end
#   corpus_seeds               files in the committed seed corpus, <package>/testdata/fuzz/<target>/
#   passed                     whether go test passed
# Every target runs even after one fails; the script then exits 1.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=${1:-build/reliability}
fuzztime=${FUZZ_TIME:-5s}
# go test minimizes each new interesting input for up to 60s by default, executing nothing new
# meanwhile (exec counts stall); 10s keeps short runs fuzzing and still shrinks most inputs.
minimize=${FUZZ_MINIMIZE_TIME:-10s}

# "package target": go/http needs TensorFlow (cgo, through tfenv.sh); go/dataset is pure Go and
# is fuzzed without cgo, as it must build.
targets=(
  "./go/http FuzzGenerateQuery"
  "./go/http FuzzTrainBody"
  "./go/http FuzzPredictBody"
  "./go/http FuzzTFServingPath"
  "./go/dataset FuzzReadIDX"
)

mkdir -p "$out/fuzz"
failed=0
entries=()
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  log=$out/fuzz/$name.log
  if [ "$pkg" = ./go/dataset ]; then run=(env CGO_ENABLED=0); else run=(scripts/tfenv.sh); fi
  passed=true
  if ! "${run[@]}" go test -run='^$' -fuzz="^$name\$" -fuzztime="$fuzztime" -fuzzminimizetime="$minimize" "$pkg" 2>&1 | tee "$log"; then
    passed=false
    failed=1
  fi
  line=$(grep -E '^fuzz: elapsed: .*execs: [0-9]+ .*new interesting: [0-9]+ \(total: [0-9]+\)' "$log" | tail -n 1)
  execs=$(sed -nE 's/.*execs: ([0-9]+) .*/\1/p' <<<"$line")
  new=$(sed -nE 's/.*new interesting: ([0-9]+) .*/\1/p' <<<"$line")
  total=$(sed -nE 's/.*\(total: ([0-9]+)\).*/\1/p' <<<"$line")
  seeds=$(find "${pkg#./}/testdata/fuzz/$name" -type f 2>/dev/null | wc -l)
  entries+=("$(printf '  {"target": "%s", "package": "%s", "fuzztime": "%s", "execs": %s, "new_interesting": %s, "corpus_total": %s, "corpus_seeds": %s, "passed": %s}' \
    "$name" "$pkg" "$fuzztime" "${execs:-null}" "${new:-null}" "${total:-null}" "$seeds" "$passed")")
done

{
  echo "["
  for i in "${!entries[@]}"; do
    sep=,
    [ "$i" -eq $((${#entries[@]} - 1)) ] && sep=
    echo "${entries[$i]}$sep"
  done
  echo "]"
} >"$out/fuzz.json.tmp" && mv "$out/fuzz.json.tmp" "$out/fuzz.json"
echo "fuzz: wrote $out/fuzz.json"
cat "$out/fuzz.json"
exit "$failed"
