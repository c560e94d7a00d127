//! The template's CloudWatch dashboard: its widgets show metrics the code
//! emits and queues the stack has, they fit CloudWatch's grid without
//! overlapping, and docs/dashboard.svg is what the template draws.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use crate::common::{self, moto};
use crate::template::template;

/// `tools/dashboard_svg.py ARG`, which must succeed; what it printed.
fn dashboard_svg(arg: &str) -> Vec<u8> {
    let out = Command::new(moto::python())
        .arg(common::repo_path("tools/dashboard_svg.py"))
        .arg(arg)
        .output()
        .expect("the venv's Python runs");
    assert!(
        out.status.success(),
        "{arg}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The dashboard's body with the stack's names as `<Resource>`.
fn dashboard() -> Value {
    serde_json::from_slice(&dashboard_svg("--json")).expect("the dashboard's body is JSON")
}

/// The metric names `src/lambda/metrics.rs` emits.
fn emitted() -> BTreeSet<String> {
    let code =
        std::fs::read_to_string(common::repo_path("src/lambda/metrics.rs")).expect("the source");
    code.lines()
        .filter_map(|l| l.trim().strip_prefix("(\""))
        .filter_map(|l| l.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_dashboard_shows_what_the_function_emits_and_the_picture_is_current() {
    if moto::unavailable("the_dashboard_shows_what_the_function_emits_and_the_picture_is_current") {
        return;
    }
    let body = dashboard();
    let widgets = body["widgets"].as_array().expect("widgets");
    assert!(widgets.len() >= 8, "{}", widgets.len());
    let emitted = emitted();
    assert!(
        emitted.contains("Detections") && emitted.contains("RecordsReceived"),
        "{emitted:?}"
    );
    let resources: BTreeSet<String> = template("template.yaml")["Resources"]
        .as_object()
        .expect("resources")
        .keys()
        .cloned()
        .collect();
    let mut cells = BTreeSet::new();
    let mut shown = BTreeSet::new();
    for w in widgets {
        let title = w["properties"]["title"].as_str().expect("a title");
        let (x, y, width, height) = (
            w["x"].as_u64().expect("x"),
            w["y"].as_u64().expect("y"),
            w["width"].as_u64().expect("width"),
            w["height"].as_u64().expect("height"),
        );
        assert!(x + width <= 24, "{title} fits the 24 columns");
        for cx in x..x + width {
            for cy in y..y + height {
                assert!(cells.insert((cx, cy)), "{title} overlaps another widget");
            }
        }
        if w["type"] == "log" {
            let query = w["properties"]["query"].as_str().expect("a query");
            assert!(query.starts_with("SOURCE '<FunctionLogGroup>'"), "{query}");
            // lambda_runtime's JSON logs put an event's fields under `fields`.
            assert!(
                query.contains("by fields.error_type"),
                "errors by the type the function logs: {query}"
            );
            continue;
        }
        for metric in w["properties"]["metrics"].as_array().expect("metrics") {
            let parts = metric.as_array().expect("a metric row");
            match &parts[0] {
                Value::Object(e) => {
                    let expression = e["expression"].as_str().expect("an expression");
                    let name = expression
                        .split("MetricName=\"")
                        .nth(1)
                        .and_then(|r| r.split('"').next())
                        .expect("a SEARCH of one metric");
                    assert!(expression.contains("{SigninWatch,Rule}"), "{expression}");
                    assert!(emitted.contains(name), "{title}: {name} is not emitted");
                    shown.insert(name.to_owned());
                }
                Value::String(namespace) => {
                    let name = parts[1].as_str().expect("a metric name");
                    match namespace.as_str() {
                        "SigninWatch" => {
                            assert!(emitted.contains(name), "{title}: {name} is not emitted");
                            shown.insert(name.to_owned());
                        }
                        "AWS/SQS" | "AWS/Lambda" => {
                            let target = parts[3].as_str().expect("a dimension's value");
                            let resource = target.trim_matches(|c| c == '<' || c == '>');
                            assert!(
                                resources.contains(resource),
                                "{title}: {target} is not in the stack"
                            );
                        }
                        other => panic!("{title}: namespace {other}"),
                    }
                }
                other => panic!("{title}: {other}"),
            }
        }
    }
    for needed in [
        "Detections",
        "FindingsPublished",
        "FoldedIntoDigest",
        "DigestsSent",
        "TrailObjectsRead",
    ] {
        assert!(shown.contains(needed), "the dashboard shows {needed}");
    }
    // Without a trail bucket, the body is still valid JSON, without the
    // trail's widgets.
    let bare: Value = serde_json::from_slice(&dashboard_svg("--without-conditions"))
        .expect("valid JSON without the trail");
    assert_eq!(
        bare["widgets"].as_array().expect("widgets").len(),
        widgets.len() - 2
    );
    // The picture in docs/ is what the template draws now.
    dashboard_svg("--check");
}
