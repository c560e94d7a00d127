//! How an invocation fails: one error per way, each with the errorType
//! Lambda's failure destination and the logs show.

use lambda_runtime::Diagnostic;

use crate::app::detector::ProcessError;
use crate::domain::notify::NotifyError;
use crate::domain::store::StoreError;
use crate::intake::DecodeError;
use crate::intake::objects::ObjectError;
use crate::intake::s3_notification::NotificationError;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("malformed event: {0}")]
    Malformed(#[from] DecodeError),
    #[error("{kind}: {0}", kind = failure_kind(.0))]
    Process(#[from] ProcessError),
    #[error("malformed notification: {0}")]
    Notification(#[from] NotificationError),
    #[error("{0}")]
    Object(#[from] ObjectError),
    #[error(
        "untrusted event: {shape} is not read; the function trusts EventBridge events from aws.signin and the trail bucket's notifications only (SIGNIN_WATCH_ACCEPT_ANY_SHAPE=true reads it, for local tests)"
    )]
    Untrusted { shape: &'static str },
}

fn failure_kind(e: &ProcessError) -> &'static str {
    if e.is_transient() {
        "transient failure (the event will be retried)"
    } else {
        "failure that a retry does not mend"
    }
}

impl HandlerError {
    /// Whether the same event may succeed later.
    pub fn is_transient(&self) -> bool {
        match self {
            HandlerError::Process(e) => e.is_transient(),
            HandlerError::Object(e) => e.is_transient(),
            _ => false,
        }
    }

    /// What happened, as Lambda's `errorType`: what an operator sees in the
    /// failure destination and the logs.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::Malformed(_) => "SigninWatch.MalformedEvent",
            HandlerError::Process(e) => process_error_type(e),
            HandlerError::Notification(_) => "SigninWatch.MalformedNotification",
            HandlerError::Object(e) if e.is_transient() => "SigninWatch.TransientObjectError",
            HandlerError::Object(_) => "SigninWatch.ObjectUnreadable",
            HandlerError::Untrusted { .. } => "SigninWatch.UntrustedEvent",
        }
    }
}

/// The errorType of a detection's failure.
pub fn process_error_type(e: &ProcessError) -> &'static str {
    match e {
        ProcessError::Store(e) => match e {
            StoreError::Unavailable { .. } | StoreError::Contention { .. } => {
                "SigninWatch.TransientStoreError"
            }
            StoreError::Corrupt { .. } => "SigninWatch.CorruptStoreItem",
            StoreError::Rejected { .. } => "SigninWatch.StoreRejected",
            StoreError::InvalidRequest { .. } => "SigninWatch.InvalidRequest",
        },
        ProcessError::Notify(e) => match e {
            NotifyError::Unavailable { .. } => "SigninWatch.TransientPublishError",
            NotifyError::InvalidRequest { .. } => "SigninWatch.InvalidRequest",
            NotifyError::Refused { .. } => "SigninWatch.PublishRefused",
        },
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}
