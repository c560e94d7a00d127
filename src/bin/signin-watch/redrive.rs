//! `signin-watch redrive QUEUE_URL`: the function's handler, built with the
//! function's settings from the environment, over what a queue of failed
//! events holds. It runs here rather than invoking the function:
//! docs/decisions/0006-flood-budget-and-redrive-in-process.md says why.

use std::process::ExitCode;

use signin_watch::adapters::sqs::SqsQueue;
use signin_watch::lambda::config::LambdaConfig;
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
        let handler = runtime::handler(&config, &sdk);
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
