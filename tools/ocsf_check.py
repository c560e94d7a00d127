#!/usr/bin/env python3
"""Checks OCSF events against the schema's own source files.

    python3 tools/ocsf_check.py [--schema DIR] [FILE ...]

Reads JSON Lines (files, or standard input) and checks each event against
the class its `class_uid` names, compiled from the schema's published
source files in DIR (default: tests/ocsf/schema, the pieces this project
uses, vendored by `tools/ocsf_vendor.py` from ocsf/ocsf-schema, Apache-2.0):

- the class, its category and its `type_uid` agree;
- every attribute is one the class or its object defines (after `extends`,
  `$include` and profiles), and a profile's attribute is used only when
  `metadata.profiles` names the profile;
- every required attribute is present, and objects' `at_least_one` and
  `just_one` constraints hold;
- every value has its dictionary type (strings, integers, longs and
  timestamps, floats, booleans, JSON, objects, arrays where `is_array`);
- every enumerated attribute (`*_id`) holds one of its enum's values, and
  its caption (`severity`, `activity_name`, `type_name`, ...) agrees;
- no attribute is deprecated; types' patterns, lengths and ranges hold;
  `metadata.profiles` names profiles the schema has;
- `metadata.version` is the schema's version.

Prints one line per problem, naming the line and the attribute's path, and
exits 1 when there is any; standard library only.
"""

import argparse
import copy
import json
import os
import re

from jsonlines import documents, finish

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SCHEMA = os.path.join(HERE, "..", "tests", "ocsf", "schema")

SCALARS = {"string_t", "integer_t", "long_t", "float_t", "boolean_t", "json_t"}


class Schema:
    def __init__(self, root):
        self.root = root
        self.version = self._load("version.json")["version"]
        dictionary = self._load("dictionary.json")
        self.dictionary = dictionary["attributes"]
        self.types = dictionary["types"]["attributes"]
        self.categories = self._load("categories.json")["attributes"]
        self.profiles = {
            f[: -len(".json")] for f in os.listdir(os.path.join(self.root, "profiles")) if f.endswith(".json")
        }
        self._objects = {}
        self._classes = {}

    def _load(self, rel):
        path = os.path.join(self.root, rel)
        if not os.path.exists(path):
            raise SystemExit(
                f"ocsf_check: {rel} is not in {self.root}: vendor it with tools/ocsf_vendor.py"
            )
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def base_type(self, name):
        """The scalar a dictionary type comes to, or None for an object."""
        seen = 0
        while name not in SCALARS:
            if name not in self.types or seen > 8:
                return None
            name = self.types[name].get("type") or name
            seen += 1
            if name in SCALARS:
                break
        return name

    @staticmethod
    def _merge(base, spec):
        """A class's or object's refinement of an attribute: its keys win,
        and its enum adds to the enum it refines (a class's activities add
        to the base event's Unknown and Other)."""
        merged = dict(base)
        merged.update(spec)
        if "enum" in base and "enum" in spec:
            merged["enum"] = {**base["enum"], **spec["enum"]}
        return merged

    def _compile(self, record, parent_attrs):
        attrs = copy.deepcopy(parent_attrs)
        own = record.get("attributes", {})
        for inc in own.get("$include", []):
            included = self._load(inc)
            profile = included.get("name") if included.get("meta") == "profile" else None
            for name, spec in included.get("attributes", {}).items():
                merged = self._merge(attrs.get(name, {}), spec)
                if profile is not None and "profile" not in spec:
                    merged["profile"] = profile
                attrs[name] = merged
        for name, spec in own.items():
            if name == "$include":
                continue
            attrs[name] = self._merge(attrs.get(name, {}), spec)
        return attrs

    def object(self, name):
        if name not in self._objects:
            record = self._load(f"objects/{name}.json")
            parent = self.object(record["extends"]) if record.get("extends") else {"attributes": {}, "constraints": {}}
            # An object keeps the constraints of what it extends unless it
            # states its own.
            constraints = {**parent["constraints"], **(record.get("constraints") or {})}
            self._objects[name] = {
                "attributes": self._compile(record, parent["attributes"]),
                "constraints": constraints,
            }
        return self._objects[name]

    def event_class(self, path):
        if path not in self._classes:
            record = self._load(path)
            parent = {}
            if record.get("extends"):
                parent_path = {
                    "base_event": "events/base_event.json",
                    "finding": "events/findings/finding.json",
                }[record["extends"]]
                parent = self.event_class(parent_path)["attributes"]
            self._classes[path] = {
                "record": record,
                "attributes": self._compile(record, parent),
                "constraints": dict(record.get("constraints") or {}),
            }
        return self._classes[path]


CLASS_FIXED = {"class_uid", "category_uid", "type_uid"}
CLASSES = {2004: "events/findings/detection_finding.json"}


class Checker:
    def __init__(self, schema, where):
        self.schema = schema
        self.where = where
        self.problems = []

    def problem(self, path, what):
        self.problems.append(f"{self.where}: {path or '(event)'}: {what}")

    def check_event(self, event):
        if not isinstance(event, dict):
            self.problem("", "not a JSON object")
            return
        class_uid = event.get("class_uid")
        if class_uid not in CLASSES:
            self.problem("class_uid", f"{class_uid!r} is not a class this checker has the schema of")
            return
        compiled = self.schema.event_class(CLASSES[class_uid])
        record = compiled["record"]
        category = self.schema.categories[record["category"] if "category" in record else "findings"]
        if class_uid != category["uid"] * 1000 + record["uid"]:
            self.problem("class_uid", f"{class_uid} is not category {category['uid']}'s class {record['uid']}")
        if event.get("category_uid") != category["uid"]:
            self.problem("category_uid", f"{event.get('category_uid')!r}, expected {category['uid']}")
        activity = event.get("activity_id")
        if isinstance(activity, int) and event.get("type_uid") != class_uid * 100 + activity:
            self.problem("type_uid", f"{event.get('type_uid')!r}, expected {class_uid * 100 + activity}")
        activities = compiled["attributes"].get("activity_id", {}).get("enum", {})
        names = {
            "class_name": record["caption"],
            "category_name": category["caption"],
        }
        if str(activity) in activities:
            names["activity_name"] = activities[str(activity)]["caption"]
            names["type_name"] = f"{record['caption']}: {activities[str(activity)]['caption']}"
        for name, expected in names.items():
            if name in event and event[name] != expected:
                self.problem(name, f"{event[name]!r}, expected {expected!r}")
        metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
        for profile in metadata.get("profiles") or []:
            if profile not in self.schema.profiles:
                self.problem("metadata.profiles", f"{profile!r} is not a profile of the schema")
        if metadata.get("version") != self.schema.version:
            self.problem("metadata.version", f"{metadata.get('version')!r}, the schema is {self.schema.version}")
        profiles = set(metadata.get("profiles") or [])
        self.check_attributes(event, compiled, "", profiles)

    def check_attributes(self, value, compiled, path, profiles):
        attrs = compiled["attributes"]
        for name, item in value.items():
            here = f"{path}.{name}" if path else name
            spec = attrs.get(name)
            if spec is None:
                self.problem(here, "is not an attribute of this class or object")
                continue
            profile = spec.get("profile")
            if profile and profile not in profiles:
                self.problem(here, f"belongs to the {profile} profile, which metadata.profiles does not name")
            entry = self.schema.dictionary.get(name, {})
            if "@deprecated" in spec or "@deprecated" in entry:
                self.problem(here, "is deprecated")
            self.check_value(name, spec, item, here, profiles)
            # An enumerated id and its caption (`severity_id` and
            # `severity`) agree, unless the id is Other (99).
            sibling = spec.get("sibling") or entry.get("sibling")
            enum = spec.get("enum") or entry.get("enum")
            if sibling and enum and sibling in value and str(item) in enum and str(item) != "99":
                caption = enum[str(item)].get("caption")
                if value[sibling] != caption:
                    self.problem(
                        f"{path}.{sibling}" if path else sibling,
                        f"{value[sibling]!r}, the caption of {name} {item} is {caption!r}",
                    )
        for name, spec in attrs.items():
            if spec.get("requirement") != "required" or name in value:
                continue
            profile = spec.get("profile")
            if profile and profile not in profiles:
                continue
            self.problem(f"{path}.{name}" if path else name, "is required and missing")
        constraints = compiled.get("constraints") or {}
        if "at_least_one" in constraints and not any(k in value for k in constraints["at_least_one"]):
            self.problem(path, f"needs at least one of {constraints['at_least_one']}")
        if "just_one" in constraints and sum(k in value for k in constraints["just_one"]) != 1:
            self.problem(path, f"needs just one of {constraints['just_one']}")

    def check_value(self, name, spec, item, path, profiles):
        entry = self.schema.dictionary.get(name)
        if entry is None:
            self.problem(path, "is not in the dictionary")
            return
        kind = spec.get("type") or entry.get("type")
        if entry.get("is_array") or spec.get("is_array"):
            if not isinstance(item, list):
                self.problem(path, "is an array in the schema")
                return
            for i, element in enumerate(item):
                self.check_one(name, spec, entry, kind, element, f"{path}[{i}]", profiles)
        else:
            self.check_one(name, spec, entry, kind, item, path, profiles)

    def check_one(self, name, spec, entry, kind, item, path, profiles):
        scalar = self.schema.base_type(kind)
        if kind == "object":
            # The generic object (`unmapped`, say) holds any attributes.
            if not isinstance(item, dict):
                self.problem(path, "is an object in the schema")
            return
        if scalar is None:
            if not isinstance(item, dict):
                self.problem(path, f"is a {kind} object in the schema")
                return
            self.check_attributes(item, self.schema.object(kind), path, profiles)
            return
        ok = {
            "string_t": lambda v: isinstance(v, str),
            "integer_t": lambda v: isinstance(v, int) and not isinstance(v, bool) and -(2**31) <= v < 2**31,
            "long_t": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "float_t": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "boolean_t": lambda v: isinstance(v, bool),
            "json_t": lambda v: True,
        }[scalar](item)
        if not ok:
            self.problem(path, f"{item!r} is not a {kind}")
            return
        bounds = self.schema.types.get(kind, {})
        if isinstance(item, str):
            if "max_len" in bounds and len(item) > bounds["max_len"]:
                self.problem(path, f"longer than {kind}'s {bounds['max_len']}")
            if "regex" in bounds and not re.search(bounds["regex"], item):
                self.problem(path, f"{item!r} does not match {kind}'s pattern")
        if "range" in bounds and isinstance(item, (int, float)) and not bounds["range"][0] <= item <= bounds["range"][1]:
            self.problem(path, f"{item!r} is outside {kind}'s range {bounds['range']}")
        if kind == "timestamp_t" and item < 0:
            self.problem(path, f"{item!r} is before 1970")
        enum = spec.get("enum") or entry.get("enum")
        # The class's own uids are checked against the class, above.
        if name in CLASS_FIXED and path == name:
            return
        if enum is not None and str(item) not in enum:
            self.problem(path, f"{item!r} is not one of {sorted(enum, key=lambda k: int(k) if k.lstrip('-').isdigit() else 0)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema", default=DEFAULT_SCHEMA)
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    schema = Schema(args.schema)
    problems = []
    events = documents(args.files, problems)
    for where, event in events:
        checker = Checker(schema, where)
        checker.check_event(event)
        problems.extend(checker.problems)
    finish(f"ocsf_check: {len(events)} events, {len(problems)} problems (OCSF {schema.version})", problems, len(events))

if __name__ == "__main__":
    main()
