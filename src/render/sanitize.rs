//! Text chosen by whoever signs in (user names, user agents, federated
//! names), made safe for one line of a message, a subject or an attribute.

use std::borrow::Cow;

/// SNS wants a subject of fewer than 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 99;

/// Characters that change how text around them reads without showing
/// themselves: controls, line and paragraph separators, Unicode format and
/// bidirectional characters (U+061C, U+200B-U+200F, U+202A-U+202E,
/// U+2060-U+206F, U+FEFF) and the noncharacters U+FFFE and U+FFFF.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fffe}'
                | '\u{ffff}'
        )
}

/// Attacker-chosen text made safe for one line of a message: every
/// [hidden](is_hidden) character removed, and at most `max` characters (an
/// ellipsis marks a cut).
pub fn clean_line(text: &str, max: usize) -> String {
    let cleaned: Cow<str> = if text.chars().any(is_hidden) {
        Cow::Owned(text.chars().filter(|c| !is_hidden(*c)).collect())
    } else {
        Cow::Borrowed(text)
    };
    truncate_chars(&cleaned, max, "…")
}

fn truncate_chars(text: &str, max: usize, mark: &str) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let keep = max.saturating_sub(mark.chars().count());
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(mark);
    out
}

/// Printable ASCII only (others become `?`), at most `max` characters,
/// never empty, starting with a printable non-space character.
pub fn ascii_subject(text: &str, max: usize) -> String {
    let ascii: String = text
        .chars()
        .filter(|c| !is_hidden(*c))
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    let trimmed = ascii.trim();
    let out = truncate_chars(
        if trimmed.is_empty() {
            "signin-watch finding"
        } else {
            trimmed
        },
        max,
        "...",
    );
    out.trim_end().to_owned()
}

/// A message attribute's value: cleaned, at most `max` characters, never
/// empty (SNS refuses an empty attribute, and the whole message with it).
pub fn attribute_value(text: &str, max: usize) -> String {
    let cleaned = clean_line(text, max);
    if cleaned.trim().is_empty() {
        "unknown".to_owned()
    } else {
        cleaned
    }
}

/// JSON text in which every [hidden](is_hidden) character outside the ASCII
/// range is written as a `\uXXXX` escape: the value is exact, and a reader
/// that shows the raw text shows the escape, not its effect.
pub fn escape_hidden_in_json(json: String) -> String {
    if !json.chars().any(|c| !c.is_ascii() && is_hidden(c)) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if !c.is_ascii() && is_hidden(c) {
            // Every hidden character outside ASCII is in the BMP: one escape.
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// A value the record gave: not empty, not the `unknown` a finding holds
/// for what the record did not say.
pub(super) fn known(s: &str) -> Option<&str> {
    Some(s).filter(|s| !s.trim().is_empty() && *s != "unknown")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn clean_line_strips_breaks_and_bidi() {
        assert_eq!(clean_line("ali\nce\r\t\u{202e}x\u{2028}", 100), "alicex");
        assert_eq!(clean_line("abcdef", 4), "abc…");
        assert_eq!(clean_line("abcd", 4), "abcd");
    }

    const HIDDEN: [char; 12] = [
        '\u{061c}', '\u{200b}', '\u{200f}', '\u{202a}', '\u{202e}', '\u{2060}', '\u{2066}',
        '\u{206f}', '\u{feff}', '\u{fffe}', '\u{ffff}', '\u{2028}',
    ];

    #[test]
    fn every_format_bidi_and_noncharacter_is_removed() {
        for c in HIDDEN {
            let text = format!("ali{c}ce");
            assert_eq!(clean_line(&text, 100), "alice", "U+{:04X}", c as u32);
            assert_eq!(ascii_subject(&text, 99), "alice", "U+{:04X}", c as u32);
            assert_eq!(attribute_value(&text, 100), "alice");
        }
        assert_eq!(clean_line("jürgen", 100), "jürgen", "letters stay");
    }

    #[test]
    fn attributes_are_never_empty() {
        for text in ["", " ", "\u{202e}\u{200b}", "\n\t"] {
            assert_eq!(attribute_value(text, 100), "unknown", "{text:?}");
        }
    }

    #[test]
    fn hidden_characters_stay_escaped_in_json() {
        let value = format!("x{}y", HIDDEN.iter().collect::<String>());
        let json = escape_hidden_in_json(serde_json::json!({ "user": value }).to_string());
        assert!(
            !json.chars().any(|c| !c.is_ascii() && is_hidden(c)),
            "{json}"
        );
        assert!(
            json.contains("\\u202e") && json.contains("\\ufeff"),
            "{json}"
        );
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["user"], value, "the value is exact");
    }

    proptest! {
        #[test]
        fn escaped_json_reads_back_exactly(s in "\\PC{0,80}", c in proptest::sample::select(HIDDEN.to_vec())) {
            let value = format!("{s}{c}{s}");
            let json = escape_hidden_in_json(serde_json::json!({ "v": value }).to_string());
            prop_assert!(!json.chars().any(|c| !c.is_ascii() && is_hidden(c)));
            let back: serde_json::Value = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back["v"].as_str(), Some(value.as_str()));
        }

        #[test]
        fn subjects_are_short_printable_ascii(s in "\\PC{0,300}", ctl in "[\\x00-\\x1f\\x7f]{0,5}") {
            let subject = ascii_subject(&format!("{ctl}{s}{ctl}"), MAX_SUBJECT_CHARS);
            prop_assert!(!subject.is_empty());
            prop_assert!(subject.chars().count() <= MAX_SUBJECT_CHARS);
            prop_assert!(subject.chars().all(|c| (' '..='~').contains(&c)), "{subject:?}");
            prop_assert!(!subject.starts_with(' '));
        }

        #[test]
        fn clean_lines_have_no_control_characters(s in "\\PC{0,600}", ctl in "[\\x00-\\x1f]{0,5}") {
            let out = clean_line(&format!("{s}{ctl}{s}"), 128);
            prop_assert!(out.chars().count() <= 128);
            prop_assert!(!out.chars().any(|c| c.is_control()));
        }
    }
}
