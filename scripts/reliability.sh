#!/usr/bin/env bash
# Produces docs/reliability.md from fresh runs: the fault-injection tests (crashes, refused saves,
# corrupted versions, hostile input), every fuzz target, the soak under the race detector and the
# dependency audit. Called by `make reliability`; takes about FUZZ_TIME x 5 + SOAK_TIME + 3 min.
#
# Env: FUZZ_TIME (1m), SOAK_TIME (2m), LONG_SOAK_TIME (unset: no second, longer soak),
# OUT (build/reliability).
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3} # as the Makefile; see there
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-build/reliability}
fuzz_time=${FUZZ_TIME:-1m}
soak_time=${SOAK_TIME:-2m}
mkdir -p "$out"

# The tests that inject faults; their pass/skip status and logged errors go into the report.
faults='^(TestSIGKILLNeverLosesSavedVersions|TestServeSIGTERM|TestCheckpointEvery|TestSaveFaultsLoseNothing|TestOpenErrors|TestOpenLatestFallsBackPastBadVersions|TestVersionsIgnoresIncomplete|TestOpenHostReportsIncompleteDirectories|TestReadyzReportsBadVersions|TestBadInputs|TestGenerateRowsIndependentOfBatch)$'
scripts/tfenv.sh go test -count=1 -json -run "$faults" ./go/tfmodel ./go/http ./go/cmd/ganhost >"$out/faults.jsonl" ||
  { echo "reliability: fault tests failed (see $out/faults.jsonl)" >&2; exit 1; }

FUZZ_TIME=$fuzz_time scripts/fuzz.sh "$out"
make --no-print-directory soak SOAK_TIME="$soak_time"
# Optionally a longer soak too, to tell a plateau of resident memory from a slow leak. A long
# soak's figures from an earlier run must not be reported beside this run's.
rm -f "$out/soak-long.json"
if [ -n "${LONG_SOAK_TIME:-}" ]; then
  make --no-print-directory soak SOAK_TIME="$LONG_SOAK_TIME" SOAK_REPORT="$PWD/$out/soak-long.json"
fi
make --no-print-directory audit-go 2>&1 | tee "$out/audit.txt"
# pip-audit cannot reach an advisory service from our network; its output is reported as is.
make --no-print-directory audit-python >"$out/audit-python.txt" 2>&1 || true

.venv/bin/python scripts/reliability_report.py "$out" \
  --command "FUZZ_TIME=$fuzz_time SOAK_TIME=$soak_time${LONG_SOAK_TIME:+ LONG_SOAK_TIME=$LONG_SOAK_TIME} make reliability" >docs/reliability.md
echo "wrote docs/reliability.md"
