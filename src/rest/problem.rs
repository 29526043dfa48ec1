//! The one mapping from domain errors to RFC 7807 problems (`application/problem+json`, the only
//! error type OpenMeter's clients parse): `type`, `title`, `status`, `detail`, `instance` (the
//! request path, filled in by [`with_instance`]) and, for invalid input, every field in
//! `extensions.validationErrors` with its JSON path. Internal causes are logged, never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::domain::{Error, FieldViolation};

/// The content type of every error.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error response.
#[derive(Clone, Debug)]
pub struct Problem {
    status: StatusCode,
    detail: String,
    violations: Vec<FieldViolation>,
    retry_after: Option<u64>,
}

/// The JSON spelling of a field path patron's rules name in proto field names
/// (`customer.billing_address.country` -> `customer.billingAddress.country`; OpenMeter's own
/// spellings of the URL and id fields).
pub fn json_path(path: &str) -> String {
    path.split('.')
        .map(|segment| {
            let (name, index) = segment
                .find('[')
                .map_or((segment, ""), |i| segment.split_at(i));
            let name = match name {
                "success_url" => "successURL".to_owned(),
                "cancel_url" => "cancelURL".to_owned(),
                "return_url" => "returnURL".to_owned(),
                "client_reference_id" => "clientReferenceID".to_owned(),
                "api_key" => "apiKey".to_owned(),
                other => camel(other),
            };
            format!("{name}{index}")
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for ch in snake.chars() {
        if ch == '_' && !out.is_empty() {
            upper = true;
        } else if upper {
            out.extend(ch.to_uppercase());
            upper = false;
        } else {
            out.push(ch);
        }
    }
    out
}

impl Problem {
    /// A problem with `status` and `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            violations: Vec::new(),
            retry_after: None,
        }
    }

    /// 400 naming each bad field (paths given in JSON names, or converted to them).
    pub fn invalid(violations: Vec<FieldViolation>) -> Self {
        let violations: Vec<FieldViolation> = violations
            .into_iter()
            .map(|v| FieldViolation::new(json_path(&v.field), v.description))
            .collect();
        let detail = violations
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            violations,
            ..Self::new(StatusCode::BAD_REQUEST, detail)
        }
    }

    /// A problem with a request field the domain names in its `field` metadata (proto spelling):
    /// the field in JSON spelling in `extensions.validationErrors`, and the detail spelling it
    /// (and any shorter form of it that the message uses) the same way.
    fn about_field(status: StatusCode, message: String, metadata: &[(&str, String)]) -> Self {
        let Some((_, field)) = metadata.iter().find(|(name, _)| *name == "field") else {
            return Self::new(status, message);
        };
        let mut detail = message;
        // Longest first: `customer.usage_attribution.subject_keys`, then
        // `usage_attribution.subject_keys`, then `subject_keys`.
        let mut suffix = field.as_str();
        loop {
            if suffix.contains('_') {
                detail = detail.replace(suffix, &json_path(suffix));
            }
            match suffix.split_once('.') {
                Some((_, rest)) => suffix = rest,
                None => break,
            }
        }
        Self {
            violations: vec![FieldViolation::new(json_path(field), detail.clone())],
            ..Self::new(status, detail)
        }
    }

    /// The field paths as this endpoint's request spells them: `spell` maps a path in patron's
    /// JSON spelling (`customer.usageAttribution.subjectKeys`, `data[0].stripe.stripeCustomerId`,
    /// `apiKey`) to the request body's (`usageAttribution.subjectKeys`, `[0].stripeCustomerId`,
    /// `secretAPIKey`); the detail follows.
    pub fn spelled(mut self, spell: impl Fn(&str) -> Option<String>) -> Self {
        for violation in &mut self.violations {
            if let Some(renamed) = spell(&violation.field) {
                self.detail = self.detail.replace(&violation.field, &renamed);
                violation.description = violation.description.replace(&violation.field, &renamed);
                violation.field = renamed;
            }
        }
        self
    }

    /// 400 for a body that is not JSON at all.
    pub fn malformed(why: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!("the request body is not valid JSON: {why}"),
        )
    }

    /// 401.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "missing or invalid API key: send `Authorization: Bearer <api key>`",
        )
    }

    /// 404 for a path patron does not serve.
    pub fn no_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, "no such endpoint")
    }

    /// 413.
    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is larger than this endpoint accepts",
        )
    }

    /// 503 with Retry-After: the listener is at its limit of requests in flight.
    pub fn overloaded() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded; retry")
        }
    }

    /// 504: the request was not answered within the listener's request timeout.
    pub fn timed_out() -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "the request was not answered in time; retry",
        )
    }

    /// The response, with `instance` (for answers given outside the REST router).
    pub fn response_at(self, instance: &str) -> Response {
        let body = self.document(instance).to_string();
        let retry_after = self.retry_after;
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The problem document, with `instance`.
    pub fn document(&self, instance: &str) -> Value {
        let mut doc = json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
            "instance": instance,
        });
        if !self.violations.is_empty() {
            let errors: Vec<Value> = self
                .violations
                .iter()
                .map(|v| json!({"field": v.field, "message": v.description}))
                .collect();
            doc["extensions"] = json!({ "validationErrors": errors });
        }
        doc
    }
}

impl From<Error> for Problem {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidArgument(violations) => Self::invalid(violations),
            e @ Error::RequestIdReused { .. } => Self::new(StatusCode::CONFLICT, e.to_string()),
            Error::NotFound {
                message, metadata, ..
            } => Self::about_field(StatusCode::NOT_FOUND, message, &metadata),
            Error::AlreadyExists {
                message, metadata, ..
            } => Self::about_field(StatusCode::CONFLICT, message, &metadata),
            e @ Error::EtagMismatch { .. } => {
                Self::new(StatusCode::PRECONDITION_FAILED, e.to_string())
            }
            Error::FailedPrecondition {
                message, metadata, ..
            } => Self::about_field(StatusCode::PRECONDITION_FAILED, message, &metadata),
            Error::Conflict(message) => Self::new(StatusCode::CONFLICT, message),
            Error::StripeInvalidRequest { message, param } => {
                let field = param.unwrap_or_default();
                Self {
                    violations: vec![FieldViolation::new(field, message.clone())],
                    ..Self::new(
                        StatusCode::BAD_REQUEST,
                        format!("Stripe refused the request: {message}"),
                    )
                }
            }
            Error::StripeUnavailable(cause) => {
                tracing::warn!(error = %cause, "Stripe unavailable after retries");
                Self {
                    retry_after: Some(2),
                    ..Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Stripe is unavailable; retry later",
                    )
                }
            }
            Error::DeadlineExceeded => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "the request's deadline ran out waiting for Stripe; retry",
            ),
            Error::Unavailable(cause) => {
                tracing::error!(error = %cause, "dependency unavailable");
                Self {
                    retry_after: Some(1),
                    ..Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the service is temporarily unavailable; retry later",
                    )
                }
            }
            Error::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = self.clone().response_at("");
        response.extensions_mut().insert(self);
        response
    }
}

/// Middleware: puts the request's path in the `instance` of every problem answered, and turns
/// the few errors axum answers itself (a path that does not decode, 405) into problems.
pub async fn with_instance(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    if let Some(problem) = response.extensions_mut().remove::<Problem>() {
        let (parts, _) = response.into_parts();
        let body = problem.document(&path).to_string();
        response = Response::from_parts(parts, axum::body::Body::from(body));
        response.headers_mut().remove(header::CONTENT_LENGTH);
    } else if response.status().is_client_error() || response.status().is_server_error() {
        let status = response.status();
        let detail = match axum::body::to_bytes(response.into_body(), 4096).await {
            Ok(bytes) if !bytes.is_empty() => String::from_utf8_lossy(&bytes).trim().to_owned(),
            _ => status.canonical_reason().unwrap_or("error").to_owned(),
        };
        response = Problem::new(status, detail).response_at(&path);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proto_paths_become_json_paths() {
        assert_eq!(
            json_path("customer.billing_address.country"),
            "customer.billingAddress.country"
        );
        assert_eq!(
            json_path("customer.usage_attribution.subject_keys[2]"),
            "customer.usageAttribution.subjectKeys[2]"
        );
        assert_eq!(json_path("options.success_url"), "options.successURL");
        assert_eq!(
            json_path("billingAddress.country"),
            "billingAddress.country"
        );
    }
}
