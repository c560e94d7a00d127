//! Where the trail bucket's objects come from: the port the function reads
//! them through (S3 in the function, files or fakes in tests).

use std::future::Future;
use std::io::Read;

use super::s3_notification::ObjectRef;
use crate::domain::store::StoreError;

type Source = Box<dyn std::error::Error + Send + Sync>;

/// Why an object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// Worth retrying: throttling, a timeout, a connection cut.
    #[error("s3://{bucket}/{key} is unavailable for now: {source}")]
    Unavailable {
        bucket: String,
        key: String,
        #[source]
        source: Source,
    },
    /// Not worth retrying as it is: missing, access denied, a bad body.
    #[error("s3://{bucket}/{key} cannot be read: {source}")]
    Unreadable {
        bucket: String,
        key: String,
        #[source]
        source: Source,
    },
    /// The function was given no way to read objects.
    #[error("s3://{bucket}/{key}: this function is not set up to read the trail bucket")]
    NotConfigured { bucket: String, key: String },
}

impl ObjectError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ObjectError::Unavailable { .. })
    }
}

/// Opens objects for reading. The reader blocks: read it on a blocking
/// thread (`tokio::task::spawn_blocking`), never on the runtime's own.
pub trait ObjectSource {
    fn open(
        &self,
        object: &ObjectRef,
    ) -> impl Future<Output = Result<Box<dyn Read + Send>, ObjectError>> + Send;
}

/// How far a trail object was read: the items before a position in the
/// object (its items' order, the same on every read) are counted, so that a
/// retry of an object too large for one invocation skips them instead of
/// starting over. Counting stays exact without it (each eventID counts
/// once); it saves the time.
pub trait ObjectProgress {
    /// How far `object` was read with the rule set `rules` (its
    /// fingerprint): the items before this position are counted.
    fn progress(
        &self,
        object: &ObjectRef,
        rules: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Records that the items before `done` are counted (never less than
    /// recorded before).
    fn save_progress(
        &self,
        object: &ObjectRef,
        rules: &str,
        done: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What progress is kept under: the object (its size too, so that an
/// object written again under its key is read anew) and the rule set.
pub fn progress_key(object: &ObjectRef, rules: &str) -> String {
    let size = object
        .size
        .map_or_else(|| "?".to_owned(), |s| s.to_string());
    format!("{}/{}#{size}#{rules}", object.bucket, object.key)
}

/// No object source: every open fails, saying so.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObjects;

impl ObjectSource for NoObjects {
    async fn open(&self, object: &ObjectRef) -> Result<Box<dyn Read + Send>, ObjectError> {
        Err(ObjectError::NotConfigured {
            bucket: object.bucket.clone(),
            key: object.key.clone(),
        })
    }
}

/// Objects from a directory laid out as the bucket (`DIR/BUCKET/KEY`): the
/// tests' and `cargo lambda invoke`'s stand-in for S3.
#[derive(Debug, Clone)]
pub struct DirObjects {
    pub root: std::path::PathBuf,
}

impl ObjectSource for DirObjects {
    async fn open(&self, object: &ObjectRef) -> Result<Box<dyn Read + Send>, ObjectError> {
        let path = self.root.join(&object.bucket).join(&object.key);
        std::fs::File::open(&path)
            .map(|f| Box::new(f) as Box<dyn Read + Send>)
            .map_err(|e| ObjectError::Unreadable {
                bucket: object.bucket.clone(),
                key: object.key.clone(),
                source: Box::new(e),
            })
    }
}
