//! The function's handler end to end against moto's server: real DynamoDB
//! items, real SNS messages read back through SQS subscriptions.

use crate::common;

use std::sync::Arc;

use aws_sdk_sqs::types::Message;
use aws_smithy_mocks::{mock, mock_client};
use serde_json::Value;

use common::moto::{self, Env, Queue, attr, ok};
use signin_watch::adapters::dynamodb_store::DynamoStore;
use signin_watch::adapters::sns::SnsPublisher;
use signin_watch::app::detector::Detector;
use signin_watch::config::DetectorConfig;
use signin_watch::domain::notify::{Notice, Notifier};
use signin_watch::domain::rules::pack;
use signin_watch::lambda::handler::{Handler, HandlerError};

const RULE2: &str = "1f45720e-5ea8-11ef-90d2-f661ea17fbce";

/// Counts the requests a client sends, by operation.
#[derive(Debug, Default, Clone)]
struct RequestCounter(Arc<std::sync::Mutex<Vec<String>>>);

impl aws_smithy_runtime_api::client::interceptors::Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }
    fn read_before_transmit(
        &self,
        _: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let op = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .map(|m| m.name().to_owned());
        self.0.lock().unwrap().push(op.unwrap_or_default());
        Ok(())
    }
}

impl RequestCounter {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

use common::{sample_json as sample, sample_variant as variant};

#[tokio::test]
async fn every_sample_gives_the_expected_items_and_messages() {
    if moto::unavailable("every_sample_gives_the_expected_items_and_messages") {
        return;
    }
    let env = Env::new(false).await;
    let raw = moto::subscribe_queue(&env.sdk, &env.topic, true, None).await;
    let enveloped = moto::subscribe_queue(&env.sdk, &env.topic, false, None).await;
    let high_only = moto::subscribe_queue(
        &env.sdk,
        &env.topic,
        true,
        Some(r#"{"severity":["high","critical"]}"#),
    )
    .await;
    let rule2_only = moto::subscribe_queue(
        &env.sdk,
        &env.topic,
        true,
        Some(&format!(r#"{{"rule_id":["{RULE2}"]}}"#)),
    )
    .await;
    let handler = env.handler();
    // The rule id each sample fires, from the one table of which sample fires what.
    let fires = common::fires();
    let expected: Vec<(&str, Option<String>)> = fires
        .iter()
        .map(|(file, keys)| {
            let id = keys
                .first()
                .map(|k| pack::rule(k).expect("a known rule").id.clone());
            (file.as_str(), id)
        })
        .collect();
    for (file, rule) in &expected {
        let rule = rule.as_deref();
        let event = sample(file);
        let summary = ok(&handler, &serde_json::to_vec(&event).unwrap()).await;
        let raw_msgs = moto::drain(&env.sdk, &raw).await;
        let env_msgs = moto::drain(&env.sdk, &enveloped).await;
        let rule2_msgs = moto::drain(&env.sdk, &rule2_only).await;
        let high_msgs = moto::drain(&env.sdk, &high_only).await;
        let Some(rule) = rule.as_ref() else {
            assert!(
                summary.detections.is_empty()
                    && raw_msgs.is_empty()
                    && env_msgs.is_empty()
                    && high_msgs.is_empty(),
                "{file}"
            );
            continue;
        };
        assert_eq!(
            (summary.detections.len(), summary.published),
            (1, 1),
            "{file}"
        );
        let finding = &summary.detections[0];
        assert_eq!(
            env.counters(&finding.group).await.count,
            1,
            "{file}: counter item"
        );

        // Raw delivery: the body is the JSON finding; attributes for filter policies.
        assert_eq!(raw_msgs.len(), 1, "{file}");
        let body: Value = serde_json::from_str(raw_msgs[0].body().unwrap()).unwrap();
        assert_eq!(body["rule_id"], *rule);
        assert_eq!(body["event_id"], event["detail"]["eventID"]);
        assert_eq!(body["finding_id"], finding.finding_id.as_str());
        assert_eq!(attr(&raw_msgs[0], "rule_id"), *rule);
        let pack_rule = pack::rule(rule).expect("a pack rule");
        assert_eq!(attr(&raw_msgs[0], "severity"), pack_rule.severity.as_str());
        assert_eq!(
            attr(&raw_msgs[0], "risk_score"),
            pack_rule.risk_score.to_string()
        );
        assert_eq!(attr(&raw_msgs[0], "rule"), pack_rule.name);
        assert_eq!(attr(&raw_msgs[0], "user"), finding.user);
        let mitre: Vec<String> = serde_json::from_str(attr(&raw_msgs[0], "mitre")).unwrap();
        assert_eq!(mitre, finding.mitre);

        // Enveloped delivery: SNS's envelope around the same finding, with the subject.
        assert_eq!(env_msgs.len(), 1, "{file}");
        let envelope: Value = serde_json::from_str(env_msgs[0].body().unwrap()).unwrap();
        assert_eq!(envelope["Type"], "Notification");
        let subject = envelope["Subject"].as_str().unwrap();
        assert!(subject.len() < 100 && subject.is_ascii(), "{subject}");
        assert_eq!(subject, signin_watch::render::subject(finding));
        let inner: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
        assert_eq!(inner["finding_id"], finding.finding_id.as_str());
        assert_eq!(
            envelope["MessageAttributes"]["risk_score"]["Type"],
            "Number"
        );

        assert_eq!(
            rule2_msgs.len(),
            usize::from(*rule == RULE2),
            "{file}: rule_id filter policy"
        );
        assert_eq!(
            high_msgs.len(),
            usize::from(matches!(pack_rule.severity.as_str(), "high" | "critical")),
            "{file}: severity filter policy"
        );
    }
}

#[tokio::test]
async fn the_same_event_five_times_counts_once_and_publishes_once() {
    if moto::unavailable("the_same_event_five_times_counts_once_and_publishes_once") {
        return;
    }
    let env = Env::new(false).await;
    let queue = moto::subscribe_queue(&env.sdk, &env.topic, true, None).await;
    let handler = env.handler();
    let event = serde_json::to_vec(&sample("rule1-failed-mfa-iam-user.json")).unwrap();
    let mut group = String::new();
    for i in 0..5 {
        let s = ok(&handler, &event).await;
        if i == 0 {
            group = s.detections[0].group.clone();
        } else {
            assert_eq!((s.detections.len(), s.duplicates), (0, 1));
        }
    }
    assert_eq!(env.counters(&group).await.count, 1);
    assert_eq!(moto::drain(&env.sdk, &queue).await.len(), 1);
}

#[tokio::test]
async fn out_of_order_delivery_keeps_min_and_max() {
    if moto::unavailable("out_of_order_delivery_keeps_min_and_max") {
        return;
    }
    let env = Env::new(false).await;
    let queue = moto::subscribe_queue(&env.sdk, &env.topic, true, None).await;
    let handler = env.handler();
    let f = "rule1-failed-mfa-iam-user.json";
    let mut group = String::new();
    for (id, t) in [
        ("late", "2026-11-20T09:40:00Z"),
        ("early", "2026-11-20T09:00:00Z"),
        ("mid", "2026-11-20T09:20:00Z"),
    ] {
        group = ok(&handler, &variant(f, id, t)).await.detections[0]
            .group
            .clone();
    }
    let c = env.counters(&group).await;
    assert_eq!(c.count, 3);
    assert_eq!(c.first_seen.to_string(), "2026-11-20T09:00:00Z");
    assert_eq!(c.last_seen.to_string(), "2026-11-20T09:40:00Z");
    assert_eq!(
        moto::drain(&env.sdk, &queue).await.len(),
        1,
        "the later ones fall inside the window"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_invocations_on_one_group() {
    if moto::unavailable("fifty_concurrent_invocations_on_one_group") {
        return;
    }
    let env = Env::new(false).await;
    let queue = moto::subscribe_queue(&env.sdk, &env.topic, true, None).await;
    let handler = Arc::new(env.handler());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let h = handler.clone();
        let payload = variant(
            "rule2-federated-getsignintoken-no-mfa.json",
            &format!("burst-{i}"),
            "2026-11-20T13:30:05Z",
        );
        tasks.spawn(async move { h.handle(&payload).await.0.expect("handled") });
    }
    let mut group = String::new();
    while let Some(s) = tasks.join_next().await {
        group = s.expect("task").detections[0].group.clone();
    }
    assert_eq!(env.counters(&group).await.count, 50);
    let messages = moto::drain(&env.sdk, &queue).await;
    let mut counts: Vec<u64> = messages
        .iter()
        .map(|m| {
            serde_json::from_str::<Value>(m.body().unwrap()).unwrap()["count"]
                .as_u64()
                .unwrap()
        })
        .collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        [1, 5, 25],
        "first detection and the escalation tiers, nothing else"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_writers_on_one_group_all_count_within_the_attempt_cap() {
    if moto::unavailable("a_hundred_writers_on_one_group_all_count_within_the_attempt_cap") {
        return;
    }
    let env = Env::new(false).await;
    let queue = moto::subscribe_queue(&env.sdk, &env.topic, true, None).await;
    let handler = Arc::new(env.handler());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let h = handler.clone();
        let payload = variant(
            "rule2-federated-getsignintoken-no-mfa.json",
            &format!("writer-{i}"),
            "2026-11-20T13:30:05Z",
        );
        tasks.spawn(async move {
            // Lambda's cap: the first attempt and two retries.
            for _ in 0..3 {
                if let Ok(s) = h.handle(&payload).await.0 {
                    return s;
                }
            }
            panic!("writer {i} was not counted within three attempts");
        });
    }
    let mut group = String::new();
    while let Some(s) = tasks.join_next().await {
        group = s.expect("task").detections[0].group.clone();
    }
    assert_eq!(env.counters(&group).await.count, 100);
    let mut counts: Vec<u64> = moto::drain(&env.sdk, &queue)
        .await
        .iter()
        .map(|m| {
            serde_json::from_str::<Value>(m.body().unwrap()).unwrap()["count"]
                .as_u64()
                .unwrap()
        })
        .collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        [1, 5, 25, 100],
        "the first detection and every tier once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_invocations_complete_one_window_once() {
    if moto::unavailable("fifty_concurrent_invocations_complete_one_window_once") {
        return;
    }
    let env = Env::new(false).await;
    let queue = moto::subscribe_queue(&env.sdk, &env.topic, true, None).await;
    // burst-50: fifty failed MFA challenges for a user in ten minutes. Half
    // the events fall in each half of the window [09:00, 09:10), so that
    // window alone reaches fifty, and whichever invocation counts the
    // fiftieth event decides its alert.
    let dir = common::repo_path("tests/rules/correlations");
    let c = DetectorConfig::from_lookup(|k| {
        (k == signin_watch::config::RULES_DIR).then(|| dir.display().to_string())
    })
    .expect("the test rules load");
    let handler = Arc::new(Handler::new(
        Detector::new(c.rules, c.policy, env.store()),
        SnsPublisher::new(aws_sdk_sns::Client::new(&env.sdk), &env.topic.arn),
    ));
    let start = signin_watch::domain::time::Timestamp::parse("2026-11-20T09:02:30Z").unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let h = handler.clone();
        let time =
            signin_watch::domain::time::Timestamp::from_millis(start.as_millis() + i * 6_000);
        let payload = variant(
            "rule1-failed-mfa-iam-user.json",
            &format!("burst50-{i}"),
            &time.to_string(),
        );
        tasks.spawn(async move {
            // As Lambda would: an invocation that fails transiently is retried.
            for _ in 0..3 {
                if let Ok(s) = h.handle(&payload).await.0 {
                    return s;
                }
            }
            panic!("invocation {i} failed three times");
        });
    }
    let mut alerts = Vec::new();
    while let Some(s) = tasks.join_next().await {
        alerts.extend(
            s.expect("task")
                .detections
                .into_iter()
                .filter(|f| f.rule == "burst-50"),
        );
    }
    assert_eq!(alerts.len(), 1, "exactly one alert: {alerts:?}");
    let alert = alerts[0].correlation.as_ref().unwrap();
    assert_eq!(alert.matched_events, 50);
    assert_eq!(alert.window_start.to_string(), "2026-11-20T09:00:00Z");
    let messages: Vec<Message> = moto::drain(&env.sdk, &queue)
        .await
        .into_iter()
        .filter(|m| attr(m, "rule") == "burst-50")
        .collect();
    assert_eq!(messages.len(), 1, "exactly one message");
}

#[tokio::test]
async fn a_fifo_topic_deduplicates_a_republished_finding() {
    if moto::unavailable("a_fifo_topic_deduplicates_a_republished_finding") {
        return;
    }
    let env = Env::new(true).await;
    let queue = moto::subscribe_queue(&env.sdk, &env.topic, true, None).await;
    let publisher = SnsPublisher::new(aws_sdk_sns::Client::new(&env.sdk), &env.topic.arn);
    let handler = env.handler();
    let summary = ok(
        &handler,
        &serde_json::to_vec(&sample("rule1-failed-mfa-root.json")).unwrap(),
    )
    .await;
    assert_eq!(summary.published, 1);
    // Publish the same finding again, as a retry after a lost confirmation would.
    let policy = Default::default();
    let notice = Notice {
        finding: &summary.detections[0],
        rule: &pack::rule("failed-mfa").unwrap(),
        policy: &policy,
    };
    publisher.notify(&notice).await.expect("republish");
    let messages = moto::drain(&env.sdk, &queue).await;
    assert_eq!(messages.len(), 1, "FIFO deduplication by finding id");
}

#[tokio::test]
async fn a_failed_publish_is_sent_by_the_retry_exactly_once() {
    if moto::unavailable("a_failed_publish_is_sent_by_the_retry_exactly_once") {
        return;
    }
    let env = Env::new(false).await;
    let queue = moto::subscribe_queue(&env.sdk, &env.topic, true, None).await;
    let event = serde_json::to_vec(&sample("rule2-federated-getsignintoken-no-mfa.json")).unwrap();

    // First delivery: SNS fails (injected), after the counter was committed.
    let failing = mock!(aws_sdk_sns::Client::publish).then_error(|| {
        aws_sdk_sns::operation::publish::PublishError::InternalErrorException(
            aws_sdk_sns::types::error::InternalErrorException::builder()
                .message("injected")
                .build(),
        )
    });
    let broken = mock_client!(aws_sdk_sns, [&failing]);
    let (first, _) = env
        .handler_with(SnsPublisher::new(broken, &env.topic.arn))
        .handle(&event)
        .await;
    assert!(
        matches!(&first, Err(e @ HandlerError::Process(_)) if e.error_type() == "SigninWatch.TransientPublishError"),
        "{first:?}"
    );
    assert!(moto::drain(&env.sdk, &queue).await.is_empty());

    // Lambda retries: the notification is sent, the event not counted again.
    let handler = env.handler();
    let retry = ok(&handler, &event).await;
    assert_eq!((retry.detections.len(), retry.published), (1, 1));
    assert_eq!(retry.detections[0].count, 1);
    assert_eq!(env.counters(&retry.detections[0].group).await.count, 1);
    // A retry after a successful publish publishes nothing.
    let again = ok(&handler, &event).await;
    assert_eq!((again.detections.len(), again.duplicates), (0, 1));
    assert_eq!(
        moto::drain(&env.sdk, &queue).await.len(),
        1,
        "exactly one message"
    );
}

/// A handler whose DynamoDB and SNS clients count their requests.
fn counted_handler(
    env: &Env,
    rules: signin_watch::domain::rules::RuleSet,
) -> (
    Handler<DynamoStore, SnsPublisher>,
    RequestCounter,
    RequestCounter,
) {
    let (ddb_calls, sns_calls) = (RequestCounter::default(), RequestCounter::default());
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&env.sdk)
            .interceptor(ddb_calls.clone())
            .build(),
    );
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&env.sdk)
            .interceptor(sns_calls.clone())
            .build(),
    );
    let handler = Handler::new(
        Detector::new(
            rules,
            DetectorConfig::default().policy,
            DynamoStore::new(ddb, &env.table, 90),
        ),
        SnsPublisher::new(sns, &env.topic.arn),
    );
    (handler, ddb_calls, sns_calls)
}

#[tokio::test]
async fn requests_per_detection_stay_within_budget() {
    if moto::unavailable("requests_per_detection_stay_within_budget") {
        return;
    }
    let env = Env::new(false).await;
    // The detection rules alone: what a detection costs.
    let rules = DetectorConfig::default().catalog.rules.clone();
    let (handler, ddb_calls, sns_calls) = counted_handler(
        &env,
        signin_watch::domain::rules::RuleSet::new(rules, Vec::new()),
    );

    // A record no rule matches costs no AWS call at all.
    for file in [
        "rule1-near-miss-success-with-mfa.json",
        "unrelated-s3-create-bucket.json",
    ] {
        ok(&handler, &serde_json::to_vec(&sample(file)).unwrap()).await;
        assert_eq!(
            (ddb_calls.take().len(), sns_calls.take().len()),
            (0, 0),
            "{file}"
        );
    }
    // A notifying detection: read, transact, spend from the rule-hour's
    // notification budget (a transaction), confirm; one publish.
    let f = "rule1-failed-mfa-iam-user.json";
    ok(&handler, &variant(f, "budget-1", "2026-11-20T09:00:00Z")).await;
    assert_eq!(
        ddb_calls.take(),
        [
            "GetItem",
            "TransactWriteItems",
            "TransactWriteItems",
            "UpdateItem"
        ]
    );
    assert_eq!(sns_calls.take(), ["Publish"]);
    // A detection folded into the counter: read and transact only.
    ok(&handler, &variant(f, "budget-2", "2026-11-20T09:01:00Z")).await;
    assert_eq!(ddb_calls.take(), ["GetItem", "TransactWriteItems"]);
    assert!(sns_calls.take().is_empty());
}

#[tokio::test]
async fn requests_per_correlation_fed_stay_within_budget() {
    if moto::unavailable("requests_per_correlation_fed_stay_within_budget") {
        return;
    }
    let env = Env::new(false).await;
    let (handler, ddb_calls, sns_calls) = counted_handler(&env, DetectorConfig::default().rules);

    // A record that feeds no rule costs nothing, correlations on.
    ok(
        &handler,
        &serde_json::to_vec(&sample("unrelated-s3-create-bucket.json")).unwrap(),
    )
    .await;
    assert_eq!((ddb_calls.take().len(), sns_calls.take().len()), (0, 0));

    // A success with MFA makes no finding but feeds the success correlations:
    // one read and one transaction per correlation group fed, and one read
    // and one transaction for all its baselines and impossible travel.
    let success = sample("rule1-near-miss-success-with-mfa.json");
    let s = ok(&handler, &serde_json::to_vec(&success).unwrap()).await;
    let detail = success["detail"].to_string();
    let record: signin_watch::domain::record::CloudTrailRecord =
        serde_json::from_str(&detail).unwrap();
    let memories = DetectorConfig::default()
        .rules
        .correlations()
        .iter()
        .filter(|c| {
            c.has_memory()
                && c.slots
                    .iter()
                    .flat_map(|s| s.rules())
                    .any(|r| r.matches(&record))
        })
        .count();
    assert!(
        memories >= 4,
        "the baselines and travel a success feeds: {memories}"
    );
    assert!(
        s.correlations_fed as usize >= memories + 2,
        "the success correlations: {}",
        s.correlations_fed
    );
    let calls = ddb_calls.take();
    let alone = s.correlations_fed as usize - memories;
    assert_eq!(calls.len(), 2 * alone + 2, "{calls:?}");
    for pair in calls.chunks(2) {
        assert_eq!(pair, ["BatchGetItem", "TransactWriteItems"]);
    }
    assert!(sns_calls.take().is_empty());

    // A failed MFA challenge: its detection (read, transact, spend, confirm,
    // one publish) and two requests per correlation it feeds, which all stay
    // below their thresholds.
    let s = ok(
        &handler,
        &variant(
            "rule1-failed-mfa-iam-user.json",
            "budget-c",
            "2026-11-20T09:00:00Z",
        ),
    )
    .await;
    assert_eq!(s.detections.len(), 1, "the detection, no alert");
    assert!(
        s.correlations_fed >= 3,
        "failed-mfa feeds the MFA and failure correlations"
    );
    let calls = ddb_calls.take();
    assert_eq!(
        calls.len(),
        4 + 2 * s.correlations_fed as usize,
        "{calls:?}"
    );
    let count = |op: &str| calls.iter().filter(|c| c.as_str() == op).count();
    assert_eq!(count("GetItem"), 1);
    assert_eq!(count("UpdateItem"), 1);
    assert_eq!(count("BatchGetItem"), s.correlations_fed as usize);
    assert_eq!(count("TransactWriteItems"), 2 + s.correlations_fed as usize);
    assert_eq!(sns_calls.take(), ["Publish"]);
}

#[tokio::test]
async fn sqs_batches_fail_only_the_bad_messages() {
    if moto::unavailable("sqs_batches_fail_only_the_bad_messages") {
        return;
    }
    let env = Env::new(false).await;
    let queue: Queue = moto::subscribe_queue(&env.sdk, &env.topic, true, None).await;
    let body =
        String::from_utf8(serde_json::to_vec(&sample("rule1-failed-mfa-root.json")).unwrap())
            .unwrap();
    let batch = serde_json::json!({"Records": [
        {"messageId": "a", "eventSource": "aws:sqs", "body": body},
        {"messageId": "b", "eventSource": "aws:sqs", "body": "{\"detail\": 12"},
    ]});
    let s = ok(&env.handler(), batch.to_string().as_bytes()).await;
    assert_eq!(s.failed_messages(), ["b"]);
    assert_eq!(moto::drain(&env.sdk, &queue).await.len(), 1);
}
