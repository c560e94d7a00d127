//! The AWS side of the function: one SDK configuration, and the Lambda
//! runtime loop around the handler.

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::value::RawValue;

use super::config::LambdaConfig;
use super::handler::Handler;
use crate::adapters::dynamodb_store::DynamoStore;
use crate::adapters::event_bus::EventBusPublisher;
use crate::adapters::routes::Routes;
use crate::adapters::s3::S3Objects;
use crate::adapters::security_hub::SecurityHubImporter;
use crate::adapters::sns::SnsPublisher;
use crate::app::detector::Detector;
use crate::domain::notify::Notifier;
use crate::domain::store::{BudgetStore, CounterStore};
use crate::domain::time::Timestamp;
use crate::intake::failed_events::FailedEvents;
use crate::intake::objects::{ObjectProgress, ObjectSource};

/// The SDK configuration: region and credentials from the environment,
/// endpoints from `AWS_ENDPOINT_URL` when set (a local emulator), timeouts
/// below the function's own.
pub async fn sdk_config(config: &LambdaConfig) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .operation_timeout(config.operation_timeout)
        .operation_attempt_timeout(config.attempt_timeout)
        .connect_timeout(
            config
                .attempt_timeout
                .min(std::time::Duration::from_secs(2)),
        )
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts)
        .load()
        .await
}

/// Where the function's notifications go: the findings bus and Security
/// Hub when the deployment switches them on, then the topic.
pub type FunctionRoutes =
    Routes<SnsPublisher, Routes<Option<SecurityHubImporter>, Option<EventBusPublisher>>>;

/// The function's handler on DynamoDB, SNS and S3, as `config` says: the
/// function and `signin-watch redrive` build the same one.
pub fn handler(
    config: &LambdaConfig,
    sdk: &SdkConfig,
) -> Handler<DynamoStore, FunctionRoutes, S3Objects> {
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        &config.table,
        config.retention_days,
    );
    let publisher = Routes::new(
        SnsPublisher::new(aws_sdk_sns::Client::new(sdk), &config.topic_arn)
            .with_machine_body(config.machine_body),
        // The bus, then Security Hub.
        Routes::new(
            config.security_hub.as_ref().map(|target| {
                SecurityHubImporter::new(aws_sdk_securityhub::Client::new(sdk), target.clone())
            }),
            config
                .event_bus
                .as_ref()
                .map(|bus| EventBusPublisher::new(aws_sdk_eventbridge::Client::new(sdk), bus)),
        ),
    );
    let objects = S3Objects::new(crate::adapters::s3::client(sdk));
    let detector = Detector::new(
        config.detector.rules.clone(),
        config.detector.policy.clone(),
        store,
    );
    Handler::new(detector, publisher)
        .with_objects(objects)
        .accepting_any_shape(config.accept_any_shape)
        .with_trail_queue(config.trail_queue_arn.clone())
        .with_max_object_bytes(config.max_object_mb << 20)
}

/// Serves invocations until the runtime stops. A failed invocation returns
/// the handler's error to Lambda as a `Diagnostic` whose `errorType` says
/// what happened.
pub async fn run<S, N, O, Q>(
    handler: Handler<S, N, O, Q>,
    metrics_namespace: String,
) -> Result<(), lambda_runtime::Error>
where
    S: CounterStore + BudgetStore + ObjectProgress + Sync,
    N: Notifier + Sync,
    O: ObjectSource + Sync,
    Q: FailedEvents + Sync,
{
    let handler = &handler;
    let namespace = metrics_namespace.as_str();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| async move {
        let payload = event.payload.get().as_bytes();
        let deadline = deadline_of(event.context.deadline);
        let (result, metrics) = handler.handle_by(payload, Some(deadline)).await;
        // EMF lines go straight to stdout, where CloudWatch Logs picks them up.
        for line in metrics.to_emf(namespace, Timestamp::now()) {
            println!("{line}");
        }
        result.inspect_err(|e| {
            tracing::error!(request_id = %event.context.request_id, error_type = e.error_type(), error = %e, "invocation failed");
        })
    }))
    .await
}

/// The invocation's deadline (milliseconds since the epoch, as Lambda gives
/// it) on the monotonic clock.
fn deadline_of(deadline_ms: u64) -> std::time::Instant {
    let now_ms = u64::try_from(Timestamp::now().as_millis()).unwrap_or(0);
    std::time::Instant::now() + std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}
