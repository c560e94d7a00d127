//! `replay s3://` and `backfill` against moto's S3 and SQS: the same answer
//! as replaying the same files locally; `--since`/`--until` list only the
//! partitions in range; a backfill's messages, through the function's
//! handler, give replay's detections and alerts.
#![cfg(feature = "lambda")]

use crate::common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::Output;

use aws_config::SdkConfig;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;

use common::moto;
use signin_watch::adapters::dynamodb_store::DynamoStore;
use signin_watch::adapters::s3::{self, DayRange, S3Objects};
use signin_watch::app::detector::Detector;
use signin_watch::config::DetectorConfig;
use signin_watch::domain::time::Timestamp;
use signin_watch::lambda::handler::Handler;

const ACCOUNTS: [&str; 2] = ["111122223333", "444455556666"];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const DAYS: [&str; 4] = ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"];

/// A trail's layout: for each account, region and day, three log files of
/// two failed MFA challenges each for alice, minutes apart (MFA fatigue for
/// her in each account and day, across regions), and a sign-in nobody
/// flags. Keys as CloudTrail writes them.
fn trail() -> Vec<(String, Vec<u8>)> {
    let failed = common::sample_detail("rule1-failed-mfa-iam-user.json");
    let quiet = common::sample_detail("rule1-near-miss-success-with-mfa.json");
    let mut out = Vec::new();
    for account in ACCOUNTS {
        for region in REGIONS {
            for day in DAYS {
                for file in 0..3 {
                    let minute = if region == "us-east-1" {
                        file * 2
                    } else {
                        file * 2 + 1
                    };
                    let records: Vec<Value> = (0..3)
                        .map(|i| {
                            let mut r = if i < 2 { failed.clone() } else { quiet.clone() };
                            r["eventID"] =
                                Value::from(format!("{account}-{region}-{day}-{file}-{i}"));
                            r["eventTime"] =
                                Value::from(format!("{day}T09:{minute:02}:{:02}Z", i * 10));
                            r["awsRegion"] = Value::from(region);
                            r["recipientAccountId"] = Value::from(account);
                            r["userIdentity"]["accountId"] = Value::from(account);
                            r
                        })
                        .collect();
                    let compact = day.replace('-', "");
                    let key = format!(
                        "AWSLogs/o-abc123defg/{account}/CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{compact}T09{:02}Z_f{file}.json.gz",
                        day.replace('-', "/"),
                        minute + 5
                    );
                    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
                    gz.write_all(
                        serde_json::json!({ "Records": records })
                            .to_string()
                            .as_bytes(),
                    )
                    .unwrap();
                    out.push((key, gz.finish().unwrap()));
                }
            }
            // A digest beside the logs: never read.
            out.push((
                format!("AWSLogs/o-abc123defg/{account}/CloudTrail-Digest/{region}/2026/11/20/{account}_CloudTrail-Digest_{region}_t_us-east-1_20261120T0900Z.json.gz"),
                b"{}".to_vec(),
            ));
        }
    }
    out
}

/// The trail in a bucket, and the same files under a local directory.
async fn laid_out(sdk: &SdkConfig, dir: &Path, keep: impl Fn(&str) -> bool) -> String {
    let bucket = moto::create_bucket(sdk).await;
    for (key, body) in trail() {
        moto::put_object(sdk, &bucket, &key, body.clone()).await;
        if keep(&key) && !key.contains("Digest") {
            let path = dir.join(&key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
    }
    bucket
}

fn cli(args: &[&str]) -> Output {
    moto::command(env!("CARGO_BIN_EXE_signin-watch"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn findings(out: &Output) -> Vec<Value> {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_s3_equals_replay_of_the_same_files() {
    if moto::unavailable("replay_from_s3_equals_replay_of_the_same_files") {
        return;
    }
    let sdk = moto::sdk().await;
    let dir = tempfile::tempdir().unwrap();
    let bucket = laid_out(&sdk, dir.path(), |_| true).await;
    let remote = findings(&cli(&[
        "replay",
        "--no-progress",
        &format!("s3://{bucket}/AWSLogs/"),
    ]));
    let local = findings(&cli(&[
        "replay",
        "--no-progress",
        &dir.path().display().to_string(),
    ]));
    assert!(
        remote.iter().any(|f| f["kind"] == "correlation"),
        "MFA fatigue alerts"
    );
    assert_eq!(remote.len(), local.len());
    assert_eq!(remote, local, "the same findings, in the same order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_and_until_list_only_the_partitions_in_range() {
    if moto::unavailable("since_and_until_list_only_the_partitions_in_range") {
        return;
    }
    let sdk = moto::sdk().await;
    let dir = tempfile::tempdir().unwrap();
    let in_range = |key: &str| key.contains("/2026/11/21/") || key.contains("/2026/11/22/");
    let bucket = laid_out(&sdk, dir.path(), in_range).await;
    let listing = S3Objects::new(s3::client(&sdk))
        .list_trail(
            &bucket,
            "AWSLogs/",
            Some(DayRange {
                since: Timestamp::parse("2026-11-21T00:00:00Z").unwrap(),
                until: Timestamp::parse("2026-11-22T00:00:00Z").unwrap(),
            }),
        )
        .await
        .expect("listing");
    assert_eq!(
        listing.objects.len(),
        2 * 2 * 2 * 3,
        "accounts x regions x days x files"
    );
    assert!(listing.objects.iter().all(|o| in_range(&o.key)));
    for p in &listing.prefixes {
        assert!(
            !["/2026/11/20/", "/2026/11/23/", "CloudTrail-Digest"]
                .iter()
                .any(|out| p.contains(out)),
            "listed {p}"
        );
    }
    // Per trail: the levels down to the regions, then a prefix per region and day.
    let partitions = listing
        .prefixes
        .iter()
        .filter(|p| p.ends_with("/21/") || p.ends_with("/22/"))
        .count();
    assert_eq!(partitions, 2 * 2 * 2);
    let remote = findings(&cli(&[
        "replay",
        "--no-progress",
        "--since",
        "2026-11-21",
        "--until",
        "2026-11-22",
        &format!("s3://{bucket}/AWSLogs/"),
    ]));
    let local = findings(&cli(&[
        "replay",
        "--no-progress",
        &dir.path().display().to_string(),
    ]));
    assert_eq!(remote, local);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_through_the_function_gives_replays_answer() {
    if moto::unavailable("a_backfill_through_the_function_gives_replays_answer") {
        return;
    }
    let sdk = moto::sdk().await;
    let dir = tempfile::tempdir().unwrap();
    let in_range = |key: &str| key.contains("/2026/11/20/") || key.contains("/2026/11/21/");
    let bucket = laid_out(&sdk, dir.path(), in_range).await;
    let queue = moto::create_queue(&sdk, "trail-objects").await;
    let out = cli(&[
        "backfill",
        "--no-progress",
        "--since",
        "2026-11-20",
        "--until",
        "2026-11-21",
        "--queue",
        &queue,
        &format!("s3://{bucket}/AWSLogs/"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("24 objects listed"), "{stderr}");
    assert!(
        stderr.contains("24 messages sent in 3 SendMessageBatch requests"),
        "{stderr}"
    );

    // The deployed function's work: every message, as SQS batches, through the handler.
    let table = moto::create_table(&sdk).await;
    let topic = moto::create_topic(&sdk, false).await;
    let c = DetectorConfig::default();
    let handler = Handler::new(
        Detector::new(
            c.rules,
            c.policy,
            DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table, 90),
        ),
        signin_watch::adapters::sns::SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), &topic.arn),
    )
    .with_objects(S3Objects::new(s3::client(&sdk)));
    let messages = moto::drain(&sdk, &moto::Queue { url: queue }).await;
    assert_eq!(messages.len(), 24);
    let mut from_function = BTreeSet::new();
    for chunk in messages.chunks(10) {
        let records: Vec<Value> = chunk
            .iter()
            .map(|m| serde_json::json!({
                "messageId": m.message_id(), "receiptHandle": m.receipt_handle(),
                "body": m.body(), "eventSource": "aws:sqs", "attributes": {}, "messageAttributes": {},
            }))
            .collect();
        let batch = serde_json::json!({ "Records": records }).to_string();
        let summary = handler.handle(batch.as_bytes()).await.0.expect("handled");
        assert!(summary.failed_messages().is_empty());
        from_function.extend(summary.detections.into_iter().map(|f| (f.rule, f.event_id)));
    }
    let from_replay: BTreeSet<(String, String)> = findings(&cli(&[
        "replay",
        "--no-progress",
        &dir.path().display().to_string(),
    ]))
    .into_iter()
    .map(|f| {
        (
            f["rule"].as_str().unwrap().to_owned(),
            f["event_id"].as_str().unwrap().to_owned(),
        )
    })
    .collect();
    assert!(from_replay.iter().any(|(r, _)| r == "mfa-fatigue"));
    assert_eq!(from_function, from_replay, "the same detections and alerts");
}
