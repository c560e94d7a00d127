//! The real function binary, started as Lambda starts it (a Runtime API on
//! loopback), talking to moto's server through `AWS_ENDPOINT_URL`.

use crate::common;

use std::time::Duration;

use common::moto;
use common::runtime_api::{Reply, RuntimeApi};

const BINARY: &str = env!("CARGO_BIN_EXE_signin-watch-lambda");

use common::sample;

/// The function's environment on moto: the endpoint, a region, dummy
/// credentials, its table and topic, then `extra`.
fn on_moto<'a>(
    endpoint: &'a str,
    table: &'a str,
    topic: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("SIGNIN_WATCH_TABLE", table),
        ("SIGNIN_WATCH_TOPIC_ARN", topic),
    ];
    env.extend_from_slice(extra);
    env
}

#[tokio::test]
async fn the_binary_serves_invocations_end_to_end() {
    if moto::unavailable("the_binary_serves_invocations_end_to_end") {
        return;
    }
    let sdk = moto::sdk().await;
    let table = moto::create_table(&sdk).await;
    let topic = moto::create_topic(&sdk, false).await;
    let queue = moto::subscribe_queue(&sdk, &topic, true, None).await;
    let api = RuntimeApi::start();
    let endpoint = moto::moto().endpoint.clone();
    let mut child = api.spawn(BINARY, &on_moto(&endpoint, &table, &topic.arn, &[]));
    api.push_event(&sample("rule1-failed-mfa-iam-user.json"));
    api.push_event(&sample("rule1-failed-mfa-iam-user.json"));
    // Lambda only delivers valid JSON; a malformed event is JSON that is not an event.
    api.push_event(b"{\"detail\": \"a string, not a record\"}");
    api.push_event(&sample("unrelated-s3-create-bucket.json"));
    let replies = api.replies(4, Duration::from_secs(60));
    child.kill().expect("stop the function");
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        replies.len(),
        4,
        "replies: {replies:#?}\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let summary = |r: &Reply| -> serde_json::Value {
        match r {
            Reply::Response { body, .. } => serde_json::from_str(body).expect("JSON summary"),
            other => panic!("expected a response, got {other:?}"),
        }
    };
    let first = summary(&replies[0]);
    assert_eq!(first["published"], 1);
    assert_eq!(first["detections"][0]["user"], "alice");
    assert_eq!(summary(&replies[1])["duplicates"], 1);
    match &replies[2] {
        Reply::Error { body, .. } => {
            // Lambda's error body: the Diagnostic's errorType and errorMessage.
            let error: serde_json::Value = serde_json::from_str(body).expect("JSON error");
            assert_eq!(error["errorType"], "SigninWatch.MalformedEvent", "{body}");
            assert!(
                error["errorMessage"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(
                        "malformed event: the EventBridge event's detail is not a CloudTrail record"
                    )),
                "{body}"
            )
        }
        other => panic!("a malformed event must fail the invocation: {other:?}"),
    }
    assert_eq!(summary(&replies[3])["records"], 1);
    assert_eq!(moto::drain(&sdk, &queue).await.len(), 1);
    // Metrics in Embedded Metric Format on stdout, one set per invocation.
    let emf: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| l.contains("\"_aws\""))
        .map(|l| serde_json::from_str(l).expect("EMF is JSON"))
        .collect();
    assert!(
        emf.iter()
            .any(|m| m["Rule"] == "failed-mfa" && m["FindingsPublished"] == 1),
        "{stdout}"
    );
    assert!(emf.iter().any(|m| m["MalformedRecords"] == 1), "{stdout}");
    // Logs are JSON (Lambda's JSON log format) and never carry the whole event.
    assert!(
        !stdout.contains("Mozilla/5.0"),
        "the event must not be logged: {stdout}"
    );
}

#[test]
fn an_invalid_setting_fails_the_init_naming_the_variable() {
    let api = RuntimeApi::start();
    let child = api.spawn(
        BINARY,
        &[
            ("SIGNIN_WATCH_TABLE", "t"),
            ("SIGNIN_WATCH_TOPIC_ARN", "arn:aws:sns:us-east-1:1:x"),
            ("SIGNIN_WATCH_ESCALATION_TIERS", "5,many"),
        ],
    );
    let out = child.wait_with_output().expect("the function exits");
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("SIGNIN_WATCH_ESCALATION_TIERS=\"5,many\""),
        "{all}"
    );
}

/// The function reads custom rules from `SIGNIN_WATCH_RULES_DIR` (a layer
/// under /opt, say) and runs them beside the pack.
#[tokio::test]
async fn custom_rules_run_in_the_function() {
    if moto::unavailable("custom_rules_run_in_the_function") {
        return;
    }
    let sdk = moto::sdk().await;
    let table = moto::create_table(&sdk).await;
    let topic = moto::create_topic(&sdk, false).await;
    let api = RuntimeApi::start();
    let endpoint = moto::moto().endpoint.clone();
    let rules = common::repo_path("tests/rules/custom")
        .display()
        .to_string();
    let mut child = api.spawn(
        BINARY,
        &on_moto(
            &endpoint,
            &table,
            &topic.arn,
            &[("SIGNIN_WATCH_RULES_DIR", &rules)],
        ),
    );
    api.push_event(&sample("rule2-federated-getsignintoken-no-mfa.json"));
    let replies = api.replies(1, Duration::from_secs(60));
    child.kill().expect("stop the function");
    child.wait().expect("the function stops");
    let Some(Reply::Response { body, .. }) = replies.first() else {
        panic!("a response: {replies:#?}");
    };
    let summary: serde_json::Value = serde_json::from_str(body).expect("JSON summary");
    let fired: Vec<&str> = summary["detections"]
        .as_array()
        .expect("detections")
        .iter()
        .map(|d| d["rule"].as_str().expect("rule"))
        .collect();
    assert_eq!(
        fired,
        [
            "federated-single-factor",
            "f8103686-e3e8-46f3-be72-65f7fcb4aa53"
        ]
    );
}

#[test]
fn a_broken_rule_file_fails_the_init_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("broken.yml");
    std::fs::write(&path, "title: x\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  s: {eventSource: signin.amazonaws.com}\n  condition: [s\n")
        .expect("write");
    let api = RuntimeApi::start();
    let child = api.spawn(
        BINARY,
        &[
            ("SIGNIN_WATCH_TABLE", "t"),
            ("SIGNIN_WATCH_TOPIC_ARN", "arn:aws:sns:us-east-1:1:x"),
            ("SIGNIN_WATCH_RULES_DIR", &dir.path().display().to_string()),
        ],
    );
    let out = child.wait_with_output().expect("the function exits");
    assert!(!out.status.success());
    let all = String::from_utf8_lossy(&out.stderr);
    assert!(all.contains("SIGNIN_WATCH_RULES_DIR="), "{all}");
    assert!(all.contains(&format!("{}:", path.display())), "{all}");
}

#[tokio::test]
async fn killed_between_the_commit_and_the_publish_then_redelivered_gives_one_message() {
    if moto::unavailable(
        "killed_between_the_commit_and_the_publish_then_redelivered_gives_one_message",
    ) {
        return;
    }
    let sdk = moto::sdk().await;
    let table = moto::create_table(&sdk).await;
    let topic = moto::create_topic(&sdk, false).await;
    let queue = moto::subscribe_queue(&sdk, &topic, true, None).await;
    let endpoint = moto::moto().endpoint.clone();
    // An SNS endpoint that accepts connections and never answers: the
    // function has committed the counter and hangs in the publish.
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hole = format!("http://{}", blackhole.local_addr().unwrap());
    let (connected_tx, connected) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in blackhole.incoming().flatten() {
            held.push(s);
            let _ = connected_tx.send(());
        }
    });
    let env = |sns: &str| {
        vec![
            ("AWS_ENDPOINT_URL", endpoint.clone()),
            ("AWS_ENDPOINT_URL_SNS", sns.to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("SIGNIN_WATCH_TABLE", table.clone()),
            ("SIGNIN_WATCH_TOPIC_ARN", topic.arn.clone()),
            ("SIGNIN_WATCH_AWS_TIMEOUT_MS", "60000".to_owned()),
            ("SIGNIN_WATCH_AWS_ATTEMPT_TIMEOUT_MS", "60000".to_owned()),
        ]
    };
    let stuck_env = env(&hole);
    let stuck_env: Vec<(&str, &str)> = stuck_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let api = RuntimeApi::start();
    let mut stuck = api.spawn(BINARY, &stuck_env);
    let event = sample("rule1-failed-mfa-iam-user.json");
    api.push_event(&event);
    connected
        .recv_timeout(Duration::from_secs(60))
        .expect("the function reaches the publish");
    stuck.kill().expect("kill the function mid-publish");
    let _ = stuck.wait();

    // Lambda redelivers the event to a fresh instance.
    let good_env = env(&endpoint);
    let good_env: Vec<(&str, &str)> = good_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let api = RuntimeApi::start();
    let mut good = api.spawn(BINARY, &good_env);
    api.push_event(&event);
    let replies = api.replies(1, Duration::from_secs(60));
    good.kill().expect("stop the function");
    let _ = good.wait();
    let Some(Reply::Response { body, .. }) = replies.first() else {
        panic!("the redelivery succeeds: {replies:?}");
    };
    let summary: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        summary["published"], 1,
        "the owed notification is sent: {summary}"
    );
    assert_eq!(
        summary["detections"][0]["count"], 1,
        "not counted twice: {summary}"
    );
    let messages = moto::drain(&sdk, &queue).await;
    let failed_mfa = messages
        .iter()
        .filter(|m| {
            m.body()
                .is_some_and(|b| b.contains("\"rule\":\"failed-mfa\""))
        })
        .count();
    assert_eq!(failed_mfa, 1, "exactly one message");
}

/// The sweep in the real binary: a schedule's event makes the function
/// redrive the queues of `SIGNIN_WATCH_REDRIVE_QUEUE_URLS`. The failed
/// event waiting there (a failure destination's record) is counted and
/// published, and its message deleted.
#[tokio::test]
async fn the_scheduled_sweep_redrives_the_failure_queue() {
    if moto::unavailable("the_scheduled_sweep_redrives_the_failure_queue") {
        return;
    }
    let sdk = moto::sdk().await;
    let table = moto::create_table(&sdk).await;
    let topic = moto::create_topic(&sdk, false).await;
    let inbox = moto::subscribe_queue(&sdk, &topic, true, None).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let failed = moto::create_queue(&sdk, "failed-events").await;
    let event: serde_json::Value =
        serde_json::from_slice(&sample("rule1-failed-mfa-iam-user.json")).unwrap();
    let record = serde_json::json!({
        "version": "1.0",
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": event,
        "responsePayload": {"errorType": "SigninWatch.TransientPublishError"}
    });
    sqs.send_message()
        .queue_url(&failed)
        .message_body(record.to_string())
        .send()
        .await
        .expect("send");

    let api = RuntimeApi::start();
    let endpoint = moto::moto().endpoint.clone();
    let mut child = api.spawn(
        BINARY,
        &on_moto(
            &endpoint,
            &table,
            &topic.arn,
            &[("SIGNIN_WATCH_REDRIVE_QUEUE_URLS", &failed)],
        ),
    );
    api.push_event(br#"{"version":"0","id":"s-1","detail-type":"Scheduled Event","source":"aws.events","account":"111122223333","time":"2026-11-20T10:15:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:111122223333:rule/sweep"],"detail":{}}"#);
    let replies = api.replies(1, Duration::from_secs(60));
    child.kill().expect("stop the function");
    let _ = child.wait();
    let summary: serde_json::Value = match replies.first() {
        Some(Reply::Response { body, .. }) => serde_json::from_str(body).expect("JSON"),
        other => panic!("expected a response, got {other:?}"),
    };
    assert_eq!(summary["redriven"][0]["redriven"], 1, "{summary}");
    assert_eq!(summary["redriven"][0]["published"], 1, "{summary}");
    assert_eq!(moto::drain(&sdk, &inbox).await.len(), 1, "published once");
    let left = sqs
        .receive_message()
        .queue_url(&failed)
        .send()
        .await
        .expect("receive");
    assert!(left.messages().is_empty(), "the message was deleted");
}
