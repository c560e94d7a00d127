//! `signin-watch redrive QUEUE_URL`: the function's handler, built with the
//! function's settings from the environment, over what a queue of failed
//! events holds (docs/decisions/0006-redrive-in-process.md says why it runs
//! here rather than invoking the function).

use std::process::ExitCode;

use signin_watch::adapters::dynamodb_store::DynamoStore;
use signin_watch::adapters::s3::S3Objects;
use signin_watch::adapters::sns::SnsPublisher;
use signin_watch::adapters::sqs::SqsQueue;
use signin_watch::app::detector::Detector;
use signin_watch::lambda::config::LambdaConfig;
use signin_watch::lambda::handler::Handler;
use signin_watch::lambda::runtime;

use crate::cli::RedriveArgs;
use crate::fail;

pub fn redrive(args: &RedriveArgs) -> ExitCode {
    let config = match LambdaConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            return fail(&format!(
                "invalid setting {e} (redrive uses the function's settings)"
            ));
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("starting the runtime: {e}")),
    };
    rt.block_on(async {
        let sdk = runtime::sdk_config(&config).await;
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &config.table,
            config.retention_days,
        );
        let publisher = SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), &config.topic_arn);
        let objects = S3Objects::new(signin_watch::adapters::s3::client(&sdk));
        let detector = Detector::new(config.detector.rules, config.detector.policy, store);
        let handler = Handler::new(detector, publisher)
            .with_objects(objects)
            .accepting_any_shape(config.accept_any_shape);
        let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &args.queue_url);
        match handler.redrive(&queue, args.max).await {
            Ok(s) => {
                eprintln!(
                    "signin-watch redrive: {} messages handled and deleted, {} failed again (left on the queue), {} detections counted, {} notifications sent",
                    s.redriven, s.failed, s.detections, s.published
                );
                if s.failed > 0 {
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                }
            }
            Err(e) => fail(&e.to_string()),
        }
    })
}
