//! The family of a user agent ("Chrome", "Firefox", "AWS CLI"): what a
//! baseline compares when it asks whether a principal's browser is new.
//! A family, not the string: versions change every few weeks, and whoever
//! signs in writes the string (a family is a value to notice, never one to
//! trust).

/// The family of `user_agent`: the first of these that its text names.
pub fn family(user_agent: &str) -> &'static str {
    const FAMILIES: &[(&str, &str)] = &[
        ("aws-cli/", "AWS CLI"),
        ("aws-sdk-", "AWS SDK"),
        ("Boto3/", "AWS SDK"),
        ("signin.amazonaws.com", "AWS"),
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("python-requests/", "Python"),
    ];
    FAMILIES
        .iter()
        .find(|(needle, _)| user_agent.contains(needle))
        .map_or("other", |(_, family)| family)
}

#[cfg(test)]
mod tests {
    use super::family;

    #[test]
    fn browsers_and_tools_by_family() {
        for (agent, want) in [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "Chrome",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
                "Edge",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
                "Safari",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
                "Firefox",
            ),
            ("aws-cli/2.13.0 Python/3.11.4 Linux/5.15", "AWS CLI"),
            ("Jersey/${project.version}", "other"),
            ("", "other"),
        ] {
            assert_eq!(family(agent), want, "{agent}");
        }
    }
}
