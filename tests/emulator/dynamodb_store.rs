//! The DynamoDB store keeps the counter store contract, against moto's server.

use crate::common;

use common::moto;
use common::store_contract as contract;
use signin_watch::adapters::dynamodb_store::DynamoStore;

async fn store() -> DynamoStore {
    let sdk = moto::sdk().await;
    let table = moto::create_table(&sdk).await;
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table, 90)
}

crate::store_contract_tests!(
    store: store().await,
    skip: moto::unavailable,
    generated_cases: 8,
);

#[tokio::test]
async fn items_follow_the_documented_layout() {
    if moto::unavailable("items_follow_the_documented_layout") {
        return;
    }
    let s = store().await;
    let sighting = contract::sighting("layout", "ev-layout", 0);
    let policy = Default::default();
    signin_watch::domain::store::CounterStore::record(&s, &sighting, &policy)
        .await
        .unwrap();
    let sdk = moto::sdk().await;
    let items = aws_sdk_dynamodb::Client::new(&sdk)
        .scan()
        .table_name(s.table())
        .send()
        .await
        .unwrap()
        .items
        .unwrap();
    assert_eq!(items.len(), 2);
    let counter = items
        .iter()
        .find(|i| i["sk"].as_s().unwrap() == "COUNTER")
        .expect("counter item");
    assert!(
        counter["pk"]
            .as_s()
            .unwrap()
            .starts_with("GROUP#55349868-5583-466f-98ab-d3beb321961e#111122223333#layout#")
    );
    assert_eq!(counter["cnt"].as_n().unwrap(), "1");
    assert_eq!(
        counter["group_fields"].as_m().unwrap()["user"]
            .as_s()
            .unwrap(),
        "layout"
    );
    assert!(
        counter["expires_at"]
            .as_n()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 1_700_000_000
    );
    let event = items
        .iter()
        .find(|i| i["sk"].as_s().unwrap() == "EVENT")
        .expect("event item");
    assert_eq!(
        event["pk"].as_s().unwrap(),
        "EVENT#55349868-5583-466f-98ab-d3beb321961e#ev-layout"
    );
    assert!(
        event.contains_key("pending"),
        "the first detection's notification is owed until confirmed"
    );
}

mod correlations {
    use super::*;
    use common::correlation_contract as cc;

    /// The group's state item lost (deleted by hand, say) after its alert
    /// was counted: feeding the deciding event again finds the alert's item
    /// and hands the alert back, instead of taking it for contention and
    /// retrying a hundred times.
    #[tokio::test]
    async fn an_alert_recorded_before_is_handed_back_not_retried() {
        if moto::unavailable("an_alert_recorded_before_is_handed_back_not_retried") {
            return;
        }
        use signin_watch::domain::counter::NotifyPolicy;
        use signin_watch::domain::store::{CounterStore, Feed, Recorded};
        let sdk = moto::sdk().await;
        let table = moto::create_table(&sdk).await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let store = DynamoStore::new(client.clone(), &table, 90);
        let c = &cc::every_kind()[0];
        let events: Vec<_> = (0..3)
            .map(|i| cc::event(&format!("lost-{i}"), 1.0 + f64::from(i), 0, "a"))
            .collect();
        let first = cc::feed_all(&store, c, "lost", &events).await;
        assert!(!first.is_empty(), "the window alerted");
        let key = cc::key(c, "lost");
        client
            .delete_item()
            .table_name(&table)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("CORR#{}", key.id())),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S("STATE".into()),
            )
            .send()
            .await
            .expect("state deleted");
        let policy = NotifyPolicy::default();
        let mut handed_back = 0;
        for e in &events {
            let feed = Feed {
                correlation: c,
                key: key.clone(),
                event: e.clone(),
            };
            let out = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                store.correlate(&feed, &policy),
            )
            .await
            .expect("no hundred retries")
            .expect("correlated");
            for a in out.alerts {
                assert!(matches!(a.recorded, Recorded::Duplicate { .. }), "{a:?}");
                handed_back += 1;
            }
        }
        assert_eq!(
            handed_back,
            first.len(),
            "each alert handed back, none counted again"
        );
    }
}

/// Progress through a trail object only grows, and is kept per rule set.
#[tokio::test]
async fn object_progress_only_grows_and_is_kept_per_rule_set() {
    if moto::unavailable("object_progress_only_grows_and_is_kept_per_rule_set") {
        return;
    }
    use signin_watch::intake::objects::ObjectProgress;
    use signin_watch::intake::s3_notification::ObjectRef;
    let store = store().await;
    let object = ObjectRef {
        bucket: "trail".into(),
        key: format!(
            "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/{}.json.gz",
            "#".repeat(3000)
        ),
        size: Some(42),
    };
    assert_eq!(store.progress(&object, "rules-a").await.unwrap(), 0);
    store.save_progress(&object, "rules-a", 5).await.unwrap();
    store
        .save_progress(&object, "rules-a", 3)
        .await
        .expect("a smaller one is no error");
    assert_eq!(store.progress(&object, "rules-a").await.unwrap(), 5);
    assert_eq!(
        store.progress(&object, "rules-b").await.unwrap(),
        0,
        "another rule set"
    );
    let rewritten = ObjectRef {
        size: Some(43),
        ..object.clone()
    };
    assert_eq!(
        store.progress(&rewritten, "rules-a").await.unwrap(),
        0,
        "another object"
    );
}
