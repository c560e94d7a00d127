//! s3:// inputs for `replay`, and `backfill`: the S3 and SQS clients, built
//! once from the standard credential chain (`AWS_ENDPOINT_URL` reaches a
//! local emulator), on a runtime that outlives the replay.

use std::io::Write;
use std::time::Instant;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use crate::cli::{BackfillArgs, DaysArgs};
use signin_watch::adapters::s3::{self, DayRange, Listing, S3Objects};
use signin_watch::app::replay::Replay;
use signin_watch::domain::time::Timestamp;
use signin_watch::intake::s3_notification::{ObjectRef, notification_for};

/// Objects a replay reads at once when its inputs are in a bucket: each
/// worker mostly waits on the network.
pub const OBJECT_WORKERS: usize = 8;

pub struct S3Inputs {
    runtime: tokio::runtime::Runtime,
    sdk: SdkConfig,
    objects: S3Objects,
}

impl S3Inputs {
    pub fn new() -> Result<Self, String> {
        // Several threads: workers read bodies through this runtime's handle.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("starting the S3 runtime: {e}"))?;
        let sdk = runtime.block_on(
            aws_config::defaults(BehaviorVersion::latest())
                .http_client(
                    aws_smithy_http_client::Builder::new()
                        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                        .build_https(),
                )
                .load(),
        );
        let objects = S3Objects::new(s3::client(&sdk));
        Ok(S3Inputs {
            runtime,
            sdk,
            objects,
        })
    }

    /// The log files of `url` (s3://bucket/prefix) within `days`.
    pub fn list(&self, url: &str, days: &DaysArgs) -> Result<Listing, String> {
        let (bucket, prefix) =
            s3::parse_url(url).ok_or_else(|| format!("{url:?} is not s3://BUCKET/PREFIX"))?;
        let range = day_range(days)?;
        self.runtime
            .block_on(self.objects.list_trail(&bucket, &prefix, range))
            .map_err(|e| e.to_string())
    }

    /// `replay` with `objects` read from the bucket, through this runtime.
    pub fn replay(&self, replay: Replay, objects: Vec<ObjectRef>) -> Replay {
        replay.with_objects(objects, self.objects.clone(), self.runtime.handle().clone())
    }
}

fn day_range(days: &DaysArgs) -> Result<Option<DayRange>, String> {
    match (days.since, days.until) {
        (None, None) => Ok(None),
        (Some(since), until) => {
            let until = until.unwrap_or_else(Timestamp::now);
            if until < since {
                return Err("--until is before --since".into());
            }
            Ok(Some(DayRange { since, until }))
        }
        (None, Some(_)) => Err("--until needs --since".into()),
    }
}

/// SQS takes at most ten messages per SendMessageBatch.
const BATCH: usize = 10;

/// Lists the objects in range and enqueues one S3 notification per object.
pub fn backfill(args: &BackfillArgs) -> Result<String, String> {
    let started = Instant::now();
    let inputs = S3Inputs::new()?;
    let listing = inputs.list(&args.url, &args.days)?;
    let sqs = aws_sdk_sqs::Client::new(&inputs.sdk);
    let region = inputs
        .sdk
        .region()
        .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string());
    let total = listing.objects.len();
    let show = !args.no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (mut sent, mut batches) = (0usize, 0u64);
    for chunk in listing.objects.chunks(BATCH) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, o)| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .message_body(notification_for(std::slice::from_ref(o), &region))
                    .build()
                    .map_err(|e| format!("building a message: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = inputs
            .runtime
            .block_on(
                sqs.send_message_batch()
                    .queue_url(&args.queue)
                    .set_entries(Some(entries))
                    .send(),
            )
            .map_err(|e| format!("SendMessageBatch to {}: {e:?}", args.queue))?;
        batches += 1;
        if let Some(f) = out.failed().first() {
            return Err(format!(
                "SendMessageBatch refused a message ({} sent so far): {} {}",
                sent,
                f.code(),
                f.message().unwrap_or_default()
            ));
        }
        sent += chunk.len();
        if show {
            let _ = write!(std::io::stderr(), "\r{sent}/{total} objects enqueued");
        }
    }
    if show {
        let _ = writeln!(std::io::stderr());
    }
    Ok(format!(
        "signin-watch backfill: {total} objects listed ({} prefixes, {} list requests), \
         {sent} messages sent in {batches} SendMessageBatch requests; {:.2} s",
        listing.prefixes.len(),
        listing.requests,
        started.elapsed().as_secs_f64()
    ))
}
