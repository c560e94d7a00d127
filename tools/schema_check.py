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
from jsonlines import documents, finish


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    found = documents(sys.argv[2:], problems)
    for where, document in found:
        for error in validator.iter_errors(document):
            path = "/".join(str(p) for p in error.absolute_path) or "(document)"
            problems.append(f"{where}: {path}: {error.message}")
    finish(f"schema_check: {len(found)} documents, {len(problems)} problems ({schema.get('title')})", problems, len(found))

if __name__ == "__main__":
    main()
