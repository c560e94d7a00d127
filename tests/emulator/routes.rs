//! The findings bus and the example routes (`deploy/finding-routes.yaml`):
//! the function puts every notification and digest on the bus beside the
//! topic; each route's rule, as the stack writes it, matches them on moto;
//! and each route's input transformer, applied to the events that arrived
//! as EventBridge documents its semantics, gives a payload that satisfies
//! the target's documented format (PagerDuty's Events API v2, incident.io's
//! HTTP alert sources, Splunk On-Call's REST endpoint, Slack's incoming
//! webhooks, Amazon Q's custom notifications: JSON Schemas in tests/routes/).

use std::collections::BTreeMap;

use aws_sdk_eventbridge::types::Target;
use serde_json::Value;
use signin_watch::adapters::event_bus::EventBusPublisher;
use signin_watch::adapters::routes::Routes;
use signin_watch::adapters::sns::SnsPublisher;

use crate::common::checker::check;
use crate::common::{self, moto};
use crate::template::{resource, template};

/// The sweep's scheduled event: it sends the digests owed.
const SWEEP: &str = r#"{"version":"0","id":"sweep-routes","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-12-01T00:15:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/signin-watch-sweep"],"detail":{}}"#;

/// The account moto gives every caller: events carry it as `account`.
const ACCOUNT: &str = "123456789012";
const ROUTING_KEY: &str = "R0ut1ngKeyR0ut1ngKeyR0ut1ngKey12";

/// A template value with the stack's parameters and pseudo-parameters
/// filled in (`Ref`, and `Fn::Sub` of `${Name}`).
fn resolve(v: &Value, params: &BTreeMap<&str, Value>) -> Value {
    match v {
        Value::Object(o) if o.len() == 1 && o.contains_key("Ref") => {
            let name = o["Ref"].as_str().expect("a name");
            params
                .get(name)
                .cloned()
                .unwrap_or_else(|| panic!("parameter {name}"))
        }
        Value::Object(o) if o.len() == 1 && o.contains_key("Fn::Sub") => {
            let mut text = o["Fn::Sub"].as_str().expect("a string").to_owned();
            for (name, value) in params {
                text = text.replace(&format!("${{{name}}}"), value.as_str().unwrap_or_default());
            }
            assert!(!text.contains("${"), "a parameter left in {text}");
            Value::String(text)
        }
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), resolve(v, params)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| resolve(v, params)).collect()),
        other => other.clone(),
    }
}

/// The value at a JSON path of the dotted form the routes use (`$.a.b`).
fn at<'a>(event: &'a Value, path: &str) -> &'a Value {
    let rest = path
        .strip_prefix("$.")
        .unwrap_or_else(|| panic!("a JSON path: {path}"));
    let found = rest.split('.').fold(event, |v, key| &v[key]);
    assert!(!found.is_null(), "{path} is in every event");
    found
}

/// A target's input as EventBridge documents it: `InputPath` selects part
/// of the event, unchanged; an input transformer's placeholder outside
/// quotes becomes the value as JSON (a string quoted and escaped). The
/// routes place none inside quotes, where EventBridge would write a string
/// raw: the test refuses one.
fn transform(target: &Value, event: &Value) -> Value {
    if let Some(path) = target["InputPath"].as_str() {
        return at(event, path).clone();
    }
    let transformer = &target["InputTransformer"];
    let paths = transformer["InputPathsMap"]
        .as_object()
        .expect("InputPathsMap");
    let template = transformer["InputTemplate"]
        .as_str()
        .expect("InputTemplate");
    let (mut out, mut in_string, mut escaped) = (String::new(), false, false);
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' if !escaped => in_string = !in_string,
            '<' if !paths.is_empty() => {
                let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                let path = paths[&name]
                    .as_str()
                    .unwrap_or_else(|| panic!("<{name}> is mapped"));
                assert!(!in_string, "<{name}> is placed inside quotes");
                out.push_str(&at(event, path).to_string());
                continue;
            }
            _ => {}
        }
        escaped = c == '\\' && !escaped;
        out.push(c);
    }
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Every message on the queue, as JSON.
async fn bodies(sdk: &aws_config::SdkConfig, url: &str) -> Vec<Value> {
    moto::drain(
        sdk,
        &moto::Queue {
            url: url.to_owned(),
        },
    )
    .await
    .iter()
    .map(|m| serde_json::from_str(m.body().expect("a body")).expect("JSON"))
    .collect()
}

#[tokio::test]
async fn notifications_reach_the_bus_and_each_route_gives_its_target_what_it_documents() {
    if moto::unavailable(
        "notifications_reach_the_bus_and_each_route_gives_its_target_what_it_documents",
    ) {
        return;
    }
    let routes = template("deploy/finding-routes.yaml");
    let env = moto::Env::new(false).await;
    let events = aws_sdk_eventbridge::Client::new(&env.sdk);
    let bus = moto::unique("findings");
    events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("create bus");
    let params: BTreeMap<&str, Value> = [
        ("AWS::AccountId", Value::from(ACCOUNT)),
        ("PagerDutyRoutingKey", Value::from(ROUTING_KEY)),
        // Paging high and critical only, so that the filter shows.
        (
            "PagerDutySeverities",
            serde_json::json!(["critical", "error"]),
        ),
        (
            "IncidentIoSeverities",
            serde_json::json!(["critical", "error", "warning"]),
        ),
    ]
    .into();
    // Each route's rule, its pattern as the stack writes it, with a queue
    // for its target: what arrives is the event the destination would get.
    let mut queues = BTreeMap::new();
    for name in [
        "PagerDutyRule",
        "SlackRule",
        "ChatRule",
        "IncidentIoRule",
        "SplunkOnCallCriticalRule",
        "SplunkOnCallWarningRule",
    ] {
        let props = &resource(&routes, name)["Properties"];
        let pattern = resolve(&props["EventPattern"], &params);
        let rule = moto::unique(name);
        events
            .put_rule()
            .name(&rule)
            .event_bus_name(&bus)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .expect("put rule");
        let url = moto::create_queue(&env.sdk, name).await;
        let arn = moto::queue_arn(&env.sdk, &url).await;
        events
            .put_targets()
            .rule(&rule)
            .event_bus_name(&bus)
            .targets(
                Target::builder()
                    .id("q")
                    .arn(arn)
                    .build()
                    .expect("a target"),
            )
            .send()
            .await
            .expect("put targets");
        let target = &props["Targets"][0];
        let transformer = serde_json::json!({
            "InputPath": target["InputPath"],
            "InputTransformer": resolve(&target["InputTransformer"], &params),
        });
        queues.insert(name, (url, transformer));
    }
    let topic_inbox = moto::subscribe_queue(&env.sdk, &env.topic, true, None).await;
    // A budget of one message per rule, account and hour, so that the
    // samples fold some into digests, which the sweep then sends.
    let config = signin_watch::config::DetectorConfig::default();
    let mut policy = config.policy.clone();
    policy.budget_per_rule_hour = 1;
    let handler = signin_watch::lambda::handler::Handler::new(
        signin_watch::app::detector::Detector::new(config.rules, policy, env.store()),
        Routes::new(
            SnsPublisher::new(aws_sdk_sns::Client::new(&env.sdk), &env.topic.arn),
            Some(EventBusPublisher::new(events.clone(), &bus)),
        ),
    );
    // The samples, and a sign-in whose user name would ping a channel.
    let mut inputs: Vec<Vec<u8>> = common::event_files()
        .iter()
        .map(|f| std::fs::read(f).expect("a sample"))
        .collect();
    let mut hostile = common::sample_json("rule1-failed-mfa-iam-user.json");
    hostile["detail"]["eventID"] = "hostile-name".into();
    // An hour of its own, so that the budget does not fold it.
    hostile["detail"]["eventTime"] = "2026-11-25T12:00:00Z".into();
    hostile["detail"]["userIdentity"]["userName"] = "<!channel> & <https://evil.example|ok>".into();
    inputs.push(hostile.to_string().into_bytes());
    // Another user's failed MFA in the sample's hour: past the budget of
    // one, it folds into that hour's digest.
    let mut folded = common::sample_json("rule1-failed-mfa-iam-user.json");
    folded["detail"]["eventID"] = "folded-one".into();
    folded["detail"]["userIdentity"]["userName"] = "bob".into();
    inputs.push(folded.to_string().into_bytes());
    for input in &inputs {
        moto::ok(&handler, input).await;
    }
    let swept = moto::ok(&handler, SWEEP.as_bytes()).await;
    assert!(swept.digests_sent > 0, "the budget folded some: {swept:?}");

    let notified = moto::drain(&env.sdk, &topic_inbox).await.len();
    let (slack_url, slack) = &queues["SlackRule"];
    let on_bus = bodies(&env.sdk, slack_url).await;
    assert!(notified > 3, "the samples notify: {notified}");
    assert_eq!(
        on_bus.len(),
        notified,
        "every notification is on the bus too"
    );
    for e in &on_bus {
        assert_eq!(e["source"], "signin-watch");
        // moto's delivery to a queue leaves `account` out; the rules'
        // patterns matched it on the event itself.
        match e["detail-type"].as_str() {
            Some("signin-watch finding") => {
                assert!(e["detail"]["finding_id"].is_string(), "the finding: {e}")
            }
            Some("signin-watch digest") => {
                assert!(e["detail"]["digest_id"].is_string(), "the digest: {e}")
            }
            other => panic!("detail-type {other:?}"),
        }
    }
    assert_eq!(
        on_bus
            .iter()
            .filter(|e| e["detail-type"] == "signin-watch digest")
            .count() as u64,
        swept.digests_sent,
        "every digest is on the bus, and through every route's check below"
    );
    let (pd_url, pagerduty) = &queues["PagerDutyRule"];
    let paged = bodies(&env.sdk, pd_url).await;
    let should_page = on_bus
        .iter()
        .filter(|e| {
            ["critical", "error"].contains(&e["detail"]["page"]["severity"].as_str().unwrap_or(""))
        })
        .count();
    assert_eq!(
        paged.len(),
        should_page,
        "PagerDuty's rule takes the severities it lists"
    );
    assert!(
        !paged.is_empty() && paged.len() < on_bus.len(),
        "high and critical, not the others: {} of {}",
        paged.len(),
        on_bus.len()
    );

    let pd_payloads: Vec<Value> = paged.iter().map(|e| transform(pagerduty, e)).collect();
    let slack_payloads: Vec<Value> = on_bus.iter().map(|e| transform(slack, e)).collect();
    let (chat_url, chat) = &queues["ChatRule"];
    let chatted = bodies(&env.sdk, chat_url).await;
    assert_eq!(chatted.len(), on_bus.len(), "the chat topic takes them all");
    let chat_payloads: Vec<Value> = chatted.iter().map(|e| transform(chat, e)).collect();
    for (c, e) in chat_payloads.iter().zip(&chatted) {
        // One thread per group, as one incident per group.
        assert_eq!(c["metadata"]["threadId"], e["detail"]["page"]["dedup_key"]);
    }
    for (p, e) in pd_payloads.iter().zip(&paged) {
        assert_eq!(p["routing_key"], ROUTING_KEY);
        assert_eq!(
            p["payload"]["custom_details"], e["detail"],
            "the finding, exact"
        );
    }
    // One incident per group: repeats of a group share the key.
    let mut keys = BTreeMap::new();
    for (p, e) in pd_payloads.iter().zip(&paged) {
        let key = keys
            .entry(e["detail"]["group"].to_string())
            .or_insert_with(|| p["dedup_key"].clone());
        assert_eq!(*key, p["dedup_key"]);
    }
    let hostile_text = slack_payloads
        .iter()
        .find_map(|p| p["text"].as_str().filter(|t| t.contains("channel")))
        .expect("the hostile sign-in's message");
    assert!(
        hostile_text.contains("&lt;!channel&gt; &amp; &lt;https://evil.example|ok&gt;"),
        "{hostile_text}"
    );
    // incident.io: the severities it lists, one alert per group.
    let (io_url, incident_io) = &queues["IncidentIoRule"];
    let alerted = bodies(&env.sdk, io_url).await;
    let pager = |e: &Value, levels: &[&str]| {
        levels.contains(&e["detail"]["page"]["severity"].as_str().unwrap_or(""))
    };
    assert_eq!(
        alerted.len(),
        on_bus
            .iter()
            .filter(|e| pager(e, &["critical", "error", "warning"]))
            .count()
    );
    let io_payloads: Vec<Value> = alerted.iter().map(|e| transform(incident_io, e)).collect();
    for (p, e) in io_payloads.iter().zip(&alerted) {
        assert_eq!(p["deduplication_key"], e["detail"]["page"]["dedup_key"]);
        assert_eq!(p["title"], e["detail"]["page"]["summary"]);
        assert_eq!(p["metadata"], e["detail"], "the finding, exact");
    }
    // Splunk On-Call: CRITICAL for critical and high, WARNING for medium;
    // a group's repeats roll up into one incident (entity_id).
    let mut on_call_payloads = Vec::new();
    for (rule, levels, word) in [
        (
            "SplunkOnCallCriticalRule",
            &["critical", "error"][..],
            "CRITICAL",
        ),
        ("SplunkOnCallWarningRule", &["warning"][..], "WARNING"),
    ] {
        let (url, transformer) = &queues[rule];
        let got = bodies(&env.sdk, url).await;
        assert_eq!(
            got.len(),
            on_bus.iter().filter(|e| pager(e, levels)).count(),
            "{rule}"
        );
        assert!(!got.is_empty(), "{rule} takes some of the samples");
        for e in &got {
            let p = transform(transformer, e);
            assert_eq!(p["message_type"], word);
            assert_eq!(p["entity_id"], e["detail"]["page"]["dedup_key"]);
            on_call_payloads.push(p);
        }
    }
    // What the docs quote (docs/pagers/): the first of each route's.
    for (name, payloads) in [
        ("pagerduty", &pd_payloads),
        ("slack", &slack_payloads),
        ("amazon-q", &chat_payloads),
        ("incident-io", &io_payloads),
        ("splunk-on-call", &on_call_payloads),
    ] {
        keep_for_the_docs(name, payloads.first().expect("a payload"));
    }
    satisfy_their_schemas(&[
        ("pagerduty-events-v2.schema.json", &pd_payloads),
        ("slack-incoming-webhook.schema.json", &slack_payloads),
        ("amazon-q-custom-notification.schema.json", &chat_payloads),
        ("incident-io-http-alert.schema.json", &io_payloads),
        ("splunk-on-call-rest.schema.json", &on_call_payloads),
    ]);
}

/// Each payload satisfies the JSON Schema of tests/routes/ named beside it.
fn satisfy_their_schemas(pairs: &[(&str, &Vec<Value>)]) {
    for (schema, payloads) in pairs {
        let lines: Vec<String> = payloads.iter().map(Value::to_string).collect();
        let schema = common::repo_path(&format!("tests/routes/{schema}"));
        let checked = check(
            &moto::python(),
            "schema_check.py",
            &[schema.to_str().expect("UTF-8")],
            &lines,
        );
        assert!(checked.accepted, "{schema:?}: {}", checked.said);
    }
}

/// Writes `payload` to target/routes/NAME.json, where docs/pagers/ quote
/// it from.
fn keep_for_the_docs(name: &str, payload: &Value) {
    let quoted = common::repo_path("target/routes");
    std::fs::create_dir_all(&quoted).expect("target/routes");
    std::fs::write(
        quoted.join(format!("{name}.json")),
        serde_json::to_string_pretty(payload).expect("JSON"),
    )
    .expect("write");
}

/// `MessageBody=ocsf`: the topic's machine subscribers receive each
/// notification as an OCSF Detection Finding the schema's files accept.
#[tokio::test]
async fn the_topic_can_carry_ocsf_detection_findings() {
    if moto::unavailable("the_topic_can_carry_ocsf_detection_findings") {
        return;
    }
    let env = moto::Env::new(false).await;
    let inbox = moto::subscribe_queue(&env.sdk, &env.topic, true, None).await;
    let handler = env.handler_with(
        SnsPublisher::new(aws_sdk_sns::Client::new(&env.sdk), &env.topic.arn)
            .with_machine_body(signin_watch::adapters::sns::message::MachineBody::Ocsf),
    );
    let mut published = 0;
    for file in common::event_files() {
        published += moto::ok(&handler, &std::fs::read(&file).expect("a sample"))
            .await
            .published;
    }
    let bodies = bodies(&env.sdk, &inbox.url).await;
    assert_eq!(bodies.len() as u64, published);
    assert!(bodies.iter().all(|b| b["class_uid"] == 2004), "{bodies:?}");
    let lines: Vec<String> = bodies.iter().map(Value::to_string).collect();
    let python = std::path::PathBuf::from("python3");
    let checked = check(&python, "ocsf_check.py", &[], &lines);
    assert!(checked.accepted, "{}", checked.said);
}

/// The pagers that subscribe to the topic itself (Grafana IRM, Better
/// Stack, xMatters; docs/pagers/): each receives SNS's signed HTTPS
/// notification, which a queue subscribed without raw delivery receives
/// too, and reads its `Subject` or the JSON of its `Message`. Both satisfy
/// what those services document, and a group's repeats keep one key.
#[tokio::test]
async fn pagers_on_the_topic_get_a_signed_notification_whose_message_they_can_map() {
    if moto::unavailable("pagers_on_the_topic_get_a_signed_notification_whose_message_they_can_map")
    {
        return;
    }
    let env = moto::Env::new(false).await;
    let inbox = moto::subscribe_queue(&env.sdk, &env.topic, false, None).await;
    let config = signin_watch::config::DetectorConfig::default();
    let mut policy = config.policy.clone();
    policy.budget_per_rule_hour = 1;
    let handler = signin_watch::lambda::handler::Handler::new(
        signin_watch::app::detector::Detector::new(config.rules, policy, env.store()),
        SnsPublisher::new(aws_sdk_sns::Client::new(&env.sdk), &env.topic.arn),
    );
    for f in common::event_files() {
        moto::ok(&handler, &std::fs::read(f).expect("a sample")).await;
    }
    // Another user's failed MFA in the sample's hour, folded past the
    // budget of one into the hour's digest; and a name that would ping a
    // channel, in an hour of its own.
    let mut folded = common::sample_json("rule1-failed-mfa-iam-user.json");
    folded["detail"]["eventID"] = "folded-topic".into();
    folded["detail"]["userIdentity"]["userName"] = "bob".into();
    let mut hostile = common::sample_json("rule1-failed-mfa-iam-user.json");
    hostile["detail"]["eventID"] = "hostile-topic".into();
    hostile["detail"]["eventTime"] = "2026-11-25T12:00:00Z".into();
    hostile["detail"]["userIdentity"]["userName"] = "<!channel>".into();
    for e in [folded, hostile] {
        moto::ok(&handler, e.to_string().as_bytes()).await;
    }
    let swept = moto::ok(&handler, SWEEP.as_bytes()).await;
    assert!(swept.digests_sent > 0, "the budget folded some: {swept:?}");
    let envelopes = bodies(&env.sdk, &inbox.url).await;
    assert!(envelopes.len() > 3, "the samples notify");
    let messages: Vec<Value> = envelopes
        .iter()
        .map(|e| {
            serde_json::from_str(e["Message"].as_str().expect("a Message"))
                .unwrap_or_else(|err| panic!("Message is JSON, as Grafana parses it: {err}: {e}"))
        })
        .collect();
    assert_eq!(
        messages
            .iter()
            .filter(|m| m["digest_id"].is_string())
            .count() as u64,
        swept.digests_sent,
        "the digests too"
    );
    // One key per group: the group's repeats share it, two groups do not.
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    for m in messages.iter().filter(|m| m["finding_id"].is_string()) {
        let group = m["group"].as_str().expect("a group").to_owned();
        let who = format!("{}|{}|{}|{}", m["rule"], m["account"], m["user"], m["src"]);
        let seen = keys.entry(group).or_insert_with(|| who.clone());
        assert_eq!(*seen, who, "a group is one rule, account, user and source");
    }
    // The title is the signer's text exact, as the docs warn: a chat
    // template escapes it (docs/pagers/grafana-irm.md).
    assert!(
        messages.iter().any(|m| m["title"]
            .as_str()
            .is_some_and(|t| t.contains("<!channel>"))),
        "the hostile name arrives exact in the title"
    );
    satisfy_their_schemas(&[
        ("sns-https-notification.schema.json", &envelopes),
        ("topic-message-for-pagers.schema.json", &messages),
    ]);
    keep_for_the_docs("sns-notification", &envelopes[0]);
}
