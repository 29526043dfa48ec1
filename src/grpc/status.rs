//! The one mapping from domain errors to gRPC statuses. Every status carries ErrorInfo (domain
//! `patron.v1`); invalid input carries BadRequest with every field path. Internal causes are
//! logged here and never sent to the caller.

use std::collections::HashMap;
use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::{Error, FieldViolation};

/// The ErrorInfo domain of every patron error.
pub const DOMAIN: &str = "patron.v1";

fn metadata(pairs: Vec<(&'static str, String)>) -> HashMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// INVALID_ARGUMENT naming each bad field.
pub fn invalid(violations: &[FieldViolation]) -> Status {
    let mut details = ErrorDetails::new();
    for v in violations {
        details.add_bad_request_violation(&v.field, &v.description);
    }
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    details.set_error_info(
        "INVALID_ARGUMENT",
        DOMAIN,
        HashMap::from([("fields".to_owned(), fields.join(","))]),
    );
    let message = violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ");
    Status::with_error_details(Code::InvalidArgument, message, details)
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidArgument(violations) => invalid(&violations),
            Error::RequestIdReused { request_id } => {
                let mut details = ErrorDetails::new();
                details
                    .add_bad_request_violation(
                        "request_id",
                        "was already used for a different request",
                    )
                    .set_error_info(
                        "REQUEST_ID_REUSED",
                        DOMAIN,
                        HashMap::from([("request_id".to_owned(), request_id.clone())]),
                    );
                Status::with_error_details(
                    Code::InvalidArgument,
                    format!("request_id {request_id:?} was already used for a different request"),
                    details,
                )
            }
            Error::NotFound {
                reason,
                message,
                metadata: pairs,
            } => Status::with_error_details(
                Code::NotFound,
                message,
                ErrorDetails::with_error_info(reason, DOMAIN, metadata(pairs)),
            ),
            Error::AlreadyExists {
                reason,
                message,
                metadata: pairs,
            } => Status::with_error_details(
                Code::AlreadyExists,
                message,
                ErrorDetails::with_error_info(reason, DOMAIN, metadata(pairs)),
            ),
            Error::EtagMismatch { resource, id } => Status::with_error_details(
                Code::Aborted,
                format!("the etag is not current: {resource} {id} was changed since it was read"),
                ErrorDetails::with_error_info(
                    "ETAG_MISMATCH",
                    DOMAIN,
                    HashMap::from([
                        ("resource".to_owned(), resource.to_owned()),
                        ("id".to_owned(), id),
                    ]),
                ),
            ),
            Error::FailedPrecondition {
                reason,
                message,
                metadata: pairs,
            } => {
                let mut details = ErrorDetails::with_error_info(reason, DOMAIN, metadata(pairs));
                details.add_precondition_failure_violation(reason, "", &message);
                Status::with_error_details(Code::FailedPrecondition, message, details)
            }
            Error::Conflict(message) => Status::with_error_details(
                Code::Aborted,
                message,
                ErrorDetails::with_error_info("CONCURRENT_MODIFICATION", DOMAIN, HashMap::new()),
            ),
            Error::StripeInvalidRequest { message, param } => {
                let mut details = ErrorDetails::new();
                let field = param.clone().unwrap_or_default();
                details
                    .add_bad_request_violation(&field, &message)
                    .set_error_info(
                        "STRIPE_INVALID_REQUEST",
                        DOMAIN,
                        HashMap::from([
                            ("stripe_param".to_owned(), field.clone()),
                            ("stripe_message".to_owned(), message.clone()),
                        ]),
                    );
                Status::with_error_details(
                    Code::InvalidArgument,
                    format!("Stripe refused the request: {message}"),
                    details,
                )
            }
            Error::StripeUnavailable(cause) => {
                tracing::warn!(error = %cause, "Stripe unavailable after retries");
                let mut details =
                    ErrorDetails::with_error_info("STRIPE_UNAVAILABLE", DOMAIN, HashMap::new());
                details.set_retry_info(Some(Duration::from_secs(2)));
                Status::with_error_details(
                    Code::Unavailable,
                    "Stripe is unavailable; retry later (with the same request_id)",
                    details,
                )
            }
            Error::DeadlineExceeded => Status::with_error_details(
                Code::DeadlineExceeded,
                "the call's deadline ran out waiting for Stripe; retry with the same request_id",
                ErrorDetails::with_error_info("STRIPE_DEADLINE_EXCEEDED", DOMAIN, HashMap::new()),
            ),
            Error::Unavailable(cause) => {
                tracing::error!(error = %cause, "dependency unavailable");
                let mut details =
                    ErrorDetails::with_error_info("UNAVAILABLE", DOMAIN, HashMap::new());
                details.set_retry_info(Some(Duration::from_secs(1)));
                Status::with_error_details(
                    Code::Unavailable,
                    "the service is temporarily unavailable; retry later",
                    details,
                )
            }
            Error::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                Status::with_error_details(
                    Code::Internal,
                    "internal error",
                    ErrorDetails::with_error_info("INTERNAL", DOMAIN, HashMap::new()),
                )
            }
        }
    }
}

/// RESOURCE_EXHAUSTED with RetryInfo: the server is saturated (`what` says which limit) and
/// refused the call without starting it; retrying after the delay is safe.
pub fn overloaded(what: &str) -> Status {
    let mut details = ErrorDetails::with_error_info(
        "OVERLOADED",
        DOMAIN,
        HashMap::from([("limit".to_owned(), what.to_owned())]),
    );
    details.set_retry_info(Some(Duration::from_millis(500)));
    Status::with_error_details(
        Code::ResourceExhausted,
        format!("the server is at its limit of {what}; retry later"),
        details,
    )
}

/// DEADLINE_EXCEEDED: the call ran out of its deadline (the caller's grpc-timeout or the
/// server's default) and was stopped.
pub fn deadline_exceeded(timeout: Duration) -> Status {
    Status::with_error_details(
        Code::DeadlineExceeded,
        format!("the call did not finish within its deadline of {timeout:?}"),
        ErrorDetails::with_error_info("DEADLINE_EXCEEDED", DOMAIN, HashMap::new()),
    )
}

/// RESOURCE_EXHAUSTED for a request message over the RPC's size limit (tonic reports it as
/// OUT_OF_RANGE, which patron never uses otherwise).
pub fn message_too_large() -> Status {
    Status::with_error_details(
        Code::ResourceExhausted,
        "the request message is larger than this RPC accepts",
        ErrorDetails::with_error_info("MESSAGE_TOO_LARGE", DOMAIN, HashMap::new()),
    )
}

/// UNAVAILABLE ending a long-lived stream when the server shuts down; reconnect to another
/// replica.
pub fn shutting_down() -> Status {
    let mut details = ErrorDetails::with_error_info("SHUTTING_DOWN", DOMAIN, HashMap::new());
    details.set_retry_info(Some(Duration::from_millis(100)));
    Status::with_error_details(Code::Unavailable, "the server is shutting down", details)
}
