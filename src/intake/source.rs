//! Where items come from: files (plain or gzip, sniffed by magic bytes, not
//! by name) and directories of them.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::bufread::MultiGzDecoder;

use crate::domain::time::Timestamp;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// File name endings read when walking a directory. Files named on the
/// command line are read whatever their name.
const RECORD_FILE_SUFFIXES: [&str; 5] = [".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz"];

/// The files to read, in a stable order: each path as given, directories
/// walked recursively in name order, keeping files with a record-file ending.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, SourceError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| SourceError::Unreadable {
            path: p.clone(),
            source,
        })?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found)?;
            // CloudTrail's layout is by account, then region, then day: read
            // in that order, one region's month would come before another's
            // first day, and correlations drop events older than their
            // lateness horizon. Read log files in delivery-time order instead.
            found.sort_by_cached_key(|f| (delivery_time(f), f.clone()));
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The delivery time in a CloudTrail log file's name
/// (`<account>_CloudTrail_<region>_YYYYMMDDTHHMMZ_<unique>.json.gz`), as
/// `YYYYMMDDTHHMM`; empty for any other file, which keeps name order ahead
/// of the log files.
pub fn delivery_time(path: &Path) -> String {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return String::new();
    };
    name.split('_')
        .find(|part| {
            let b = part.as_bytes();
            b.len() == 14
                && b[8] == b'T'
                && b[13] == b'Z'
                && b[..8].iter().chain(&b[9..13]).all(u8::is_ascii_digit)
        })
        .map(|part| part[..13].to_owned())
        .unwrap_or_default()
}

/// The end of the minute a CloudTrail log file's name (or an S3 key ending
/// in one) says it was delivered: every genuine record in it happened
/// before. `None` for any other name.
pub fn delivered_by(name: &str) -> Option<Timestamp> {
    let name = name.rsplit('/').next().unwrap_or(name);
    let stamp = delivery_time(Path::new(name));
    let b = stamp.as_bytes();
    if b.len() != 13 {
        return None;
    }
    let text = format!(
        "{}-{}-{}T{}:{}:00Z",
        &stamp[..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[9..11],
        &stamp[11..13]
    );
    Timestamp::parse(&text).map(|t| Timestamp::from_millis(t.as_millis() + 60_000))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SourceError> {
    let unreadable = |source| SourceError::Unreadable {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unreadable)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|source| SourceError::Unreadable {
                path: path.clone(),
                source,
            })?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| RECORD_FILE_SUFFIXES.iter().any(|s| n.ends_with(s)))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Bytes of a gzip file read at a time: the decoder inflates straight from
/// this buffer, so the larger it is, the fewer calls into inflate.
pub const FILE_BUFFER: usize = 256 << 10;

/// Counts bytes read from the file (before decompression), for progress.
struct Counting<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens `path`, decompressing gzip when the file starts with its magic bytes.
pub fn open(path: &Path, progress: Arc<AtomicU64>) -> io::Result<Box<dyn Read + Send>> {
    decompressing(File::open(path)?, progress)
}

/// `reader` (a file, an S3 object's body), decompressed when it starts with
/// gzip's magic bytes; the bytes read before decompression are counted in
/// `progress`.
pub fn decompressing(
    mut file: impl Read + Send + 'static,
    progress: Arc<AtomicU64>,
) -> io::Result<Box<dyn Read + Send>> {
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match file.read(&mut magic[got..])? {
            0 => break,
            n => got += n,
        }
    }
    let head = io::Cursor::new(magic[..got].to_vec());
    let reader = Counting {
        inner: head.chain(file),
        counter: progress,
    };
    if got == 2 && magic == [0x1f, 0x8b] {
        // The `bufread` decoder inflates straight from this buffer. The
        // `read` one would copy it into a 32 KiB buffer of its own, and so
        // give inflate at most 32 KiB of input per call: more calls, each
        // ending with a copy of the last 32 KiB of output into its window.
        Ok(Box::new(MultiGzDecoder::new(BufReader::with_capacity(
            FILE_BUFFER,
            reader,
        ))))
    } else {
        Ok(Box::new(reader))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_files_name_says_when_it_was_delivered() {
        let t = |s: &str| Timestamp::parse(s);
        assert_eq!(
            delivered_by(
                "AWSLogs/1/CloudTrail/eu-west-1/2024/03/02/1_CloudTrail_eu-west-1_20240302T1750Z_a.json.gz"
            ),
            t("2024-03-02T17:51:00Z")
        );
        assert_eq!(
            delivered_by("1_CloudTrail_eu-west-1_20241302T1750Z_a.json.gz"),
            None
        );
        assert_eq!(delivered_by("events/scenarios/brute-force.jsonl"), None);
        assert_eq!(delivered_by(""), None);
    }

    #[test]
    fn log_files_are_read_in_delivery_time_order() {
        let dir = std::env::temp_dir().join(format!("signin-watch-order-{}", std::process::id()));
        let files = [
            "AWSLogs/1/CloudTrail/eu-west-1/2024/03/02/1_CloudTrail_eu-west-1_20240302T1750Z_a.json.gz",
            "AWSLogs/1/CloudTrail/us-east-1/2024/03/01/1_CloudTrail_us-east-1_20240301T2355Z_b.json.gz",
            "AWSLogs/1/CloudTrail/eu-west-1/2024/03/01/1_CloudTrail_eu-west-1_20240301T0005Z_c.json.gz",
            "notes.json",
        ];
        for f in files {
            let path = dir.join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"{}").unwrap();
        }
        let got: Vec<String> = expand(std::slice::from_ref(&dir))
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            got,
            [
                "notes.json",
                "1_CloudTrail_eu-west-1_20240301T0005Z_c.json.gz",
                "1_CloudTrail_us-east-1_20240301T2355Z_b.json.gz",
                "1_CloudTrail_eu-west-1_20240302T1750Z_a.json.gz",
            ]
        );
    }
}
