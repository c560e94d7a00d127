//! The Lambda function (cargo-lambda builds it as `bootstrap`). The
//! composition root: read the settings once, build the SDK clients once,
//! hand them to the handler.
#![forbid(unsafe_code)]
// The SDK's nested futures are deep; computing their layout needs more than the default.
#![recursion_limit = "256"]

use signin_watch::adapters::dynamodb_store::DynamoStore;
use signin_watch::adapters::s3::S3Objects;
use signin_watch::adapters::sns::SnsPublisher;
use signin_watch::adapters::sqs::SqsQueue;
use signin_watch::app::detector::Detector;
use signin_watch::lambda::config::LambdaConfig;
use signin_watch::lambda::handler::Handler;
use signin_watch::lambda::runtime;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = match LambdaConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            // Plain text on stderr (Lambda logs it as the init failure), not Rust's Debug form.
            eprintln!("signin-watch: invalid configuration: {e}");
            std::process::exit(1);
        }
    };
    let sdk = runtime::sdk_config(&config).await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &config.table,
        config.retention_days,
    );
    let publisher = SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), &config.topic_arn);
    let objects = S3Objects::new(signin_watch::adapters::s3::client(&sdk));
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let redrive: Vec<SqsQueue> = config
        .redrive_queue_urls
        .iter()
        .map(|url| SqsQueue::new(sqs.clone(), url))
        .collect();
    let detector = Detector::new(config.detector.rules, config.detector.policy, store);
    let handler = Handler::new(detector, publisher)
        .with_objects(objects)
        .accepting_any_shape(config.accept_any_shape);
    runtime::run(handler, redrive, config.metrics_namespace).await
}
