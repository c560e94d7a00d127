//! Redrive on moto: events whose retries ran out wait on the failure
//! destination; `signin-watch redrive QUEUE_URL` (and the scheduled sweep,
//! through the same `Handler::redrive`) handles them again: the owed
//! notification is sent once, an event never counted is counted, and a
//! message that fails again stays on the queue.

use crate::common;

use std::process::Output;

use serde_json::{Value, json};

use common::moto::{self, Env};
use signin_watch::adapters::sqs::SqsQueue;
use signin_watch::domain::notify::{DigestNotice, Notice, Notifier, NotifyError};

/// A topic that is down: every publish fails for now.
struct Down;

impl Notifier for Down {
    async fn notify(&self, n: &Notice<'_>) -> Result<(), NotifyError> {
        Err(NotifyError::Unavailable {
            finding_id: n.finding.finding_id.clone(),
            source: "the topic is down".into(),
        })
    }
    async fn notify_digest(&self, _: &DigestNotice<'_>) -> Result<(), NotifyError> {
        unreachable!("no digest in this test")
    }
}

/// Lambda's failure-destination record for an asynchronous invocation whose
/// retries ran out.
fn failure_record(event: &Value) -> String {
    json!({
        "version": "1.0",
        "timestamp": "2026-11-20T09:10:00.000Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
            "functionArn": "arn:aws:lambda:us-east-1:111122223333:function:signin-watch:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "SigninWatch.TransientPublishError", "errorMessage": "publishing failed"}
    })
    .to_string()
}

fn cli(args: &[&str], table: &str, topic: &str) -> Output {
    moto::command(env!("CARGO_BIN_EXE_signin-watch"))
        .args(args)
        .env("SIGNIN_WATCH_TABLE", table)
        .env("SIGNIN_WATCH_TOPIC_ARN", topic)
        .env_remove("SIGNIN_WATCH_ACCEPT_ANY_SHAPE")
        .output()
        .expect("the binary runs")
}

#[tokio::test]
async fn redrive_sends_what_is_owed_once_and_leaves_what_fails_again() {
    if moto::unavailable("redrive_sends_what_is_owed_once_and_leaves_what_fails_again") {
        return;
    }
    let env = Env::new(false).await;
    let (sdk, table) = (env.sdk.clone(), env.table.clone());
    let inbox = moto::subscribe_queue(&sdk, &env.topic, true, None).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let failed = moto::create_queue(&sdk, "failed-events").await;

    // The first event is counted, but the topic is down: its notification is owed.
    let owed = common::sample_json("rule1-failed-mfa-iam-user.json");
    let down = env.handler_with(Down);
    let err = down
        .handle(owed.to_string().as_bytes())
        .await
        .0
        .unwrap_err();
    assert_eq!(err.error_type(), "SigninWatch.TransientPublishError");
    // The second never reached the function (EventBridge's dead letter is the event itself).
    let mut uncounted = common::sample_json("rule2-federated-getsignintoken-no-mfa.json");
    uncounted["detail"]["eventID"] = "never-counted".into();
    for body in [
        failure_record(&owed),
        uncounted.to_string(),
        r#"{"requestPayload": "not an event"}"#.to_owned(),
    ] {
        sqs.send_message()
            .queue_url(&failed)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }

    let out = cli(&["redrive", &failed], &table, &env.topic.arn);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "one failed again: {stderr}");
    assert!(
        stderr.contains("2 messages handled and deleted, 1 failed again"),
        "{stderr}"
    );
    let messages = moto::drain(&sdk, &inbox).await;
    assert_eq!(messages.len(), 2, "the owed one and the new one");

    // The poison stays on the queue, hidden until the next sweep.
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&failed)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .expect("attributes");
    let count = |name| {
        attrs
            .attributes()
            .and_then(|a| a.get(&name))
            .cloned()
            .unwrap_or_default()
    };
    use aws_sdk_sqs::types::QueueAttributeName::{
        ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible,
    };
    assert_eq!(count(ApproximateNumberOfMessages), "0");
    assert_eq!(count(ApproximateNumberOfMessagesNotVisible), "1");

    // The owed event's record once more, by the library (the sweep's path):
    // handled and deleted, nothing sent twice.
    sqs.send_message()
        .queue_url(&failed)
        .message_body(failure_record(&owed))
        .send()
        .await
        .expect("send");
    let queue = SqsQueue::new(sqs.clone(), &failed);
    let working = env.handler();
    let s = working.redrive(&queue, 100).await.expect("redrive");
    assert_eq!((s.redriven, s.failed, s.published), (1, 0, 0));
    assert!(moto::drain(&sdk, &inbox).await.is_empty());
}
