//! The function's cold start, as Lambda measures "Init Duration": from
//! spawning the release binary to its first poll of the Runtime API; then
//! the first invocation's latency and the process's peak RSS. Self-contained
//! (a Runtime API on loopback); no AWS call is made (the event, a sign-in,
//! matches no rule and feeds no correlation, and the SDK connects lazily).
//!
//!   cargo bench --features lambda --bench cold_start     (RUNS=20 by default)

#[path = "../tests/common/runtime_api.rs"]
mod runtime_api;

use std::time::{Duration, Instant};

use runtime_api::{Reply, RuntimeApi, peak_rss_kib};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 20 } else { 2 });
    let binary = env!("CARGO_BIN_EXE_signin-watch-lambda");
    let event = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/rule2-near-miss-sso-role-getsignintoken.json"
    ))
    .expect("sample");
    let (mut init, mut invoke, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let api = RuntimeApi::start();
        let spawned = Instant::now();
        let mut child = api.spawn(
            binary,
            &[
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "bench"),
                ("AWS_SECRET_ACCESS_KEY", "bench"),
                ("SIGNIN_WATCH_TABLE", "signin-watch"),
                (
                    "SIGNIN_WATCH_TOPIC_ARN",
                    "arn:aws:sns:us-east-1:111122223333:findings",
                ),
            ],
        );
        let polled = api
            .first_poll(Duration::from_secs(10))
            .expect("the function polls");
        init.push((polled - spawned).as_secs_f64() * 1e3);
        let sent = Instant::now();
        api.push_event(&event);
        let replies = api.replies(1, Duration::from_secs(10));
        assert!(
            matches!(replies.first(), Some(Reply::Response { .. })),
            "{replies:?}"
        );
        invoke.push(sent.elapsed().as_secs_f64() * 1e3);
        rss.push(peak_rss_kib(child.id()).unwrap_or(0) as f64 / 1024.0);
        let _ = child.kill();
        let _ = child.wait();
    }
    let size = std::fs::metadata(binary).map(|m| m.len()).unwrap_or(0);
    println!(
        "cold_start ({runs} runs, {binary}, {:.1} MB): init median {:.1} ms (min {:.1}, max {:.1}); first invoke median {:.2} ms; peak RSS median {:.1} MB (max {:.1})",
        size as f64 / 1e6,
        median(init.clone()),
        init.iter().cloned().fold(f64::MAX, f64::min),
        init.iter().cloned().fold(0.0, f64::max),
        median(invoke),
        median(rss.clone()),
        rss.iter().cloned().fold(0.0, f64::max),
    );
}
