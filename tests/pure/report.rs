//! `replay --report`: the backtest page's counts equal the JSON findings',
//! its hints' settings do what they say, and Chromium opens it without an
//! error or a request (docs/report.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{self, cli};

/// The samples and the scenarios, as `make demo` replays them.
fn demo_inputs() -> Vec<String> {
    let mut inputs: Vec<String> = common::event_files()
        .iter()
        .map(|p| p.to_str().expect("UTF-8").to_owned())
        .collect();
    inputs.push(
        common::repo_path("events/scenarios")
            .to_str()
            .expect("UTF-8")
            .to_owned(),
    );
    inputs
}

/// Replays `inputs` with `extra` arguments, writing the report to `page`;
/// returns the JSON findings.
fn replay_with_report(inputs: &[String], page: &Path, extra: &[&str]) -> Vec<Value> {
    let page = page.to_str().expect("UTF-8");
    let mut args = vec!["--no-progress", "--report", page];
    args.extend_from_slice(extra);
    args.extend(inputs.iter().map(String::as_str));
    let out = cli::replay(&args);
    assert!(out.status.success(), "{}", cli::text(&out));
    assert!(
        cli::stderr_text(&out).contains(&format!("report written to {page}")),
        "{}",
        cli::text(&out)
    );
    cli::json_lines(&out)
}

/// Per rule: detections, and notifications sent as messages of their own.
fn counts(findings: &[Value]) -> BTreeMap<String, (u64, u64)> {
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for f in findings.iter().filter(|f| f["finding_id"].is_string()) {
        let e = out
            .entry(f["rule"].as_str().expect("a rule").to_owned())
            .or_default();
        e.0 += 1;
        let sent = f["notify"] == true && f.get("folded").is_none();
        e.1 += u64::from(sent);
    }
    out
}

/// Text between `<pre>` and `</pre>` after each "Hint:" in the page,
/// unescaped.
fn hint_settings(page: &str) -> Vec<String> {
    page.split("<strong>Hint:</strong>")
        .skip(1)
        .filter_map(|h| {
            let start = h.find("<pre>")? + 5;
            let end = h[start..].find("</pre>")? + start;
            Some(
                h[start..end]
                    .replace("&quot;", "\"")
                    .replace("&#39;", "'")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&"),
            )
        })
        .collect()
}

#[test]
fn the_reports_counts_are_the_json_findings_counts() {
    let dir = tempfile::tempdir().expect("a directory");
    let page = dir.path().join("report.html");
    let findings = replay_with_report(&demo_inputs(), &page, &["--notify-budget", "1"]);
    let html = std::fs::read_to_string(&page).expect("the page");
    let expected = counts(&findings);
    assert!(
        expected.len() > 10,
        "the demo fires many rules: {expected:?}"
    );
    for (rule, (detections, notifications)) in &expected {
        let row = format!(r#"<tr data-rule="{rule}">"#);
        let at = html
            .find(&row)
            .unwrap_or_else(|| panic!("a row for {rule}"));
        let cells: Vec<&str> = html[at..]
            .split("</tr>")
            .next()
            .expect("the row")
            .split(r#"<td class="n">"#)
            .skip(1)
            .map(|c| c.split('<').next().expect("a number"))
            .collect();
        assert_eq!(
            cells[..2],
            [detections.to_string(), notifications.to_string()],
            "{rule}"
        );
    }
    // The budget of one folded some; their digests are counted per rule.
    let digests = findings
        .iter()
        .filter(|f| f["digest_id"].is_string())
        .count();
    assert!(digests > 0, "the budget of one folds some");
    assert!(
        html.contains(&format!("folded into {digests} digests")),
        "the total"
    );
    assert!(!html.contains("<script"), "no script");
}

/// Rule 2's events from `issuers` (each repeated as given), each from an
/// address of its own, as JSON Lines in `dir`.
fn federated_archive(dir: &Path, issuers: &[(&str, usize)]) -> PathBuf {
    let base = common::sample_detail("rule2-federated-getsignintoken-no-mfa.json");
    let mut lines = String::new();
    let mut k = 0;
    for (issuer, n) in issuers {
        for _ in 0..*n {
            let mut r = base.clone();
            r["eventID"] = format!("hint-{k}").into();
            // Seven hours apart: the issuers' sign-ins span days.
            r["eventTime"] =
                format!("2026-11-{:02}T{:02}:00:00Z", 1 + 7 * k / 24, 7 * k % 24).into();
            r["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = (*issuer).into();
            r["sourceIPAddress"] = format!("198.51.100.{k}").into();
            r["userIdentity"]["principalId"] = format!("p{k}").into();
            k += 1;
            lines.push_str(&r.to_string());
            lines.push('\n');
        }
    }
    let path = dir.join("federated.jsonl");
    std::fs::write(&path, lines).expect("write");
    path
}

#[test]
fn a_hints_setting_lets_pass_exactly_what_it_says() {
    let dir = tempfile::tempdir().expect("a directory");
    let arn = |n: &str| format!("arn:aws:iam::111122223333:user/{n}");
    let (a, b) = (arn("broker-a"), arn("broker-b"));
    let archive = federated_archive(
        dir.path(),
        &[(&a, 12), (&b, 6), (&arn("c"), 1), (&arn("d"), 1)],
    );
    let inputs = [archive.to_str().expect("UTF-8").to_owned()];
    let page = dir.path().join("report.html");
    let before = counts(&replay_with_report(&inputs, &page, &[]));
    assert_eq!(before["federated-single-factor"].0, 20);
    let html = std::fs::read_to_string(&page).expect("the page");
    assert!(
        html.contains("2 session issuers make 90% of federated-single-factor&#39;s 20 detections (18), over 5 days, for 1 users: allowlist them, if they are yours?"),
        "{html}"
    );
    let settings = hint_settings(&html);
    let flag = settings
        .iter()
        .find(|s| s.starts_with("--rule2-allow-issuers"))
        .expect("the issuers' setting");
    // The setting as a shell would pass it: the flag, then the quoted list.
    let value = flag
        .strip_prefix("--rule2-allow-issuers '")
        .and_then(|v| v.strip_suffix('\''))
        .expect("--rule2-allow-issuers '[...]'");
    let after = counts(&replay_with_report(
        &inputs,
        &dir.path().join("after.html"),
        &["--rule2-allow-issuers", value],
    ));
    assert_eq!(after["federated-single-factor"].0, 2, "the 18 pass");
}

#[test]
fn a_hints_filter_loads_from_a_rules_directory_and_lets_pass_what_it_says() {
    let dir = tempfile::tempdir().expect("a directory");
    // Failed MFA from one address nine times and from another once.
    let mut lines = String::new();
    for k in 0..10 {
        let mut r = common::sample_detail("rule1-failed-mfa-iam-user.json");
        r["eventID"] = format!("mfa-{k}").into();
        r["eventTime"] = format!("2026-11-{:02}T09:00:00Z", k + 1).into();
        r["userIdentity"]["userName"] = format!("user{k}").into();
        r["sourceIPAddress"] = if k == 0 { "192.0.2.9" } else { "203.0.113.50" }.into();
        lines.push_str(&r.to_string());
        lines.push('\n');
    }
    let archive = dir.path().join("mfa.jsonl");
    std::fs::write(&archive, lines).expect("write");
    let inputs = [archive.to_str().expect("UTF-8").to_owned()];
    let page = dir.path().join("report.html");
    let before = counts(&replay_with_report(&inputs, &page, &[]));
    assert_eq!(before["failed-mfa"].0, 10);
    let html = std::fs::read_to_string(&page).expect("the page");
    let settings = hint_settings(&html);
    let filter = settings
        .iter()
        .find(|s| s.contains("sourceIPAddress|cidr"))
        .unwrap_or_else(|| panic!("a filter on the source: {settings:?}"));
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("mkdir");
    std::fs::write(rules.join("failed-mfa-allow-sources.yml"), filter).expect("write");
    let checked = cli::run(&[
        "rules",
        "check",
        rules
            .join("failed-mfa-allow-sources.yml")
            .to_str()
            .expect("UTF-8"),
    ]);
    assert!(checked.status.success(), "{}", cli::text(&checked));
    let after = counts(&replay_with_report(
        &inputs,
        &dir.path().join("after.html"),
        &["--rules", rules.to_str().expect("UTF-8")],
    ));
    assert_eq!(after["failed-mfa"].0, 1, "the nine from 203.0.113.50 pass");
}

/// Chromium, or why the browser test cannot run: `make test` sets
/// `SIGNIN_WATCH_REQUIRE_BROWSER`, and then a missing browser fails it.
fn chromium() -> Option<PathBuf> {
    let path =
        PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    if path.exists() {
        return Some(path);
    }
    let why = format!(
        "no Chromium at {} (`make browser` installs Debian's)",
        path.display()
    );
    if std::env::var_os("SIGNIN_WATCH_REQUIRE_BROWSER").is_some() {
        panic!("{why}");
    }
    common::say_skipped(&why);
    None
}

#[test]
fn chromium_opens_the_demo_report_without_errors_or_requests() {
    let Some(browser) = chromium() else { return };
    // Where `make report-screenshot` copies it from into docs/.
    let out_dir = common::repo_path("target/report");
    std::fs::create_dir_all(&out_dir).expect("target/report");
    let page = out_dir.join("demo.html");
    // The demo's inputs and a sign-in whose names are markup.
    let hostile_name = "<img src=http://192.0.2.1/x.png onerror=alert(1)>";
    let mut hostile = common::sample_detail("rule1-failed-mfa-iam-user.json");
    hostile["eventID"] = "hostile-report".into();
    hostile["userIdentity"]["userName"] = format!("{hostile_name}\u{202e}").into();
    hostile["userAgent"] = "\"><script>alert(1)</script>".into();
    let dir = tempfile::tempdir().expect("a directory");
    let hostile_file = dir.path().join("hostile.json");
    std::fs::write(&hostile_file, hostile.to_string()).expect("write");
    let mut inputs = demo_inputs();
    inputs.push(hostile_file.to_str().expect("UTF-8").to_owned());
    let findings = replay_with_report(&inputs, &page, &[]);
    let shot = out_dir.join("demo.png");
    let narrow = out_dir.join("demo-narrow.png");
    let out = Command::new("python3")
        .arg(common::repo_path("tools/browser_check.py"))
        .arg(&page)
        .arg("--screenshot")
        .arg(&shot)
        .arg("--narrow-screenshot")
        .arg(&narrow)
        .arg("--expect-text")
        .arg(hostile_name)
        .env("CHROMIUM", &browser)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", cli::text(&out));
    let seen: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(seen["console"], serde_json::json!([]), "console: {seen}");
    assert_eq!(seen["errors"], serde_json::json!([]), "errors: {seen}");
    assert_eq!(seen["requests"], serde_json::json!([]), "network: {seen}");
    assert!(
        seen["narrow_overflow"].as_i64() <= Some(0),
        "a narrow window scrolls sideways: {seen}"
    );
    assert!(seen["pdf_bytes"].as_u64() > Some(10_000), "it prints");
    // Each rule's name and counts, as the page shows them.
    let rows: Vec<(String, (u64, u64))> = seen["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            let cell = |i: usize| row[i].as_str().expect("text");
            let n = |i: usize| cell(i).parse::<u64>().expect("a count");
            (cell(0).to_owned(), (n(3), n(4)))
        })
        .collect();
    // Every enabled rule has a row; those that detected nothing show 0.
    let shown: BTreeMap<String, (u64, u64)> =
        rows.iter().filter(|(_, c)| c.0 > 0).cloned().collect();
    assert_eq!(shown, counts(&findings));
    assert!(rows.len() > shown.len(), "quiet rules are listed too");
    assert_eq!(
        seen["sections"].as_array().map(Vec::len),
        Some(shown.len()),
        "a section per rule"
    );
    assert!(std::fs::metadata(&shot).expect("a screenshot").len() > 10_000);
}

#[test]
fn a_report_path_that_cannot_be_written_fails_before_the_replay() {
    let dir = tempfile::tempdir().expect("a directory");
    let page = dir.path().join("missing").join("report.html");
    let sample = common::sample_path("rule1-failed-mfa-iam-user.json");
    let out = cli::replay(&[
        "--no-progress",
        "--report",
        page.to_str().expect("UTF-8"),
        sample.to_str().expect("UTF-8"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", cli::text(&out));
    assert!(
        cli::stderr_text(&out).contains(&format!("cannot write the report {}", page.display())),
        "{}",
        cli::text(&out)
    );
    assert!(out.stdout.is_empty(), "nothing replayed");
}
