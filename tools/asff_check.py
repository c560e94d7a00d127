#!/usr/bin/env python3
"""Checks ASFF findings against botocore's model of Security Hub.

    .venv/bin/python tools/asff_check.py [FILE ...]

Reads JSON Lines of findings (files, or standard input), groups them in
calls of at most 100 as `BatchImportFindings` takes them, and checks each
call's request against the operation's input shape in botocore's own
service model (installed with moto in .venv):

- botocore's parameter validation: required members, unknown members,
  types, minimum lengths;
- what that validation leaves out: enums, the `pattern` of strings
  (`NonEmptyString` is `.*\\S.*`), maximum lengths and list sizes;
- ASFF's documented bounds: a finding of at most 240 KB, `Id` of at most
  512 characters, `Title` 256, `Description` 1,024, at most 50
  `ProductFields` with keys of 128 and values of 2,048 characters, and a
  `ProductArn` and `AwsAccountId` that agree, as the default product needs.

Prints one line per problem, naming the finding and the member, and exits 1
when there is any.
"""

import json
import re
import sys

import botocore.session
from botocore.validate import ParamValidator

MAX_PER_CALL = 100
MAX_FINDING_BYTES = 240 * 1024
BOUNDS = {"Id": 512, "Title": 256, "Description": 1024}


def walk(shape, value, path, problems):
    """The model's constraints that botocore's validator does not check."""
    kind = shape.type_name
    meta = shape.metadata
    if kind == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} is not one of {shape.enum}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value, re.DOTALL):
            problems.append(f"{path}: {value!r} does not match {meta['pattern']}")
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: longer than {meta['max']}")
    elif kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                walk(member, value[name], f"{path}.{name}", problems)
    elif kind == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: more than {meta['max']} items")
        for i, item in enumerate(value):
            walk(shape.member, item, f"{path}[{i}]", problems)
    elif kind == "map" and isinstance(value, dict):
        for k, v in value.items():
            walk(shape.key, k, f"{path} key {k!r}", problems)
            walk(shape.value, v, f"{path}[{k!r}]", problems)


def documented(finding, path, problems):
    size = len(json.dumps(finding, separators=(",", ":")).encode())
    if size > MAX_FINDING_BYTES:
        problems.append(f"{path}: {size} bytes, more than 240 KB")
    for name, limit in BOUNDS.items():
        if isinstance(finding.get(name), str) and len(finding[name]) > limit:
            problems.append(f"{path}.{name}: {len(finding[name])} characters, more than {limit}")
    fields = finding.get("ProductFields") or {}
    if len(fields) > 50:
        problems.append(f"{path}.ProductFields: {len(fields)} fields, more than 50")
    for k, v in fields.items():
        if len(k) > 128:
            problems.append(f"{path}.ProductFields key {k[:40]!r}...: more than 128 characters")
        if isinstance(v, str) and len(v) > 2048:
            problems.append(f"{path}.ProductFields[{k!r}]: more than 2,048 characters")
    arn = finding.get("ProductArn", "")
    account = finding.get("AwsAccountId")
    m = re.fullmatch(r"arn:[a-z-]+:securityhub:[a-z0-9-]+:(\d{12}):product/(\d{12})/default", arn)
    if not m or m.group(1) != m.group(2):
        problems.append(f"{path}.ProductArn: {arn!r} is not an account's default product")
    elif account != m.group(1):
        problems.append(f"{path}.AwsAccountId: {account!r} is not the product's account {m.group(1)}")


def main():
    model = botocore.session.get_session().get_service_model("securityhub")
    operation = model.operation_model("BatchImportFindings")
    shape = operation.input_shape
    findings, problems = [], []
    streams = [(f, open(f, encoding="utf-8")) for f in sys.argv[1:]] or [("<stdin>", sys.stdin)]
    for name, stream in streams:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                findings.append((f"{name}:{number}", json.loads(line)))
            except json.JSONDecodeError as e:
                problems.append(f"{name}:{number}: not JSON: {e}")
    validator = ParamValidator()
    for start in range(0, len(findings), MAX_PER_CALL):
        call = findings[start : start + MAX_PER_CALL]
        request = {"Findings": [f for _, f in call]}
        report = validator.validate(request, shape)
        if report.has_errors():
            problems.extend(f"call {start // MAX_PER_CALL + 1}: {e}" for e in report.generate_report().splitlines())
        for where, finding in call:
            member = shape.members["Findings"].member
            walk(member, finding, where, problems)
            documented(finding, where, problems)
    for p in problems:
        print(p)
    print(
        f"asff_check: {len(findings)} findings in {-(-len(findings) // MAX_PER_CALL)} calls, "
        f"{len(problems)} problems (botocore {botocore.__version__}, securityhub {model.api_version})",
        file=sys.stderr,
    )
    sys.exit(1 if problems or not findings else 0)


if __name__ == "__main__":
    main()
