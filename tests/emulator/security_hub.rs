//! Security Hub on moto: the function imports each notification as the
//! ASFF finding `replay --format asff` prints, one per group, and a later
//! notification of the group updates it (a later `UpdatedAt`, the count).

use std::collections::BTreeMap;

use serde_json::Value;
use signin_watch::adapters::event_bus::EventBusPublisher;
use signin_watch::adapters::routes::Routes;
use signin_watch::adapters::security_hub::SecurityHubImporter;
use signin_watch::adapters::sns::SnsPublisher;
use signin_watch::render::ProductTarget;

use crate::common::{self, moto};

/// moto's account and the SDK's region in the tests.
const PRODUCT: &str = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default";

/// What Security Hub holds: each finding by its Id.
async fn findings(hub: &aws_sdk_securityhub::Client) -> BTreeMap<String, Value> {
    // moto keeps the imported finding as it came; the SDK reads it back.
    let out = hub.get_findings().send().await.expect("get findings");
    out.findings()
        .iter()
        .map(|f| {
            let fields: BTreeMap<String, String> = f
                .product_fields()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            (
                f.id().unwrap_or_default().to_owned(),
                serde_json::json!({
                    "UpdatedAt": f.updated_at(),
                    "AwsAccountId": f.aws_account_id(),
                    "ProductArn": f.product_arn(),
                    "GeneratorId": f.generator_id(),
                    "Title": f.title(),
                    "Severity": f.severity().and_then(|s| s.label()).map(|l| l.as_str().to_owned()),
                    "Types": f.types(),
                    "Resources": f.resources().iter().map(|r| r.r#type().to_owned()).collect::<Vec<_>>(),
                    "ProductFields": fields,
                }),
            )
        })
        .collect()
}

/// On a thread of its own with a larger stack: the SDK's reader of
/// `GetFindings` (which only this test calls) needs more than a test
/// thread's 2 MiB in a debug build.
#[test]
fn notifications_are_imported_one_finding_per_group_and_updated() {
    if moto::unavailable("notifications_are_imported_one_finding_per_group_and_updated") {
        return;
    }
    std::thread::Builder::new()
        .stack_size(32 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(imported_and_updated())
        })
        .expect("a thread")
        .join()
        .expect("the test's thread ends without a panic");
}

async fn imported_and_updated() {
    let env = moto::Env::new(false).await;
    let hub = aws_sdk_securityhub::Client::new(&env.sdk);
    let target = ProductTarget::from_product_arn(PRODUCT).expect("a default product");
    let handler = env.handler_with(Routes::new(
        SnsPublisher::new(aws_sdk_sns::Client::new(&env.sdk), &env.topic.arn),
        Routes::new(
            Some(SecurityHubImporter::new(hub.clone(), target)),
            None::<EventBusPublisher>,
        ),
    ));
    let mut published = 0;
    for file in common::event_files() {
        published += moto::ok(&handler, &std::fs::read(&file).expect("a sample"))
            .await
            .published;
    }
    let held = findings(&hub).await;
    assert!(published > 3, "the samples notify: {published}");
    // Replay's ASFF of the same samples, for the same product.
    let files: Vec<String> = common::event_files()
        .iter()
        .map(|f| f.to_str().expect("UTF-8").to_owned())
        .collect();
    let mut args = vec![
        "--no-progress",
        "--format",
        "asff",
        "--product-arn",
        PRODUCT,
    ];
    args.extend(files.iter().map(String::as_str));
    let out = common::cli::replay(&args);
    let replayed: BTreeMap<String, Value> = common::cli::json_lines(&out)
        .into_iter()
        .filter(|f| f["ProductFields"]["signin-watch/notify"] == "true")
        .map(|f| (f["Id"].as_str().expect("an Id").to_owned(), f))
        .collect();
    assert_eq!(
        held.keys().collect::<Vec<_>>(),
        replayed.keys().collect::<Vec<_>>(),
        "one finding per notified group, with replay's Ids"
    );
    for (id, h) in &held {
        let r = &replayed[id];
        for field in [
            "AwsAccountId",
            "ProductArn",
            "GeneratorId",
            "Title",
            "Types",
        ] {
            assert_eq!(h[field], r[field], "{id}: {field}");
        }
        assert_eq!(h["Severity"], r["Severity"]["Label"], "{id}");
        assert_eq!(
            h["ProductFields"]["signin-watch/group"],
            r["ProductFields"]["signin-watch/group"]
        );
    }

    // The same group two hours later, past the suppression window: the
    // finding is updated, not added.
    let mut later = common::sample_json("rule1-failed-mfa-iam-user.json");
    later["detail"]["eventID"] = "a-later-failed-mfa".into();
    let time = later["detail"]["eventTime"]
        .as_str()
        .expect("a time")
        .to_owned();
    let at = signin_watch::domain::time::Timestamp::parse(&time).expect("a time");
    let two_hours =
        signin_watch::domain::time::Timestamp::from_millis(at.as_millis() + 2 * 3_600_000);
    later["detail"]["eventTime"] = two_hours.to_string().into();
    let summary = moto::ok(&handler, later.to_string().as_bytes()).await;
    assert_eq!(summary.published, 1, "notified again after the window");
    let after = findings(&hub).await;
    assert_eq!(after.len(), held.len(), "updated, not added");
    let group = &summary.detections[0].group;
    let (id, updated) = after
        .iter()
        .find(|(_, f)| f["ProductFields"]["signin-watch/group"] == group.as_str())
        .expect("the group's finding");
    assert_eq!(updated["ProductFields"]["signin-watch/count"], "2");
    let stamp = |f: &Value| {
        signin_watch::domain::time::Timestamp::parse(f["UpdatedAt"].as_str().expect("UpdatedAt"))
            .expect("ISO 8601")
    };
    assert!(
        stamp(updated) > stamp(&held[id]),
        "a later UpdatedAt: {} then {}",
        held[id]["UpdatedAt"],
        updated["UpdatedAt"]
    );
}
