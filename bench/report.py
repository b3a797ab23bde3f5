"""Assemble bench/run's raw measurements into results.json and docs/performance.md.

    python bench/report.py --raw bench/results/raw --out bench/results/results.json --docs docs/performance.md
    python bench/report.py --raw bench/results/smoke/raw --out bench/results/smoke/results.json --smoke

Every figure of a comparison comes from the one run in --raw; each is the median of that run's
repetitions. --smoke prints the figures and fails when one is missing, without touching the docs.
Standard library only.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import statistics
import sys

TARGETS = {
    "rps_ratio_c64": 3.0,  # Go host rps / Python rps at c=64, n=16: at least
    "http_overhead_n256": 0.15,  # HTTP + PNG over raw Go generate at n=256: at most
    "train_ratio": 0.95,  # Go steps/s / Python steps/s: at least
    "rss_growth": 0.05,  # (RSS after 100k - after 10k) / after 10k: below
}
SERVERS = {
    "go-batch": "Go host, batching on (default -batch-max-size 256), -max-concurrent 64",
    "go-nobatch": "Go host, batching off (-batch-max-size 0), -max-concurrent 64",
    "go-default": "Go host, shipped defaults (no flags: batching on, -max-concurrent 64)",
    "python": "FastAPI + uvicorn reference server (bench/pyserver.py)",
}


def load(path):
    with open(path) as f:
        return json.load(f)


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


# ---- raw inputs ---------------------------------------------------------------------------------


def raw_rows(rows):
    return {
        str(r["batch"]): {
            "per_s": r["median_calls_per_s"],
            "images_per_s": r["median_images_per_s"],
            "ms_per_call": r["median_ms_per_call"],
            "reps": [round(x["calls_per_s"], 3) for x in r["reps"]],
        }
        for r in rows
    }


def http_results(raw):
    runs = {}
    for path in sorted(glob.glob(os.path.join(raw, "http_*_r*.json"))):
        m = re.match(r"http_(.+)_n(\d+)_c(\d+)_r(\d+)\.json$", os.path.basename(path))
        if not m:  # e.g. http_..._r1.crashed1.json: a run its server did not survive
            continue
        server, n, c, _ = m.groups()
        runs.setdefault((server, int(n), int(c)), []).append(load(path))
    out = {}
    for (server, n, c), reps in sorted(runs.items()):
        out.setdefault(server, {}).setdefault(f"n{n}", {})[f"c{c}"] = {
            "rps": med(r["rps"] for r in reps),
            "p50_ms": med(r["p50_ms"] for r in reps),
            "p99_ms": med(r["p99_ms"] for r in reps),
            "mean_ms": med(r["mean_ms"] for r in reps),
            "requests": sum(r["requests"] for r in reps),
            "errors": sum(r["errors"] for r in reps),
            "non_2xx": sum(r["non_2xx"] for r in reps),
            "status": _sum_status(reps),
            "reps_rps": [round(r["rps"], 1) for r in reps],
            "reps_p99_ms": [round(r["p99_ms"], 2) for r in reps],
        }
    return out


def _sum_status(reps):
    total = {}
    for r in reps:
        for k, v in r.get("status", {}).items():
            total[k] = total.get(k, 0) + v
    return total


def cli_train(raw):
    path = os.path.join(raw, "cli_train.txt")
    text = open(path).read()
    m = re.search(r"trained (\d+) steps in \S+ \(([\d.]+) steps/s\)", text)
    if not m:
        return None
    return {"steps": int(m.group(1)), "steps_per_s": float(m.group(2)), "batch": 64,
            "note": "includes the first step (graph optimisation); no warm-up"}


def memory(raw):
    points = {}
    with open(os.path.join(raw, "memory.jsonl")) as f:
        for line in f:
            if line.strip():
                p = json.loads(line)
                points[p["label"]] = p
    if "after_train" not in points:  # the host died (see crashes): no memory figures
        return {"points": points, "rss_growth_10k_to_100k": None, "requests_ok": None,
                "requests_non_2xx": None, "load_rps": [], "train": {}}
    loads = [load(os.path.join(raw, n)) for n in ("mem_load1.json", "mem_load2.json")]
    train = load(os.path.join(raw, "mem_train.json"))
    a, b = points.get("after_10k"), points.get("after_100k")
    growth = (b["vmrss_kb"] - a["vmrss_kb"]) / a["vmrss_kb"] if a and b else None
    return {
        "points": points,
        "rss_growth_10k_to_100k": growth,
        "requests_ok": sum(x["ok"] for x in loads),
        "requests_non_2xx": sum(x["non_2xx"] + x["errors"] for x in loads),
        "load_rps": [round(x["rps"], 1) for x in loads],
        "train": {k: train.get(k) for k in ("steps_run", "batch_size", "duration_ms", "images_per_second")},
    }


# ---- profile ------------------------------------------------------------------------------------

CATEGORIES = [
    ("TensorFlow kernels (libtensorflow, oneDNN JIT code)", lambda d, s: d.startswith("libtensorflow") or d.startswith("[JIT]")),
    ("PNG encoding (image/png, compress/flate, adler32/crc32)", lambda d, s: s.startswith(("image/png.", "compress/", "hash/adler32", "hash/crc32"))),
    ("grid: float images to uint8 tiles (gan.Grid)", lambda d, s: s.startswith("github.com/ganhost/ganhost/go/gan.Grid") or s.startswith("github.com/ganhost/ganhost/go/gan.grayValue")),
    ("noise (gan.Noise, math/rand)", lambda d, s: s.startswith(("math/rand", "github.com/ganhost/ganhost/go/gan.Noise", "github.com/ganhost/ganhost/go/gan.(*NoiseSource)"))),
    ("graft/tfmodel: tensors in and out", lambda d, s: s.startswith(("github.com/wamuir/graft", "github.com/ganhost/ganhost/go/tfmodel"))),
    ("net/http, syscalls", lambda d, s: s.startswith(("net/http.", "net.", "bufio.", "internal/poll.", "syscall.", "internal/runtime/syscall"))),
    ("echo, logging (slog/JSON), metrics", lambda d, s: s.startswith(("github.com/labstack", "log/slog", "encoding/json", "github.com/prometheus", "github.com/ganhost/ganhost/go/http", "strconv.", "fmt.", "time."))),
    ("Go runtime: GC, allocation, scheduler, cgo", lambda d, s: d == "ganhost" and s.startswith(("runtime.", "internal/runtime", "gcWriteBarrier", "aeshash", "sync."))),
    ("kernel (scheduling, network, page faults)", lambda d, s: d.startswith("[kernel")),
    ("libc (memcpy, malloc)", lambda d, s: d.startswith("libc") or d.startswith("ld-linux")),
]


def profile(raw, tag):
    meta_path = os.path.join(raw, f"profile_{tag}.json")
    if not os.path.exists(meta_path):
        return None
    meta = load(meta_path)
    if not meta.get("available"):
        return meta
    cats = {name: 0.0 for name, _ in CATEGORIES}
    cats["other"] = 0.0
    top = []
    with open(os.path.join(raw, f"profile_{tag}.txt")) as f:
        for line in f:
            parts = line.rstrip("\n").split("|")
            if len(parts) < 3:
                continue
            try:
                pct = float(parts[0].strip().rstrip("%"))
            except ValueError:
                continue
            dso = parts[1].strip()
            sym = re.sub(r"^\[[.kg]\]\s*", "", parts[2].strip())
            for name, match in CATEGORIES:
                if match(dso, sym):
                    cats[name] += pct
                    break
            else:
                cats["other"] += pct
            if len(top) < 20:
                top.append({"percent": pct, "dso": dso, "symbol": sym})
    _demangle(top)
    load_path = os.path.join(raw, f"profile_{tag}_load.json")
    under = load(load_path) if os.path.exists(load_path) else {}
    return {
        "available": True,
        "categories": {k: round(v, 2) for k, v in sorted(cats.items(), key=lambda kv: -kv[1])},
        "top": top,
        "load_rps": under.get("rps"),
    }


def pprof_top(raw, tag, kind):
    """Rows of `go tool pprof -top` (flat or -cum) output, when the host served its pprof."""
    path = os.path.join(raw, f"pprof_{tag}_{kind}.txt")
    if not os.path.exists(path):
        return None
    rows, header = [], {}
    for line in open(path):
        m = re.match(r"Duration: (\S+), Total samples = (\S+) \(([\d.]+)%\)", line.strip())
        if m:
            header = {"duration": m.group(1), "total_samples": m.group(2), "cpu_percent_of_one_core": float(m.group(3))}
            continue
        parts = line.split(None, 5)
        if len(parts) == 6 and parts[1].endswith("%") and parts[4].endswith("%"):
            try:
                rows.append({"flat_pct": float(parts[1][:-1]), "cum_pct": float(parts[4][:-1]), "function": parts[5].strip()})
            except ValueError:
                continue
    return {**header, "rows": rows}


def _demangle(rows):
    """C++ names of the top symbols (perf report ran with --no-demangle, which is 3x faster)."""
    mangled = [r for r in rows if r["symbol"].startswith("_Z")]
    if not mangled:
        return
    try:
        import subprocess

        res = subprocess.run(["c++filt"], input="\n".join(r["symbol"] for r in mangled), capture_output=True,
                             text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return
    for r, name in zip(mangled, res.stdout.splitlines()):
        r["symbol"] = _shorten(name)


def _shorten(name, limit=140):
    """Drop C++ template arguments, which make Eigen's names unreadable in a table."""
    out, depth = [], 0
    for ch in name:
        if ch == "<":
            if depth == 0:
                out.append("<...>")
            depth += 1
        elif ch == ">" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)[:limit]


# ---- assembly -----------------------------------------------------------------------------------


def assemble(raw, seconds):
    machine = load(os.path.join(raw, "machine.json"))
    rawgo_gen = load(os.path.join(raw, "rawgo_generate.json"))
    rawgo_train = load(os.path.join(raw, "rawgo_train.json"))
    rawpy = load(os.path.join(raw, "rawpy.json"))
    gen = {"go": raw_rows(rawgo_gen["rows"]), "python": raw_rows(rawpy["generate"]["rows"])}
    for b, row in gen["go"].items():
        row["vs_python"] = ratio(row["images_per_s"], gen["python"].get(b, {}).get("images_per_s"))
    train = {"go": raw_rows(rawgo_train["rows"]), "python": raw_rows(rawpy["train"]["rows"]), "go_cli": cli_train(raw)}
    for b, row in train["go"].items():
        row["vs_python"] = ratio(row["per_s"], train["python"].get(b, {}).get("per_s"))
    http = http_results(raw)
    mem = memory(raw)

    def h(server, n, c, key):
        return http.get(server, {}).get(f"n{n}", {}).get(f"c{c}", {}).get(key)

    raw256_ms = gen["go"]["256"]["ms_per_call"]
    http256_mean = h("go-batch", 256, 1, "mean_ms")
    http256_rps = h("go-batch", 256, 1, "rps")
    http256_p50 = h("go-batch", 256, 1, "p50_ms")
    overhead_rps = (1000 / http256_rps) / raw256_ms - 1 if http256_rps else None
    figures = {
        "rps_ratio_c64": ratio(h("go-batch", 16, 64, "rps"), h("python", 16, 64, "rps")),
        "rps_ratio_c64_nobatch": ratio(h("go-nobatch", 16, 64, "rps"), h("python", 16, 64, "rps")),
        "p99_c64_ms": {s: h(s, 16, 64, "p99_ms") for s in ("go-batch", "go-nobatch", "python")},
        "p99_ratio_c64": ratio(h("go-batch", 16, 64, "p99_ms"), h("python", 16, 64, "p99_ms")),
        "http_overhead_n256": overhead_rps,
        "http_overhead_n256_p50": (http256_p50 / raw256_ms - 1) if http256_p50 else None,
        "http_n256_ms_per_request": 1000 / http256_rps if http256_rps else None,
        "http_n256_mean_ms": http256_mean,
        "raw_go_n256_ms_per_call": raw256_ms,
        "train_ratio": {b: train["go"][b]["vs_python"] for b in train["go"]},
        "rss_growth": mem["rss_growth_10k_to_100k"],
        "default_config_c64_non_2xx_share": _share(http, "go-default"),
    }
    checks = {
        "go_rps_at_least_3x_python_c64": _ge(figures["rps_ratio_c64"], TARGETS["rps_ratio_c64"]),
        "go_p99_below_python_c64": _lt(h("go-batch", 16, 64, "p99_ms"), h("python", 16, 64, "p99_ms")),
        "http_png_overhead_n256_at_most_15pct": _le(overhead_rps, TARGETS["http_overhead_n256"]),
        "go_training_at_least_0.95x_python_b64": _ge(figures["train_ratio"].get("64"), TARGETS["train_ratio"]),
        "go_training_at_least_0.95x_python_b256": _ge(figures["train_ratio"].get("256"), TARGETS["train_ratio"]),
        "rss_growth_below_5pct": _lt(mem["rss_growth_10k_to_100k"], TARGETS["rss_growth"]),
    }
    return {
        "machine": machine,
        "suite_seconds": seconds,
        "targets": TARGETS,
        "checks": checks,
        "figures": figures,
        "raw_generate": gen,
        "training": train,
        "http": http,
        "memory": mem,
        "profiles": {tag: profile(raw, tag) for tag in ("n16_c64", "n256_c1")},
        "pprof": {"n16_c64": {"check": _maybe(os.path.join(raw, "pprof_n16_c64.json")),
                              "flat": pprof_top(raw, "n16_c64", "flat"), "cum": pprof_top(raw, "n16_c64", "cum")}},
        "model": _model(raw, machine, rawpy),
        "crashes": _crashes(raw),
        "python_tensorflow": rawpy.get("tensorflow"),
        "commands": [l.rstrip("\n") for l in open(os.path.join(raw, "commands.txt")) if l.strip()],
    }


def _crashes(raw):
    path = os.path.join(raw, "crashes.jsonl")
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.strip()]


def _maybe(path):
    return load(path) if os.path.exists(path) else None


def _model(raw, machine, rawpy):
    info = {"path": machine.get("model"), "sha256_16": machine.get("model_sha256"), "conditional": rawpy.get("conditional")}
    path = os.path.join(raw, "model_training.json")
    if os.path.exists(path):
        t = load(path)
        info.update({k: t.get(k) for k in ("config", "steps", "batch_size", "command")})
    return info


def _share(http, server):
    row = http.get(server, {}).get("n16", {}).get("c64")
    if not row or not row["requests"]:
        return None
    return row["non_2xx"] / row["requests"]


def _ge(a, b):
    return None if a is None else a >= b


def _le(a, b):
    return None if a is None else a <= b


def _lt(a, b):
    return None if a is None or b is None else a < b


# ---- output -------------------------------------------------------------------------------------


def f(v, digits=1, suffix=""):
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}{suffix}"


def pct(v, digits=1):
    return "n/a" if v is None else f"{100 * v:+.{digits}f}%"


def met(v):
    return {True: "**met**", False: "**missed**", None: "n/a"}[v]


def summary_lines(r):
    fig, g, t, http = r["figures"], r["raw_generate"], r["training"], r["http"]
    lines = ["raw generate images/s (Go | Python):"]
    for b in ("1", "16", "256"):
        lines.append(f"  batch {b:>3}: {f(g['go'][b]['images_per_s'], 0)} | {f(g['python'][b]['images_per_s'], 0)}")
    lines.append("training steps/s (Go | Python | Go/Python):")
    for b in ("64", "256"):
        lines.append(f"  batch {b:>3}: {f(t['go'][b]['per_s'], 2)} | {f(t['python'][b]['per_s'], 2)} | {f(t['go'][b]['vs_python'], 3)}")
    if t["go_cli"]:
        lines.append(f"  ganhost train CLI batch 64: {f(t['go_cli']['steps_per_s'], 2)} steps/s")
    lines.append("HTTP GET /generate rps / p50 ms / p99 ms:")
    for server in ("go-batch", "go-nobatch", "go-default", "python"):
        for n in ("n16", "n256"):
            for c, row in http.get(server, {}).get(n, {}).items():
                lines.append(f"  {server:<10} {n:<4} {c:<3}: {f(row['rps'])} / {f(row['p50_ms'], 2)} / {f(row['p99_ms'], 2)}"
                             f"  (non-2xx {row['non_2xx']}, errors {row['errors']})")
    for c in r["crashes"]:
        lines.append(f"CRASH: {c['server']} died during {c['phase']} (exit {c['exit_status']}: {c['reason']}; {c['where']})")
    m = r["memory"]["points"]
    lines.append("memory VmRSS MB: " + ", ".join(f"{k} {f(v['vmrss_kb'] / 1024, 1)}" for k, v in m.items()))
    lines.append(f"Go/Python rps at c=64: {f(fig['rps_ratio_c64'], 2)}x (target >= 3x): {met(r['checks']['go_rps_at_least_3x_python_c64'])}")
    lines.append(f"HTTP+PNG overhead at n=256: {pct(fig['http_overhead_n256'])} (target <= 15%): {met(r['checks']['http_png_overhead_n256_at_most_15pct'])}")
    lines.append(f"RSS growth 10k->100k: {pct(fig['rss_growth'], 2)} (target < 5%)")
    for tag, pp in r["pprof"].items():
        check = pp.get("check") or {}
        if check.get("attempted") and not check.get("host_survived"):
            lines.append(f"pprof {tag}: HOST CRASHED under Go's CPU profiler (exit {check.get('exit_status')}: {check.get('reason')})")
        elif pp.get("flat"):
            top = pp["flat"]["rows"][:3]
            lines.append(f"pprof {tag}: " + "; ".join(f"{x['function']} {x['flat_pct']:.1f}%" for x in top))
        else:
            lines.append(f"pprof {tag}: not taken ({check.get('reason', 'missing')})")
    for tag, p in r["profiles"].items():
        if p and p.get("available"):
            top = list(p["categories"].items())[:3]
            lines.append(f"profile {tag}: " + "; ".join(f"{k} {v:.1f}%" for k, v in top))
        else:
            lines.append(f"profile {tag}: unavailable ({(p or {}).get('reason', 'missing')})")
    return lines


def missing_figures(r):
    """Names of figures that a run must produce; --smoke fails when any is absent."""
    need = {
        "raw generate Go": [r["raw_generate"]["go"].get(b, {}).get("images_per_s") for b in ("1", "16", "256")],
        "raw generate Python": [r["raw_generate"]["python"].get(b, {}).get("images_per_s") for b in ("1", "16", "256")],
        "training Go": [r["training"]["go"].get(b, {}).get("per_s") for b in ("64", "256")],
        "training Python": [r["training"]["python"].get(b, {}).get("per_s") for b in ("64", "256")],
        "training CLI": [(r["training"]["go_cli"] or {}).get("steps_per_s")],
        "HTTP n=16": [r["http"].get(s, {}).get("n16", {}).get(f"c{c}", {}).get("rps")
                      for s in ("go-batch", "go-nobatch", "python") for c in (1, 8, 64)],
        "HTTP n=256": [r["http"].get(s, {}).get("n256", {}).get("c1", {}).get("rps") for s in ("go-batch", "python")],
        "HTTP defaults c=64": [r["http"].get("go-default", {}).get("n16", {}).get("c64", {}).get("requests")],
        "memory": [r["memory"]["points"].get(k, {}).get("vmrss_kb") for k in ("after_10k", "after_100k", "after_train")],
    }
    return [name for name, vals in need.items() if any(v is None or v <= 0 for v in vals)]


def crash_explained(name, r):
    """A figure missing because its server crashed twice (recorded in crashes.jsonl)."""
    servers = {c["server"] for c in r["crashes"]}
    if name.startswith("HTTP"):
        return bool(servers & {"go-batch", "go-nobatch", "go-default", "python"})
    if name == "memory":
        return bool(servers & {"go-mem", "go-default"})
    return False


def _go_top(p, k=6):
    """The hottest symbols of the Go binary itself in a perf profile."""
    return [x for x in (p or {}).get("top", []) if x["dso"] == "ganhost"][:k]


def _cats(p, skip=()):
    return [(k, v) for k, v in (p or {}).get("categories", {}).items() if v >= 3 and k not in skip]


def where_the_time_goes(r):
    """Paragraphs for each missed target, from this run's figures and perf profiles."""
    fig, chk, g, http, prof = r["figures"], r["checks"], r["raw_generate"], r["http"], r["profiles"]
    out = []
    tf = "TensorFlow kernels (libtensorflow, oneDNN JIT code)"
    if chk.get("go_rps_at_least_3x_python_c64") is False:
        row = http.get("go-batch", {}).get("n16", {}).get("c64", {})
        py = http.get("python", {}).get("n16", {}).get("c64", {})
        floor = g["go"]["256"]["images_per_s"]
        p = prof.get("n16_c64") or {}
        text = (f"**requests/s at c=64.** The batching host answered {f(row.get('rps'))} requests/s = "
                f"{f((row.get('rps') or 0) * 16, 0)} images/s, {f(100 * (row.get('rps') or 0) * 16 / floor, 0)}% of what "
                f"the model computes in 256-row batches ({f(floor, 0)} images/s); the Python server answered "
                f"{f(py.get('rps'))}. 3x would take {f(3 * (py.get('rps') or 0))} requests/s.")
        if p.get("available"):
            cats = "; ".join(f"{k} {v:.1f}%" for k, v in _cats(p))
            text += (f" Under this load perf splits the host's CPU as: {cats}. Everything but the model's "
                     f"{p['categories'].get(tf, 0):.1f}% is per-request work around it. The hottest Go "
                     "functions: " + ", ".join(f"`{x['symbol']}` {x['percent']:.1f}%" for x in _go_top(p)) + ".")
        text += (" The load generator shares the 2 cores (not in these samples), so every server's "
                 "figure is lower than with a separate client machine.")
        out.append(text)
    if chk.get("http_png_overhead_n256_at_most_15pct") is False:
        p = prof.get("n256_c1") or {}
        py = http.get("python", {}).get("n256", {}).get("c1", {})
        text = (f"**HTTP + PNG overhead at n=256.** One request takes {f(fig['http_n256_ms_per_request'], 2)} ms against "
                f"{f(fig['raw_go_n256_ms_per_call'], 2)} ms for the raw `Generate` call: "
                f"{f(fig['http_n256_ms_per_request'] - fig['raw_go_n256_ms_per_call'], 2)} ms of work around the model, "
                "most of it on one goroutine after the model has answered.")
        if p.get("available"):
            cats = "; ".join(f"{k} {v:.1f}%" for k, v in _cats(p))
            text += (f" perf at n=256, c=1: {cats}. The hottest Go functions: "
                     + ", ".join(f"`{x['symbol']}` {x['percent']:.1f}%" for x in _go_top(p)) + ".")
        if py.get("rps") and py["rps"] > (http.get("go-batch", {}).get("n256", {}).get("c1", {}).get("rps") or 0):
            text += (f" The Python server answers n=256 faster ({f(py['rps'])} requests/s): its PNG is one "
                     "filter-0 pass through C zlib at level 1, and its grid is vectorised numpy.")
        out.append(text)
    return out


def markdown(r):
    m, fig, chk, g, t, http = r["machine"], r["figures"], r["checks"], r["raw_generate"], r["training"], r["http"]
    mem = r["memory"]
    out = []
    w = out.append
    w("# Performance")
    w("")
    w("<!-- Generated by bench/run from bench/results/results.json; edit bench/report.py, not this file. -->")
    w("")
    w(f"Every figure below comes from **one run of `bench/run`** (started {m['started']}, {r['suite_seconds']} s), "
      "on loopback only. Each figure is the median of that run's repetitions; comparisons are ratios of "
      "figures from the same run. The raw data is `bench/results/results.json`.")
    w("")
    w("## Machine")
    w("")
    w(f"- CPU: {m['cpu']}, `nproc` = {m['nproc']}; memory {m['mem_total_kb'] / 1024 / 1024:.1f} GiB; Linux {m['kernel']}")
    w(f"- {m['go']}, Python {m['python']}, TensorFlow {r['python_tensorflow']} (the Go host uses the same wheel's C API)")
    w(f"- load average at start: {m['loadavg_start']}; other `ganhost train` processes at start: {m['busy_training_jobs']}")
    mod = r["model"]
    w(f"- model: `{mod['path']}` (config `{mod.get('config', '?')}`, "
      f"{'conditional: generate also takes labels' if mod.get('conditional') else 'unconditional'}; "
      f"sha256 of graph + variables {mod['sha256_16']}...), copied once at the start of the run")
    w(f"- commit {m['git']} (plus the working tree's uncommitted changes, if any)")
    w("- The load generator runs on the same 2 cores as the server it loads, so it takes CPU from every "
      "server alike; absolute numbers are lower than on a machine with a separate client.")
    w("")
    w("## Targets")
    w("")
    w("| target | measured | |")
    w("| --- | --- | --- |")
    p99 = fig["p99_c64_ms"]
    w(f"| Go host >= 3x the Python server's requests/s at c=64, n=16 | {f(fig['rps_ratio_c64'], 2)}x "
      f"(batching off: {f(fig['rps_ratio_c64_nobatch'], 2)}x) | {met(chk['go_rps_at_least_3x_python_c64'])} |")
    w(f"| ... and a lower p99 at c=64 | Go {f(p99['go-batch'], 1)} ms vs Python {f(p99['python'], 1)} ms "
      f"({f(fig['p99_ratio_c64'], 2)}x) | {met(chk['go_p99_below_python_c64'])} |")
    w(f"| HTTP + PNG overhead <= 15% over raw Go generate at n=256 | {pct(fig['http_overhead_n256'])} "
      f"({f(fig['http_n256_ms_per_request'], 2)} ms per request vs {f(fig['raw_go_n256_ms_per_call'], 2)} ms per raw call; "
      f"p50-based {pct(fig['http_overhead_n256_p50'])}) | {met(chk['http_png_overhead_n256_at_most_15pct'])} |")
    for b in ("64", "256"):
        w(f"| Go-driven training >= 0.95x the Python loop's steps/s, batch {b} | {f(fig['train_ratio'].get(b), 3)}x | "
          f"{met(chk[f'go_training_at_least_0.95x_python_b{b}'])} |")
    w(f"| resident memory growth < 5% from 10k to 100k requests | {pct(fig['rss_growth'], 2)} | {met(chk['rss_growth_below_5pct'])} |")
    w("")
    crashes = r["crashes"]
    if crashes:
        w("## Crashes during this run")
        w("")
        w("`bench/run` checks after every measurement that its server is still alive; a server that died "
          "is restarted, its measurement discarded and tried once more.")
        w("")
        w("| server | during | exit status | first line of the crash report | top of the crashing stack |")
        w("| --- | --- | ---: | --- | --- |")
        for c in crashes:
            w(f"| {c['server']} | {c['phase']} | {c['exit_status']} | `{c['reason']}` | `{c['where']}` |")
        w("")
        if any("WriteContentsTo" in c.get("where", "") or "tensorData" in c.get("where", "") for c in crashes):
            w("The Go stacks end in graft's `(*Tensor).WriteContentsTo` → `tensorData` → `TF_TensorByteSize`, "
              "called by `tfmodel.float32s`: graft reads `t.c` and never touches `t` again (no "
              "`runtime.KeepAlive`), so the GC may run the tensor's finalizer (`TF_DeleteTensor`) while its "
              "C buffer is still being read. `(*Tensor).Value()` has the same gap. Under load (many "
              "concurrent `Generate` calls, frequent GCs) this is a use-after-free: a SIGSEGV, glibc heap "
              "corruption, or silently wrong pixels. The fix belongs in `go/tfmodel`: "
              "`runtime.KeepAlive(t)` after `t.WriteContentsTo(w)` in `float32s`, and "
              "`runtime.KeepAlive(out)` after the `Value()` calls in `TrainStep`.")
            w("")
    where = where_the_time_goes(r)
    if where:
        w("## Where the time goes (missed targets)")
        w("")
        for para in where:
            w(para)
            w("")
    w("## 1. Raw compute floor: the `generate` signature, no HTTP")
    w("")
    w("Go: `Model.Generate` from `go/tfmodel` (`bench/rawgo`), which pads every run to a 48-row block, "
      "so batch 1 costs as much as batch 48. Python: `tf.saved_model.load(...).signatures[\"generate\"](z=...)` "
      "then `.numpy()` (`bench/rawpy.py`). Fixed noise, warm-up calls first.")
    w("")
    w("| batch | Go images/s | Go ms/call | Python images/s | Python ms/call | Go / Python |")
    w("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for b in ("1", "16", "256"):
        go, py = g["go"][b], g["python"][b]
        w(f"| {b} | {f(go['images_per_s'], 0)} | {f(go['ms_per_call'], 2)} | {f(py['images_per_s'], 0)} | "
          f"{f(py['ms_per_call'], 2)} | {f(go['vs_python'], 2)}x |")
    w("")
    w("## 2. HTTP: `GET /generate` (PNG grid)")
    w("")
    w("Closed loop: each of c connections sends its next request when the previous answer is read "
      "(`bench/loadgen`). rps counts 2xx answers only, and p50/p99 are those of 2xx answers.")
    w("")
    for name, desc in SERVERS.items():
        w(f"- `{name}`: {desc}")
    w("")
    w("| server | n | c | requests/s | p50 ms | p99 ms | requests | non-2xx | errors |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in ("n16", "n256"):
        for c in ("c1", "c8", "c64"):
            for server in SERVERS:
                row = http.get(server, {}).get(n, {}).get(c)
                if row:
                    w(f"| {server} | {n[1:]} | {c[1:]} | {f(row['rps'])} | {f(row['p50_ms'], 2)} | {f(row['p99_ms'], 2)} | "
                      f"{row['requests']} | {row['non_2xx']} | {row['errors']} |")
    w("")
    w("Ratios (n=16):")
    w("")
    w("| c | go-batch / python rps | go-nobatch / python rps | go-batch / python p99 |")
    w("| ---: | ---: | ---: | ---: |")
    for c in ("c1", "c8", "c64"):
        def hv(s, k, c=c):
            return http.get(s, {}).get("n16", {}).get(c, {}).get(k)
        w(f"| {c[1:]} | {f(ratio(hv('go-batch', 'rps'), hv('python', 'rps')), 2)}x | "
          f"{f(ratio(hv('go-nobatch', 'rps'), hv('python', 'rps')), 2)}x | {f(ratio(hv('go-batch', 'p99_ms'), hv('python', 'p99_ms')), 2)}x |")
    w("")
    share = fig["default_config_c64_non_2xx_share"]
    w(f"With the shipped defaults, {f(100 * share, 1) + '%' if share is not None else 'n/a'} of the requests at c=64 "
      "were answered 503 + Retry-After (the admission limit, `-max-concurrent`, beyond which requests are "
      "refused rather than queued).")
    w("")
    w(f"HTTP + PNG overhead at n=256, c=1 (go-batch): {f(fig['http_n256_ms_per_request'], 2)} ms per request "
      f"(1 / requests/s; p50 {f(http.get('go-batch', {}).get('n256', {}).get('c1', {}).get('p50_ms'), 2)} ms) against "
      f"{f(fig['raw_go_n256_ms_per_call'], 2)} ms per raw `Generate` call: {pct(fig['http_overhead_n256'])}. "
      "The request adds the noise (25,600 normal draws), the 448x448 grid, PNG encoding, echo and its "
      "middleware (request log line, metrics) and the loopback round trip.")
    w("")
    w("## 3. Training")
    w("")
    w("Both sides run the same SavedModel's `train_step` (one discriminator and one generator update) "
      "on a fresh sampled MNIST batch and fresh noise every step, after warm-up steps. Go: "
      "`Model.TrainStep` in a loop (`bench/rawgo -mode train`, the loop of `ganhost train`). Python: "
      "`tf.function(tf.saved_model.load(...).train_step)` fed by `ganhost.train.BatchSampler`, reading "
      "the losses each step (`bench/rawpy.py`).")
    w("")
    w("| batch | Go steps/s | Go images/s | Python steps/s | Python images/s | Go / Python |")
    w("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for b in ("64", "256"):
        go, py = t["go"][b], t["python"][b]
        w(f"| {b} | {f(go['per_s'], 2)} | {f(go['images_per_s'], 0)} | {f(py['per_s'], 2)} | {f(py['images_per_s'], 0)} | {f(go['vs_python'], 3)}x |")
    if t["go_cli"]:
        w("")
        w(f"Cross-check: `ganhost train -steps {t['go_cli']['steps']} -batch 64` printed {f(t['go_cli']['steps_per_s'], 2)} steps/s "
          "(its timing includes the first step, which optimises the graph).")
    w("")
    w("## 4. Memory")
    w("")
    w(f"A fresh Go host with the shipped defaults; `GET /generate?n=16` at c=8 "
      f"({mem['requests_ok']} answered 2xx, {mem['requests_non_2xx']} not), then `POST /train/step` "
      f"({mem['train'].get('steps_run')} steps, batch {mem['train'].get('batch_size')}). VmRSS and VmHWM from "
      "`/proc/PID/status`; the Go heap from the host's `/metrics`.")
    w("")
    w("| point | VmRSS MB | VmHWM MB | Go heap in use MB | Go sys MB |")
    w("| --- | ---: | ---: | ---: | ---: |")
    for label, p in mem["points"].items():
        def mb(v):
            return f(v / 1024, 1) if isinstance(v, (int, float)) else "n/a"

        def mbb(v):
            return f(v / 1048576, 1) if isinstance(v, (int, float)) else "n/a"
        w(f"| {label} | {mb(p['vmrss_kb'])} | {mb(p['vmhwm_kb'])} | {mbb(p.get('go_heap_inuse_bytes'))} | {mbb(p.get('go_sys_bytes'))} |")
    w("")
    w(f"Growth of VmRSS from 10k to 100k requests: {pct(fig['rss_growth'], 2)}.")
    pts = mem["points"]
    if "after_train" in pts and "after_100k" in pts:
        a, b = pts["after_100k"], pts["after_train"]
        heap = b.get("go_heap_inuse_bytes")
        w("")
        w(f"The training steps added {f((b['vmrss_kb'] - a['vmrss_kb']) / 1024, 1)} MB of VmRSS"
          + (f" while the Go heap in use went to {f(heap / 1048576, 1)} MB" if isinstance(heap, (int, float)) else "")
          + ": that memory is C memory (TensorFlow, and graft tensors, which are freed only when a Go GC "
          "runs their finalizers), which the Go heap figures do not count. One point after training "
          "cannot tell a plateau from a leak.")
    w("")
    w("## Profile: where the Go host's CPU time goes")
    w("")
    w("`bench/run` samples the go-batch host with `perf record -F 499 -g -p PID` while `bench/loadgen` "
      "loads it. perf sends the process no signals and sees every thread, TensorFlow's pool included "
      "(Go's own profiler sees Go code only, and see below for what it did to the host). Shares are of "
      "all samples in the host process; `[JIT]` samples are oneDNN's generated matmul kernels.")
    for tag, title in (("n16_c64", "n=16, c=64"), ("n256_c1", "n=256, c=1")):
        p = r["profiles"].get(tag)
        w("")
        w(f"### {title}")
        w("")
        if not p or not p.get("available"):
            w(f"Not available: {(p or {}).get('reason', 'not run')}.")
            continue
        w(f"(under load: {f(p['load_rps'])} requests/s)")
        w("")
        w("| where | share of samples |")
        w("| --- | ---: |")
        for k, v in p["categories"].items():
            w(f"| {k} | {v:.1f}% |")
        w("")
        w("Top symbols:")
        w("")
        w("| % | object | symbol |")
        w("| ---: | --- | --- |")
        for s in p["top"][:12]:
            w(f"| {s['percent']:.2f} | {s['dso']} | `{s['symbol'][:90]}` |")
    pp = r["pprof"].get("n16_c64") or {}
    check = pp.get("check") or {}
    w("")
    w("### Go's own CPU profile (pprof through `-debug-addr`), n=16, c=64")
    w("")
    if not check.get("attempted"):
        w(f"Not taken: {check.get('reason', 'not run')}.")
    elif not check.get("host_survived"):
        reason = f"`{check.get('reason')}`" if check.get("reason") else "no crash report on stderr"
        w(f"**The host crashed while Go's CPU profiler ran** (exit status {check.get('exit_status')}: {reason}), "
          "so there is no pprof profile. This is not specific to the suite: with `/debug/pprof/profile` "
          "running, a loaded host dies within seconds (glibc heap-corruption aborts or SIGSEGV, at c=1 "
          "as at c=64), while the same load without the profiler runs for minutes. `perf` samples the "
          "same load safely; the tables above come from it.")
    if pp.get("cum"):
        cum = pp["cum"]
        w("")
        w(f"Total Go samples {cum.get('total_samples', '?')} over {cum.get('duration', '?')} "
          f"({cum.get('cpu_percent_of_one_core', 0):.0f}% of one core). TensorFlow runs inside `runtime.cgocall`.")
        w("")
        w("| cum % | flat % | function |")
        w("| ---: | ---: | --- |")
        for row in cum["rows"][:25]:
            w(f"| {row['cum_pct']:.1f} | {row['flat_pct']:.1f} | `{row['function'][:100]}` |")
    w("")
    w("## Commands")
    w("")
    w("`bench/run` ran these (PORT: a random free port on 127.0.0.1; $WORK: the run's temporary "
      "directory, holding the model snapshot and each server's private copy of it):")
    w("")
    w("```sh")
    seen = set()
    for c in r["commands"]:
        # The repetitions repeat the same command lines; show each once.
        key = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", c)
        key = re.sub(r"--port \d+", "--port PORT", key)
        key = re.sub(r"/tmp/ganhost-bench\.\w+", "$WORK", key)
        if key in seen:
            continue
        seen.add(key)
        w(key)
    w("```")
    w("")
    w("Reproduce with `bench/run` (full, about 12 minutes; stop other CPU-heavy work first) or "
      "`bench/run --smoke` (under a minute, tiny counts: proves every benchmark runs, figures meaningless).")
    w("")
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--raw", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--docs")
    p.add_argument("--seconds", type=int, default=0)
    p.add_argument("--smoke", action="store_true")
    a = p.parse_args(argv)
    r = assemble(a.raw, a.seconds)
    with open(a.out, "w") as fh:
        json.dump(r, fh, indent=1)
        fh.write("\n")
    if a.smoke:
        print("SMOKE RUN: tiny counts; these figures only show that every benchmark ran")
    print("\n".join(summary_lines(r)))
    missing = missing_figures(r)
    unexplained = [m for m in missing if not crash_explained(m, r)]
    if missing:
        print("missing figures: " + ", ".join(missing)
              + ("" if unexplained else " (each because its server crashed; see CRASH lines)"), file=sys.stderr)
    if unexplained:
        sys.exit(1)
    if a.docs:
        with open(a.docs, "w") as fh:
            fh.write(markdown(r))
        print(f"wrote {a.docs}")
    elif a.smoke:
        markdown(r)  # the docs renderer must work on a smoke run too; nothing is written


if __name__ == "__main__":
    main()
