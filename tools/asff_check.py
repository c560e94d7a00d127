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

import ipaddress
import json
import re
import sys
from datetime import datetime

import botocore.session
from botocore.validate import ParamValidator
from jsonlines import documents, finish

MAX_PER_CALL = 100
MAX_FINDING_BYTES = 240 * 1024
BOUNDS = {"Id": 512, "Title": 256, "Description": 1024}
DATES = ["CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt"]
# ASFF's types taxonomy: namespace/category/classifier, with the categories
# its documentation lists for the namespaces findings of sign-ins use.
NAMESPACES = {
    "Software and Configuration Checks": None,
    "Sensitive Data Identifications": None,
    "TTPs": {
        "Initial Access", "Execution", "Persistence", "Privilege Escalation", "Defense Evasion",
        "Credential Access", "Discovery", "Lateral Movement", "Collection", "Command and Control",
    },
    "Effects": {"Data Exposure", "Data Exfiltration", "Data Destruction", "Denial of Service", "Resource Consumption"},
    "Unusual Behaviors": {"Application", "Network Flow", "IP address", "User", "VM", "Container", "Serverless", "Process", "Database", "Data"},
}


def parse_date(text):
    """An ISO 8601 date-time as Security Hub takes it, with a zone."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else None


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


def documented(finding, path, problems, stamps):
    dates = {}
    for name in DATES:
        if name in finding:
            dates[name] = parse_date(finding[name])
            if dates[name] is None:
                problems.append(f"{path}.{name}: {finding[name]!r} is not an ISO 8601 date-time with a zone")
    if dates.get("CreatedAt") and dates.get("UpdatedAt") and dates["UpdatedAt"] < dates["CreatedAt"]:
        problems.append(f"{path}.UpdatedAt: before CreatedAt")
    # Security Hub ignores an update of a finding whose UpdatedAt is not
    # later than the one it holds.
    fid, updated = finding.get("Id"), dates.get("UpdatedAt")
    if fid and updated:
        if fid in stamps and updated <= stamps[fid]:
            problems.append(f"{path}.UpdatedAt: not later than the previous update of {fid}, which Security Hub would ignore")
        stamps[fid] = max(updated, stamps.get(fid, updated))
    for t in (finding.get("Types") or []) + ((finding.get("FindingProviderFields") or {}).get("Types") or []):
        parts = t.split("/")
        categories = NAMESPACES.get(parts[0], "unknown")
        if categories == "unknown" or len(parts) > 3:
            problems.append(f"{path}.Types: {t!r} is not namespace/category/classifier of ASFF's taxonomy")
        elif categories and len(parts) > 1 and parts[1] not in categories:
            problems.append(f"{path}.Types: {parts[1]!r} is not a category of {parts[0]}")
    text = ((finding.get("Remediation") or {}).get("Recommendation") or {}).get("Text")
    if isinstance(text, str) and len(text) > 512:
        problems.append(f"{path}.Remediation.Recommendation.Text: more than 512 characters")
    network = finding.get("Network") or {}
    for key, version in [("SourceIpV4", 4), ("SourceIpV6", 6)]:
        if key in network:
            try:
                if ipaddress.ip_address(network[key]).version != version:
                    raise ValueError
            except ValueError:
                problems.append(f"{path}.Network.{key}: {network[key]!r} is not an IPv{version} address")

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
    problems = []
    findings = documents(sys.argv[1:], problems)
    validator = ParamValidator()
    stamps = {}
    for start in range(0, len(findings), MAX_PER_CALL):
        call = findings[start : start + MAX_PER_CALL]
        request = {"Findings": [f for _, f in call]}
        report = validator.validate(request, shape)
        if report.has_errors():
            problems.extend(f"call {start // MAX_PER_CALL + 1}: {e}" for e in report.generate_report().splitlines())
        for where, finding in call:
            member = shape.members["Findings"].member
            walk(member, finding, where, problems)
            documented(finding, where, problems, stamps)
    finish(
        f"asff_check: {len(findings)} findings in {-(-len(findings) // MAX_PER_CALL)} calls, "
        f"{len(problems)} problems (botocore {botocore.__version__}, securityhub {model.api_version})",
        problems,
        len(findings),
    )


if __name__ == "__main__":
    main()
