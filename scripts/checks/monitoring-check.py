"""Check deploy/monitoring: the PrometheusRule with promtool, the Grafana dashboard's structure and its queries against
a real /metrics scrape.

Usage: monitoring-check.py [--server BINARY] [--promtool PATH] [--verbose]
  (scripts/checks/deploy-check.sh runs it with the project venv, which has PyYAML)

1. PrometheusRule: its spec.groups, written out as a plain rule file, pass `promtool check rules`, and the unit test
   deploy/monitoring/prometheusrule-test.yaml passes `promtool test rules` on them (alerts fire after 10 minutes of
   drift, not before, and not for a model whose scores did not move).
2. Dashboard structure: title, uid, schemaVersion, templating; every panel has a unique id, a known type, a gridPos
   inside the 24-column grid that overlaps no other panel, the templated Prometheus datasource and targets with
   unique refIds and an expr; every $variable used is defined or one of Grafana's; the panels the issue asks for are
   there (request rate, latency percentiles, passes, score distributions, flagged rate per model).
3. PromQL: every dashboard expr (variables replaced by their defaults, $__rate_interval by 5m) parses
   (`promtool check rules` on a throw-away group).
4. Metric names: with --server (a built mcdropout-serve), the server is started on a free loopback port with both
   committed models, answers one /predict and one V2 infer per model, and its /metrics is scraped; the scrape passes
   `promtool check metrics`, and every metric a dashboard expr, variable query or rule expr names is in it, with a
   series for every label="value" matcher and every variable default. Without --server the names are checked
   against the `# TYPE` lines in Sources/ only.
Prints each failed check (each check with --verbose) and a count; exits 1 on any failure.
"""
import argparse
import json
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
PANEL_TYPES = {"row", "timeseries", "heatmap", "stat", "gauge", "bargauge", "table", "text"}
GRAFANA_VARIABLES = {"__rate_interval", "__interval", "__range", "__name__"}
failures = []
passed = [0]
verbose = "--verbose" in sys.argv


def check(condition: bool, message: str) -> None:
    if verbose or not condition:
        print(f"  {'ok  ' if condition else 'FAIL'} {message}")
    if condition:
        passed[0] += 1
    else:
        failures.append(message)


def run(command: list, cwd: Path | None = None, stdin: str | None = None) -> tuple[bool, str]:
    result = subprocess.run(command, cwd=cwd, input=stdin, capture_output=True, text=True)
    return result.returncode == 0, (result.stdout + result.stderr).strip()


def check_rules(promtool: str, rule: dict) -> list:
    """promtool check + test on the PrometheusRule's groups; returns the groups."""
    check(rule.get("apiVersion") == "monitoring.coreos.com/v1" and rule.get("kind") == "PrometheusRule",
          "prometheusrule.yaml is a monitoring.coreos.com/v1 PrometheusRule")
    groups = rule.get("spec", {}).get("groups", [])
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        ok, output = run([promtool, "check", "rules", "rules.yaml"], cwd=Path(work))
        check(ok, f"promtool check rules: {output.splitlines()[-1] if output else ''}")
        if not ok:
            print(output)
        (Path(work) / "test.yaml").write_text((MONITORING / "prometheusrule-test.yaml").read_text())
        ok, output = run([promtool, "test", "rules", "test.yaml"], cwd=Path(work))
        check(ok, f"promtool test rules deploy/monitoring/prometheusrule-test.yaml: {'SUCCESS' if ok else 'FAILED'}")
        if not ok:
            print(output)
    alerts = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
    check(all(a.get("for") == "10m" for a in alerts.values()) and len(alerts) >= 2,
          f"alerts {sorted(alerts)} hold for 10m")
    return groups


def overlaps(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def check_dashboard(dashboard: dict) -> tuple[list, dict]:
    """Structural checks; returns the panels' exprs (with titles) and the variables' defaults."""
    check(bool(dashboard.get("title")) and 0 < len(dashboard.get("uid", "")) <= 40, "title and uid (≤ 40 chars)")
    check(isinstance(dashboard.get("schemaVersion"), int), f"schemaVersion {dashboard.get('schemaVersion')}")
    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    check(variables.get("datasource", {}).get("type") == "datasource"
          and variables["datasource"].get("query") == "prometheus", "a Prometheus datasource variable")
    defaults = {}
    for name, variable in variables.items():
        if variable["type"] != "query":
            continue
        current = variable.get("current", {}).get("value")
        defaults[name] = current if current is not None else (variable.get("allValue") or ".*")
        check(variable.get("datasource", {}).get("uid") == "${datasource}", f"variable {name} uses ${{datasource}}")
    panels = dashboard.get("panels", [])
    ids = [p.get("id") for p in panels]
    check(len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids), f"{len(panels)} panels, ids unique")
    exprs = []
    placed = []
    for panel in panels:
        where = f"panel {panel.get('id')} '{panel.get('title')}'"
        grid = panel.get("gridPos", {})
        check(panel.get("type") in PANEL_TYPES, f"{where}: type {panel.get('type')}")
        check(all(isinstance(grid.get(k), int) for k in "xywh") and grid["x"] >= 0 and grid["y"] >= 0
              and grid["w"] >= 1 and grid["h"] >= 1 and grid["x"] + grid["w"] <= 24, f"{where}: gridPos {grid}")
        clash = [other for other in placed if overlaps(grid, other[1])]
        check(not clash, f"{where}: overlaps no other panel" + (f" (overlaps {clash[0][0]})" if clash else ""))
        placed.append((where, grid))
        if panel.get("type") == "row":
            continue
        targets = panel.get("targets", [])
        refs = [t.get("refId") for t in targets]
        check(bool(targets) and len(refs) == len(set(refs)) and all(t.get("expr") for t in targets),
              f"{where}: {len(targets)} target(s), refIds unique, each with an expr")
        check(panel.get("datasource", {}).get("uid") == "${datasource}"
              and all(t.get("datasource", {}).get("uid") == "${datasource}" for t in targets),
              f"{where}: queries ${{datasource}}")
        exprs += [(where, t["expr"]) for t in targets]
    used = set()
    texts = [e for _, e in exprs] + [p.get("title", "") for p in panels]
    texts += [v["query"]["query"] for v in variables.values() if isinstance(v.get("query"), dict)]
    for text in texts:
        used |= set(re.findall(r"\$\{?(\w+)", text))
    undefined = used - set(variables) - GRAFANA_VARIABLES
    check(not undefined,
          f"variables used are defined ({sorted(used)})" + (f"; not: {sorted(undefined)}" if undefined else ""))
    joined = "\n".join(e for _, e in exprs)
    wanted = {
        "request rate": r"rate\(mcdropout_requests_total",
        "latency percentiles":
            r"histogram_quantile\([^,]+, sum by \(le\) \(rate\(mcdropout_request_duration_seconds_bucket",
        "passes": r"rate\(mcdropout_mc_passes_total",
        "score distributions": r"mcdropout_prediction_score_bucket\{[^}]*score=\"\$score\"",
        "flagged rate per model": r"sum by \(model\) \(rate\(mcdropout_predictions_flagged_total",
        "mean mutual information per model": r"sum by \(model\) \(rate\(mcdropout_prediction_score_sum\{[^}]*"
        r"score=\"mutual_information\"",
    }
    for what, pattern in wanted.items():
        check(re.search(pattern, joined) is not None, f"a panel shows {what}")
    return exprs, defaults


def substitute(expr: str, defaults: dict) -> str:
    expr = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m").replace("$__range", "1h")
    for name, value in sorted(defaults.items(), key=lambda item: -len(item[0])):
        if isinstance(value, list):  # as Grafana writes a multi-value: an alternation, escaped inside a string
            value = "(" + "|".join(re.escape(v).replace("\\", "\\\\") for v in value) + ")"
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    return expr


def check_promql(promtool: str, exprs: list) -> None:
    rules = [{"record": f"dashboard:expr_{i}", "expr": expr} for i, (_, expr) in enumerate(exprs)]
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "exprs.yaml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
        ok, output = run([promtool, "check", "rules", "exprs.yaml"], cwd=Path(work))
    check(ok, f"all {len(exprs)} dashboard exprs parse as PromQL (promtool)")
    if not ok:
        print(output)


def selectors(expr: str) -> list:
    """(metric, [(label, op, value)]) for each selector naming an mcdropout metric."""
    found = []
    for match in re.finditer(r"(?<![\w:])(mcdropout_[a-z0-9_]+)(?![\w:])(\{([^}]*)\})?", expr):
        matchers = re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"', match.group(3) or "")
        found.append((match.group(1), matchers))
    return found


def scrape(binary: Path) -> str | None:
    models = [ROOT / "models" / "mnist.safetensors", ROOT / "models" / "fashion-mnist.safetensors"]
    args = [str(binary), "--host=127.0.0.1", "--port=0", *[f"--model={m}" for m in models]]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        check(match is not None, f"server starts ({line.strip()})")
        if not match:
            return None
        url = f"http://127.0.0.1:{match.group(1)}"
        for model in ("mnist", "fashion-mnist"):
            pixels = json.loads((ROOT / "examples" / "mnist-test-0000-label-7.json").read_text())["pixels"]
            body = {"pixels": pixels, "samples": 10, "seed": 1, "model": model}
            urllib.request.urlopen(urllib.request.Request(f"{url}/predict", data=json.dumps(body).encode()), timeout=30)
            v2 = {"inputs": [{"name": "pixels", "shape": [1, 784], "datatype": "FP32", "data": [0.0] * 784}],
                  "parameters": {"samples": 10, "seed": 1}}
            request = urllib.request.Request(f"{url}/v2/models/{model}/infer", data=json.dumps(v2).encode())
            urllib.request.urlopen(request, timeout=30)
        with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
            return response.read().decode()
    finally:
        process.terminate()
        process.wait(timeout=60)


def parse_scrape(text: str) -> tuple[dict, dict]:
    """Series by name ({name: [labels]}) and family types ({family: type})."""
    series, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(" ", 3)
            types[family] = kind
        elif line and not line.startswith("#"):
            match = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ", line)
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(3) or ""))
            series.setdefault(match.group(1), []).append(labels)
    return series, types


def source_metric_names() -> dict:
    """Families declared with `# TYPE` in the server's sources: {family: type}."""
    names = {}
    for path in (ROOT / "Sources").rglob("*.swift"):
        for family, kind in re.findall(r"# TYPE (mcdropout_[a-z0-9_]+) (\w+)", path.read_text()):
            names[family] = kind
    return names


def exported_names(types: dict) -> set:
    names = set()
    for family, kind in types.items():
        names |= {family + s for s in ("_bucket", "_sum", "_count")} if kind == "histogram" else {family}
    return names


def check_names(exprs: list, rule_exprs: list, variables: dict, defaults: dict, series: dict | None,
                types: dict) -> None:
    exported = exported_names(types)
    source = "the scrape" if series is not None else "Sources/ # TYPE lines"
    for where, expr in exprs + rule_exprs + variables:
        concrete = substitute(expr, defaults)
        for metric, matchers in selectors(concrete):
            check(metric in exported, f"{where}: {metric} is in {source}")
            if series is None or metric not in series:
                continue
            for label, op, quoted in matchers:
                value = re.sub(r"\\(.)", r"\1", quoted)  # the string's value, as the PromQL parser reads it
                if op == "=":
                    hit = any(s.get(label) == value for s in series[metric])
                elif op == "=~":
                    hit = any(re.fullmatch(value, s.get(label, "")) for s in series[metric])
                else:
                    continue
                check(hit, f"{where}: {metric} has a series with {label}{op}\"{value}\"")


def main() -> None:
    parser = argparse.ArgumentParser(usage=__doc__.split("\n\n")[1].split("\n  (")[0][len("Usage: "):])
    parser.add_argument("--server", type=Path)
    parser.add_argument("--promtool", default="promtool")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    print("PrometheusRule (deploy/monitoring/prometheusrule.yaml):")
    groups = check_rules(args.promtool, yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text()))
    recorded = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    rule_exprs = [(f"rule {r.get('record') or r.get('alert')}", r["expr"]) for g in groups for r in g["rules"]]
    for where, expr in rule_exprs:
        unknown = set(re.findall(r"\b[a-z_]+:[a-z0-9_:]+\b", expr)) - recorded
        check(not unknown, f"{where}: recording rules it reads are defined" + (f" (not: {unknown})" if unknown else ""))

    print("Grafana dashboard (deploy/monitoring/grafana-dashboard.json):")
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs, defaults = check_dashboard(dashboard)
    check_promql(args.promtool, [(w, substitute(e, defaults)) for w, e in exprs])
    variable_queries = []
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            inner = re.fullmatch(r"label_values\((.*), (\w+)\)", query["query"])
            check(inner is not None, f"variable {variable['name']}: label_values(selector, label)")
            if inner:
                variable_queries.append((f"variable {variable['name']}", inner.group(1)))

    print("Metric names:")
    series = None
    types = source_metric_names()
    if args.server:
        text = scrape(args.server)
        if text is not None:
            ok, output = run([args.promtool, "check", "metrics"], stdin=text)
            check(ok, "promtool check metrics on the scrape" + (f": {output}" if output else ": clean"))
            series, types = parse_scrape(text)
            for name, default in defaults.items():
                variable = next(v for v in dashboard["templating"]["list"] if v["name"] == name)
                inner = re.fullmatch(r"label_values\((\w+).*, (\w+)\)", variable["query"]["query"])
                values = {s.get(inner.group(2)) for s in series.get(inner.group(1), [])}
                wanted = default if isinstance(default, list) else [default]
                check(all(v in values or v == ".*" for v in wanted),
                      f"variable {name}'s default {wanted} is among the scraped values")
    else:
        print("  (no --server: names checked against the sources' # TYPE lines, label values not checked)")
    check_names(exprs, rule_exprs, variable_queries, defaults, series, types)

    print(f"monitoring-check: {passed[0]} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
