//! template.yaml and deploy/forwarder.yaml, checked offline: lint, the
//! EventBridge pattern in moto's EventBridge, and least privilege against
//! what the code really calls.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use serde_json::Value;

use common::moto;
use signin_watch::domain::record::CloudTrailRecord;
use signin_watch::domain::rules::RuleSet;

/// The EventBridge pattern the template and the code share.
mod pattern;
/// What may write to the queues the function reads.
mod queues;
use pattern::with_extra_event_names;

/// The template as CloudFormation reads it (cfn-lint's loader, in the venv).
pub(crate) fn template(path: &str) -> Value {
    let python = common::repo_path(".venv/bin/python");
    let out = Command::new(&python)
        .arg(common::repo_path("tools/template_json.py"))
        .arg(common::repo_path(path))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run `make test` to install the venv",
                python.display()
            )
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("template JSON")
}

pub(crate) fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    t["Resources"]
        .get(name)
        .unwrap_or_else(|| panic!("resource {name}"))
}

#[test]
fn cfn_lint_reports_nothing() {
    if moto::unavailable("cfn_lint_reports_nothing") {
        return;
    }
    let out = Command::new(common::repo_path(".venv/bin/cfn-lint"))
        .args([
            "template.yaml",
            "deploy/forwarder.yaml",
            "deploy/finding-routes.yaml",
        ])
        .current_dir(common::repo_path(""))
        .output()
        .expect("cfn-lint runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "cfn-lint:\n{report}"
    );
}

#[test]
fn the_forwarder_filters_exactly_as_the_detector() {
    if moto::unavailable("the_forwarder_filters_exactly_as_the_detector") {
        return;
    }
    let main = template("template.yaml");
    let fwd = template("deploy/forwarder.yaml");
    let pattern = &resource(&main, "SigninEventsRule")["Properties"]["EventPattern"];
    assert_eq!(
        pattern,
        &resource(&fwd, "ForwardSigninEventsRule")["Properties"]["EventPattern"]
    );
    // The detector's own bus runs the same rule, into the same function.
    let bus_rule = &resource(&main, "BusSigninEventsRule")["Properties"];
    assert_eq!(&bus_rule["EventPattern"], pattern);
    assert_eq!(
        bus_rule["EventBusName"],
        serde_json::json!({"Ref": "SigninEventBus"})
    );
    assert_eq!(
        bus_rule["Targets"][0]["Arn"],
        serde_json::json!({"Fn::GetAtt": ["SigninWatchFunction", "Arn"]})
    );
    // The forwarder targets the bus it is given, with a role allowed that bus only.
    let target = &resource(&fwd, "ForwardSigninEventsRule")["Properties"]["Targets"][0];
    assert_eq!(
        target["Arn"],
        serde_json::json!({"Ref": "TargetEventBusArn"})
    );
    let role = &resource(&fwd, "ForwardRole")["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        [0];
    assert_eq!(role["Action"], "events:PutEvents");
    assert_eq!(
        role["Resource"],
        serde_json::json!({"Ref": "TargetEventBusArn"})
    );
}

/// A forged finding on the findings bus would page people: its policy
/// denies every principal but the function's role.
#[test]
fn only_the_function_puts_on_the_findings_bus() {
    if moto::unavailable("only_the_function_puts_on_the_findings_bus") {
        return;
    }
    let t = template("template.yaml");
    let st = &resource(&t, "FindingsEventBusOnlyTheFunction")["Properties"]["Statement"];
    assert_eq!(st["Effect"], "Deny");
    assert_eq!(st["Principal"], "*");
    assert_eq!(st["Action"], "events:PutEvents");
    assert_eq!(
        st["Condition"]["ArnNotEquals"]["aws:PrincipalArn"],
        serde_json::json!({"Fn::GetAtt": ["SigninWatchFunctionRole", "Arn"]})
    );
}

#[test]
fn the_bus_admits_only_the_organization_and_the_listed_accounts() {
    if moto::unavailable("the_bus_admits_only_the_organization_and_the_listed_accounts") {
        return;
    }
    let t = template("template.yaml");
    let policies: Vec<&Value> = t["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| {
            r["Type"] == "AWS::Events::EventBusPolicy"
                && r["Properties"]["EventBusName"] == serde_json::json!({"Ref": "SigninEventBus"})
        })
        .collect();
    assert_eq!(policies.len(), 2);
    for p in &policies {
        let st = &p["Properties"]["Statement"];
        assert_eq!(st["Effect"], "Allow");
        assert_eq!(st["Action"], "events:PutEvents");
        assert_eq!(
            p["Properties"]["EventBusName"],
            serde_json::json!({"Ref": "SigninEventBus"})
        );
        match &st["Principal"] {
            // Anyone, but only with the organization's id.
            Value::String(star) => {
                assert_eq!(star, "*");
                assert_eq!(p["Condition"], "HasOrganization");
                assert_eq!(
                    st["Condition"],
                    serde_json::json!({"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}})
                );
            }
            // The accounts listed, by id.
            principal => {
                assert_eq!(p["Condition"], "HasSourceAccounts");
                assert_eq!(
                    principal["AWS"],
                    serde_json::json!({"Ref": "SourceAccountIds"})
                );
            }
        }
    }
}

#[test]
fn findings_leave_safely() {
    if moto::unavailable("findings_leave_safely") {
        return;
    }
    let t = template("template.yaml");
    let statements =
        resource(&t, "FindingsTopicPolicy")["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .clone();
    let sid = |name: &str| {
        statements
            .iter()
            .find(|s| s["Sid"] == name)
            .unwrap_or_else(|| panic!("statement {name}"))
            .clone()
    };
    let role = serde_json::json!({"Fn::GetAtt": ["SigninWatchFunctionRole", "Arn"]});
    assert_eq!(sid("FunctionPublishes")["Principal"]["AWS"], role);
    let deny = sid("OnlyTheFunctionPublishes");
    assert_eq!(
        (deny["Effect"].as_str(), deny["Action"].as_str()),
        (Some("Deny"), Some("sns:Publish"))
    );
    assert_eq!(deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"], role);
    let subscribe = sid("OnlyTheAccountSubscribes");
    assert_eq!(subscribe["Effect"], "Deny");
    assert_eq!(
        subscribe["Condition"]["StringNotEquals"]["aws:PrincipalAccount"],
        serde_json::json!({"Ref": "AWS::AccountId"})
    );
    assert_eq!(
        sid("TlsOnly")["Condition"]["Bool"]["aws:SecureTransport"],
        "false"
    );
    // Every alarm of both templates tells someone.
    for path in ["template.yaml", "deploy/forwarder.yaml"] {
        let t = template(path);
        for (name, r) in t["Resources"].as_object().unwrap() {
            if r["Type"] == "AWS::CloudWatch::Alarm" {
                assert!(
                    r["Properties"]["AlarmActions"]
                        .as_array()
                        .is_some_and(|a| !a.is_empty()),
                    "{path}: {name} has no action"
                );
            }
        }
    }
    let metrics: BTreeSet<String> = t["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .filter_map(|r| r["Properties"]["MetricName"].as_str().map(str::to_owned))
        .collect();
    for m in [
        "NumberOfNotificationsFailed",
        "DestinationDeliveryFailures",
        "AsyncEventsDropped",
        "Errors",
        "TooLateForCorrelations",
    ] {
        assert!(metrics.contains(m), "no alarm on {m}: {metrics:?}");
    }
    // The function logs to a group with a retention.
    let f = &resource(&t, "SigninWatchFunction")["Properties"];
    assert_eq!(
        f["LoggingConfig"]["LogGroup"],
        serde_json::json!({"Ref": "FunctionLogGroup"})
    );
    assert_eq!(
        resource(&t, "FunctionLogGroup")["Properties"]["RetentionInDays"],
        serde_json::json!({"Ref": "LogRetentionDays"})
    );
}

#[test]
fn deployment_settings_are_as_documented() {
    if moto::unavailable("deployment_settings_are_as_documented") {
        return;
    }
    let t = template("template.yaml");
    let f = &resource(&t, "SigninWatchFunction")["Properties"];
    assert_eq!(f["Runtime"], "provided.al2023");
    assert_eq!(f["Architectures"], serde_json::json!(["arm64"]));
    assert_eq!(f["MemorySize"], 128);
    // Four chained SDK operations, each bounded, fit inside the function's timeout.
    let op_ms: u64 = f["Environment"]["Variables"]["SIGNIN_WATCH_AWS_TIMEOUT_MS"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        f["Timeout"].as_u64().unwrap() * 1000 > 4 * op_ms,
        "function timeout above four SDK operations"
    );
    assert_eq!(f["LoggingConfig"]["LogFormat"], "JSON");
    assert_eq!(
        resource(&t, "SigninWatchFunction")["Metadata"]["BuildMethod"],
        "rust-cargolambda"
    );
    // The sweep runs more often than a digest's grace, so a digest waits
    // at most one hour, its grace and one period.
    let sweep = &resource(&t, "SweepSchedule")["Properties"];
    assert_eq!(sweep["ScheduleExpression"], "rate(15 minutes)");
    assert_eq!(
        sweep["Targets"][0]["Arn"],
        serde_json::json!({"Fn::GetAtt": ["SigninWatchFunction", "Arn"]})
    );
    assert_eq!(
        resource(&t, "SweepSchedulePermission")["Properties"]["SourceArn"],
        serde_json::json!({"Fn::GetAtt": ["SweepSchedule", "Arn"]})
    );
    let table = resource(&t, "CounterTable");
    assert_eq!(table["DeletionPolicy"], "Retain");
    assert_eq!(table["Properties"]["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        table["Properties"]["TimeToLiveSpecification"]["AttributeName"],
        "expires_at"
    );
    assert_eq!(
        table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    // Every variable the function reads that has a parameter is set from it.
    let vars = f["Environment"]["Variables"].as_object().unwrap();
    for var in [
        signin_watch::config::SUPPRESSION_MINUTES,
        signin_watch::config::ESCALATION_TIERS,
        signin_watch::config::BUDGET_PER_RULE_HOUR,
        signin_watch::config::DISABLED_RULES,
        signin_watch::config::RULE2_ALLOW_ISSUERS,
        signin_watch::config::RULE2_ALLOW_USER_AGENTS,
        signin_watch::config::RULE2_ALLOW_CIDRS,
        signin_watch::config::RULES_DIR,
        signin_watch::config::geo::GEOIP_DIR,
        signin_watch::config::PLACEHOLDERS,
        signin_watch::lambda::config::TABLE,
        signin_watch::lambda::config::TOPIC_ARN,
        signin_watch::lambda::config::RETENTION_DAYS,
        signin_watch::lambda::config::REDRIVE_QUEUE_URLS,
    ] {
        assert!(vars.contains_key(var), "{var} is not set by the template");
    }
}

/// IAM actions a source file's SDK calls need. `TransactWriteItems` is
/// authorised per item: a `Put` needs `PutItem`, and so on.
const CALLS: &[(&str, &str)] = &[
    (".get_item()", "dynamodb:GetItem"),
    (".put_item()", "dynamodb:PutItem"),
    (".update_item()", "dynamodb:UpdateItem"),
    (".delete_item()", "dynamodb:DeleteItem"),
    (".query()", "dynamodb:Query"),
    (".scan()", "dynamodb:Scan"),
    (".batch_write_item()", "dynamodb:BatchWriteItem"),
    (".batch_get_item()", "dynamodb:BatchGetItem"),
    ("Put::builder()", "dynamodb:PutItem"),
    ("Update::builder()", "dynamodb:UpdateItem"),
    ("Delete::builder()", "dynamodb:DeleteItem"),
    ("ConditionCheck::builder()", "dynamodb:ConditionCheckItem"),
    (".publish()", "sns:Publish"),
    (".publish_batch()", "sns:Publish"),
    (".get_object()", "s3:GetObject"),
    (".receive_message()", "sqs:ReceiveMessage"),
    (".delete_message()", "sqs:DeleteMessage"),
    (".put_events()", "events:PutEvents"),
    (
        ".batch_import_findings()",
        "securityhub:BatchImportFindings",
    ),
];

/// The function role's statements that grant what the code calls.
const CODE_STATEMENTS: [&str; 6] = [
    "Counters",
    "Findings",
    "FindingsBus",
    "SecurityHub",
    "TrailObjects",
    "Redrive",
];

fn actions_the_code_calls() -> BTreeSet<&'static str> {
    let mut found = BTreeSet::new();
    for file in [
        "src/adapters/dynamodb_store/mod.rs",
        "src/adapters/dynamodb_store/correlate.rs",
        "src/adapters/dynamodb_store/budget.rs",
        "src/adapters/sns/publisher.rs",
        "src/adapters/s3.rs",
        "src/adapters/sqs.rs",
        "src/adapters/event_bus.rs",
        "src/adapters/security_hub.rs",
    ] {
        let code = std::fs::read_to_string(common::repo_path(file)).expect("adapter source");
        found.extend(
            CALLS
                .iter()
                .filter(|(call, _)| code.contains(call))
                .map(|(_, action)| *action),
        );
    }
    // The transaction itself must be there for the Put rule above to mean anything.
    assert!(
        found.contains("dynamodb:GetItem") && found.contains("sns:Publish"),
        "{found:?}"
    );
    found
}

fn as_list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    }
}

#[test]
fn iam_grants_exactly_what_the_code_calls() {
    if moto::unavailable("iam_grants_exactly_what_the_code_calls") {
        return;
    }
    let t = template("template.yaml");
    let policies = resource(&t, "SigninWatchFunction")["Properties"]["Policies"]
        .as_array()
        .expect("inline policies");
    let mut by_sid: BTreeMap<String, (Vec<String>, Value)> = BTreeMap::new();
    for policy in policies {
        for st in policy["Statement"].as_array().expect("statements") {
            // A conditional statement: {"Fn::If": [cond, statement, AWS::NoValue]}.
            let st = st.get("Fn::If").and_then(|v| v.get(1)).unwrap_or(st);
            assert_eq!(st["Effect"], "Allow");
            let sid = st["Sid"]
                .as_str()
                .expect("every statement has a Sid")
                .to_owned();
            let resource = st["Resource"].clone();
            assert_ne!(resource, Value::from("*"), "{sid}: no wildcard resources");
            by_sid.insert(sid, (as_list(&st["Action"]), resource));
        }
    }
    // What the code calls, on the table and the topic.
    let mut granted: BTreeSet<String> = BTreeSet::new();
    for sid in CODE_STATEMENTS {
        granted.extend(
            by_sid
                .get(sid)
                .unwrap_or_else(|| panic!("statement {sid}"))
                .0
                .iter()
                .cloned(),
        );
    }
    let called: BTreeSet<String> = actions_the_code_calls()
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        granted, called,
        "template grants (left) vs actions the code calls (right)"
    );
    assert_eq!(
        by_sid["Counters"].1,
        serde_json::json!({"Fn::GetAtt": ["CounterTable", "Arn"]})
    );
    assert_eq!(
        by_sid["Findings"].1,
        serde_json::json!({"Ref": "FindingsTopic"})
    );
    // The account's default product, nothing else.
    assert_eq!(
        by_sid["SecurityHub"].1,
        serde_json::json!({"Fn::Sub": "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:product/${AWS::AccountId}/default"})
    );
    // The stack's own findings bus, nothing else.
    assert_eq!(
        by_sid["FindingsBus"].1,
        serde_json::json!({"Fn::GetAtt": ["FindingsEventBus", "Arn"]})
    );
    // The queues of failed events (the trail's dead-letter queue too, with
    // a trail bucket), nothing else.
    let two = serde_json::json!([
        {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]},
        {"Fn::GetAtt": ["UndeliveredEventsQueue", "Arn"]}
    ]);
    let three = serde_json::json!([
        {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]},
        {"Fn::GetAtt": ["UndeliveredEventsQueue", "Arn"]},
        {"Fn::GetAtt": ["TrailObjectsDeadLetterQueue", "Arn"]}
    ]);
    assert_eq!(
        by_sid["Redrive"].1,
        serde_json::json!({"Fn::If": ["HasTrailBucket", three, two]})
    );
    // Objects under the trail's prefix of the trail's bucket, nothing else.
    assert_eq!(
        by_sid["TrailObjects"].1,
        serde_json::json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::${TrailBucketName}/${TrailPrefix}*"})
    );
    // Beyond the code: Lambda's failure destination and its SQS poller, the
    // trail's key and the topic's customer key when they are given.
    let platform: BTreeMap<&str, Vec<&str>> = [
        ("FailureDestination", vec!["sqs:SendMessage"]),
        (
            "TrailObjectsQueue",
            vec![
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ChangeMessageVisibility",
            ],
        ),
        ("TrailKey", vec!["kms:Decrypt"]),
        (
            "FindingsTopicKey",
            vec!["kms:GenerateDataKey", "kms:Decrypt"],
        ),
    ]
    .into();
    for (sid, (actions, _)) in &by_sid {
        if CODE_STATEMENTS.contains(&sid.as_str()) {
            continue;
        }
        let allowed = platform
            .get(sid.as_str())
            .unwrap_or_else(|| panic!("unexpected statement {sid}: {actions:?}"));
        assert_eq!(actions, allowed, "{sid}");
    }
}

#[tokio::test]
async fn the_eventbridge_pattern_passes_exactly_what_the_rules_could_match() {
    if moto::unavailable("the_eventbridge_pattern_passes_exactly_what_the_rules_could_match") {
        return;
    }
    let t = template("template.yaml");
    // ExtraEventNames at its default.
    let pattern = with_extra_event_names(
        &resource(&t, "SigninEventsRule")["Properties"]["EventPattern"],
        &[""],
    )
    .to_string();
    let sdk = moto::sdk().await;
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let rule = moto::unique("signin-events");
    events
        .put_rule()
        .name(&rule)
        .event_pattern(&pattern)
        .send()
        .await
        .expect("put rule");
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = moto::create_queue(&sdk, "rule-target").await;
    let arn = moto::queue_arn(&sdk, &url).await;
    events
        .put_targets()
        .rule(&rule)
        .targets(Target::builder().id("q").arn(arn).build().unwrap())
        .send()
        .await
        .unwrap();

    // Every sample, plus case variants AWS's own documents show.
    let mut samples: Vec<(String, Value)> = common::event_files()
        .iter()
        .map(|f| {
            (
                common::file_name(f),
                serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap(),
            )
        })
        .collect();
    let variant = |name: &str, edit: &dyn Fn(&mut Value)| {
        let mut v: Value = serde_json::from_slice(
            &std::fs::read(common::repo_path(&format!("events/{name}"))).unwrap(),
        )
        .unwrap();
        edit(&mut v);
        v
    };
    samples.push((
        "rule2 with the older eventType spelling".into(),
        variant("rule2-federated-getsignintoken-no-mfa.json", &|v| {
            v["detail"]["eventType"] = "AwsConsoleSignin".into();
            v["detail"]["eventID"] = "variant-casing".into();
        }),
    ));
    samples.push((
        "rule1 under the other detail-type spelling".into(),
        variant("rule1-failed-mfa-iam-user.json", &|v| {
            v["detail-type"] = "AWS Console Sign-In via CloudTrail".into();
            v["detail"]["eventID"] = "variant-detail-type".into();
        }),
    ));

    // Every record of every pack rule's inline tests, as an EventBridge event
    // with an eventID of its own.
    let template = common::sample_json("rule1-failed-mfa-iam-user.json");
    for rule in RuleSet::default().rules() {
        for (i, test) in rule.tests.iter().enumerate() {
            let mut record: Value = serde_json::from_str(&test.record).expect("test record");
            record["eventID"] = format!("inline-{}-{i}", rule.name).into();
            let mut event = template.clone();
            event["detail"] = record;
            samples.push((format!("{}: {}", rule.name, test.label), event));
        }
    }

    let rules = RuleSet::default();
    let mut expected = BTreeSet::new();
    for (name, event) in &samples {
        let detail = event["detail"].to_string();
        let record: CloudTrailRecord = serde_json::from_str(&detail).expect("record");
        if rules.any_match(&record) {
            expected.insert(event["detail"]["eventID"].as_str().unwrap().to_owned());
        }
        let entry = PutEventsRequestEntry::builder()
            .source(event["source"].as_str().unwrap())
            .detail_type(event["detail-type"].as_str().unwrap())
            .detail(event["detail"].to_string())
            .event_bus_name("default")
            .build();
        let out = events
            .put_events()
            .entries(entry)
            .send()
            .await
            .expect("put events");
        assert_eq!(out.failed_entry_count, 0, "{name}");
    }
    let mut arrived = BTreeSet::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if got.is_empty() {
            break;
        }
        for m in got {
            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            arrived.insert(body["detail"]["eventID"].as_str().unwrap().to_owned());
            sqs.delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    assert!(
        expected.len() > 20 && expected.len() < samples.len(),
        "the samples hold records some rule matches and records none does: {} of {}",
        expected.len(),
        samples.len()
    );
    assert_eq!(
        arrived, expected,
        "events the pattern let through (left) vs those a rule matches (right)"
    );
}

#[test]
fn the_bucket_path_retries_only_what_failed_and_admits_only_the_bucket() {
    if moto::unavailable("the_bucket_path_retries_only_what_failed_and_admits_only_the_bucket") {
        return;
    }
    let t = template("template.yaml");
    let mut mappings = 0;
    for (name, r) in t["Resources"].as_object().unwrap() {
        if r["Type"] == "AWS::Lambda::EventSourceMapping" {
            mappings += 1;
            assert_eq!(
                r["Properties"]["FunctionResponseTypes"],
                serde_json::json!(["ReportBatchItemFailures"]),
                "{name}"
            );
        }
    }
    assert!(mappings >= 1);
    let st =
        &resource(&t, "TrailObjectsQueuePolicy")["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(st["Principal"]["Service"], "s3.amazonaws.com");
    assert_eq!(
        st["Condition"]["ArnLike"]["aws:SourceArn"],
        serde_json::json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::${TrailBucketName}"})
    );
    assert!(st["Condition"]["StringEquals"]["aws:SourceAccount"].is_object());
    // Hand-backs at the deadline count as receives: room for an object read
    // over several invocations before the dead-letter queue.
    assert!(
        resource(&t, "TrailObjectsQueue")["Properties"]["RedrivePolicy"]["maxReceiveCount"]
            .as_u64()
            .unwrap()
            >= 20
    );
    // Six times the function's timeout, so that a message is not seen twice
    // while an invocation still reads its object.
    let timeout = resource(&t, "SigninWatchFunction")["Properties"]["Timeout"]
        .as_u64()
        .unwrap();
    assert!(
        resource(&t, "TrailObjectsQueue")["Properties"]["VisibilityTimeout"]
            .as_u64()
            .unwrap()
            >= 6 * timeout
    );
}
