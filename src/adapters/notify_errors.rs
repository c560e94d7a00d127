//! How a route's failed SDK call reads as a [`NotifyError`], for the
//! topic, the bus and Security Hub alike.

use std::fmt::Display;

// Every service crate re-exports these same smithy types.
use aws_sdk_sns::error::{DisplayErrorContext, SdkError};

use crate::domain::notify::NotifyError;

/// What a failed call means for the notification.
enum Failure {
    /// The request could not even be built: a bug, which no retry mends.
    Unbuildable,
    /// The service refused it for good: the same request is refused again.
    Refused,
    /// Throttling, an outage: worth a retry.
    Retry,
}

/// The error for `finding_id`, with the service's own words (its code and
/// message, not only "service error") as its source.
fn notify_error(finding_id: &str, failure: Failure, said: impl Display) -> NotifyError {
    let source = Box::new(std::io::Error::other(said.to_string()));
    let finding_id = finding_id.to_owned();
    match failure {
        Failure::Unbuildable => NotifyError::InvalidRequest { finding_id, source },
        Failure::Refused => NotifyError::Refused { finding_id, source },
        Failure::Retry => NotifyError::Unavailable { finding_id, source },
    }
}

/// The error for a failed SDK call: a request that could not be built,
/// one the service refused for good (as `refused_for_good` reads the
/// service's error), else one worth a retry.
pub(super) fn sdk_notify_error<E, R>(
    finding_id: &str,
    e: SdkError<E, R>,
    refused_for_good: impl FnOnce(&E) -> bool,
) -> NotifyError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let failure = match &e {
        SdkError::ConstructionFailure(_) => Failure::Unbuildable,
        SdkError::ServiceError(s) if refused_for_good(s.err()) => Failure::Refused,
        _ => Failure::Retry,
    };
    notify_error(finding_id, failure, DisplayErrorContext(e))
}
