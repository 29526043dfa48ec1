//! How Stripe failures become domain errors; a refused API key marks the app UNAUTHORIZED.

use crate::domain::app::{App, AppStatus};
use crate::domain::{Error, Namespace, Timestamp};
use crate::payments::PaymentsError;
use crate::storage::Store;

/// FAILED_PRECONDITION for an app whose key Stripe refuses.
pub fn app_unauthorized(app_id: &str) -> Error {
    Error::FailedPrecondition {
        reason: "APP_UNAUTHORIZED",
        message: format!(
            "Stripe refuses the API key of app {app_id}; rotate it with UpdateApp (api_key)"
        ),
        metadata: vec![("app_id", app_id.to_owned())],
    }
}

/// The domain error for a failed Stripe call made with `app`'s key. A 401/403 marks the app
/// UNAUTHORIZED (the caller's own credentials are fine: FAILED_PRECONDITION, not
/// UNAUTHENTICATED). `not_found` names the missing object for a 404.
pub async fn stripe_failure(
    store: &Store,
    ns: &Namespace,
    app: &App,
    err: PaymentsError,
    not_found: impl FnOnce(String) -> Error,
) -> Error {
    match err {
        PaymentsError::Unauthorized => {
            if let Err(e) = store
                .set_app_status(ns, &app.id, AppStatus::Unauthorized, Timestamp::now())
                .await
            {
                tracing::error!(error = %e, app_id = %app.id, "cannot mark the app unauthorized");
            }
            tracing::warn!(app_id = %app.id, "Stripe refused the app's API key: app UNAUTHORIZED");
            app_unauthorized(&app.id)
        }
        other => plain(other, not_found),
    }
}

/// The domain error for a failed Stripe call that concerns no stored app.
pub fn plain(err: PaymentsError, not_found: impl FnOnce(String) -> Error) -> Error {
    match err {
        PaymentsError::InvalidRequest { message, param } => {
            Error::StripeInvalidRequest { message, param }
        }
        PaymentsError::NotFound { message } => not_found(message),
        PaymentsError::Unauthorized => Error::FailedPrecondition {
            reason: "STRIPE_UNAUTHORIZED",
            message: "Stripe refused the API key".into(),
            metadata: Vec::new(),
        },
        PaymentsError::Unavailable(cause) => Error::StripeUnavailable(cause),
        PaymentsError::DeadlineExceeded => Error::DeadlineExceeded,
        PaymentsError::Other(cause) => Error::Internal(format!("Stripe: {cause}")),
    }
}
