//! CloudTrail objects from S3: the function's bucket path, `replay s3://`
//! and `backfill`. Bodies are streamed, never held whole.

use std::io::Read;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use tokio_util::io::SyncIoBridge;

use crate::intake::notification::ObjectRef;
use crate::intake::objects::{ObjectError, ObjectSource};

#[derive(Clone)]
pub struct S3Objects {
    client: Client,
}

/// An S3 client for `sdk`: path-style addressing when an endpoint
/// override is set (`AWS_ENDPOINT_URL`: a local emulator has no bucket
/// subdomains).
pub fn client(sdk: &aws_config::SdkConfig) -> Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    Client::from_conf(config)
}

impl S3Objects {
    pub fn new(client: Client) -> Self {
        S3Objects { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// Whether a failed call may succeed when tried again.
fn transient<E>(e: &SdkError<E>) -> bool {
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ResponseError(_) => true,
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            status == 429 || status >= 500
        }
        _ => false,
    }
}

impl ObjectSource for S3Objects {
    /// The object's body as a blocking reader: it must be read inside
    /// `spawn_blocking`, on the runtime that opened it.
    async fn open(&self, object: &ObjectRef) -> Result<Box<dyn Read + Send>, ObjectError> {
        let out = self
            .client
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .send()
            .await
            .map_err(|e: SdkError<GetObjectError>| {
                let (bucket, key) = (object.bucket.clone(), object.key.clone());
                if transient(&e) {
                    ObjectError::Unavailable {
                        bucket,
                        key,
                        source: Box::new(e),
                    }
                } else {
                    ObjectError::Unreadable {
                        bucket,
                        key,
                        source: Box::new(e),
                    }
                }
            })?;
        Ok(Box::new(SyncIoBridge::new(out.body.into_async_read())))
    }
}
