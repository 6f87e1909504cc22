#!/usr/bin/env python3
"""Checks config/grafana-sluice.json: it parses as JSON, it is a dashboard
(title, uid, panels with Prometheus targets), and every sluice_ metric its
queries name is one sluiced exports: a string literal of broker/metrics.cc
(histogram series with _bucket/_sum/_count are checked by their family).

Usage: check_grafana_dashboard.py DASHBOARD.json broker/metrics.cc
Exit 0 when it holds; 1 with what is wrong."""
import json
import re
import sys


def main(dashboard_path, metrics_cc_path):
    with open(dashboard_path, encoding="utf-8") as f:
        dash = json.load(f)
    source = open(metrics_cc_path, encoding="utf-8").read()
    exported = set(re.findall(r'"((?:sluice|process)_[a-z0-9_]+)"', source))
    errors = []
    for key in ("title", "uid", "panels", "templating"):
        if key not in dash:
            errors.append(f"no '{key}'")
    exprs = []
    for panel in dash.get("panels", []):
        if panel.get("type") == "row":
            continue
        targets = panel.get("targets") or []
        if not targets:
            errors.append(f"panel '{panel.get('title')}' has no targets")
        for t in targets:
            if not t.get("expr"):
                errors.append(f"panel '{panel.get('title')}' has a target without expr")
            exprs.append((panel.get("title"), t.get("expr", "")))
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            exprs.append((f"variable {var.get('name')}", var.get("definition", "")))
    for where, expr in exprs:
        for name in re.findall(r"\b((?:sluice|process)_[a-z0-9_]+)", expr):
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            if name not in exported and family not in exported:
                errors.append(f"{where}: {name} is not exported by {metrics_cc_path}")
    if errors:
        print("\n".join(errors))
        return 1
    print(f"ok: {len(exprs)} queries over {len(exported)} exported metrics")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
