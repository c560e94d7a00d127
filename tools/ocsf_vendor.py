#!/usr/bin/env python3
"""Copies the pieces of the OCSF schema that tools/ocsf_check.py needs.

    python3 tools/ocsf_vendor.py --git PATH/TO/ocsf-schema/.git [--rev v1.8.0]

Reads them from a clone of https://github.com/ocsf/ocsf-schema (Apache-2.0)
at the release the findings name (`metadata.version`) and writes them,
unchanged, to tests/ocsf/schema/ with the schema's LICENSE and a
SOURCE file naming the commit. Add an object to OBJECTS when the
findings use one more (the checker names what is missing).
"""

import argparse
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "ocsf", "schema")

FILES = [
    "LICENSE",
    "version.json",
    "categories.json",
    "dictionary.json",
    "events/base_event.json",
    "events/findings/finding.json",
    "events/findings/detection_finding.json",
]
PROFILES = [
    "cloud", "datetime", "host", "osint", "security_control", "incident",
    "data_classification", "container",
]
OBJECTS = [
    "object", "_entity", "_resource", "metadata", "product", "finding_info", "analytic",
    "attack", "tactic", "technique", "sub_technique", "evidences", "endpoint",
    "network_endpoint", "location", "autonomous_system", "actor", "user", "account",
    "http_request", "api", "service", "observable", "cloud", "resource_details",
    "session", "idp", "group", "organization", "ldap_person",
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--git", required=True, help="the ocsf-schema repository's git directory")
    parser.add_argument("--rev", default="v1.8.0")
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "--git-dir", args.git, "rev-parse", f"{args.rev}^{{commit}}"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    paths = FILES + [f"profiles/{p}.json" for p in PROFILES] + [f"objects/{o}.json" for o in OBJECTS]
    for rel in paths:
        text = subprocess.run(
            ["git", "--git-dir", args.git, "show", f"{commit}:{rel}"],
            check=True, capture_output=True,
        ).stdout
        target = os.path.join(OUT, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(text)
    with open(os.path.join(OUT, "SOURCE"), "w", encoding="utf-8") as f:
        f.write(
            "Files of https://github.com/ocsf/ocsf-schema at "
            f"{args.rev} (commit {commit}), unchanged; Apache License 2.0 (LICENSE).\n"
            "Copied by tools/ocsf_vendor.py; read by tools/ocsf_check.py.\n"
        )
    print(f"{len(paths)} files of {args.rev} ({commit[:12]}) in {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main()
