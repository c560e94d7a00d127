//! Stable ids from SHA-256, written as lowercase hex.

use sha2::{Digest, Sha256};

/// `bytes` as lowercase hex, two characters a byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The first `len` bytes (at most 32) of the SHA-256 of `chunks`, one after
/// the other, in hex.
pub fn sha256_hex<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, len: usize) -> String {
    let mut h = Sha256::new();
    for chunk in chunks {
        h.update(chunk);
    }
    let digest = h.finalize();
    hex(&digest[..len.min(digest.len())])
}

/// Bytes of the hash that stands for what [`bounded`] cuts (256 bits, as hex).
const CUT_HASH_BYTES: usize = 32;

/// `text` unchanged when it has at most `max` bytes; else a readable prefix
/// of it, `~`, and the SHA-256 of the whole text, `max` bytes at most. Two
/// texts give two results (as SHA-256 tells them apart), so a key made this
/// way stays unique whatever its parts' length: whoever signs in chooses
/// names and paths, and DynamoDB refuses a partition key over 2,048 bytes
/// and a sort key over 1,024.
pub fn bounded(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let hash = sha256_hex([text.as_bytes()], CUT_HASH_BYTES);
    let mut keep = max.saturating_sub(hash.len() + 1);
    while !text.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}~{hash}", &text[..keep])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_text_is_unchanged_when_short_and_unique_when_cut() {
        assert_eq!(bounded("GROUP#a#b".into(), 64), "GROUP#a#b");
        let long = |c: char| format!("GROUP#{}", c.to_string().repeat(3_000));
        let a = bounded(long('#'), 1_024);
        let b = bounded(long('%'), 1_024);
        assert!(
            a.len() <= 1_024 && b.len() <= 1_024,
            "{} {}",
            a.len(),
            b.len()
        );
        assert!(a.starts_with("GROUP####") && a.contains('~'));
        assert_ne!(a, b);
        assert_ne!(
            bounded(format!("{}x", long('#')), 1_024),
            a,
            "a difference past the cut still tells them apart"
        );
        // Multi-byte characters are never split.
        let wide = bounded("é".repeat(2_000), 1_024);
        assert!(wide.len() <= 1_024);
        assert_eq!(bounded(long('#'), 1_024), a, "stable");
    }

    #[test]
    fn hex_is_lowercase_and_two_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn digests_are_the_sha256_of_the_chunks_in_order() {
        // sha256("abc") = ba7816bf...
        assert_eq!(sha256_hex([&b"ab"[..], b"c"], 4), "ba7816bf");
        assert_eq!(sha256_hex([&b"abc"[..]], 4), "ba7816bf");
        assert_eq!(sha256_hex([&b"abc"[..]], 64).len(), 64);
    }
}
