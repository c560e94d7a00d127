//! Custom rules without recompiling: `signin-watch rules list|test|check`,
//! `replay --rules DIR`, a plain SigmaHQ rule, the Sigma modifiers users
//! reach for, filters, and rule files that must stop start-up with the file,
//! the line and the reason.

use crate::common;

use std::path::Path;
use std::process::Output;

use common::cli::{run as signin_watch, text};

fn custom() -> String {
    common::repo_path("tests/rules/custom")
        .display()
        .to_string()
}

fn findings(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON finding"))
        .collect()
}

#[test]
fn rules_list_shows_the_pack_and_custom_rules() {
    let out = signin_watch(&[
        "rules",
        "list",
        "--rules",
        &custom(),
        "--disabled-rules",
        "failed-mfa",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let listing = text(&out);
    let line = |name: &str| {
        listing
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing: {listing}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        line("failed-mfa")[2..],
        ["medium", "detection", "pack:rules/failed-mfa.yml", "no"]
    );
    assert_eq!(line("console-login-failure")[3], "building-block");
    assert_eq!(line("admin-console-outside-office")[2], "high");
    // A plain Sigma rule without a name is listed by its id.
    let sigmahq = line("f8103686-e3e8-46f3-be72-65f7fcb4aa53");
    assert_eq!(sigmahq[2..4], ["medium", "detection"]);
    assert!(
        sigmahq[4].ends_with("aws_console_getsignintoken.yml"),
        "{sigmahq:?}"
    );
    assert!(listing.contains("filter broker-filter"), "{listing}");
}

#[test]
fn rules_test_runs_every_inline_test_and_fails_on_any_failure() {
    let out = signin_watch(&["rules", "test", "--rules", &custom()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = text(&out);
    assert!(
        report.contains("ok   rule admin-console-outside-office (6 tests)"),
        "{report}"
    );
    assert!(
        report.contains("ok   filter broker-filter (2 tests)"),
        "{report}"
    );
    assert!(
        report.contains("none rule f8103686-e3e8-46f3-be72-65f7fcb4aa53 (0 tests)"),
        "{report}"
    );
    assert!(report.contains(", 0 failed"), "{report}");

    // The same rule with a positive that does not match: reported, exit 1.
    let dir = tempfile::tempdir().unwrap();
    let rule = std::fs::read_to_string(common::repo_path("tests/rules/custom/modifiers.yml"))
        .unwrap()
        .replace("userName: ops-carol}", "userName: carol}")
        .replace(
            "{case: positive, event: admin-from-home.json}",
            "{case: unrelated, record: {eventName: x}}",
        );
    std::fs::write(dir.path().join("modifiers.yml"), rule).unwrap();
    let out = signin_watch(&[
        "rules",
        "test",
        "--rules",
        &dir.path().display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = text(&out);
    assert!(
        report.contains("FAIL rule admin-console-outside-office"),
        "{report}"
    );
    assert!(
        report.contains("inline record 2 (positive): the rule does not match it"),
        "{report}"
    );
    assert!(report.contains(", 1 failed"), "{report}");
}

#[test]
fn replay_runs_custom_rules_beside_the_pack() {
    let admin = common::repo_path("tests/rules/custom/admin-from-home.json")
        .display()
        .to_string();
    let samples = [
        "rule2-federated-getsignintoken-no-mfa.json",
        "rule2-near-miss-sso-role-getsignintoken.json",
        "rule1-failed-mfa-iam-user.json",
    ]
    .map(|n| common::sample_path(n).display().to_string());
    let rules_dir = custom();
    let mut args = vec!["replay", "--rules", &rules_dir, "--no-progress"];
    args.extend(samples.iter().map(String::as_str));
    args.push(&admin);
    let out = signin_watch(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let found = findings(&out);
    let rules: Vec<&str> = found.iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert_eq!(
        rules,
        [
            "federated-single-factor",
            "f8103686-e3e8-46f3-be72-65f7fcb4aa53",
            "failed-mfa"
        ],
        "the SigmaHQ rule's own filter drops the SSO portal's Jersey agent; the broker filter lets the admin pass"
    );
    // The plain SigmaHQ rule: its id as rule and rule_id, defaults from its level and tags.
    let sigmahq = &found[1];
    assert_eq!(sigmahq["rule_id"], "f8103686-e3e8-46f3-be72-65f7fcb4aa53");
    assert_eq!(sigmahq["kind"], "detection");
    assert_eq!(
        sigmahq["rule_name"],
        "AWS Console GetSigninToken Potential Abuse"
    );
    assert_eq!(sigmahq["severity"], "medium");
    assert_eq!(sigmahq["risk_score"], 47);
    assert_eq!(
        sigmahq["mitre"],
        serde_json::json!(["T1021.007", "T1550.001"])
    );
    assert_eq!(
        sigmahq["title"],
        "AWS Console GetSigninToken Potential Abuse: break-glass from 45.143.200.18"
    );
    assert!(text(&out).contains("1 allowlisted"), "{}", text(&out));
}

/// A directory holding one rule file with this text.
/// `replay --rules DIR` of one sample.
fn replay_with_rules(dir: &Path) -> Output {
    signin_watch(&[
        "replay",
        "--rules",
        &dir.display().to_string(),
        &common::sample_path("rule1-failed-mfa-root.json")
            .display()
            .to_string(),
    ])
}

fn dir_with(name: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), text).unwrap();
    dir
}

const GOOD: &str = r#"title: Good
id: 11111111-2222-4333-8444-555555555555
name: good
logsource: {product: aws, service: cloudtrail}
detection:
  selection:
    eventSource: signin.amazonaws.com
    eventName: ConsoleLogin
  condition: selection
level: low
"#;

/// A correlation whose inline test's steps follow.
const CORRELATION: &str = r#"title: Many
id: 11111111-2222-4333-8444-666666666666
name: many
correlation:
  type: event_count
  rules:
    - failed-mfa
  group-by:
    - account
  timespan: 30m
  condition:
    gte: 3
level: low
signin_watch:
  tests:
    - case: positive
"#;

/// Each broken file stops `replay` (exit 2) and the function's settings with
/// a message naming the file, the line where it can tell, and the reason.
#[test]
fn a_broken_rule_file_stops_start_up_naming_file_line_and_reason() {
    let cases: &[(&str, String, Option<usize>, &str)] = &[
        ("syntax.yml", GOOD.replace("condition: selection", "condition: [selection"), Some(10), "YAML"),
        (
            "field.yml",
            GOOD.replace("eventName: ConsoleLogin", "eventName: ConsoleLogin\n    requestParameters.bucketName: x"),
            Some(9),
            "names the field \"requestParameters.bucketName\", which signin-watch does not read",
        ),
        (
            "prefilter.yml",
            GOOD.replace("    eventSource: signin.amazonaws.com\n", ""),
            Some(8),
            "require eventSource: signin.amazonaws.com",
        ),
        (
            "modifier.yml",
            GOOD.replace("eventName: ConsoleLogin", "eventName|gt: 5"),
            Some(8),
            "cannot apply",
        ),
        (
            "failing-test.yml",
            format!("{GOOD}signin_watch:\n  tests:\n    - {{case: positive, name: wrong-one, record: {{eventName: GetSigninToken}}}}\n"),
            Some(13),
            "\"good\" fails its inline test wrong-one (positive): the rule does not match it",
        ),
        (
            "unknown-key.yml",
            format!("{GOOD}signin_watch:\n  risk_scor: 5\n"),
            Some(11),
            "unknown field `risk_scor`",
        ),
        (
            "typo-top.yml",
            format!("{GOOD}signin-watch:\n  risk_score: 5\n"),
            Some(11),
            "\"signin-watch\" is not a Sigma key",
        ),
        (
            "logsource.yml",
            GOOD.replace("{product: aws, service: cloudtrail}", "{product: windows, service: security}"),
            Some(4),
            "the logsource must be product: aws, service: cloudtrail",
        ),
        (
            "filter-unknown.yml",
            "title: F\nlogsource: {product: aws, service: cloudtrail}\nfilter:\n  rules: [no-such-rule]\n  s: {sourceIPAddress|cidr: 10.0.0.0/8}\n  condition: not s\n".into(),
            None,
            "names the rule \"no-such-rule\", which is not loaded",
        ),
        (
            "filter-agent.yml",
            "title: F\nlogsource: {product: aws, service: cloudtrail}\nfilter:\n  rules: [federated-single-factor]\n  s: {userAgent: broker/1}\n  condition: not s\n".into(),
            Some(3),
            "userAgent, which whoever signs in chooses",
        ),
        (
            // The network is named, but either selection alone lets a match pass.
            "filter-agent-or-network.yml",
            "title: F\nlogsource: {product: aws, service: cloudtrail}\nfilter:\n  rules: [federated-single-factor]\n  ua: {userAgent: broker/1}\n  net: {sourceIPAddress|cidr: 10.0.0.0/8}\n  condition: not ua and not net\n".into(),
            Some(3),
            "userAgent, which whoever signs in chooses",
        ),
        (
            // Every user agent but the one named lets a match pass.
            "filter-inverted.yml",
            "title: F\nlogsource: {product: aws, service: cloudtrail}\nfilter:\n  rules: [federated-single-factor]\n  browser: {userAgent|contains: Mozilla}\n  condition: browser\n".into(),
            Some(3),
            "userAgent, which whoever signs in chooses",
        ),
        (
            // A network that holds for anyone pins nothing.
            "filter-any-network.yml",
            "title: F\nlogsource: {product: aws, service: cloudtrail}\nfilter:\n  rules: [federated-single-factor]\n  net: {sourceIPAddress|cidr: 0.0.0.0/0}\n  ua: {userAgent: broker/1}\n  condition: not (net and ua)\n".into(),
            Some(3),
            "userAgent, which whoever signs in chooses",
        ),
        (
            // A /8 of the public address space holds whole clouds.
            "filter-cloud-network.yml",
            "title: F\nlogsource: {product: aws, service: cloudtrail}\nfilter:\n  rules: [federated-single-factor]\n  net: {sourceIPAddress|cidr: 3.0.0.0/8}\n  ua: {userAgent: broker/1}\n  condition: not (net and ua)\n".into(),
            Some(3),
            "userAgent, which whoever signs in chooses",
        ),
        (
            "filter-mobile.yml",
            "title: F\nlogsource: {product: aws, service: cloudtrail}\nfilter:\n  rules: [federated-single-factor]\n  mobile: {additionalEventData.MobileVersion: 'Yes'}\n  condition: not mobile\n".into(),
            Some(3),
            "additionalEventData.MobileVersion, which whoever signs in chooses",
        ),
        (
            "filter-network-exists.yml",
            "title: F\nlogsource: {product: aws, service: cloudtrail}\nfilter:\n  rules: [federated-single-factor]\n  net: {sourceIPAddress|exists: true}\n  ua: {userAgent: broker/1}\n  condition: not (net and ua)\n".into(),
            Some(3),
            "userAgent, which whoever signs in chooses",
        ),
        (
            "filter-login-to.yml",
            "title: F\nlogsource: {product: aws, service: cloudtrail}\nfilter:\n  rules: [federated-single-factor]\n  to: {additionalEventData.LoginTo|startswith: 'https://console.aws.amazon.com/ec2'}\n  condition: not to\n".into(),
            Some(3),
            "additionalEventData.LoginTo, which whoever signs in chooses",
        ),
        (
            "filter-keywords.yml",
            "title: F\nlogsource: {product: aws, service: cloudtrail}\nfilter:\n  rules: [federated-single-factor]\n  words: [console-broker]\n  condition: not words\n".into(),
            Some(3),
            "keywords, which whoever signs in chooses",
        ),
        (
            "severity-from.yml",
            format!("{GOOD}signin_watch:\n  severity_from: src_country\n"),
            Some(12),
            "the one source of a severity is src_network",
        ),
        (
            "test-list.yml",
            format!("{GOOD}signin_watch:\n  networks:\n    tor: |\n      severity: urgent\n"),
            Some(12),
            "the test list \"tor\": line 1: \"urgent\" is not a severity",
        ),
        (
            "baseline-learning.yml",
            format!("{GOOD}signin_watch:\n  baseline:\n    values: [src_country]\n    learning: 12h\n"),
            Some(14),
            "learning is 0 (alert from the first event) or at least 1d",
        ),
        (
            "baseline-values.yml",
            format!("{GOOD}signin_watch:\n  baseline:\n    values: []\n"),
            Some(13),
            "a baseline names the fields of its value",
        ),
        (
            "baseline-field.yml",
            format!("{GOOD}signin_watch:\n  baseline:\n    values: [requestParameters.bucketName]\n"),
            None,
            "which signin-watch does not read",
        ),
        (
            "filter-networks.yml",
            "title: F\nlogsource: {product: aws, service: cloudtrail}\nfilter:\n  rules: [federated-single-factor]\n  s: {sourceIPAddress|cidr: 10.0.0.0/8}\n  condition: not s\nsignin_watch:\n  networks: {vpn: 10.0.0.0/8}\n".into(),
            Some(8),
            "networks: is for detection rules, not filters",
        ),
        (
            "test-count.yml",
            format!("{CORRELATION}      steps:\n        - {{event: rule1-failed-mfa-iam-user.json, count: 2000000}}\n      alerts: 1\n"),
            None,
            "count: 2000000 is more than the 10000 records an inline test step may make",
        ),
        (
            // Two tests of 6,000 records each: past the file's 10,000.
            "test-file-budget.yml",
            format!("{CORRELATION}      steps:\n        - {{event: rule1-failed-mfa-iam-user.json, count: 6000}}\n      alerts: 1\n    - case: positive\n      steps:\n        - {{event: rule1-failed-mfa-iam-user.json, count: 6000}}\n      alerts: 1\n"),
            None,
            "more than the 10000 records a file's tests may make",
        ),
        (
            "test-record-size.yml",
            format!("{GOOD}signin_watch:\n  tests:\n    - {{case: positive, record: {{eventSource: signin.amazonaws.com, eventName: ConsoleLogin, userAgent: {}}}}}\n", "x".repeat(70_000)),
            None,
            "is more than the 65536 a record may have",
        ),
        (
            "test-every.yml",
            format!("{CORRELATION}      steps:\n        - {{event: rule1-failed-mfa-iam-user.json, count: 3, every: 99999999999d}}\n      alerts: 1\n"),
            None,
            "is longer than the 366 days an inline test may span",
        ),
        (
            "test-at.yml",
            format!("{CORRELATION}      steps:\n        - {{event: rule1-failed-mfa-iam-user.json, count: 3, at: 400d}}\n      alerts: 1\n"),
            None,
            "is longer than the 366 days an inline test may span",
        ),
    ];
    for (name, body, line, reason) in cases {
        let dir = dir_with(name, body);
        let path = dir.path().join(name).display().to_string();
        let out = replay_with_rules(dir.path());
        let message = text(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {message}");
        assert!(
            message.contains("SIGNIN_WATCH_RULES_DIR="),
            "{name}: {message}"
        );
        let place = match line {
            Some(l) => format!("{path}:{l}: "),
            None => path.clone(),
        };
        assert!(
            message.contains(&place),
            "{name}: wants {place:?} in {message}"
        );
        assert!(
            message.contains(reason),
            "{name}: wants {reason:?} in {message}"
        );
        assert!(out.stdout.is_empty(), "{name}: nothing replayed");
    }
}

#[test]
fn rules_check_loads_files_beside_the_pack() {
    let files: Vec<String> = [
        "aws_console_getsignintoken.yml",
        "modifiers.yml",
        "filter-broker.yml",
    ]
    .iter()
    .map(|f| Path::new(&custom()).join(f).display().to_string())
    .collect();
    let mut args = vec!["rules", "check"];
    args.extend(files.iter().map(String::as_str));
    let out = signin_watch(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("modifiers.yml: ok (1 rules, 0 correlations, 0 filters)"),
        "{}",
        text(&out)
    );
    // The filter alone names a rule that is not loaded.
    let out = signin_watch(&["rules", "check", &files[2]]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("which is not loaded"), "{}", text(&out));
}

/// `rules check` runs a filter's tests with the lists of networks beside
/// it, as the function would load them: the office filter names its list.
#[test]
fn rules_check_reads_the_lists_beside_the_files() {
    let office = common::repo_path("rules/filters/root-from-office.yml")
        .display()
        .to_string();
    let out = signin_watch(&["rules", "check", &office]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// The filters under rules/filters/ load beside the pack and pass their
/// inline tests; with them, the broker's sign-in is allowlisted.
#[test]
fn the_example_filters_load_and_let_the_broker_pass() {
    let filters = common::repo_path("rules/filters").display().to_string();
    let out = signin_watch(&["rules", "test", "--rules", &filters]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for name in [
        "federation-broker-by-issuer",
        "federation-broker-by-network",
        "root-from-office",
    ] {
        assert!(
            text(&out).contains(&format!("ok   filter {name} (2 tests)")),
            "{}",
            text(&out)
        );
    }
    let broker = common::sample_path("rule2-allowlisted-broker.json")
        .display()
        .to_string();
    let attacker = common::sample_path("rule2-federated-getsignintoken-no-mfa.json")
        .display()
        .to_string();
    let out = signin_watch(&[
        "replay",
        "--no-progress",
        "--rules",
        &filters,
        &broker,
        &attacker,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let users: Vec<String> = findings(&out)
        .iter()
        .map(|f| f["user"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(users, ["break-glass"]);
    assert!(text(&out).contains("1 allowlisted"), "{}", text(&out));
}

/// A user rule on a sign-in event the bus's pattern drops loads, and would
/// never fire on the EventBridge path: `rules check` says so and names the
/// parameter; `rules pattern` prints its value.
#[test]
fn a_rule_on_an_event_name_the_pattern_drops_says_which_parameter_to_set() {
    let rule = GOOD
        .replace("name: good", "name: check-mfa")
        .replace("eventName: ConsoleLogin", "eventName: CheckMfa");
    let dir = dir_with("check-mfa.yml", &rule);
    let file = dir.path().join("check-mfa.yml").display().to_string();
    let out = signin_watch(&["rules", "check", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains(
            "warning: rule \"check-mfa\" matches CheckMfa, which the template's EventBridge pattern does not pass"
        ) && said.contains("ExtraEventNames=CheckMfa"),
        "{said}"
    );
    let out = signin_watch(&[
        "rules",
        "pattern",
        "--rules",
        &dir.path().display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let first = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(first, "ExtraEventNames=CheckMfa");
    // The pack alone needs nothing beyond the template's pattern.
    let out = signin_watch(&["rules", "pattern"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("ExtraEventNames=\n"),
        "{}",
        text(&out)
    );
    // Sigma matches in any case; ExtraEventNames as CloudTrail spells it.
    let lower = dir_with(
        "lower.yml",
        &rule.replace("eventName: CheckMfa", "eventName: checkmfa"),
    );
    let out = signin_watch(&[
        "rules",
        "pattern",
        "--rules",
        &lower.path().display().to_string(),
    ]);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("ExtraEventNames=CheckMfa\n"),
        "{}",
        text(&out)
    );
    // A pattern's event name, but a case the pattern's other fields drop:
    // the rule's own positive example says so.
    let role = GOOD.replace("name: good", "name: role-token").replace(
        "eventName: ConsoleLogin",
        "eventName: GetSigninToken\n    userIdentity.type: AssumedRole",
    ) + "signin_watch:\n  tests:\n    - case: positive\n      record: {eventSource: signin.amazonaws.com, eventName: GetSigninToken, userIdentity: {type: AssumedRole, principalId: 'AROA:alice'}}\n";
    let dir = dir_with("role-token.yml", &role);
    let out = signin_watch(&[
        "rules",
        "check",
        &dir.path().join("role-token.yml").display().to_string(),
    ]);
    assert!(
        text(&out).contains("warning: rule \"role-token\" matches GetSigninToken"),
        "{}",
        text(&out)
    );
    // A rule that names its event passes without a warning.
    let good = dir_with("good.yml", GOOD);
    let out = signin_watch(&[
        "rules",
        "check",
        &good.path().join("good.yml").display().to_string(),
    ]);
    assert!(!text(&out).contains("warning"), "{}", text(&out));
}

/// Every cold start runs the inline tests: a rules directory's tests make
/// at most 20,000 records, whatever the number of files.
#[test]
fn a_rules_directory_whose_tests_make_too_many_records_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        let body = CORRELATION
            .replace("name: many", &format!("name: many-{i}"))
            .replace("666666666666", &format!("66666666666{i}"))
            + "      steps:\n        - {event: rule1-failed-mfa-iam-user.json, count: 8000, every: 1s}\n      alerts: 1\n";
        std::fs::write(dir.path().join(format!("many-{i}.yml")), body).unwrap();
    }
    let out = replay_with_rules(dir.path());
    let message = text(&out);
    assert_eq!(out.status.code(), Some(2), "{message}");
    assert!(
        message.contains("many-2.yml")
            && message.contains(
                "the inline tests of the rules directory make more than the 20000 records"
            ),
        "{message}"
    );
}

/// A baseline of your own loads with `learning: 0`; a rule that replaces a
/// pack baseline by id without a `baseline:` block replaces the baseline
/// too (one detection, no correlation of that id left).
#[test]
fn a_custom_baseline_loads_and_replacing_a_pack_baseline_replaces_its_memory() {
    // A rule on successful console sign-ins, with `extra` after its level.
    let rule = |id: &str, name: &str, extra: &str| {
        format!(
            "title: {name}\nid: {id}\nname: {name}\nlogsource: {{product: aws, service: cloudtrail}}\n\
             detection:\n  selection:\n    eventSource: signin.amazonaws.com\n    eventName: ConsoleLogin\n    \
             responseElements.ConsoleLogin: Success\n  condition: selection\nlevel: low\n{extra}"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let write = |file: &str, text: String| std::fs::write(dir.path().join(file), text).unwrap();
    write(
        "region.yml",
        rule(
            "0d7c1a2b-3e4f-4a5b-8c6d-7e8f9a0b1c2d",
            "new-region-for-principal",
            "signin_watch:\n  baseline:\n    values: [awsRegion]\n    learning: 0\n",
        ),
    );
    // A browser family new for the principal: the inline tests run as the
    // directory loads.
    write(
        "browser.yml",
        rule(
            "2f6e8d1c-4b3a-4c5d-9e8f-0a1b2c3d4e5f",
            "new-browser-for-principal",
            r#"signin_watch:
  baseline:
    values: [user_agent_family]
  tests:
    - case: positive
      name: Chrome for a week, then Firefox
      steps:
        - {event: rule1-near-miss-success-with-mfa.json, set: {userAgent: "Mozilla/5.0 Chrome/120.0 Safari/537.36"}}
        - {event: rule1-near-miss-success-with-mfa.json, at: 8d, set: {userAgent: "Mozilla/5.0 (X11; rv:121.0) Gecko/20100101 Firefox/121.0"}}
      alerts: 1
    - case: near-miss
      name: another version of Chrome
      steps:
        - {event: rule1-near-miss-success-with-mfa.json, set: {userAgent: "Mozilla/5.0 Chrome/120.0 Safari/537.36"}}
        - {event: rule1-near-miss-success-with-mfa.json, at: 8d, set: {userAgent: "Mozilla/5.0 Chrome/131.0 Safari/537.36"}}
      alerts: 0
"#,
        ),
    );
    // The pack baseline's id, without a baseline block.
    write(
        "plain.yml",
        rule(
            "7c1e4b2a-9d3f-4a6e-8b5c-1f2e3d4c5b6a",
            "new-country-for-principal",
            "",
        ),
    );
    let out = signin_watch(&[
        "rules",
        "list",
        "--rules",
        &dir.path().display().to_string(),
    ]);
    let listing = text(&out);
    assert_eq!(out.status.code(), Some(0), "{listing}");
    let line = |name: &str| -> Vec<String> {
        listing
            .lines()
            .filter(|l| l.split_whitespace().next() == Some(name))
            .map(str::to_owned)
            .collect()
    };
    let region = line("new-region-for-principal");
    assert_eq!(region.len(), 1, "{listing}");
    assert!(region[0].contains("correlation/baseline"), "{listing}");
    assert_eq!(line("new-browser-for-principal").len(), 1, "{listing}");
    let country = line("new-country-for-principal");
    assert_eq!(country.len(), 1, "one rule of that name: {listing}");
    assert!(country[0].contains(" detection "), "{listing}");
}
