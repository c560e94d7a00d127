//! The AWS side of the function: one SDK configuration, the clients built
//! from it, and the Lambda runtime loop.

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::value::RawValue;

use super::config::LambdaConfig;
use super::handler::Handler;
use crate::adapters::dynamodb_store::DynamoStore;
use crate::adapters::sns::SnsPublisher;
use crate::app::detector::Detector;
use crate::domain::time::Timestamp;

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

pub type LambdaHandler = Handler<DynamoStore, SnsPublisher>;

pub fn handler(config: &LambdaConfig, sdk: &SdkConfig) -> LambdaHandler {
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        &config.table,
        config.retention_days,
    );
    let publisher = SnsPublisher::new(aws_sdk_sns::Client::new(sdk), &config.topic_arn);
    let detector = Detector::new(
        config.detector.rules.clone(),
        config.detector.policy.clone(),
        store,
    );
    Handler::new(detector, publisher)
}

/// Serves invocations until the runtime stops.
pub async fn run(
    handler: LambdaHandler,
    metrics_namespace: String,
) -> Result<(), lambda_runtime::Error> {
    let handler = &handler;
    let namespace = metrics_namespace.as_str();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| async move {
        let (result, metrics) = handler.handle(event.payload.get().as_bytes()).await;
        // EMF lines go straight to stdout, where CloudWatch Logs picks them up.
        for line in metrics.to_emf(namespace, Timestamp::now()) {
            println!("{line}");
        }
        match result {
            Ok(summary) => Ok(serde_json::to_value(summary)?),
            Err(e) => {
                tracing::error!(request_id = %event.context.request_id, error = %e, "invocation failed");
                Err(lambda_runtime::Error::from(e.to_string()))
            }
        }
    }))
    .await
}
