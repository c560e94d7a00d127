//! The handler on in-memory adapters.
use super::*;
use crate::adapters::memory_store::MemoryStore;
use crate::app::detector::ProcessError;
use crate::domain::counter::NotifyPolicy;
use crate::domain::notify::NotifyError;
use crate::domain::notify::{DigestNotice, Notice};
use crate::domain::rules::RuleSet;
use crate::domain::store::StoreError;
use lambda_runtime::Diagnostic;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::intake::objects::{ObjectError, ObjectProgress};
use crate::intake::s3_notification::ObjectRef;

/// Records what was published; fails the first `fail` calls.
#[derive(Default)]
struct FakeNotifier {
    sent: Mutex<Vec<String>>,
    fail: Mutex<u32>,
}

impl Notifier for FakeNotifier {
    async fn notify(&self, notice: &Notice<'_>) -> Result<(), NotifyError> {
        let mut fail = self.fail.lock().unwrap();
        let finding_id = notice.finding.finding_id.clone();
        if *fail > 0 {
            *fail -= 1;
            return Err(NotifyError::Unavailable {
                finding_id,
                source: "injected".into(),
            });
        }
        self.sent.lock().unwrap().push(finding_id);
        Ok(())
    }

    async fn notify_digest(&self, notice: &DigestNotice<'_>) -> Result<(), NotifyError> {
        self.sent
            .lock()
            .unwrap()
            .push(format!("digest-{}", notice.digest_id()));
        Ok(())
    }
}

fn handler(fail: u32) -> Handler<MemoryStore, FakeNotifier> {
    let n = FakeNotifier {
        fail: Mutex::new(fail),
        ..Default::default()
    };
    Handler::new(
        Detector::new(
            RuleSet::default(),
            NotifyPolicy::default(),
            MemoryStore::new(),
        ),
        n,
    )
}

use crate::test_support::sample;

#[tokio::test]
async fn a_detection_is_published_once_even_when_delivered_twice() {
    let h = handler(0);
    let event = sample("rule1-failed-mfa-root.json");
    let (first, m) = h.handle(&event).await;
    let first = first.unwrap();
    assert_eq!((first.detections.len(), first.published), (1, 1));
    assert_eq!(m.rules["failed-mfa"].published, 1);
    let (second, _) = h.handle(&event).await;
    let second = second.unwrap();
    assert_eq!(
        (second.detections.len(), second.duplicates, second.published),
        (0, 1, 0)
    );
    assert_eq!(h.notifier.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_publish_is_sent_on_retry_without_counting_again() {
    let h = handler(1);
    let event = sample("rule2-federated-getsignintoken-no-mfa.json");
    let (first, _) = h.handle(&event).await;
    let err = first.unwrap_err();
    assert!(matches!(
        err,
        HandlerError::Process(ProcessError::Notify(_))
    ));
    assert_eq!(err.error_type(), "SigninWatch.TransientPublishError");
    assert!(
        err.to_string()
            .starts_with("transient failure (the event will be retried)"),
        "{err}"
    );
    let (retry, _) = h.handle(&event).await;
    let retry = retry.unwrap();
    assert_eq!(retry.detections.len(), 1);
    assert_eq!(retry.detections[0].count, 1, "not counted twice");
    assert_eq!(h.notifier.sent.lock().unwrap().len(), 1);
    let (again, _) = h.handle(&event).await;
    assert_eq!(again.unwrap().duplicates, 1);
    assert_eq!(
        h.notifier.sent.lock().unwrap().len(),
        1,
        "no second publish after success"
    );
}

#[tokio::test]
async fn malformed_events_fail_with_a_clear_message_and_non_signin_is_a_no_op() {
    let h = handler(0);
    let (r, m) = h.handle(b"{\"detail\": {\"eventName\": ").await;
    let err = r.unwrap_err();
    assert_eq!(err.error_type(), "SigninWatch.MalformedEvent");
    let e = err.to_string();
    assert!(
        e.starts_with("malformed event: not valid JSON") && e.contains("line 1"),
        "{e}"
    );
    let diagnostic = Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "SigninWatch.MalformedEvent");
    assert_eq!(diagnostic.error_message, e);
    assert_eq!(m.malformed, 1);
    let (r, _) = h.handle(&sample("unrelated-s3-create-bucket.json")).await;
    let s = r.unwrap();
    assert_eq!((s.records, s.signin_records, s.detections.len()), (1, 0, 0));
}

#[tokio::test]
async fn a_reply_lists_the_first_thousand_detections_and_counts_the_rest() {
    let h = handler(0).accepting_any_shape(true);
    let record = crate::test_support::sample_detail("rule1-failed-mfa-iam-user.json");
    let records: Vec<_> = (0..LISTED_DETECTIONS + 5)
        .map(|i| {
            let mut r = record.clone();
            r["eventID"] = format!("flood-{i}").into();
            r
        })
        .collect();
    let payload = serde_json::json!({ "Records": records }).to_string();
    let (s, m) = h.handle(payload.as_bytes()).await;
    let s = s.unwrap();
    assert_eq!(s.detections.len(), LISTED_DETECTIONS);
    // The flood's detections, and the correlations' alerts on it.
    let counted: u64 = m.rules.values().map(|c| c.detections).sum();
    assert!(counted >= LISTED_DETECTIONS as u64 + 5, "{counted}");
    assert_eq!(s.detections_not_listed, counted - LISTED_DETECTIONS as u64);
    let reply = serde_json::to_value(&s).unwrap();
    assert_eq!(reply["detections_not_listed"], s.detections_not_listed);
    assert!(
        serde_json::to_vec(&s).unwrap().len() < 6 << 20,
        "within Lambda's response limit"
    );
    let one = h
        .handle(&sample("rule1-failed-mfa-root.json"))
        .await
        .0
        .unwrap();
    let reply = serde_json::to_value(&one).unwrap();
    assert!(reply.get("detections_not_listed").is_none(), "{reply}");
}

#[tokio::test]
async fn sqs_batches_report_each_failed_message() {
    let h = handler(0);
    let body = String::from_utf8(sample("rule1-failed-mfa-iam-user.json")).unwrap();
    let batch = serde_json::json!({"Records": [
        {"messageId": "m-1", "eventSource": "aws:sqs", "body": body},
        {"messageId": "m-2", "eventSource": "aws:sqs", "body": "not json"},
        {"messageId": "m-3", "eventSource": "aws:sqs", "body": body},
    ]});
    let (r, _) = h.handle(batch.to_string().as_bytes()).await;
    let s = r.unwrap();
    assert_eq!(s.failed_messages(), ["m-2"]);
    assert_eq!((s.detections.len(), s.duplicates), (1, 1));
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["batchItemFailures"][0]["itemIdentifier"], "m-2");
}

#[tokio::test]
async fn a_batch_whose_every_message_fails_fails_the_invocation() {
    let h = handler(0);
    let batch = serde_json::json!({"Records": [
        {"messageId": "m-1", "eventSource": "aws:sqs", "body": "not json"},
        {"messageId": "m-2", "eventSource": "aws:sqs", "body": "{}"},
    ]});
    let (r, m) = h.handle(batch.to_string().as_bytes()).await;
    let e = r.unwrap_err();
    assert_eq!(e.error_type(), "SigninWatch.MalformedEvent", "{e}");
    assert_eq!(m.malformed, 2);
}

#[tokio::test]
async fn only_what_aws_wrote_is_read_unless_told() {
    let detail = crate::test_support::sample_detail("rule1-failed-mfa-iam-user.json");
    let bare = detail.to_string();
    let file = serde_json::json!({ "Records": [detail.clone()] }).to_string();
    let lookup = serde_json::json!({ "Events": [{"CloudTrailEvent": bare}] }).to_string();
    for payload in [&bare, &file, &lookup] {
        let h = handler(0);
        let (r, m) = h.handle(payload.as_bytes()).await;
        let e = r.unwrap_err();
        assert_eq!(e.error_type(), "SigninWatch.UntrustedEvent", "{payload}");
        assert!(
            e.to_string().contains("SIGNIN_WATCH_ACCEPT_ANY_SHAPE"),
            "{e}"
        );
        assert_eq!((m.untrusted, h.notifier.sent.lock().unwrap().len()), (1, 0));
        let local = handler(0).accepting_any_shape(true);
        let s = local.handle(payload.as_bytes()).await.0.unwrap();
        assert_eq!(s.detections.len(), 1, "read when told: {payload}");
    }
    // A custom event carrying a sign-in record: acknowledged, not read.
    let event = String::from_utf8(sample("rule1-failed-mfa-iam-user.json")).unwrap();
    let forged = event.replace("\"aws.signin\"", "\"attacker.app\"");
    assert_ne!(forged, event);
    let h = handler(0);
    let (r, m) = h.handle(forged.as_bytes()).await;
    let s = r.unwrap();
    assert_eq!((s.records, s.detections.len(), m.untrusted), (1, 0, 1));
    assert!(h.notifier.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn failure_destination_records_and_sns_notifications_are_unwrapped() {
    let event: serde_json::Value =
        serde_json::from_slice(&sample("rule1-failed-mfa-iam-user.json")).unwrap();
    let destination = serde_json::json!({
        "version": "1.0",
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
    });
    let notification = serde_json::json!({"Type": "Notification", "Message": event.to_string()});
    for wrapped in [destination, notification] {
        let h = handler(0);
        let s = h.handle(wrapped.to_string().as_bytes()).await.0.unwrap();
        assert_eq!(s.detections.len(), 1, "{wrapped}");
        // Through SQS, as a redrive reads the failure queue.
        let batch = serde_json::json!({"Records": [
            {"messageId": "m-1", "eventSource": "aws:sqs", "body": wrapped.to_string()},
        ]});
        let s = h.handle(batch.to_string().as_bytes()).await.0.unwrap();
        assert_eq!(
            (s.records, s.detections.len(), s.duplicates),
            (1, 0, 1),
            "the same event, counted once"
        );
    }
}

#[test]
fn every_failure_has_an_error_type_that_says_what_happened() {
    let source = || -> Box<dyn std::error::Error + Send + Sync> { "x".into() };
    let store = |e| HandlerError::Process(ProcessError::Store(e));
    let notify = |e| HandlerError::Process(ProcessError::Notify(e));
    let cases = [
        (
            store(StoreError::Unavailable {
                operation: "GetItem",
                source: source(),
            }),
            "SigninWatch.TransientStoreError",
            true,
        ),
        (
            store(StoreError::Contention {
                group: "g".into(),
                attempts: 100,
            }),
            "SigninWatch.TransientStoreError",
            true,
        ),
        (
            store(StoreError::Corrupt {
                key: "k".into(),
                message: "m".into(),
            }),
            "SigninWatch.CorruptStoreItem",
            false,
        ),
        (
            store(StoreError::Rejected {
                operation: "TransactWriteItems",
                message: "Size of hashkey has exceeded the maximum size limit".into(),
            }),
            "SigninWatch.StoreRejected",
            false,
        ),
        (
            store(StoreError::InvalidRequest {
                operation: "build Put event",
                source: source(),
            }),
            "SigninWatch.InvalidRequest",
            false,
        ),
        (
            notify(NotifyError::Unavailable {
                finding_id: "f".into(),
                source: source(),
            }),
            "SigninWatch.TransientPublishError",
            true,
        ),
        (
            notify(NotifyError::InvalidRequest {
                finding_id: "f".into(),
                source: source(),
            }),
            "SigninWatch.InvalidRequest",
            false,
        ),
        (
            notify(NotifyError::Refused {
                finding_id: "f".into(),
                source: source(),
            }),
            "SigninWatch.PublishRefused",
            false,
        ),
    ];
    for (err, error_type, transient) in cases {
        assert_eq!(err.error_type(), error_type, "{err}");
        assert_eq!(
            err.to_string()
                .starts_with("transient failure (the event will be retried)"),
            transient,
            "{err}"
        );
    }
}

/// A sweep whose invocation failed every retry lands in the failure queue;
/// the next sweep redrives it: it is acknowledged (that sweep does the work),
/// not failed again and left on the queue for ever.
#[tokio::test]
async fn a_failed_sweeps_record_redriven_is_acknowledged() {
    let h = handler(0);
    let scheduled = r#"{"version":"0","id":"s-1","detail-type":"Scheduled Event","source":"aws.events","account":"111122223333","time":"2026-11-20T10:15:00Z","region":"us-east-1","resources":[],"detail":{}}"#;
    let record = format!(
        r#"{{"version":"1.0","requestContext":{{"condition":"RetriesExhausted"}},"requestPayload":{scheduled}}}"#
    );
    let (r, _) = h.redelivered(record.as_bytes()).await;
    let s = r.expect("acknowledged");
    assert_eq!((s.records, s.detections.len()), (0, 0));
}

/// Objects from a directory; those whose key names `slow` take `delay` to open.
struct SlowObjects {
    inner: crate::intake::objects::DirObjects,
    delay: Duration,
}

impl ObjectSource for SlowObjects {
    async fn open(&self, object: &ObjectRef) -> Result<Box<dyn std::io::Read + Send>, ObjectError> {
        if object.key.contains("slow") {
            tokio::time::sleep(self.delay).await;
        }
        self.inner.open(object).await
    }
}

/// An SQS batch of S3 notifications, one message per `(key, size)`, from
/// the queue `queue_arn`.
fn notifications(queue_arn: &str, objects: &[(&str, u64)]) -> Vec<u8> {
    let records: Vec<serde_json::Value> = objects
        .iter()
        .map(|(key, size)| {
            let body = serde_json::json!({"Records": [{
                "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "trail"}, "object": {"key": key, "size": size}}
            }]});
            serde_json::json!({
                "messageId": key, "receiptHandle": key, "body": body.to_string(),
                "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap()
}

const TRAIL_QUEUE: &str = "arn:aws:sqs:us-east-1:111122223333:trail-objects";

/// A log file with one failed MFA sign-in, at `key` under `root/trail/`.
fn log_file(root: &std::path::Path, key: &str, event_id: &str) {
    let mut record = crate::test_support::sample_detail("rule1-failed-mfa-iam-user.json");
    record["eventID"] = event_id.into();
    record["userIdentity"]["userName"] = event_id.into();
    let path = root.join("trail").join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::json!({ "Records": [record] }).to_string()).unwrap();
}

fn key(name: &str) -> String {
    format!(
        "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T1005Z_{name}.json"
    )
}

#[tokio::test]
async fn a_slow_object_is_handed_back_before_the_deadline_and_the_rest_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let (slow, fast1, fast2) = (key("slow"), key("fast1"), key("fast2"));
    for (k, id) in [(&slow, "slow"), (&fast1, "fast1"), (&fast2, "fast2")] {
        log_file(dir.path(), k, id);
    }
    let h = handler(0)
        .with_objects(SlowObjects {
            inner: crate::intake::objects::DirObjects {
                root: dir.path().to_path_buf(),
            },
            delay: Duration::from_secs(30),
        })
        .with_trail_queue(Some(TRAIL_QUEUE.into()))
        .with_deadline_reserve(Duration::from_millis(100));
    // The slow object first in the batch, and the largest: read last.
    let batch = notifications(
        TRAIL_QUEUE,
        &[(&slow, 90_000_000), (&fast1, 2_000), (&fast2, 3_000)],
    );
    let started = Instant::now();
    let deadline = started + Duration::from_millis(600);
    let (result, metrics) = h.handle_by(&batch, Some(deadline)).await;
    let summary = result.expect("a batch whose slow message is handed back succeeds");
    assert!(Instant::now() < deadline, "answered before the deadline");
    assert_eq!(summary.failed_messages(), [slow.as_str()]);
    assert_eq!(metrics.handed_back, 1);
    let users: Vec<&str> = summary.detections.iter().map(|d| d.user.as_str()).collect();
    assert_eq!(users, ["fast1", "fast2"], "the healthy objects were read");

    // With no time left, nothing is started: all is handed back.
    let (result, metrics) = h.handle_by(&batch, Some(Instant::now())).await;
    assert_eq!(result.unwrap().failed_messages().len(), 3);
    assert_eq!(metrics.handed_back, 3);
}

#[tokio::test]
async fn the_trail_queue_carries_s3_notifications_only() {
    let h = handler(0).with_trail_queue(Some(TRAIL_QUEUE.into()));
    let event = String::from_utf8(sample("rule1-failed-mfa-root.json")).unwrap();
    let planted = |queue: &str| {
        serde_json::to_vec(&serde_json::json!({"Records": [{
            "messageId": "planted", "receiptHandle": "r", "body": event,
            "eventSource": "aws:sqs", "eventSourceARN": queue,
        }]}))
        .unwrap()
    };
    let (result, metrics) = h.handle(&planted(TRAIL_QUEUE)).await;
    let summary = result.unwrap();
    assert!(
        summary.detections.is_empty(),
        "a planted sign-in is not read"
    );
    assert!(summary.failed_messages().is_empty(), "and not retried");
    assert_eq!(metrics.untrusted, 1);
    // The same event from another queue (EventBridge to SQS) is read.
    let other = "arn:aws:sqs:us-east-1:111122223333:signin-events";
    let (result, _) = h.handle(&planted(other)).await;
    assert_eq!(result.unwrap().detections.len(), 1);
}

#[tokio::test]
async fn another_accounts_records_in_an_object_are_read_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let k = key("foreign");
    let mut record = crate::test_support::sample_detail("rule1-failed-mfa-iam-user.json");
    record["recipientAccountId"] = "999988887777".into();
    record["userIdentity"]["accountId"] = "999988887777".into();
    let path = dir.path().join("trail").join(&k);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        serde_json::json!({ "Records": [record] }).to_string(),
    )
    .unwrap();
    let h = handler(0).with_objects(crate::intake::objects::DirObjects {
        root: dir.path().to_path_buf(),
    });
    let (result, metrics) = h.handle(&notifications(TRAIL_QUEUE, &[(&k, 10)])).await;
    assert_eq!(result.unwrap().detections.len(), 1, "read all the same");
    assert_eq!(metrics.foreign_account_records, 1);
}

#[tokio::test]
async fn an_object_past_the_decompressed_cap_is_refused_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let k = key("bomb");
    log_file(dir.path(), &k, "bomb");
    let h = handler(0)
        .with_objects(crate::intake::objects::DirObjects {
            root: dir.path().to_path_buf(),
        })
        .with_max_object_bytes(100);
    let (result, _) = h.handle(&notifications(TRAIL_QUEUE, &[(&k, 10)])).await;
    let e = result.map(|_| ()).unwrap_err();
    assert_eq!(e.error_type(), "SigninWatch.ObjectUnreadable", "{e}");
    assert!(
        e.to_string().contains("larger than 100 bytes decompressed"),
        "{e}"
    );
}

/// Sends nothing, slowly: each notification takes `delay`.
struct SlowNotifier {
    delay: Duration,
}

impl Notifier for SlowNotifier {
    async fn notify(&self, _: &Notice<'_>) -> Result<(), NotifyError> {
        tokio::time::sleep(self.delay).await;
        Ok(())
    }

    async fn notify_digest(&self, _: &DigestNotice<'_>) -> Result<(), NotifyError> {
        Ok(())
    }
}

/// An object too slow to read in one invocation is handed back with its
/// progress recorded; the retry skips what was counted and reads the rest:
/// every record counted once, across the two.
#[tokio::test]
async fn an_object_handed_back_goes_on_from_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let k = key("dense");
    let records: Vec<serde_json::Value> = (0..40)
        .map(|i| {
            let mut r = crate::test_support::sample_detail("rule1-failed-mfa-iam-user.json");
            r["eventID"] = format!("dense-{i}").into();
            r["userIdentity"]["userName"] = format!("user-{i}").into();
            r
        })
        .collect();
    let path = dir.path().join("trail").join(&k);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::json!({ "Records": records }).to_string()).unwrap();
    let store = MemoryStore::new();
    let h = Handler::new(
        Detector::new(RuleSet::default(), NotifyPolicy::default(), store),
        SlowNotifier {
            delay: Duration::from_millis(25),
        },
    )
    .with_objects(crate::intake::objects::DirObjects {
        root: dir.path().to_path_buf(),
    })
    .with_deadline_reserve(Duration::from_millis(50))
    .with_progress_every(Duration::ZERO);
    let batch = notifications(TRAIL_QUEUE, &[(&k, 10)]);
    let (first, m1) = h
        .handle_by(&batch, Some(Instant::now() + Duration::from_millis(350)))
        .await;
    let first = first.unwrap();
    assert_eq!(first.failed_messages(), [k.as_str()], "handed back");
    let object = ObjectRef {
        bucket: "trail".into(),
        key: k.clone(),
        size: Some(10),
    };
    let rules_id = h.detector.rules().fingerprint();
    let done = h
        .detector
        .store()
        .progress(&object, &rules_id)
        .await
        .unwrap();
    assert!(done > 0 && done < 40, "progress recorded: {done}");
    // Progress is kept per rule set: another set reads the object anew.
    let other = h.detector.store().progress(&object, "other").await.unwrap();
    assert_eq!(other, 0);
    let (second, m2) = h.handle(&batch).await;
    let second = second.unwrap();
    assert!(second.failed_messages().is_empty());
    assert_eq!(m2.candidates_skipped, done, "what was counted is skipped");
    let mut counted: Vec<&str> = first
        .detections
        .iter()
        .chain(&second.detections)
        .filter(|d| d.rule == "failed-mfa")
        .map(|d| d.event_id.as_str())
        .collect();
    let listed = counted.len();
    counted.sort_unstable();
    counted.dedup();
    assert_eq!(
        (listed, counted.len()),
        (40, 40),
        "every record counted, once, across the two"
    );
    assert!(
        m1.handed_back == 1 && second.duplicates <= 1,
        "{m1:?} {second:?}"
    );
}

#[tokio::test]
async fn an_object_is_read_with_replays_reader_sqs_messages_included() {
    // An SQS batch file in the bucket: each element of Records is an SQS
    // message whose body holds the event. Replay reads the bodies; the
    // bucket path once had its own copy of the reader, which read each
    // message as a (non-sign-in) record and found nothing.
    let dir = tempfile::tempdir().unwrap();
    let k = key("sqs-batch");
    let sample =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events/sqs/mfa-fatigue.json");
    let bytes = std::fs::read(&sample).unwrap();
    let mut replayed = 0;
    crate::intake::decode_item(&bytes, crate::intake::ItemKind::Any, &mut |o| {
        replayed += usize::from(o.record.is_from_signin());
    })
    .unwrap();
    assert!(replayed > 0);
    let path = dir.path().join("trail").join(&k);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    let h = handler(0).with_objects(crate::intake::objects::DirObjects {
        root: dir.path().to_path_buf(),
    });
    let (result, metrics) = h.handle(&notifications(TRAIL_QUEUE, &[(&k, 10)])).await;
    let summary = result.unwrap();
    assert!(
        !summary.detections.is_empty(),
        "the bodies' sign-ins are read"
    );
    assert_eq!(metrics.malformed, 0);
}
