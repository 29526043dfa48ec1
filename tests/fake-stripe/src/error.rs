//! Stripe's error responses: `{"error": {"type", "code", "message", "param", "doc_url"}}`.

use serde_json::{Map, Value, json};

/// One error answer of the fake, as Stripe would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// `error.type`: `invalid_request_error`, `idempotency_error`, `api_error`, ...
    pub kind: &'static str,
    /// `error.code`, when Stripe gives one.
    pub code: Option<&'static str>,
    /// `error.message`.
    pub message: String,
    /// `error.param`, in bracket form.
    pub param: Option<String>,
    /// Extra response headers (`Retry-After`).
    pub headers: Vec<(&'static str, String)>,
    /// Whether the endpoint had started executing: such an error is saved for the
    /// idempotency key like a success (Stripe does not save validation errors).
    pub executed: bool,
}

impl ApiError {
    /// A 400 `invalid_request_error`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            kind: "invalid_request_error",
            code: None,
            message: message.into(),
            param: None,
            headers: Vec::new(),
            executed: false,
        }
    }

    /// A 400 `invalid_request_error` about one parameter.
    pub fn param(
        code: Option<&'static str>,
        param: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code,
            param: Some(param.into()),
            ..Self::invalid(message)
        }
    }

    /// `parameter_unknown`.
    pub fn unknown_param(param: &str) -> Self {
        Self::param(
            Some("parameter_unknown"),
            param,
            format!("Received unknown parameter: {param}"),
        )
    }

    /// `parameter_missing`.
    pub fn missing_param(param: &str) -> Self {
        Self::param(
            Some("parameter_missing"),
            param,
            format!("Missing required param: {param}."),
        )
    }

    /// `parameter_invalid_empty`: an empty string for a parameter that cannot be unset.
    pub fn empty_param(param: &str) -> Self {
        Self::param(
            Some("parameter_invalid_empty"),
            param,
            format!(
                "You passed an empty string for '{param}'. We assume empty values are an attempt \
                 to unset a parameter; however '{param}' cannot be unset. You should remove \
                 '{param}' from your request or supply a non-empty value."
            ),
        )
    }

    /// `resource_missing` (`No such customer: 'cus_x'`) for an object named by a parameter
    /// (status 400) or by the URL (status 404, param `id`).
    pub fn no_such(status: u16, label: &str, id: &str, param: &str) -> Self {
        Self {
            status,
            ..Self::param(
                Some("resource_missing"),
                param,
                format!("No such {label}: '{id}'"),
            )
        }
    }

    /// A 404 for a URL the fake does not serve (Stripe's wording).
    pub fn unrecognized_url(method: &str, path: &str) -> Self {
        Self {
            status: 404,
            ..Self::invalid(format!(
                "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs \
                 or we can help at https://support.stripe.com/."
            ))
        }
    }

    /// A 401 `invalid_request_error`.
    pub fn unauthorized(code: Option<&'static str>, message: impl Into<String>) -> Self {
        Self {
            status: 401,
            code,
            ..Self::invalid(message)
        }
    }

    /// An `idempotency_error`.
    pub fn idempotency(message: impl Into<String>) -> Self {
        Self {
            kind: "idempotency_error",
            ..Self::invalid(message)
        }
    }

    /// Marks the error as produced by an executing endpoint (saved for idempotency).
    pub fn executed(mut self) -> Self {
        self.executed = true;
        self
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut err = Map::new();
        if let Some(code) = self.code {
            err.insert("code".into(), json!(code));
            err.insert(
                "doc_url".into(),
                json!(format!(
                    "https://stripe.com/docs/error-codes/{}",
                    code.replace('_', "-")
                )),
            );
        }
        err.insert("message".into(), json!(self.message));
        if let Some(param) = &self.param {
            err.insert("param".into(), json!(param));
        }
        err.insert("type".into(), json!(self.kind));
        json!({ "error": err })
    }
}
