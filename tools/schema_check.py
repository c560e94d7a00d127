#!/usr/bin/env python3
"""Checks JSON Lines against a JSON Schema (2020-12).

    .venv/bin/python tools/schema_check.py SCHEMA [FILE ...]

Reads JSON Lines (files, or standard input); prints one line per problem,
naming the line and the path in the document, and exits 1 when there is any.
Uses the `jsonschema` package the venv holds (a dependency of moto).
"""

import json
import sys

import jsonschema


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    validator = jsonschema.Draft202012Validator(schema)
    streams = [(f, open(f, encoding="utf-8")) for f in sys.argv[2:]] or [("<stdin>", sys.stdin)]
    problems, documents = [], 0
    for name, stream in streams:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            documents += 1
            try:
                document = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"{name}:{number}: not JSON: {e}")
                continue
            for error in validator.iter_errors(document):
                path = "/".join(str(p) for p in error.absolute_path) or "(document)"
                problems.append(f"{name}:{number}: {path}: {error.message}")
    for p in problems:
        print(p)
    print(f"schema_check: {documents} documents, {len(problems)} problems ({schema.get('title')})", file=sys.stderr)
    sys.exit(1 if problems or documents == 0 else 0)


if __name__ == "__main__":
    main()
