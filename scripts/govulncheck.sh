#!/usr/bin/env bash
# govulncheck over our Go code, against a local copy of the Go vulnerability database.
#
# vuln.go.dev cannot be reached from our machines, but the Go module proxy can, and it serves
# golang.org/x/vulndb: its data/osv/ holds every Go report as OSV JSON, and its cmd/indexdb writes
# the layout that govulncheck's `-db file://` reads (index/db.json, index/modules.json,
# index/vulns.json, ID/<id>.json). Both modules are pinned below; the database is only as new as
# VULNDB_VERSION (bump it to `go list -m golang.org/x/vulndb@latest`). Everything is cached under
# build/vulndb/: the first run downloads and builds (a few minutes), later runs only scan.
#
# Usage: scripts/govulncheck.sh [PATTERN...]   (default ./...; runs under scripts/tfenv.sh for cgo)
# Exit: 0 when no known vulnerability is reachable from our code; 3 when one is (symbol level:
# govulncheck found a call path to a vulnerable function); anything else when the scan failed.
# Package- and module-level findings (imported/required, never called) are listed but don't fail.
# GOVULNCHECK_IGNORE: space-separated IDs that don't fail the run (say why where you set it).
set -euo pipefail

VULN_VERSION=v1.9.0                                # golang.org/x/vuln: govulncheck
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018  # golang.org/x/vulndb: the reports

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=$root/build/vulndb
db=$out/db/$VULNDB_VERSION
python=${PYTHON:-python3}

# govulncheck type-checks our code with its own go/types, so it is built by the Go that runs it.
gobin=$out/bin/$VULN_VERSION-$(go env GOVERSION)
if [ ! -x "$gobin/govulncheck" ]; then
  echo "govulncheck: building golang.org/x/vuln/cmd/govulncheck@$VULN_VERSION" >&2
  GOBIN=$gobin go install "golang.org/x/vuln/cmd/govulncheck@$VULN_VERSION"
fi

if [ ! -f "$db/index/db.json" ]; then
  echo "govulncheck: building the database from golang.org/x/vulndb@$VULNDB_VERSION" >&2
  go mod download "golang.org/x/vulndb@$VULNDB_VERSION"
  info=$(go list -m -f '{{.Dir}} {{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' "golang.org/x/vulndb@$VULNDB_VERSION")
  src=${info% *} committed=${info##* }
  rm -rf "$db.tmp"
  go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$db.tmp"
  # Outside their git history the reports carry no dates (modified: 0001-01-01), so the index says
  # the database was last modified at the snapshot's commit time. file:// reads no .gz files.
  printf '{"modified":"%s"}' "$committed" >"$db.tmp/index/db.json"
  find "$db.tmp" -name '*.json.gz' -delete
  "$python" - "$src/data/reports" "$db.tmp" "$VULNDB_VERSION" "$committed" <<'EOF'
import glob, json, re, sys
from datetime import datetime
reports, db, version, committed = sys.argv[1:]
ids = [v["id"] for v in json.load(open(f"{db}/index/vulns.json"))]
newest = max(ids, key=lambda i: tuple(int(n) for n in i.split("-")[1:]))
created = max((datetime.fromisoformat(m) for f in glob.glob(f"{reports}/*.yaml")
               for m in re.findall(r"^    created: (\S+)$", open(f).read(), re.M)), default=None)
open(f"{db}/SOURCE", "w").write(
    f"golang.org/x/vulndb@{version} (committed {committed}): {len(ids)} reports, newest {newest}"
    + (f", newest advisory created {created.date()}" if created else "") + "\n")
EOF
  mv "$db.tmp" "$db"
fi
echo "govulncheck $VULN_VERSION, $(go env GOVERSION), database $(cat "$db/SOURCE")" >&2

[ $# -gt 0 ] || set -- ./...
report=$out/report.json
"$root/scripts/tfenv.sh" "$gobin/govulncheck" -db "file://$db" -format json "$@" >"$report"

# One block per finding, most serious first: called (fails unless ignored), then imported, required.
"$python" - "$report" "${GOVULNCHECK_IGNORE:-}" <<'EOF'
import json, re, sys
path, ignore = sys.argv[1], set(sys.argv[2].split())
text, dec, space, msgs = open(path).read(), json.JSONDecoder(), re.compile(r"\s*"), []
i = space.match(text).end()
while i < len(text):  # a stream of JSON objects
    m, i = dec.raw_decode(text, i)
    msgs.append(m)
    i = space.match(text, i).end()
osv = {m["osv"]["id"]: m["osv"] for m in msgs if "osv" in m}
levels = ("called", "imported", "required")
found = {}  # id -> {level: [finding, ...]}
for f in (m["finding"] for m in msgs if "finding" in m):
    top = f["trace"][0]
    level = 0 if top.get("function") else 1 if top.get("package") else 2
    found.setdefault(f["osv"], {}).setdefault(level, []).append(f)
failing = 0
for vid, by_level in sorted(found.items(), key=lambda kv: (min(kv[1]), kv[0])):
    level = min(by_level)
    fs, o = by_level[level], osv[vid]
    aliases = [a for a in o.get("aliases", []) if a.startswith("CVE-")] or o.get("aliases", [])
    where = sorted({f"{f['trace'][0]['module']}@{f['trace'][0].get('version', '?')} (fixed in "
                    f"{f.get('fixed_version') or 'none'})" for f in fs})
    note = " [ignored: GOVULNCHECK_IGNORE]" if vid in ignore else ""
    failing += level == 0 and vid not in ignore
    print(f"{levels[level]:8} {vid}{''.join(f' ({a})' for a in aliases[:1])}: {', '.join(where)}{note}")
    print(f"         {o.get('summary', '')}")
    if level == 0:  # the shortest call path, from where it leaves our module
        t = min((f["trace"] for f in fs), key=len)
        sym = ".".join(filter(None, [t[0]["package"], t[0].get("receiver", "").lstrip("*"), t[0]["function"]]))
        i, fr = next(((i, fr) for i, fr in enumerate(t) if i and fr["module"] == t[-1]["module"]),
                     (len(t) - 1, t[-1]))
        pos = fr.get("position", {})
        print(f"         e.g. {pos.get('filename', '?')}:{pos.get('line', '?')}: "
              f"{fr['package'].rsplit('/', 1)[-1]}.{fr['function']} {'calls' if i == 1 else 'eventually calls'} {sym}")
counts = [sum(min(v) == n for v in found.values()) for n in range(3)]
print(f"govulncheck: {counts[0]} called, {counts[1]} imported only, {counts[2]} required only; "
      f"{failing} fail the check (report: {path})")
sys.exit(3 if failing else 0)
EOF
