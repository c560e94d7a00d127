#!/usr/bin/env python3
"""Writes events/scenarios/: one JSON Lines file per correlation of the pack
(EventBridge events, one per line, in time order) and the same events as an
SQS batch for `cargo lambda invoke` (events/sqs/NAME.json: outside
events/scenarios, so that replaying both directories reads each event once).

Every event is a sample of events/ (documented record shapes) with a few
fields changed. Each scenario holds a positive (the group that alerts) and a
near miss (a group that falls one short, or differs in the one thing that
matters), in hours of its own so that replaying them all together, in any
order, gives each file's alerts and no others. tests/pure/scenarios.rs says what each must give.

    python3 tools/scenarios.py          # write the files
    python3 tools/scenarios.py --check  # fail if a file differs (make test)

Standard library only.
"""

import copy
import json
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
OUT = EVENTS / "scenarios"
SQS = EVENTS / "sqs"
NAMESPACE = uuid.UUID("5c0e7a52-51f1-4d6e-9b0c-6a1d2f3e4b5c")

FAILED_MFA = "rule1-failed-mfa-iam-user.json"
FAILED_PASSWORD = "rule1-near-miss-failed-password-no-mfa.json"
MISTYPED_NAME = "unrelated-mistyped-user-name.json"
SUCCESS_MFA = "rule1-near-miss-success-with-mfa.json"
FEDERATED_TOKEN = "rule2-federated-getsignintoken-no-mfa.json"
IDENTITY_CENTER_FAILURE = "identity-center-credential-failure.json"
ROOT_FAILURE = "rule1-failed-mfa-root.json"
ROOT_SUCCESS = "root-console-login-success.json"

FEDERATED_CONSOLE = {
    "eventName": "ConsoleLogin",
    "responseElements": {"ConsoleLogin": "Success"},
}


def account(acct):
    """The fields that name an account, record and envelope alike."""
    return {"recipientAccountId": acct, "userIdentity.accountId": acct, "@account": acct}


def step(sample, at, **fields):
    return (sample, at, fields)


def every(sample, start, n, gap_s, **fields):
    """`n` events from `start` (HH:MM:SS), `gap_s` seconds apart."""
    t = datetime.strptime(start, "%H:%M:%S")
    return [
        step(sample, (t + timedelta(seconds=i * gap_s)).strftime("%H:%M:%S"), **fields)
        for i in range(n)
    ]


def user(name):
    return {"userIdentity.userName": name}


def principal(acct, name):
    """An IAM user of `acct`, by name and ARN."""
    return {
        **account(acct),
        "userIdentity.userName": name,
        "userIdentity.arn": f"arn:aws:iam::{acct}:user/{name}",
    }


def root(acct):
    return {**account(acct), "userIdentity.arn": f"arn:aws:iam::{acct}:root"}


# Windows are hopping, a half timespan apart, aligned to the epoch; the
# positives below sit across a half boundary, so one window holds them all
# and no other window holds enough: one alert each.
SCENARIOS = {
    "mfa-fatigue": (
        "Five failed MFA challenges for alice in five minutes (positive); four for bob (near miss).",
        every(FAILED_MFA, "09:03:00", 5, 60, **user("alice"))
        + every(FAILED_MFA, "09:03:30", 4, 60, **user("bob")),
    ),
    "mfa-fatigue-success": (
        "Six failed MFA challenges for alice from two addresses, then a sign-in with MFA from a third"
        " (positive; brute-force-success and mfa-fatigue alert too); four for ivan and his sign-in,"
        " all in one second (positive: CloudTrail's whole seconds give a burst no order); two for bob,"
        " then his sign-in (near miss).",
        [
            step(FAILED_MFA, t, **user("alice"), sourceIPAddress=ip)
            for t, ip in [
                ("09:00:10", "203.0.113.24"),
                ("09:01:20", "203.0.113.25"),
                ("09:03:00", "203.0.113.24"),
                ("09:04:40", "203.0.113.25"),
                ("09:06:00", "203.0.113.24"),
                ("09:07:30", "203.0.113.25"),
            ]
        ]
        + [step(SUCCESS_MFA, "09:09:05", **user("alice"), sourceIPAddress="198.51.100.7")]
        + every(FAILED_MFA, "09:30:00", 4, 0, **user("ivan"), sourceIPAddress="192.0.2.60")
        + [step(SUCCESS_MFA, "09:30:00", **user("ivan"), sourceIPAddress="192.0.2.60")]
        + every(FAILED_MFA, "09:02:00", 2, 90, **user("bob"), sourceIPAddress="192.0.2.30")
        + [step(SUCCESS_MFA, "09:08:00", **user("bob"), sourceIPAddress="192.0.2.30")],
    ),
    "console-brute-force": (
        "Ten failed passwords for carol in eight minutes (positive); nine for dave (near miss).",
        every(FAILED_PASSWORD, "09:01:00", 10, 50, **user("carol"))
        + every(FAILED_PASSWORD, "09:01:10", 9, 50, **user("dave")),
    ),
    "brute-force-success": (
        "Five failed passwords for alice, then her sign-in (positive); six for gina and her sign-in,"
        " all in one second (positive); four for frank, then his (near miss).",
        every(FAILED_PASSWORD, "09:00:00", 5, 60, **user("alice"))
        + [step(SUCCESS_MFA, "09:10:00", **user("alice"), sourceIPAddress="192.0.2.10")]
        + every(FAILED_PASSWORD, "09:20:00", 6, 0, **user("gina"))
        + [step(SUCCESS_MFA, "09:20:00", **user("gina"), sourceIPAddress="192.0.2.10")]
        + every(FAILED_PASSWORD, "09:00:30", 4, 60, **user("frank"))
        + [step(SUCCESS_MFA, "09:10:30", **user("frank"), sourceIPAddress="192.0.2.10")],
    ),
    "password-spray": (
        "Failed passwords for six user names from 192.0.2.99 (positive); three names and three"
        " mistyped ones, recorded as one hidden name, from 192.0.2.98 (near miss: four names).",
        [
            step(FAILED_PASSWORD, f"09:{20 + 5 * i}:00", **user(f"user{i}"), sourceIPAddress="192.0.2.99")
            for i in range(6)
        ]
        + [
            step(FAILED_PASSWORD, f"09:{21 + 5 * i}:00", **user(f"staff{i}"), sourceIPAddress="192.0.2.98")
            for i in range(3)
        ]
        + [step(MISTYPED_NAME, f"09:{23 + 5 * i}:00", sourceIPAddress="192.0.2.98") for i in range(3)],
    ),
    "federated-token-relay": (
        "A federated sign-in token minted from one address and its console session opened from"
        " another (positive); both from one address, in another account (near miss).",
        [
            step(FEDERATED_TOKEN, "09:06:00"),
            step(FEDERATED_TOKEN, "09:09:00", **FEDERATED_CONSOLE, sourceIPAddress="198.51.100.200"),
            step(FEDERATED_TOKEN, "09:06:30", **account("444455556666")),
            step(FEDERATED_TOKEN, "09:09:30", **FEDERATED_CONSOLE, **account("444455556666")),
        ],
    ),
    "identity-center-brute-force": (
        "Five failed Identity Center passwords for erin in five minutes (positive); four for frank (near miss).",
        every(IDENTITY_CENTER_FAILURE, "09:03:00", 5, 60)
        + every(IDENTITY_CENTER_FAILURE, "09:03:30", 4, 60, **user("frank@example.com")),
    ),
    "concurrent-console-sessions": (
        "Sign-ins for grace from three addresses within forty minutes (positive); henry's three"
        " sign-ins from two addresses (near miss).",
        [
            step(SUCCESS_MFA, t, **user("grace"), sourceIPAddress=ip)
            for t, ip in [("09:20:00", "192.0.2.41"), ("09:30:00", "198.51.100.42"), ("09:40:00", "203.0.113.43")]
        ]
        + [
            step(SUCCESS_MFA, t, **user("henry"), sourceIPAddress=ip)
            for t, ip in [("09:21:00", "192.0.2.51"), ("09:31:00", "198.51.100.52"), ("09:41:00", "192.0.2.51")]
        ],
    ),
    "console-sessions-from-two-countries": (
        "Sign-ins for jade from Germany (80.128.0.1) and the United States (8.8.8.8) ten minutes"
        " apart (positive); kim's two sign-ins from two German networks (near miss).",
        [
            step(SUCCESS_MFA, "09:10:00", **user("jade"), sourceIPAddress="80.128.0.1"),
            step(SUCCESS_MFA, "09:20:00", **user("jade"), sourceIPAddress="8.8.8.8"),
            step(SUCCESS_MFA, "09:11:00", **user("kim"), sourceIPAddress="80.128.0.1"),
            step(SUCCESS_MFA, "09:21:00", **user("kim"), sourceIPAddress="62.155.0.1"),
        ],
    ),
    "root-spray-across-accounts": (
        "Failed root sign-ins to two accounts from 198.51.100.80 (positive); to one account,"
        " twice, from 198.51.100.81 (near miss).",
        [
            step(ROOT_FAILURE, "09:25:00", sourceIPAddress="198.51.100.80"),
            step(ROOT_FAILURE, "09:35:00", sourceIPAddress="198.51.100.80", **account("444455556666")),
            step(ROOT_FAILURE, "09:26:00", sourceIPAddress="198.51.100.81"),
            step(ROOT_FAILURE, "09:36:00", sourceIPAddress="198.51.100.81"),
        ],
    ),
    # Baselines and impossible travel: each in an account of its own, so
    # that no other scenario's principals are its history. Steps written
    # with a date (YYYY-MM-DD HH:MM:SS) keep it; the learning period is a week.
    "new-country-for-principal": (
        "lena signs in from Germany on November 10 and 14, then from the United States on the 21st"
        " (positive; new-network-for-principal alerts too: Google's network is new for her); mona"
        " signs in from Germany on the 10th and from another German address of the same provider on"
        " the 21st (near miss).",
        [
            step(SUCCESS_MFA, "2026-11-10 09:00:00", **principal("222200000001", "lena"), sourceIPAddress="80.128.0.1"),
            step(SUCCESS_MFA, "2026-11-14 09:00:00", **principal("222200000001", "lena"), sourceIPAddress="80.128.0.1"),
            step(SUCCESS_MFA, "09:05:00", **principal("222200000001", "lena"), sourceIPAddress="8.8.8.8"),
            step(SUCCESS_MFA, "2026-11-10 09:01:00", **principal("222200000001", "mona"), sourceIPAddress="80.128.0.1"),
            step(SUCCESS_MFA, "09:06:00", **principal("222200000001", "mona"), sourceIPAddress="62.155.0.1"),
        ],
    ),
    "new-network-for-principal": (
        "otto signs in from Deutsche Telekom on November 10, then from Vodafone on the 21st, both in"
        " Germany (positive); nina from Deutsche Telekom both times (near miss).",
        [
            step(SUCCESS_MFA, "2026-11-10 09:00:00", **principal("222200000002", "otto"), sourceIPAddress="80.128.0.1"),
            step(SUCCESS_MFA, "09:05:00", **principal("222200000002", "otto"), sourceIPAddress="88.64.0.1"),
            step(SUCCESS_MFA, "2026-11-10 09:01:00", **principal("222200000002", "nina"), sourceIPAddress="80.128.0.1"),
            step(SUCCESS_MFA, "09:06:00", **principal("222200000002", "nina"), sourceIPAddress="80.129.0.1"),
        ],
    ),
    "root-from-new-network": (
        "The root user of 222200000003 signs in from Deutsche Telekom on November 10, then from"
        " Vodafone on the 21st (positive; new-network-for-principal alerts too); the root user of"
        " 222200000004 from Deutsche Telekom both times (near miss).",
        [
            step(ROOT_SUCCESS, "2026-11-10 09:00:00", **root("222200000003"), sourceIPAddress="80.128.0.1"),
            step(ROOT_SUCCESS, "09:05:00", **root("222200000003"), sourceIPAddress="88.64.0.1"),
            step(ROOT_SUCCESS, "2026-11-10 09:01:00", **root("222200000004"), sourceIPAddress="80.128.0.1"),
            step(ROOT_SUCCESS, "09:06:00", **root("222200000004"), sourceIPAddress="62.155.0.1"),
        ],
    ),
    "first-console-sign-in": (
        "pia signs in to 222200000005 on November 10 and again on the 21st (near miss); quinn signs"
        " in for the first time on the 21st, after the account's learning week (positive).",
        [
            step(SUCCESS_MFA, "2026-11-10 09:00:00", **principal("222200000005", "pia"), sourceIPAddress="80.128.0.1"),
            step(SUCCESS_MFA, "09:05:00", **principal("222200000005", "pia"), sourceIPAddress="80.128.0.1"),
            step(SUCCESS_MFA, "09:06:00", **principal("222200000005", "quinn"), sourceIPAddress="80.128.0.1"),
        ],
    ),
    "impossible-travel": (
        "rosa signs in from Germany, then from the United States forty minutes later (positive);"
        " sam from Germany, then from the United States ten hours later (near miss).",
        [
            step(SUCCESS_MFA, "09:00:00", **principal("222200000006", "rosa"), sourceIPAddress="80.128.0.1"),
            step(SUCCESS_MFA, "09:40:00", **principal("222200000006", "rosa"), sourceIPAddress="8.8.8.8"),
            step(SUCCESS_MFA, "2026-11-21 12:01:00", **principal("222200000006", "sam"), sourceIPAddress="80.128.0.1"),
            step(SUCCESS_MFA, "09:01:00", **principal("222200000006", "sam"), sourceIPAddress="8.8.8.8"),
        ],
    ),
}


def set_path(obj, dotted, value):
    *parents, last = dotted.split(".")
    for key in parents:
        obj = obj.setdefault(key, {})
    obj[last] = value


def event(name, day, index, sample, at, fields):
    envelope = json.loads((EVENTS / sample).read_text())
    detail = envelope["detail"]
    when = at.replace(" ", "T") + "Z" if " " in at else f"{day}T{at}Z"
    event_id = str(uuid.uuid5(NAMESPACE, f"{name}/{index}"))
    for dotted, value in fields.items():
        if dotted == "@account":
            envelope["account"] = value
        else:
            set_path(detail, dotted, copy.deepcopy(value))
    # A user named without an ARN keeps the sample's ARN consistent with
    # the name: records name an IAM user both ways.
    ident = detail.get("userIdentity", {})
    name_set = "userIdentity.userName" in fields and "userIdentity.arn" not in fields
    if name_set and ident.get("type") == "IAMUser" and "/" in ident.get("arn", ""):
        ident["arn"] = ident["arn"].rsplit("/", 1)[0] + "/" + fields["userIdentity.userName"]
    detail["eventTime"] = when
    detail["eventID"] = event_id
    envelope["time"] = when
    envelope["id"] = str(uuid.uuid5(NAMESPACE, f"{name}/{index}/envelope"))
    return envelope


def sqs_batch(name, lines):
    records = []
    for i, line in enumerate(lines):
        records.append(
            {
                "messageId": str(uuid.uuid5(NAMESPACE, f"{name}/{i}/message")),
                "receiptHandle": f"scenario-{name}-{i}",
                "body": line,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1763629200000",
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": "1763629200000",
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:signin-watch-events",
                "awsRegion": "us-east-1",
            }
        )
    return json.dumps({"Records": records}, indent=2) + "\n"


# Each scenario's hour of 2026-11-21 (its steps are written at 09:..): two
# hours apart, so that no window or sequence (an hour at most) spans two,
# and all within the lateness horizon of each other (24 hours), so that
# replaying the files in any order gives the same alerts.
DAY = "2026-11-21"
HOURS = {
    "mfa-fatigue": 1,
    "console-brute-force": 3,
    "brute-force-success": 5,
    "password-spray": 7,
    "mfa-fatigue-success": 9,
    "federated-token-relay": 11,
    "identity-center-brute-force": 13,
    "concurrent-console-sessions": 15,
    "root-spray-across-accounts": 17,
    "console-sessions-from-two-countries": 19,
    "new-country-for-principal": 20,
    "new-network-for-principal": 20,
    "root-from-new-network": 21,
    "first-console-sign-in": 21,
    "impossible-travel": 22,
}


def at_hour(at, hour):
    if " " in at:
        return at  # a date and time of its own
    h, rest = at.split(":", 1)
    assert h == "09", f"steps are written at 09:.., not {at}"
    return f"{hour:02d}:{rest}"


def files():
    out = {}
    readme = ["# Scenarios, one per correlation (written by tools/scenarios.py; do not edit)", ""]
    assert sorted(HOURS) == sorted(SCENARIOS), "an hour per scenario"
    for name, (what, steps) in SCENARIOS.items():
        hour = HOURS[name]
        day = DAY
        events = [
            event(name, day, i, sample, at_hour(at, hour), fields)
            for i, (sample, at, fields) in enumerate(steps)
        ]
        events.sort(key=lambda e: (e["detail"]["eventTime"], e["detail"]["eventID"]))
        lines = [json.dumps(e, separators=(",", ":")) for e in events]
        out[OUT / f"{name}.jsonl"] = "".join(line + "\n" for line in lines)
        out[SQS / f"{name}.json"] = sqs_batch(name, lines)
        readme.append(f"- `{name}.jsonl` ({day} {hour:02d}:00 UTC; SQS batch `../sqs/{name}.json`): {what}")
    out[OUT / "README.md"] = "\n".join(readme) + "\n"
    return out


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for path, text in files().items():
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.relative_to(ROOT))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if stale:
        print("stale (run python3 tools/scenarios.py):", *stale, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
