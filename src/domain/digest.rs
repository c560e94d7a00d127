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

#[cfg(test)]
mod tests {
    use super::*;

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
