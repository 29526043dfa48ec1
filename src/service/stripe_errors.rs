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

/// FAILED_PRECONDITION for a key Stripe knows but that may not make this call (a restricted key
/// without one permission): the app stays READY, only this operation cannot be done.
fn permission_denied(app_id: Option<&str>, message: String) -> Error {
    let mut metadata = vec![("stripe_message", message.clone())];
    if let Some(app_id) = app_id {
        metadata.push(("app_id", app_id.to_owned()));
    }
    Error::FailedPrecondition {
        reason: "STRIPE_PERMISSION_DENIED",
        message: format!(
            "Stripe denied this call: the API key lacks a permission it needs (grant it to the \
             restricted key, or rotate to a key that has it): {message}"
        ),
        metadata,
    }
}

/// The domain error for a failed Stripe call made with `app`'s key. A 401 marks the app
/// UNAUTHORIZED (the caller's own credentials are fine: FAILED_PRECONDITION, not
/// UNAUTHENTICATED), but only while `key_ciphertext`, the stored ciphertext of the key that got
/// the 401, is still the app's key (`None`: the key was rotated or the app uninstalled
/// meanwhile; nothing is marked and the call is ABORTED, to be retried).
/// `now` stamps the change. A 403 marks nothing. `not_found` names the missing object for a 404.
pub async fn stripe_failure(
    store: &Store,
    ns: &Namespace,
    app: &App,
    err: PaymentsError,
    key_ciphertext: Option<&str>,
    now: Timestamp,
    not_found: impl FnOnce(String) -> Error,
) -> Error {
    match err {
        PaymentsError::Unauthorized => {
            let Some(ciphertext) = key_ciphertext else {
                tracing::warn!(app_id = %app.id, "Stripe refused a key the app no longer uses");
                return Error::Conflict(format!(
                    "the API key of app {} changed while this call used the previous one; retry",
                    app.id
                ));
            };
            match store
                .set_app_status_if_key(ns, &app.id, ciphertext, AppStatus::Unauthorized, now)
                .await
            {
                Ok(true) => tracing::warn!(
                    app_id = %app.id,
                    "Stripe refused the app's API key: app UNAUTHORIZED"
                ),
                Ok(false) => tracing::warn!(
                    app_id = %app.id,
                    "Stripe refused a key that was rotated or uninstalled meanwhile"
                ),
                Err(e) => {
                    tracing::error!(error = %e, app_id = %app.id, "cannot mark the app unauthorized");
                }
            }
            app_unauthorized(&app.id)
        }
        PaymentsError::PermissionDenied { message } => permission_denied(Some(&app.id), message),
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
        PaymentsError::PermissionDenied { message } => permission_denied(None, message),
        PaymentsError::Unavailable(cause) => Error::StripeUnavailable(cause),
        PaymentsError::DeadlineExceeded => Error::DeadlineExceeded,
        PaymentsError::PortalNotConfigured { message } => Error::FailedPrecondition {
            reason: "STRIPE_PORTAL_NOT_CONFIGURED",
            message: format!(
                "Stripe has no default customer portal configuration ({message}); save one in the Stripe Dashboard (Settings > Billing > Customer portal) or name configuration_id"
            ),
            metadata: Vec::new(),
        },
        PaymentsError::Other(cause) => Error::Internal(format!("Stripe: {cause}")),
    }
}
