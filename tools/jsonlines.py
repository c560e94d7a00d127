"""What the payload checkers in tools/ share: reading JSON Lines, and
saying what they found.

`documents(paths, problems)` reads the files (or standard input when there
are none) and returns `(where, document)` for each line that holds one,
`where` being `FILE:LINE`; a line that is not JSON becomes a problem.
`finish(summary, problems, checked)` prints the problems, the summary on
standard error, and exits 1 when there is a problem or nothing was checked.
"""

import json
import sys


def documents(paths, problems):
    streams = [(p, open(p, encoding="utf-8")) for p in paths] or [("<stdin>", sys.stdin)]
    found = []
    for name, stream in streams:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            where = f"{name}:{number}"
            try:
                found.append((where, json.loads(line)))
            except json.JSONDecodeError as e:
                problems.append(f"{where}: not JSON: {e}")
    return found


def finish(summary, problems, checked):
    for p in problems:
        print(p)
    print(summary, file=sys.stderr)
    sys.exit(1 if problems or checked == 0 else 0)
