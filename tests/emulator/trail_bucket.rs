//! The trail bucket's path end to end against moto's server: trail objects
//! in S3, the notification that announces them (through SQS, or EventBridge's
//! "Object Created"), the handler streaming them, and the DynamoDB items and
//! SNS messages that the EventBridge path gives for the same events.
#![cfg(feature = "lambda")]

use crate::common;

use std::collections::BTreeSet;
use std::io::Write;

use aws_config::SdkConfig;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;

use common::moto::{self, Queue, Topic};
use signin_watch::adapters::dynamodb_store::DynamoStore;
use signin_watch::adapters::s3::{self, S3Objects};
use signin_watch::adapters::sns::SnsPublisher;
use signin_watch::app::detector::Detector;
use signin_watch::config::DetectorConfig;
use signin_watch::lambda::handler::{Handler, InvocationSummary};
use signin_watch::lambda::metrics::InvocationMetrics;

struct Env {
    sdk: SdkConfig,
    table: String,
    topic: Topic,
    queue: Queue,
    bucket: String,
}

impl Env {
    async fn new() -> Env {
        let sdk = moto::sdk().await;
        let table = moto::create_table(&sdk).await;
        let topic = moto::create_topic(&sdk, false).await;
        let queue = moto::subscribe_queue(&sdk, &topic, true, None).await;
        let bucket = moto::create_bucket(&sdk).await;
        Env {
            sdk,
            table,
            topic,
            queue,
            bucket,
        }
    }

    fn handler(&self) -> Handler<DynamoStore, SnsPublisher, S3Objects> {
        let c = DetectorConfig::default();
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&self.sdk), &self.table, 90);
        Handler::new(
            Detector::new(c.rules, c.policy, store),
            SnsPublisher::new(aws_sdk_sns::Client::new(&self.sdk), &self.topic.arn),
        )
        .with_objects(S3Objects::new(s3::client(&self.sdk)))
    }

    /// (rule, event id) of every message the queue received.
    async fn messages(&self) -> BTreeSet<(String, String)> {
        moto::drain(&self.sdk, &self.queue)
            .await
            .iter()
            .map(|m| {
                let f: Value = serde_json::from_str(m.body().unwrap()).unwrap();
                (
                    f["rule"].as_str().unwrap().to_owned(),
                    f["event_id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

const LOG_KEY: &str = "AWSLogs/o-abc123defg/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T0915Z_AbCdEf0123456789.json.gz";
const DIGEST_KEY: &str = "AWSLogs/o-abc123defg/111122223333/CloudTrail-Digest/us-east-1/2026/11/20/111122223333_CloudTrail-Digest_us-east-1_trail_us-east-1_20261120T0915Z.json.gz";
const OTHER_KEY: &str =
    "AWSLogs/o-abc123defg/111122223333/CloudTrail/us-east-1/2026/11/20/README.txt";

/// The samples' records as one gzip CloudTrail log file.
fn trail_object() -> Vec<u8> {
    let records: Vec<Value> = common::event_files()
        .iter()
        .map(|f| common::sample_detail(&common::file_name(f)))
        .collect();
    let text = serde_json::json!({ "Records": records }).to_string();
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap()
}

/// An S3 event notification for `keys`, as SQS delivers it to the function.
fn sqs_notification(bucket: &str, keys: &[&str]) -> Vec<u8> {
    let records: Vec<Value> = keys
        .iter()
        .map(|k| {
            serde_json::json!({
                "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                       "object": {"key": k.replace(' ', "+"), "size": 1}}
            })
        })
        .collect();
    let body = serde_json::json!({ "Records": records }).to_string();
    serde_json::json!({"Records": [{
        "messageId": "m1", "receiptHandle": "r1", "body": body,
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:trail-objects",
        "awsRegion": "us-east-1", "attributes": {}, "messageAttributes": {}
    }]})
    .to_string()
    .into_bytes()
}

async fn handle(
    h: &Handler<DynamoStore, SnsPublisher, S3Objects>,
    payload: &[u8],
) -> (InvocationSummary, InvocationMetrics) {
    let (result, metrics) = h.handle(payload).await;
    (result.expect("handled"), metrics)
}

#[tokio::test]
async fn a_trail_object_gives_what_the_eventbridge_path_gives() {
    if moto::unavailable("a_trail_object_gives_what_the_eventbridge_path_gives") {
        return;
    }
    // The EventBridge path, each sample its own event.
    let live = Env::new().await;
    let h = live.handler();
    for f in common::event_files() {
        handle(&h, &std::fs::read(&f).unwrap()).await;
    }
    let want = live.messages().await;
    assert!(want.len() >= 6, "{want:?}");

    // The bucket path: the same records in one log file, beside a digest
    // and an object that is not a log file, announced together.
    let env = Env::new().await;
    moto::put_object(&env.sdk, &env.bucket, LOG_KEY, trail_object()).await;
    moto::put_object(&env.sdk, &env.bucket, DIGEST_KEY, b"{}".to_vec()).await;
    moto::put_object(&env.sdk, &env.bucket, OTHER_KEY, b"hello".to_vec()).await;
    let (summary, metrics) = handle(
        &env.handler(),
        &sqs_notification(&env.bucket, &[LOG_KEY, DIGEST_KEY, OTHER_KEY]),
    )
    .await;
    assert!(summary.failed_messages().is_empty());
    assert_eq!((metrics.objects_read, metrics.objects_skipped), (1, 2));
    assert_eq!(metrics.records, common::event_files().len() as u64);
    assert_eq!(
        env.messages().await,
        want,
        "the same messages as the EventBridge path"
    );
}

#[tokio::test]
async fn the_same_event_through_both_paths_counts_once() {
    if moto::unavailable("the_same_event_through_both_paths_counts_once") {
        return;
    }
    let env = Env::new().await;
    let h = env.handler();
    let (live, _) = handle(&h, &common::sample("rule1-failed-mfa-iam-user.json")).await;
    assert_eq!(live.published, 1);
    assert_eq!(env.messages().await.len(), 1);
    moto::put_object(&env.sdk, &env.bucket, LOG_KEY, trail_object()).await;
    // Through EventBridge's "Object Created" this time.
    let created = serde_json::json!({
        "version": "0", "source": "aws.s3", "detail-type": "Object Created",
        "account": "111122223333", "region": "us-east-1",
        "detail": {"bucket": {"name": env.bucket}, "object": {"key": LOG_KEY, "size": 1}}
    });
    let (from_bucket, _) = handle(&h, created.to_string().as_bytes()).await;
    assert!(from_bucket.duplicates >= 1, "{from_bucket:?}");
    assert!(
        from_bucket
            .detections
            .iter()
            .all(|f| f.event_id != live.detections[0].event_id),
        "the failed MFA challenge is not counted again"
    );
    // One message for that event (its first, from the live path), and the
    // object's other records notify as new.
    let id = &live.detections[0].event_id;
    let raw = moto::drain(&env.sdk, &env.queue).await;
    let about_it = raw
        .iter()
        .filter(|m| m.body().unwrap().contains(id.as_str()))
        .count();
    assert_eq!(
        about_it, 0,
        "no second message after the live one was drained"
    );
    assert!(!from_bucket.detections.is_empty());
}

#[tokio::test]
async fn a_missing_object_fails_its_message_only() {
    if moto::unavailable("a_missing_object_fails_its_message_only") {
        return;
    }
    let env = Env::new().await;
    // Alone, its failure is the invocation's.
    let (result, _) = env
        .handler()
        .handle(&sqs_notification(&env.bucket, &[LOG_KEY]))
        .await;
    let e = result.map(|_| ()).unwrap_err();
    assert_eq!(e.error_type(), "SigninWatch.ObjectUnreadable", "{e}");
    // Beside a message that succeeds, it is reported on its own.
    let present = LOG_KEY.replace("AbCdEf", "Present");
    moto::put_object(&env.sdk, &env.bucket, &present, trail_object()).await;
    let message = |id: &str, key: &str| {
        let mut batch: Value =
            serde_json::from_slice(&sqs_notification(&env.bucket, &[key])).unwrap();
        batch["Records"][0]["messageId"] = Value::from(id);
        batch["Records"][0].clone()
    };
    let batch = serde_json::json!({"Records": [message("m1", LOG_KEY), message("m2", &present)]});
    let (result, _) = env.handler().handle(batch.to_string().as_bytes()).await;
    let summary = result.expect("an SQS batch reports failures per message");
    assert_eq!(summary.failed_messages(), ["m1"]);
}

#[tokio::test]
async fn an_object_larger_than_a_range_is_read_to_its_end() {
    if moto::unavailable("an_object_larger_than_a_range_is_read_to_its_end") {
        return;
    }
    // About 2.5 ranges of gzip (stored, uncompressed): quiet records, and
    // a failed MFA challenge as the very last record.
    let quiet = common::sample_detail("unrelated-s3-create-bucket.json");
    let mut records: Vec<Value> = (0..)
        .map(|i| {
            let mut r = quiet.clone();
            r["eventID"] = Value::from(format!("quiet-{i}"));
            r
        })
        .take(((s3::RANGE_BYTES * 5 / 2) / 600) as usize)
        .collect();
    let mut last = common::sample_detail("rule1-failed-mfa-iam-user.json");
    last["eventID"] = Value::from("the-last-record");
    records.push(last);
    let text = serde_json::json!({ "Records": records }).to_string();
    let mut gz = GzEncoder::new(Vec::new(), Compression::none());
    gz.write_all(text.as_bytes()).unwrap();
    let body = gz.finish().unwrap();
    assert!(
        body.len() as u64 > 2 * s3::RANGE_BYTES,
        "{} bytes",
        body.len()
    );

    let env = Env::new().await;
    moto::put_object(&env.sdk, &env.bucket, LOG_KEY, body).await;
    let (summary, metrics) =
        handle(&env.handler(), &sqs_notification(&env.bucket, &[LOG_KEY])).await;
    assert!(summary.failed_messages().is_empty());
    assert_eq!(metrics.records, records.len() as u64, "every record read");
    assert!(
        summary
            .detections
            .iter()
            .any(|d| d.event_id == "the-last-record"),
        "the last range's record is found"
    );
}

/// A new deployment warms its baselines from the trail bucket: the
/// scenario's first week read from a trail object before the quiet time
/// notifies nobody; the sign-in after it, through EventBridge, finds the
/// principal's history and alerts. Without the warm-up the principal has no
/// history yet, and the same sign-in alerts nothing.
#[tokio::test]
async fn a_backfill_warms_the_baselines_quietly() {
    if moto::unavailable("a_backfill_warms_the_baselines_quietly") {
        return;
    }
    let scenario = std::fs::read_to_string(common::repo_path(
        "events/scenarios/new-country-for-principal.jsonl",
    ))
    .unwrap();
    let events: Vec<Value> = scenario
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (history, today): (Vec<&Value>, Vec<&Value>) = events
        .iter()
        .partition(|e| e["time"].as_str().unwrap() < "2026-11-20");
    assert!(!history.is_empty() && !today.is_empty());
    let quiet = |env: &Env| {
        let c = DetectorConfig::default();
        let mut policy = c.policy.clone();
        policy.quiet_before = signin_watch::domain::time::Timestamp::parse("2026-11-20T00:00:00Z");
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&env.sdk), &env.table, 90);
        Handler::new(
            Detector::new(c.rules, policy, store),
            SnsPublisher::new(aws_sdk_sns::Client::new(&env.sdk), &env.topic.arn),
        )
        .with_objects(S3Objects::new(s3::client(&env.sdk)))
    };
    let today_rules = |messages: BTreeSet<(String, String)>| -> BTreeSet<String> {
        messages.into_iter().map(|(rule, _)| rule).collect()
    };

    // Warmed: the history from the bucket, quietly; then today's sign-ins.
    let warm = Env::new().await;
    let records: Vec<&Value> = history.iter().map(|e| &e["detail"]).collect();
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(
        serde_json::json!({ "Records": records })
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    moto::put_object(&warm.sdk, &warm.bucket, LOG_KEY, gz.finish().unwrap()).await;
    let h = quiet(&warm);
    let (summary, metrics) = handle(&h, &sqs_notification(&warm.bucket, &[LOG_KEY])).await;
    assert!(summary.failed_messages().is_empty());
    assert_eq!(metrics.records, history.len() as u64);
    assert!(
        warm.messages().await.is_empty(),
        "the warm-up notifies nobody"
    );
    for e in &today {
        handle(&h, e.to_string().as_bytes()).await;
    }
    let alerted = today_rules(warm.messages().await);
    assert!(
        alerted.contains("new-country-for-principal"),
        "the warmed baseline alerts: {alerted:?}"
    );

    // Cold: today's sign-ins alone find no history, and alert nothing.
    let cold = Env::new().await;
    let h = quiet(&cold);
    for e in &today {
        handle(&h, e.to_string().as_bytes()).await;
    }
    let alerted = today_rules(cold.messages().await);
    assert!(
        !alerted.contains("new-country-for-principal"),
        "a cold baseline learns first: {alerted:?}"
    );
}
