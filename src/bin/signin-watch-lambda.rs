//! The Lambda function (cargo-lambda builds it as `bootstrap`). The
//! composition root: read the settings once, build the SDK clients once,
//! hand them to the handler.
#![forbid(unsafe_code)]
// The SDK's nested futures are deep; computing their layout needs more than the default.
#![recursion_limit = "256"]

use signin_watch::adapters::sqs::SqsQueue;
use signin_watch::domain::rules::event_names::Reach;
use signin_watch::lambda::config::LambdaConfig;
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
    if let Some(warning) = config
        .detector
        .rules
        .locator()
        .staleness(signin_watch::domain::time::Timestamp::now())
    {
        tracing::warn!(
            source = config.detector.rules.locator().source(),
            "{warning}"
        );
    }
    for (rule, why) in &config.detector.inactive {
        tracing::warn!(rule = %rule, reason = %why, "the rule is inactive: give its placeholders values (SIGNIN_WATCH_PLACEHOLDERS)");
    }
    // A rule the bus's pattern starves fires only on the bucket path: say so.
    for rule in config.detector.rules.rules() {
        if let Reach::Missing(names) = rule.reach() {
            tracing::warn!(
                rule = %rule.name,
                event_names = ?names,
                "the template's EventBridge pattern does not pass these event names: the rule fires on them only through the trail bucket (deploy with ExtraEventNames from `signin-watch rules pattern`)"
            );
        }
    }
    let sdk = runtime::sdk_config(&config).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let redrive: Vec<SqsQueue> = config
        .redrive_queue_urls
        .iter()
        .map(|url| SqsQueue::new(sqs.clone(), url))
        .collect();
    let handler = runtime::handler(&config, &sdk).with_redrive_queues(redrive);
    runtime::run(handler, config.metrics_namespace).await
}
