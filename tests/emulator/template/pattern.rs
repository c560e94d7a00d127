//! The EventBridge pattern: the template's and the code's are one.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{moto, resource, template};

/// `pattern` with the `ExtraEventNames` parameter given as `names`.
pub fn with_extra_event_names(pattern: &Value, names: &[&str]) -> Value {
    match pattern {
        Value::Object(m) if m.get("Ref") == Some(&Value::from("ExtraEventNames")) => {
            serde_json::json!(names)
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), with_extra_event_names(v, names)))
                .collect(),
        ),
        Value::Array(a) => {
            Value::Array(a.iter().map(|v| with_extra_event_names(v, names)).collect())
        }
        other => other.clone(),
    }
}

/// The event names the pattern passes are the ones the code checks user
/// rules against (`rules check`, start-up, `rules pattern`), and a rule's
/// own names go through `ExtraEventNames`.
#[test]
fn the_pattern_passes_the_event_names_the_code_knows() {
    if moto::unavailable("the_pattern_passes_the_event_names_the_code_knows") {
        return;
    }
    let t = template("template.yaml");
    let pattern = &resource(&t, "SigninEventsRule")["Properties"]["EventPattern"];
    let mut names = BTreeSet::new();
    let mut extra = 0;
    for branch in pattern["detail"]["$or"].as_array().expect("$or") {
        match &branch["eventName"] {
            Value::Array(values) => {
                for v in values {
                    names.insert(
                        v["equals-ignore-case"]
                            .as_str()
                            .unwrap()
                            .to_ascii_lowercase(),
                    );
                }
            }
            v if v == &serde_json::json!({"Ref": "ExtraEventNames"}) => extra += 1,
            other => panic!("an eventName of another shape: {other}"),
        }
    }
    assert_eq!(extra, 1, "one branch for ExtraEventNames");
    // The whole pattern, that branch aside, is the one the code judges
    // rules against (`rules check`, `rules pattern`, start-up).
    let mut detail = pattern["detail"].clone();
    detail["$or"]
        .as_array_mut()
        .unwrap()
        .retain(|b| b["eventName"] != serde_json::json!({"Ref": "ExtraEventNames"}));
    let code: Value =
        serde_json::from_str(signin_watch::domain::rules::event_names::DETAIL_PATTERN).unwrap();
    assert_eq!(detail, code);
    let known: BTreeSet<String> = signin_watch::domain::rules::event_names::PATTERN_EVENT_NAMES
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(names, known);
}
