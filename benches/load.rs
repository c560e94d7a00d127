//! Load: sign-in events (10% delivered twice, shuffled) through 50
//! concurrent invocations of the handler on moto's DynamoDB and SNS, as
//! EventBridge delivers them (one event per invocation, a failed invocation
//! retried); the detections, alerts and final counters must equal replay's
//! over the same events. Reports throughput and per-invocation latency.
//!
//!   cargo bench --features lambda --bench load     (make bench-load; EVENTS=10000)
//!
//! Under `cargo test --benches` it runs 120 events as a smoke test. moto
//! answers one request at a time: the figures bound the function against
//! moto, not against DynamoDB.

#[path = "../tests/common/cli.rs"]
#[allow(dead_code)]
mod cli;
#[path = "../tests/common/moto.rs"]
mod moto;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use signin_watch::adapters::dynamodb_store::DynamoStore;
use signin_watch::adapters::sns::SnsPublisher;
use signin_watch::app::detector::Detector;
use signin_watch::config::DetectorConfig;
use signin_watch::domain::time::Timestamp;
use signin_watch::lambda::handler::Handler;

const CONCURRENCY: usize = 50;
/// Lambda retries a failed asynchronous invocation twice.
const ATTEMPTS: usize = 3;

pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub fn say_skipped(why: &str) {
    eprintln!("\n*** SKIPPED: {why} ***\n");
}

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn sample(name: &str) -> Value {
    let path = repo_path(&format!("events/{name}"));
    serde_json::from_slice(&std::fs::read(&path).expect("a sample")).expect("JSON")
}

/// `n` distinct sign-in events over one day: failed MFA challenges,
/// successful sign-ins with and without MFA, federated tokens; a few users
/// and addresses, so that groups repeat and correlations complete.
fn events(n: usize, rng: &mut Rng) -> Vec<String> {
    let kinds = [
        "rule1-failed-mfa-iam-user.json",
        "rule1-failed-mfa-iam-user.json",
        "rule1-near-miss-success-with-mfa.json",
        "iam-user-console-login-without-mfa.json",
        "rule2-federated-getsignintoken-no-mfa.json",
        "rule1-near-miss-failed-password-no-mfa.json",
    ];
    let samples: Vec<Value> = kinds.iter().map(|k| sample(k)).collect();
    let day = Timestamp::parse("2026-11-20T00:00:00Z").expect("a time");
    (0..n)
        .map(|i| {
            let mut e = samples[rng.below(samples.len() as u64) as usize].clone();
            let at = Timestamp::from_millis(day.as_millis() + rng.below(86_400) as i64 * 1000);
            let user = format!("user{}", rng.below(40));
            let d = &mut e["detail"];
            d["eventID"] = Value::from(format!("load-{i}"));
            d["eventTime"] = Value::from(at.to_string());
            d["sourceIPAddress"] = Value::from(format!("198.51.100.{}", rng.below(30)));
            if d["userIdentity"]["userName"].is_string() {
                d["userIdentity"]["userName"] = Value::from(user.clone());
            }
            if let Some(arn) = d["userIdentity"]["arn"].as_str() {
                let base = arn.rsplit_once('/').map_or(arn, |(b, _)| b).to_owned();
                d["userIdentity"]["arn"] = Value::from(format!("{base}/{user}"));
            }
            e["time"] = Value::from(at.to_string());
            e.to_string()
        })
        .collect()
}

/// (rule, eventID) of each detection and alert, and each group's final count.
#[derive(Debug, Default, PartialEq, Eq)]
struct Answer {
    detections: BTreeSet<(String, String)>,
    counts: BTreeMap<String, u64>,
}

impl Answer {
    fn add(&mut self, f: &Value) {
        let s = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
        self.detections.insert((s("rule"), s("event_id")));
        let count = f["count"].as_u64().unwrap_or(0);
        let c = self.counts.entry(s("group")).or_default();
        *c = (*c).max(count);
    }
}

fn replay(events: &[String]) -> Answer {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, events.join("\n")).expect("write events");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signin-watch"))
        .args(["replay", "--no-progress"])
        .arg(&file)
        .env_remove("SIGNIN_WATCH_DISABLED_RULES")
        .output()
        .expect("signin-watch runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut answer = Answer::default();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        answer.add(&serde_json::from_str(line).expect("a finding"));
    }
    answer
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    if moto::unavailable("the load benchmark") {
        return;
    }
    let n: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 10_000 } else { 120 });
    let mut rng = Rng(0x10ad_5eed_0000_0001);
    let distinct = events(n * 9 / 10, &mut rng);
    let mut delivered = distinct.clone();
    for _ in 0..n - distinct.len() {
        delivered.push(distinct[rng.below(distinct.len() as u64) as usize].clone());
    }
    for i in (1..delivered.len()).rev() {
        delivered.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let want = replay(&delivered);

    let sdk = moto::sdk().await;
    let table = moto::create_table(&sdk).await;
    let topic = moto::create_topic(&sdk, false).await;
    let c = DetectorConfig::default();
    let handler = Arc::new(Handler::new(
        Detector::new(
            c.rules,
            c.policy,
            DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table, 90),
        ),
        SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), &topic.arn),
    ));
    let queue = Arc::new(Mutex::new(delivered));
    let got = Arc::new(Mutex::new(Answer::default()));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let retried = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let requests = moto::moto().requests();
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (h, queue, got, latencies, retried) = (
            handler.clone(),
            queue.clone(),
            got.clone(),
            latencies.clone(),
            retried.clone(),
        );
        workers.spawn(async move {
            loop {
                let Some(event) = queue.lock().expect("queue").pop() else {
                    return;
                };
                for attempt in 1..=ATTEMPTS {
                    let t = Instant::now();
                    let result = h.handle(event.as_bytes()).await.0;
                    latencies
                        .lock()
                        .expect("latencies")
                        .push(t.elapsed().as_secs_f64() * 1e3);
                    match result {
                        Ok(s) => {
                            let mut got = got.lock().expect("answer");
                            for f in &s.detections {
                                got.add(&serde_json::to_value(f).expect("a finding"));
                            }
                            break;
                        }
                        Err(e) if attempt < ATTEMPTS => {
                            retried.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let _ = e;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(e) => panic!("an event failed {ATTEMPTS} times: {e}"),
                    }
                }
            }
        });
    }
    while let Some(w) = workers.join_next().await {
        w.expect("a worker");
    }
    let seconds = started.elapsed().as_secs_f64();
    let requests = moto::moto().requests() - requests;
    let got = std::mem::take(&mut *got.lock().expect("answer"));
    assert_eq!(
        got.detections, want.detections,
        "the same detections and alerts as replay"
    );
    assert_eq!(got.counts, want.counts, "the same final counters as replay");
    let mut l = latencies.lock().expect("latencies").clone();
    l.sort_by(f64::total_cmp);
    println!(
        "load: {n} events ({} distinct) through {CONCURRENCY} concurrent invocations on moto in {seconds:.1} s \
         ({:.0} events/s); per invocation median {:.1} ms, p99 {:.1} ms; {} invocations retried; \
         {requests} requests; {} detections and alerts, {} groups, identical to replay",
        n * 9 / 10,
        n as f64 / seconds,
        percentile(&l, 0.5),
        percentile(&l, 0.99),
        retried.load(std::sync::atomic::Ordering::Relaxed),
        got.detections.len(),
        got.counts.len(),
    );
}
