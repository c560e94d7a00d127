//! A flood on moto: stolen keys mint a new federated name for every
//! session, so every sign-in is a new group and a first detection. The
//! rule's hourly budget sends 20 messages, the scheduled sweep one digest
//! of the rest, and DynamoDB counts every group.

use crate::common;

use serde_json::Value;

use common::moto::{self, Env};
use signin_watch::config::DetectorConfig;
use signin_watch::domain::time::Timestamp;

const GROUPS: usize = 1000;

/// The federated sample, signed in as `minted-<i>` at `time`.
fn minted(i: usize, time: Timestamp) -> Vec<u8> {
    let mut e = common::sample_json("rule2-federated-getsignintoken-no-mfa.json");
    let name = format!("minted-{i}");
    let d = &mut e["detail"];
    d["eventID"] = format!("flood-{i}").into();
    d["eventTime"] = time.to_string().into();
    d["userIdentity"]["principalId"] = format!("111122223333:{name}").into();
    d["userIdentity"]["arn"] = format!("arn:aws:sts::111122223333:federated-user/{name}").into();
    e["time"] = time.to_string().into();
    serde_json::to_vec(&e).unwrap()
}

/// The template's schedule event.
const SCHEDULED: &str = r#"{"version":"0","id":"sweep-1","detail-type":"Scheduled Event","source":"aws.events","account":"111122223333","time":"2026-11-20T10:15:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:111122223333:rule/signin-watch-sweep"],"detail":{}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_new_groups_in_an_hour_give_at_most_21_messages_and_all_are_counted() {
    if moto::unavailable(
        "a_thousand_new_groups_in_an_hour_give_at_most_21_messages_and_all_are_counted",
    ) {
        return;
    }
    let env = Env::new(false).await;
    let (sdk, table) = (env.sdk.clone(), env.table.clone());
    let queue = moto::subscribe_queue(&sdk, &env.topic, true, None).await;
    assert_eq!(
        DetectorConfig::default().policy.budget_per_rule_hour,
        20,
        "the default budget"
    );
    let handler = std::sync::Arc::new(env.handler());
    // An hour that ended more than the digest's grace ago.
    let now = Timestamp::now().as_millis();
    let hour = (now / 3_600_000 - 2) * 3_600_000;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let handler = handler.clone();
        tasks.spawn(async move {
            let (mut sent, mut folded) = (0u64, 0u64);
            for i in (worker..GROUPS).step_by(8) {
                let at = Timestamp::from_millis(hour + (i as i64) * 3_000);
                let s = handler.handle(&minted(i, at)).await.0.expect("handled");
                assert_eq!(s.detections.len(), 1, "{i}: a first detection");
                sent += s.published;
                // A folded finding says so: notify false, and why.
                folded += u64::from(s.detections[0].folded.is_some() && s.published == 0);
            }
            (sent, folded)
        });
    }
    let (mut sent, mut folded) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        let (s, f) = r.expect("worker");
        sent += s;
        folded += f;
    }
    assert_eq!((sent, folded), (20, 980));

    let swept = handler.handle(SCHEDULED.as_bytes()).await.0.expect("sweep");
    assert_eq!(swept.digests_sent, 1);
    let again = handler.handle(SCHEDULED.as_bytes()).await.0.expect("sweep");
    assert_eq!(again.digests_sent, 0, "sent once");

    let messages = moto::drain(&sdk, &queue).await;
    assert!(messages.len() <= 21, "{} messages", messages.len());
    assert_eq!(messages.len(), 21);
    let digests: Vec<Value> = messages
        .iter()
        .filter_map(|m| serde_json::from_str::<Value>(m.body().unwrap_or_default()).ok())
        .filter(|b| b["kind"] == "digest")
        .collect();
    assert_eq!(digests.len(), 1);
    let d = &digests[0];
    assert_eq!(d["folded_count"], 980);
    assert_eq!(d["budget_per_rule_hour"], 20);
    assert!(d["folded"].as_array().is_some_and(|l| !l.is_empty()));
    assert_eq!(
        d["folded_count"].as_u64().unwrap(),
        d["folded"].as_array().unwrap().len() as u64 + d["not_listed"].as_u64().unwrap()
    );

    // Every group is counted in the table.
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let mut counters = 0;
    let mut start = None;
    loop {
        let out = ddb
            .scan()
            .table_name(&table)
            .filter_expression("begins_with(pk, :g) AND sk = :c")
            .expression_attribute_values(
                ":g",
                aws_sdk_dynamodb::types::AttributeValue::S("GROUP#".into()),
            )
            .expression_attribute_values(
                ":c",
                aws_sdk_dynamodb::types::AttributeValue::S("COUNTER".into()),
            )
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        counters += out.count;
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => break,
        }
    }
    assert_eq!(counters, GROUPS as i32);
}
