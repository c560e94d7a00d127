#!/usr/bin/env python3
"""Draws the template's CloudWatch dashboard as an SVG picture.

    .venv/bin/python tools/dashboard_svg.py [--check] [--json] [TEMPLATE] [OUT]

Reads the `Dashboard` resource of TEMPLATE (template.yaml) with cfn-lint's
loader, fills its `Fn::Sub` in (the stack's names as `<Resource>`, the trail
bucket's widgets included), and draws each widget where CloudWatch places
it (a grid of 24 columns): its title, and the metrics or query it shows.
Writes OUT (docs/dashboard.svg); with --check, exits 1 when OUT is not what
the template gives (the picture is stale); with --json, prints the
dashboard's body instead. Standard library and cfn-lint only.
"""

import argparse
import html
import json
import os
import re
import sys

from cfnlint.decode import cfn_yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
COLUMN, ROW = 44, 34


BRANCH = 1


def substitute(value):
    """`Fn::Sub` filled in: pseudo-parameters and resources by name, a
    variable map's `Fn::If` by its first branch (every widget drawn), or by
    its second with --without-conditions."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        text, variables = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
        filled = {name: substitute(v) for name, v in variables.items()}

        def one(m):
            name = m.group(1)
            if name in filled:
                return filled[name]
            if name.startswith("AWS::"):
                return name[len("AWS::"):].upper()
            return f"<{name.split('.')[0]}>"

        return re.sub(r"\$\{([^}]+)\}", one, text)
    if isinstance(value, dict) and "Fn::If" in value:
        return substitute(value["Fn::If"][BRANCH])
    if isinstance(value, str):
        return value
    raise SystemExit(f"dashboard_svg: cannot fill in {value!r}")


def body(template_path):
    template = cfn_yaml.load(template_path)
    dashboard = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]
    return json.loads(substitute(dashboard))


def lines_of(widget):
    props = widget["properties"]
    if widget["type"] == "log":
        query = props["query"].split("|", 1)[-1].strip()
        return [q.strip() for q in query.split("|")]
    out = []
    for metric in props.get("metrics", []):
        first = metric[0]
        if isinstance(first, dict):
            expression = first["expression"]
            m = re.search(r'MetricName="([^"]+)"', expression)
            out.append(f"{m.group(1) if m else expression} per rule")
        else:
            names = [part for part in metric if isinstance(part, str)]
            dims = names[2:]
            label = names[1] + (f" ({dims[1]})" if len(dims) > 1 else "")
            out.append(label)
    return out


def svg(dashboard):
    widgets = dashboard["widgets"]
    width = 24 * COLUMN
    height = max(w["y"] + w["height"] for w in widgets) * ROW
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" role="img">',
        "<title>signin-watch's CloudWatch dashboard, drawn from template.yaml</title>",
        f'<rect width="{width}" height="{height}" fill="#f4f5f7"/>',
    ]
    for w in widgets:
        x, y = w["x"] * COLUMN + 4, w["y"] * ROW + 4
        wd, ht = w["width"] * COLUMN - 8, w["height"] * ROW - 8
        kind = "Logs Insights" if w["type"] == "log" else w["properties"].get("view", "")
        parts.append(f'<rect x="{x}" y="{y}" width="{wd}" height="{ht}" rx="4" fill="#ffffff" stroke="#aab2bd"/>')
        parts.append(
            f'<text x="{x + 10}" y="{y + 22}" font-size="14" font-weight="bold" fill="#16191f">'
            f"{html.escape(w['properties']['title'])}</text>"
        )
        parts.append(f'<text x="{x + 10}" y="{y + 40}" font-size="11" fill="#687078">{html.escape(kind)}</text>')
        for i, line in enumerate(lines_of(w)):
            parts.append(
                f'<text x="{x + 16}" y="{y + 62 + 17 * i}" font-size="12" fill="#0972d3">'
                f"{html.escape(line[:70])}</text>"
            )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--without-conditions", action="store_true", help="print the body when no condition holds")
    parser.add_argument("template", nargs="?", default=os.path.join(ROOT, "template.yaml"))
    parser.add_argument("out", nargs="?", default=os.path.join(ROOT, "docs", "dashboard.svg"))
    args = parser.parse_args()
    global BRANCH
    BRANCH = 2 if args.without_conditions else 1
    dashboard = body(args.template)
    if args.json or args.without_conditions:
        print(json.dumps(dashboard))
        return
    picture = svg(dashboard)
    if args.check:
        current = open(args.out, encoding="utf-8").read() if os.path.exists(args.out) else ""
        if current != picture:
            print(f"dashboard_svg: {args.out} is not what the template draws: run tools/dashboard_svg.py", file=sys.stderr)
            sys.exit(1)
        return
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(picture)
    print(f"dashboard_svg: {len(dashboard['widgets'])} widgets drawn in {os.path.relpath(args.out)}")


if __name__ == "__main__":
    main()
