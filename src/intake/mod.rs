//! Intake: bytes in, records out. Lenient about shapes, exact about errors,
//! never holding a whole archive in memory.

pub mod candidates;
pub mod decode;
pub mod envelopes;
pub mod failed_events;
pub mod objects;
pub mod prefilter;
mod repair;
pub mod s3_notification;
pub mod scan;
pub mod source;

pub use decode::{
    DecodeError, Decoded, ItemKind, decode, decode_document, decode_item, decode_record, read_item,
};
pub use prefilter::Prefilter;
pub use scan::{ItemSpan, Malformed, READ_CHUNK, Scanned, Splitter};
