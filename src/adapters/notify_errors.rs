//! How a route's failed SDK call reads as a [`NotifyError`], for the
//! topic, the bus and Security Hub alike.

use std::fmt::Display;

use crate::domain::notify::NotifyError;

/// What a failed call means for the notification.
pub(super) enum Failure {
    /// The request could not even be built: a bug, which no retry mends.
    Unbuildable,
    /// The service refused it for good: the same request is refused again.
    Refused,
    /// Throttling, an outage: worth a retry.
    Retry,
}

/// The error for `finding_id`, with the service's own words (its code and
/// message, not only "service error") as its source.
pub(super) fn notify_error(finding_id: &str, failure: Failure, said: impl Display) -> NotifyError {
    let source = Box::new(std::io::Error::other(said.to_string()));
    let finding_id = finding_id.to_owned();
    match failure {
        Failure::Unbuildable => NotifyError::InvalidRequest { finding_id, source },
        Failure::Refused => NotifyError::Refused { finding_id, source },
        Failure::Retry => NotifyError::Unavailable { finding_id, source },
    }
}
