//! The trail bucket's path against moto's server (S3, SQS, DynamoDB, SNS):
//!
//! 1. memory: the release function, started as Lambda starts it with 128 MB,
//!    reads one trail object of BENCH_OBJECT_MB MiB of JSON (100 by default)
//!    announced by an S3 notification through SQS; its peak RSS and time;
//! 2. replay `s3://` of the benchmark archive (1 GiB of JSON by default, the
//!    replay benchmark's generator; BENCH_S3/BENCH_JSONL take
//!    `make bench-shared`'s) beside replay of the same files on disk: MB/s
//!    of JSON, requests, and the same findings;
//! 3. backfill of that archive: the time and requests the enqueuing takes,
//!    then the time and requests one function instance takes to process
//!    every message, and the same detections as the replay.
//!
//!   cargo bench --features lambda --bench trail        (make bench-trail)
//!
//! Under `cargo test --benches` (no --bench) it runs small (4 MiB object,
//! 8 MiB archive) as a smoke test. moto's server answers one request at a
//! time on one core: its figures bound what a client can do against it, not
//! against AWS.

#[path = "common/archive.rs"]
mod archive;
#[path = "../tests/common/cli.rs"]
#[allow(dead_code)]
mod cli;
#[path = "../tests/common/moto.rs"]
mod moto;
#[path = "../tests/common/runtime_api.rs"]
mod runtime_api;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use archive::gz_files;
use aws_config::SdkConfig;
use runtime_api::{Reply, RuntimeApi, peak_rss_kib};
use serde_json::Value;
use signin_watch::intake::s3_notification::{ObjectRef, notification_for};

const LAMBDA: &str = env!("CARGO_BIN_EXE_signin-watch-lambda");
const CLI: &str = env!("CARGO_BIN_EXE_signin-watch");
/// The seed rules: the generator counts their detections.
const SEEDS: [&str; 2] = ["failed-mfa", "federated-single-factor"];

pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub fn say_skipped(why: &str) {
    eprintln!("\n*** SKIPPED: {why} ***\n");
}

fn env_mb(name: &str, benching: u64, smoke: u64, bench: bool) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench { benching } else { smoke })
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// The function's warnings and errors.
static FUNCTION_LOG: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Resources of one function deployment on moto.
struct Deployment {
    table: String,
    topic: String,
}

impl Deployment {
    async fn new(sdk: &SdkConfig) -> Deployment {
        Deployment {
            table: moto::create_table(sdk).await,
            topic: moto::create_topic(sdk, false).await.arn,
        }
    }

    /// The release function, as Lambda starts it with 128 MB, on moto; its
    /// output is read into [`FUNCTION_LOG`] so that it never blocks on a
    /// full pipe, and errors show what it said.
    fn start(&self, api: &RuntimeApi) -> Child {
        let endpoint = moto::moto().endpoint.clone();
        let mut child = api.spawn(
            LAMBDA,
            &[
                ("AWS_ENDPOINT_URL", &endpoint),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("SIGNIN_WATCH_TABLE", &self.table),
                ("SIGNIN_WATCH_TOPIC_ARN", &self.topic),
                ("RUST_LOG", "warn"),
                // moto's DynamoDB slows as its tables grow (one request at a
                // time, transactions scanning): time is not what this measures.
                ("SIGNIN_WATCH_AWS_TIMEOUT_MS", "60000"),
                ("SIGNIN_WATCH_AWS_ATTEMPT_TIMEOUT_MS", "30000"),
            ],
        );
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let loud =
                        line.contains("\"level\":\"ERROR\"") || line.contains("\"level\":\"WARN\"");
                    if loud && let Ok(mut log) = FUNCTION_LOG.lock() {
                        log.push(line);
                    }
                }
            });
        }
        api.first_poll(Duration::from_secs(30))
            .expect("the function polls");
        child
    }
}

/// An SQS event of `bodies`, as the event source mapping delivers it.
fn sqs_event(bodies: &[String]) -> Vec<u8> {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            serde_json::json!({
                "messageId": format!("m-{i}"), "receiptHandle": format!("r-{i}"), "body": body,
                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:trail-objects",
                "awsRegion": "us-east-1", "attributes": {}, "messageAttributes": {},
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
        .to_string()
        .into_bytes()
}

/// The invocation's summary; panics on an error reply or a failed message.
fn summary(reply: &Reply) -> Value {
    let Reply::Response { body, .. } = reply else {
        panic!(
            "the function failed: {reply:?}\nthe function said: {:#?}",
            FUNCTION_LOG.lock().map(|l| l.clone()).unwrap_or_default()
        );
    };
    let v: Value = serde_json::from_str(body).expect("a JSON summary");
    assert!(
        v["batchItemFailures"]
            .as_array()
            .is_none_or(|f| f.is_empty()),
        "failed messages: {v}\nthe function said: {:#?}",
        FUNCTION_LOG.lock().map(|l| l.clone()).unwrap_or_default()
    );
    v
}

/// (rule, eventID) of each detection in a summary or in replay's output.
fn detections(findings: &[Value]) -> BTreeSet<(String, String)> {
    findings
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or_default().to_owned(),
                f["event_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn seeds(d: &BTreeSet<(String, String)>) -> u64 {
    d.iter()
        .filter(|(r, _)| SEEDS.contains(&r.as_str()))
        .count() as u64
}

fn cli(args: &[&str]) -> (Output, f64) {
    let started = Instant::now();
    let out = moto::command(CLI)
        .args(args)
        .output()
        .expect("signin-watch runs");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "signin-watch {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out, seconds)
}

/// Replay's findings, and its summary line.
fn replay(input: &str) -> (Vec<Value>, String, f64) {
    let (out, seconds) = cli(&["replay", "--no-progress", input]);
    let findings = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a finding per line"))
        .collect();
    let summary = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    (findings, summary, seconds)
}

/// 1. One large object through the function: its peak RSS.
async fn one_large_object(sdk: &SdkConfig, dir: &Path, object_mb: u64) {
    let path = dir.join("large.json.gz");
    let (json_bytes, expected) = archive::one_object(&path, object_mb);
    let body = std::fs::read(&path).expect("the object");
    let gz_bytes = body.len() as u64;
    let bucket = moto::create_bucket(sdk).await;
    let key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/111122223333_CloudTrail_us-east-1_20240301T0005Z_large0000000000.json.gz";
    moto::put_object(sdk, &bucket, key, body).await;
    let deployment = Deployment::new(sdk).await;
    let api = RuntimeApi::start();
    let mut function = deployment.start(&api);
    let after_init = peak_rss_kib(function.id()).unwrap_or(0);
    let notification = notification_for(
        &[ObjectRef {
            bucket: bucket.clone(),
            key: key.to_owned(),
            size: Some(gz_bytes),
        }],
        "us-east-1",
    );
    let requests = moto::moto().requests();
    let started = Instant::now();
    api.push_event(&sqs_event(&[notification]));
    let replies = api.replies(1, Duration::from_secs(1800));
    let seconds = started.elapsed().as_secs_f64();
    let peak = peak_rss_kib(function.id()).unwrap_or(0);
    let _ = function.kill();
    let _ = function.wait();
    let s = summary(replies.first().expect("a reply"));
    assert_eq!(
        s["records"].as_u64(),
        Some(expected.records),
        "records read"
    );
    let found: Vec<Value> = s["detections"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        seeds(&detections(&found)),
        expected.rule1 + expected.rule2,
        "the seed rules' detections"
    );
    println!(
        "trail_object: {:.0} MB of JSON ({:.1} MB gzip, {} records, {} detections) in {seconds:.2} s ({:.0} MB/s of JSON); \
         peak RSS {:.1} MB (after init {:.1} MB) of the function's 128 MB; {} requests",
        mb(json_bytes),
        mb(gz_bytes),
        expected.records,
        found.len(),
        mb(json_bytes) / seconds,
        peak as f64 / 1024.0,
        after_init as f64 / 1024.0,
        moto::moto().requests() - requests,
    );
}

/// The archive's files in a bucket, under the keys they have on disk.
async fn upload(sdk: &SdkConfig, root: &Path, files: &[PathBuf]) -> String {
    let bucket = moto::create_bucket(sdk).await;
    let started = Instant::now();
    for f in files {
        let key = f
            .strip_prefix(root)
            .expect("under the archive")
            .to_string_lossy()
            .into_owned();
        moto::put_object(sdk, &bucket, &key, std::fs::read(f).expect("read")).await;
    }
    eprintln!(
        "  uploaded {} objects to moto in {:.1} s",
        files.len(),
        started.elapsed().as_secs_f64()
    );
    bucket
}

/// 3. Backfill: the enqueuing, then one function instance through every message.
async fn backfill(
    sdk: &SdkConfig,
    bucket: &str,
    objects: usize,
    from_replay: &BTreeSet<(String, String)>,
) {
    let queue = moto::create_queue(sdk, "trail-objects").await;
    let requests = moto::moto().requests();
    let url = format!("s3://{bucket}/AWSLogs/");
    let (out, enqueue_seconds) = cli(&["backfill", "--no-progress", "--queue", &queue, &url]);
    let enqueue_requests = moto::moto().requests() - requests;
    let said = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    assert!(said.contains(&format!("{objects} messages sent")), "{said}");

    let messages = moto::drain(sdk, &moto::Queue { url: queue }).await;
    assert_eq!(messages.len(), objects, "one message per object");
    // BENCH_PROCESS=N processes the first N messages only (moto is slow).
    let process = std::env::var("BENCH_PROCESS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(objects)
        .min(objects);
    let messages = &messages[..process];
    let bodies: Vec<String> = messages
        .iter()
        .map(|m| m.body().unwrap_or_default().to_owned())
        .collect();
    let deployment = Deployment::new(sdk).await;
    let api = RuntimeApi::start();
    let mut function = deployment.start(&api);
    let requests = moto::moto().requests();
    let started = Instant::now();
    let mut from_function = BTreeSet::new();
    let (mut invocations, mut records) = (0, 0);
    // The mapping's batch size: ten messages per invocation.
    for batch in bodies.chunks(10) {
        api.push_event(&sqs_event(batch));
        invocations += 1;
        let replies = api.replies(invocations, Duration::from_secs(1800));
        let s = summary(replies.last().expect("a reply"));
        records += s["records"].as_u64().unwrap_or(0);
        from_function.extend(detections(
            s["detections"].as_array().map(Vec::as_slice).unwrap_or(&[]),
        ));
    }
    let process_seconds = started.elapsed().as_secs_f64();
    let process_requests = moto::moto().requests() - requests;
    let peak = peak_rss_kib(function.id()).unwrap_or(0);
    let _ = function.kill();
    let _ = function.wait();
    if process == objects {
        assert_eq!(
            &from_function, from_replay,
            "the backfill's detections are the replay's"
        );
    } else {
        assert!(
            from_function.is_subset(from_replay),
            "the backfill's detections are among the replay's"
        );
    }
    println!(
        "backfill_enqueue: {objects} objects in {enqueue_seconds:.2} s, {enqueue_requests} requests ({said})"
    );
    println!(
        "backfill_process: {process} of {objects} objects, {invocations} invocations of one instance ({records} records, {} detections) in {process_seconds:.1} s \
         ({:.1} s per object), {process_requests} requests ({:.1} per object), peak RSS {:.1} MB",
        from_function.len(),
        process_seconds / process as f64,
        process_requests as f64 / process as f64,
        peak as f64 / 1024.0,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    if moto::unavailable("the trail benchmark") {
        return;
    }
    let sdk = moto::sdk().await;
    let dir = tempfile::tempdir().expect("temp dir");

    one_large_object(
        &sdk,
        dir.path(),
        env_mb("BENCH_OBJECT_MB", 100, 4, benching),
    )
    .await;

    // 2. replay s3:// beside replay of the same files.
    let s3_dir = match std::env::var_os("BENCH_S3") {
        Some(d) => PathBuf::from(d),
        None => archive::generate(dir.path(), env_mb("BENCH_MB", 1024, 8, benching)).1,
    };
    let mut files = Vec::new();
    gz_files(&s3_dir, &mut files);
    files.sort();
    let bucket = upload(&sdk, &s3_dir, &files).await;
    let (local, local_summary, local_seconds) = replay(&s3_dir.display().to_string());
    let requests = moto::moto().requests();
    let (remote, remote_summary, remote_seconds) = replay(&format!("s3://{bucket}/AWSLogs/"));
    let remote_requests = moto::moto().requests() - requests;
    let (local, remote) = (detections(&local), detections(&remote));
    assert_eq!(local, remote, "replay s3:// finds what local replay finds");
    let json_bytes = files.iter().map(|f| json_size(f)).sum();
    println!(
        "replay_local: {} files, {:.0} MB of JSON in {local_seconds:.2} s ({:.0} MB/s); {local_summary}",
        files.len(),
        mb(json_bytes),
        mb(json_bytes) / local_seconds
    );
    println!(
        "replay_s3_moto: the same in {remote_seconds:.2} s ({:.0} MB/s), {remote_requests} requests, {} detections either way; {remote_summary}",
        mb(json_bytes) / remote_seconds,
        remote.len()
    );

    backfill(&sdk, &bucket, files.len(), &local).await;
}

/// The bytes of JSON in a `.json.gz` file.
fn json_size(file: &Path) -> u64 {
    let gz = std::fs::File::open(file).expect("open");
    let mut d = flate2::read::MultiGzDecoder::new(BufReader::new(gz));
    std::io::copy(&mut d, &mut std::io::sink()).expect("gunzip")
}
