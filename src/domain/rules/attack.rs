//! MITRE ATT&CK names for the tags of rules that do not name them
//! (`attack.t1078.004`, `attack.initial-access`).

use super::Technique;

/// Tactics by the slugs Sigma tags use (either spelling).
const TACTICS: &[(&str, &str, &str)] = &[
    ("reconnaissance", "TA0043", "Reconnaissance"),
    ("resource-development", "TA0042", "Resource Development"),
    ("initial-access", "TA0001", "Initial Access"),
    ("execution", "TA0002", "Execution"),
    ("persistence", "TA0003", "Persistence"),
    ("privilege-escalation", "TA0004", "Privilege Escalation"),
    ("defense-evasion", "TA0005", "Defense Evasion"),
    ("credential-access", "TA0006", "Credential Access"),
    ("discovery", "TA0007", "Discovery"),
    ("lateral-movement", "TA0008", "Lateral Movement"),
    ("collection", "TA0009", "Collection"),
    ("command-and-control", "TA0011", "Command and Control"),
    ("exfiltration", "TA0010", "Exfiltration"),
    ("impact", "TA0040", "Impact"),
];

/// A tactic's ATT&CK id (`TA0001`) by its name (`Initial Access`).
pub fn tactic_id(name: &str) -> Option<&'static str> {
    TACTICS
        .iter()
        .find(|(_, _, known)| *known == name)
        .map(|(_, id, _)| *id)
}

/// Techniques the cloud sign-in rules use, with their tactics.
const TECHNIQUES: &[(&str, &str, &[&str])] = &[
    ("T1021", "Remote Services", &["Lateral Movement"]),
    (
        "T1021.007",
        "Remote Services: Cloud Services",
        &["Lateral Movement"],
    ),
    ("T1078", "Valid Accounts", VALID_ACCOUNTS),
    (
        "T1078.004",
        "Valid Accounts: Cloud Accounts",
        VALID_ACCOUNTS,
    ),
    ("T1110", "Brute Force", &["Credential Access"]),
    (
        "T1110.001",
        "Brute Force: Password Guessing",
        &["Credential Access"],
    ),
    (
        "T1110.003",
        "Brute Force: Password Spraying",
        &["Credential Access"],
    ),
    (
        "T1550",
        "Use Alternate Authentication Material",
        &["Defense Evasion", "Lateral Movement"],
    ),
    (
        "T1550.001",
        "Use Alternate Authentication Material: Application Access Token",
        &["Defense Evasion", "Lateral Movement"],
    ),
    (
        "T1552.005",
        "Unsecured Credentials: Cloud Instance Metadata API",
        &["Credential Access"],
    ),
    ("T1586", "Compromise Accounts", &["Resource Development"]),
    (
        "T1586.003",
        "Compromise Accounts: Cloud Accounts",
        &["Resource Development"],
    ),
    (
        "T1621",
        "Multi-Factor Authentication Request Generation",
        &["Credential Access"],
    ),
];

const VALID_ACCOUNTS: &[&str] = &[
    "Defense Evasion",
    "Persistence",
    "Privilege Escalation",
    "Initial Access",
];

/// The techniques a rule's `attack.*` tags name, in tag order; a technique
/// this table does not know keeps its id as its name and takes the tactics
/// the rule's tags name.
pub(super) fn from_tags(tags: &[String]) -> Vec<Technique> {
    let slugs: Vec<String> = tags
        .iter()
        .filter_map(|t| t.strip_prefix("attack."))
        .map(|t| t.to_ascii_lowercase().replace('_', "-"))
        .collect();
    let tactics: Vec<String> = slugs
        .iter()
        .filter_map(|s| TACTICS.iter().find(|(slug, _, _)| slug == s))
        .map(|(_, _, name)| (*name).to_owned())
        .collect();
    slugs
        .iter()
        .filter(|s| s.starts_with('t') && s[1..].starts_with(|c: char| c.is_ascii_digit()))
        .map(|s| {
            let id = s.to_ascii_uppercase();
            match TECHNIQUES.iter().find(|(known, _, _)| *known == id) {
                Some((_, name, known_tactics)) => Technique {
                    id,
                    name: (*name).to_owned(),
                    tactics: known_tactics.iter().map(|t| (*t).to_owned()).collect(),
                },
                None => Technique {
                    name: id.clone(),
                    id,
                    tactics: tactics.clone(),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_give_techniques_with_names_and_tactics() {
        let tags: Vec<String> = [
            "attack.lateral_movement",
            "attack.t1021.007",
            "attack.t1550.001",
            "attack.t9999",
        ]
        .map(String::from)
        .to_vec();
        let t = from_tags(&tags);
        assert_eq!(t.len(), 3);
        assert_eq!(
            (t[0].id.as_str(), t[0].name.as_str()),
            ("T1021.007", "Remote Services: Cloud Services")
        );
        assert_eq!(t[1].tactics, ["Defense Evasion", "Lateral Movement"]);
        assert_eq!((t[2].id.as_str(), t[2].name.as_str()), ("T9999", "T9999"));
        assert_eq!(t[2].tactics, ["Lateral Movement"]);
    }
}
