//! CloudTrail objects from S3: the function's bucket path, `replay s3://`
//! and `backfill`. Bodies are streamed, never held whole.

use std::io::Read;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;

use crate::intake::objects::{ObjectError, ObjectSource};
use crate::intake::s3_notification::ObjectRef;

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

/// The bytes one ranged GetObject reads. Each range is read whole as soon
/// as it is asked for, so no connection waits on the detector (S3 and
/// emulators drop a connection left unread); most trail objects (five
/// minutes of one region) fit in one range.
pub const RANGE_BYTES: u64 = 4 << 20;

impl S3Objects {
    /// One range of `object`, read whole: its bytes, the object's size, and
    /// its ETag.
    async fn range(
        &self,
        object: &ObjectRef,
        start: u64,
        etag: Option<&str>,
    ) -> Result<Option<(Vec<u8>, u64, Option<String>)>, ObjectError> {
        let failed = |e: Box<dyn std::error::Error + Send + Sync>, transient: bool| {
            let (bucket, key) = (object.bucket.clone(), object.key.clone());
            if transient {
                ObjectError::Unavailable {
                    bucket,
                    key,
                    source: e,
                }
            } else {
                ObjectError::Unreadable {
                    bucket,
                    key,
                    source: e,
                }
            }
        };
        let out = self
            .client
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .range(format!("bytes={start}-{}", start + RANGE_BYTES - 1))
            // Every range of one version: an object replaced mid-read fails.
            .set_if_match(etag.map(str::to_owned))
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            // An empty object has no first byte to ask for.
            Err(SdkError::ServiceError(e)) if start == 0 && e.raw().status().as_u16() == 416 => {
                return Ok(None);
            }
            Err(e) => {
                let t = transient(&e);
                return Err(failed(Box::new(e as SdkError<GetObjectError>), t));
            }
        };
        let size = out
            .content_range()
            .and_then(|r| r.rsplit('/').next())
            .and_then(|n| n.parse().ok())
            .or_else(|| out.content_length().and_then(|n| u64::try_from(n).ok()))
            .unwrap_or(0);
        let etag = out.e_tag().map(str::to_owned);
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| failed(Box::new(e), true))?
            .to_vec();
        Ok(Some((body, size, etag)))
    }
}

impl ObjectSource for S3Objects {
    /// The object's body as a blocking reader, fetched a range at a time:
    /// it must be read inside `spawn_blocking`, on the runtime that opened it.
    async fn open(&self, object: &ObjectRef) -> Result<Box<dyn Read + Send>, ObjectError> {
        let first = self.range(object, 0, None).await?;
        let (chunk, size, etag) = first.unwrap_or_default();
        Ok(Box::new(Ranges {
            objects: self.clone(),
            object: object.clone(),
            runtime: tokio::runtime::Handle::current(),
            next: chunk.len() as u64,
            chunk,
            at: 0,
            size,
            etag,
        }))
    }
}

/// A blocking reader over an object's ranges.
struct Ranges {
    objects: S3Objects,
    object: ObjectRef,
    runtime: tokio::runtime::Handle,
    chunk: Vec<u8>,
    /// How much of `chunk` was read.
    at: usize,
    /// The offset of the next range to fetch.
    next: u64,
    size: u64,
    etag: Option<String>,
}

impl Read for Ranges {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.chunk.len() && self.next < self.size {
            let fetched = self
                .runtime
                .block_on(
                    self.objects
                        .range(&self.object, self.next, self.etag.as_deref()),
                )
                .map_err(std::io::Error::other)?;
            let chunk = fetched.map(|(c, _, _)| c).unwrap_or_default();
            if chunk.is_empty() {
                return Err(std::io::Error::other(ObjectError::Unreadable {
                    bucket: self.object.bucket.clone(),
                    key: self.object.key.clone(),
                    source: format!("an empty range at byte {} of {}", self.next, self.size).into(),
                }));
            }
            self.next += chunk.len() as u64;
            self.chunk = chunk;
            self.at = 0;
        }
        let rest = &self.chunk[self.at..];
        let n = buf.len().min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
}

/// Days, inclusive, whose partitions a listing reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub since: crate::domain::time::Timestamp,
    pub until: crate::domain::time::Timestamp,
}

const DAY_MS: i64 = 86_400_000;

impl DayRange {
    /// The partition suffixes `YYYY/MM/DD/` of every day in the range.
    pub fn partitions(&self) -> Vec<String> {
        let first = self.since.as_millis().div_euclid(DAY_MS);
        let last = self.until.as_millis().div_euclid(DAY_MS);
        (first..=last)
            .map(|d| {
                let day = crate::domain::time::Timestamp::from_millis(d * DAY_MS).to_string();
                format!("{}/{}/{}/", &day[0..4], &day[5..7], &day[8..10])
            })
            .collect()
    }
}

/// What a listing found, and what it asked S3.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub objects: Vec<ObjectRef>,
    /// The prefixes listed, in order (partitions and the levels above them).
    pub prefixes: Vec<String>,
    pub requests: u64,
}

/// An `s3://bucket/prefix` URL, split.
pub fn parse_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_owned(), prefix.to_owned()))
}

impl S3Objects {
    /// One level (or, without a delimiter, everything) under `prefix`.
    async fn list_level(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: bool,
        listing: &mut Listing,
    ) -> Result<(Vec<String>, Vec<ObjectRef>), ObjectError> {
        let mut prefixes = Vec::new();
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        listing.prefixes.push(prefix.to_owned());
        loop {
            let mut req = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token.clone());
            if delimiter {
                req = req.delimiter("/");
            }
            listing.requests += 1;
            let out = req.send().await.map_err(|e| {
                let (bucket, key) = (bucket.to_owned(), prefix.to_owned());
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
            prefixes.extend(
                out.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_owned)),
            );
            objects.extend(out.contents().iter().filter_map(|o| {
                Some(ObjectRef {
                    bucket: bucket.to_owned(),
                    key: o.key()?.to_owned(),
                    size: o.size().and_then(|s| u64::try_from(s).ok()),
                })
            }));
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok((prefixes, objects))
    }

    /// The CloudTrail log files under `prefix`. With `days`, only the date
    /// partitions of those days are listed: the levels above them
    /// (`AWSLogs/[o-org/]ACCOUNT/CloudTrail/REGION/`) are walked one at a
    /// time, then `REGION/YYYY/MM/DD/` for each day. Keys come back sorted
    /// by delivery time, then name.
    pub async fn list_trail(
        &self,
        bucket: &str,
        prefix: &str,
        days: Option<DayRange>,
    ) -> Result<Listing, ObjectError> {
        use crate::intake::s3_notification::{TrailObject, trail_object};
        let mut listing = Listing::default();
        let mut found = Vec::new();
        match days {
            None => {
                let (_, objects) = self.list_level(bucket, prefix, false, &mut listing).await?;
                found = objects;
            }
            Some(days) => {
                // Breadth first, down to the regions of each trail.
                let mut regions = Vec::new();
                let mut level = vec![prefix.to_owned()];
                for _ in 0..8 {
                    let mut next = Vec::new();
                    for p in &level {
                        if is_region_prefix(p) {
                            regions.push(p.clone());
                            continue;
                        }
                        let (children, _) = self.list_level(bucket, p, true, &mut listing).await?;
                        next.extend(children.into_iter().filter(|c| {
                            !c.ends_with("/CloudTrail-Digest/")
                                && !c.ends_with("/CloudTrail-Insight/")
                        }));
                    }
                    if next.is_empty() {
                        break;
                    }
                    level = next;
                }
                for region in &regions {
                    for day in days.partitions() {
                        let (_, objects) = self
                            .list_level(bucket, &format!("{region}{day}"), false, &mut listing)
                            .await?;
                        found.extend(objects);
                    }
                }
            }
        }
        found.retain(|o| trail_object(&o.key) == TrailObject::Log);
        found.sort_by_cached_key(|o| {
            (
                crate::intake::source::delivery_time(std::path::Path::new(&o.key)),
                o.key.clone(),
            )
        });
        listing.objects = found;
        Ok(listing)
    }
}

/// `.../CloudTrail/REGION/`: the level whose children are date partitions.
fn is_region_prefix(prefix: &str) -> bool {
    let parts: Vec<&str> = prefix.trim_end_matches('/').split('/').collect();
    parts.len() >= 2 && parts[parts.len() - 2] == "CloudTrail"
}
