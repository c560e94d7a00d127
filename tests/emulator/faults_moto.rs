//! Faults injected with aws-smithy-mocks in front of moto: throttling and
//! a message SNS refuses for good.

use crate::common;

use aws_smithy_mocks::{mock, mock_client};

use common::moto::{self, Env, attr, ok};
use common::sample_json as sample;
use signin_watch::adapters::dynamodb_store::DynamoStore;
use signin_watch::adapters::sns::SnsPublisher;
use signin_watch::app::detector::Detector;
use signin_watch::config::DetectorConfig;
use signin_watch::lambda::handler::Handler;

#[tokio::test]
async fn throttling_is_retried_with_nothing_lost_and_nothing_counted_twice() {
    if moto::unavailable("throttling_is_retried_with_nothing_lost_and_nothing_counted_twice") {
        return;
    }
    use aws_sdk_dynamodb::operation::{
        batch_get_item::BatchGetItemOutput, get_item::GetItemOutput,
        transact_write_items::TransactWriteItemsError,
    };
    use aws_sdk_dynamodb::types::error::ProvisionedThroughputExceededException;
    use aws_smithy_mocks::RuleMode;
    let env = Env::new(false).await;
    let queue = moto::subscribe_queue(&env.sdk, &env.topic, true, None).await;
    let event = serde_json::to_vec(&sample("rule1-failed-mfa-root.json")).unwrap();

    // DynamoDB throttles every write: the invocation fails as transient.
    let read =
        mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| GetItemOutput::builder().build());
    let reads = mock!(aws_sdk_dynamodb::Client::batch_get_item)
        .then_output(|| BatchGetItemOutput::builder().build());
    let throttled = mock!(aws_sdk_dynamodb::Client::transact_write_items).then_error(|| {
        TransactWriteItemsError::ProvisionedThroughputExceededException(
            ProvisionedThroughputExceededException::builder()
                .message("injected")
                .build(),
        )
    });
    let dynamodb = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&read, &reads, &throttled]
    );
    let c = DetectorConfig::default();
    let throttled_handler = Handler::new(
        Detector::new(
            c.rules,
            c.policy,
            DynamoStore::new(dynamodb, &env.table, 90),
        ),
        SnsPublisher::new(aws_sdk_sns::Client::new(&env.sdk), &env.topic.arn),
    );
    let (first, _) = throttled_handler.handle(&event).await;
    let e = first.map(|_| ()).unwrap_err();
    assert_eq!(e.error_type(), "SigninWatch.TransientStoreError", "{e}");
    assert!(
        moto::drain(&env.sdk, &queue).await.is_empty(),
        "nothing published"
    );

    // SNS throttles: transient too, after the counter was committed.
    // SNS answers throttling with an unmodelled `Throttling` error.
    let sns_throttled = mock!(aws_sdk_sns::Client::publish).then_error(|| {
        aws_sdk_sns::operation::publish::PublishError::generic(
            aws_sdk_sns::error::ErrorMetadata::builder()
                .code("Throttling")
                .message("Rate exceeded")
                .build(),
        )
    });
    let sns = mock_client!(aws_sdk_sns, [&sns_throttled]);
    let (second, _) = env
        .handler_with(SnsPublisher::new(sns, &env.topic.arn))
        .handle(&event)
        .await;
    let e = second.map(|_| ()).unwrap_err();
    assert_eq!(e.error_type(), "SigninWatch.TransientPublishError", "{e}");

    // Lambda's retry on the real services: counted once, published once.
    let retry = ok(&env.handler(), &event).await;
    let failed_mfa: Vec<_> = retry
        .detections
        .iter()
        .filter(|d| d.rule == "failed-mfa")
        .collect();
    assert_eq!(failed_mfa.len(), 1);
    assert_eq!(
        env.counters(&failed_mfa[0].group).await.count,
        1,
        "counted once"
    );
    let messages = moto::drain(&env.sdk, &queue).await;
    assert_eq!(
        messages
            .iter()
            .filter(|m| attr(m, "rule") == "failed-mfa")
            .count(),
        1,
        "published once"
    );
}

#[tokio::test]
async fn a_message_sns_refuses_for_good_names_the_finding() {
    if moto::unavailable("a_message_sns_refuses_for_good_names_the_finding") {
        return;
    }
    let env = Env::new(false).await;
    let event = serde_json::to_vec(&sample("rule1-failed-mfa-root.json")).unwrap();
    let invalid = mock!(aws_sdk_sns::Client::publish).then_error(|| {
        aws_sdk_sns::operation::publish::PublishError::InvalidParameterValueException(
            aws_sdk_sns::types::error::InvalidParameterValueException::builder()
                .message("Message attribute 'user' has an invalid value")
                .build(),
        )
    });
    let sns = mock_client!(aws_sdk_sns, [&invalid]);
    let (r, _) = env
        .handler_with(SnsPublisher::new(sns, &env.topic.arn))
        .handle(&event)
        .await;
    let e = r.map(|_| ()).unwrap_err();
    assert_eq!(
        e.error_type(),
        "SigninWatch.PublishRefused",
        "not retried endlessly: {e}"
    );
    let text = e.to_string();
    assert!(
        text.starts_with("failure that a retry does not mend"),
        "{text}"
    );
    assert!(
        text.contains("for finding ") && text.contains("invalid value"),
        "{text}"
    );
}

/// Whoever holds keys chooses the IAM path of the user that mints federated
/// sessions: 300 `#`s (each percent-encoded in a group id) once made the
/// budget's sort keys longer than DynamoDB's 1,024 bytes, and the refusal
/// was retried for ever. Every key is bounded now: counted, sent, once.
#[tokio::test]
async fn an_issuer_path_of_hashes_is_counted_and_sent_within_the_key_limits() {
    if moto::unavailable("an_issuer_path_of_hashes_is_counted_and_sent_within_the_key_limits") {
        return;
    }
    let env = Env::new(false).await;
    let queue = moto::subscribe_queue(&env.sdk, &env.topic, true, None).await;
    let mut event = sample("rule2-federated-getsignintoken-no-mfa.json");
    let issuer = &mut event["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"];
    issuer["arn"] = format!(
        "arn:aws:iam::111122223333:user/{}/ci-deployer",
        "#".repeat(300)
    )
    .into();
    let event = serde_json::to_vec(&event).unwrap();
    let handler = env.handler();
    let summary = ok(&handler, &event).await;
    assert_eq!((summary.detections.len(), summary.published), (1, 1));
    let group = &summary.detections[0].group;
    assert!(group.len() <= 512 && group.contains('~'), "{group}");
    assert_eq!(env.counters(group).await.count, 1);
    let again = ok(&handler, &event).await;
    assert_eq!((again.detections.len(), again.duplicates), (0, 1));
    assert_eq!(moto::drain(&env.sdk, &queue).await.len(), 1, "sent once");
}

/// DynamoDB's ValidationException is refused again on every retry: it is
/// permanent and named, not a transient error retried without end.
#[tokio::test]
async fn a_request_dynamodb_refuses_as_invalid_is_permanent_and_named() {
    if moto::unavailable("a_request_dynamodb_refuses_as_invalid_is_permanent_and_named") {
        return;
    }
    use aws_sdk_dynamodb::operation::{
        batch_get_item::BatchGetItemOutput, get_item::GetItemOutput,
        transact_write_items::TransactWriteItemsError,
    };
    use aws_smithy_mocks::RuleMode;
    let env = Env::new(false).await;
    let read =
        mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| GetItemOutput::builder().build());
    let reads = mock!(aws_sdk_dynamodb::Client::batch_get_item)
        .then_output(|| BatchGetItemOutput::builder().build());
    let invalid = mock!(aws_sdk_dynamodb::Client::transact_write_items).then_error(|| {
        TransactWriteItemsError::generic(
            aws_sdk_dynamodb::error::ErrorMetadata::builder()
                .code("ValidationException")
                .message("One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes")
                .build(),
        )
    });
    let dynamodb = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&read, &reads, &invalid]
    );
    let c = DetectorConfig::default();
    let handler = Handler::new(
        Detector::new(
            c.rules,
            c.policy,
            DynamoStore::new(dynamodb, &env.table, 90),
        ),
        SnsPublisher::new(aws_sdk_sns::Client::new(&env.sdk), &env.topic.arn),
    );
    let event = serde_json::to_vec(&sample("rule2-federated-getsignintoken-no-mfa.json")).unwrap();
    let (r, metrics) = handler.handle(&event).await;
    let e = r.map(|_| ()).unwrap_err();
    assert_eq!(e.error_type(), "SigninWatch.StoreRejected", "{e}");
    assert!(!e.is_transient(), "{e}");
    assert!(e.to_string().contains("range keys"), "{e}");
    // The detection and the correlations it feeds each failed for good,
    // each reported; none stopped the others.
    assert!(metrics.failed_detections >= 1, "{metrics:?}");
}

/// The findings bus goes before the topic: a throttled entry fails the
/// notification before anyone is paged (the retry puts it on the bus and
/// pages once), and an entry the bus refuses for good is set aside while
/// the topic pages, once.
#[tokio::test]
async fn a_bus_that_throttles_holds_the_page_and_one_that_refuses_does_not() {
    use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
    use aws_sdk_eventbridge::types::PutEventsResultEntry;
    use signin_watch::adapters::event_bus::EventBusPublisher;
    use signin_watch::adapters::routes::Routes;

    if moto::unavailable("a_bus_that_throttles_holds_the_page_and_one_that_refuses_does_not") {
        return;
    }
    let env = Env::new(false).await;
    let topic_inbox = moto::subscribe_queue(&env.sdk, &env.topic, true, None).await;
    let event = serde_json::to_vec(&sample("rule1-failed-mfa-iam-user.json")).unwrap();
    let failed_entry = |code: &'static str| {
        mock!(aws_sdk_eventbridge::Client::put_events).then_output(move || {
            PutEventsOutput::builder()
                .failed_entry_count(1)
                .entries(
                    PutEventsResultEntry::builder()
                        .error_code(code)
                        .error_message("as the service says it")
                        .build(),
                )
                .build()
        })
    };
    let bus = moto::unique("findings");
    let routes = |client: aws_sdk_eventbridge::Client| {
        Routes::new(
            SnsPublisher::new(aws_sdk_sns::Client::new(&env.sdk), &env.topic.arn),
            Some(EventBusPublisher::new(client, &bus)),
        )
    };

    let throttled = failed_entry("ThrottlingException");
    let (first, _) = env
        .handler_with(routes(mock_client!(aws_sdk_eventbridge, [&throttled])))
        .handle(&event)
        .await;
    let e = first.map(|_| ()).unwrap_err();
    assert_eq!(e.error_type(), "SigninWatch.TransientPublishError", "{e}");
    assert!(
        moto::drain(&env.sdk, &topic_inbox).await.is_empty(),
        "nobody paged yet"
    );

    // The retry, with a bus that takes it.
    let events = aws_sdk_eventbridge::Client::new(&env.sdk);
    events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("create bus");
    let retried = ok(&env.handler_with(routes(events)), &event).await;
    assert_eq!(retried.published, 1, "sent on the retry");
    assert_eq!(
        moto::drain(&env.sdk, &topic_inbox).await.len(),
        1,
        "paged once"
    );

    // A bus that refuses the entry for good: set aside, the page goes out
    // once, and the record is done (a retry would find it sent).
    let refused = failed_entry("MalformedDetail");
    let other = serde_json::to_vec(&sample("rule1-failed-mfa-root.json")).unwrap();
    let handler = env.handler_with(routes(mock_client!(aws_sdk_eventbridge, [&refused])));
    let summary = ok(&handler, &other).await;
    assert_eq!(summary.published, 1);
    assert_eq!(refused.num_calls(), 1);
    let again = ok(&handler, &other).await;
    assert_eq!(
        (again.published, again.duplicates),
        (0, 1),
        "not sent again"
    );
    assert_eq!(
        moto::drain(&env.sdk, &topic_inbox).await.len(),
        1,
        "paged once"
    );
}
