//! The one error type of the domain and service layers. `grpc::status` maps it to gRPC statuses.

/// Result with the domain error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One invalid field of a request: its path (`customer.billing_address.country`) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request, in proto field names.
    pub field: String,
    /// What is wrong with it, for people.
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Everything that can go wrong in a use case, as the caller should learn it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; nothing was stored.
    #[error("invalid argument: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// The same request_id was used for a different request.
    #[error("request_id {request_id:?} was already used for a different request")]
    RequestIdReused {
        /// The reused request id.
        request_id: String,
    },
    /// The resource does not exist (or, by key, has no live holder).
    #[error("{message}")]
    NotFound {
        /// UPPER_SNAKE reason, e.g. CUSTOMER_NOT_FOUND.
        reason: &'static str,
        /// For people.
        message: String,
        /// The lookup values.
        metadata: Vec<(&'static str, String)>,
    },
    /// An identifier is already held by another resource.
    #[error("{message}")]
    AlreadyExists {
        /// UPPER_SNAKE reason, e.g. KEY_ALREADY_EXISTS.
        reason: &'static str,
        /// For people.
        message: String,
        /// The identifier and the id that holds it.
        metadata: Vec<(&'static str, String)>,
    },
    /// The caller's etag is not the current one.
    #[error("etag mismatch for {resource} {id}: it was changed since it was read")]
    EtagMismatch {
        /// Resource type, e.g. customer.
        resource: &'static str,
        /// Resource id.
        id: String,
    },
    /// The operation is not allowed in the resource's current state.
    #[error("{message}")]
    FailedPrecondition {
        /// UPPER_SNAKE reason, e.g. CUSTOMER_DELETED.
        reason: &'static str,
        /// For people.
        message: String,
        /// Values that explain the failure.
        metadata: Vec<(&'static str, String)>,
    },
    /// A concurrent write got in the way; retrying the call is safe.
    #[error("{0}")]
    Conflict(String),
    /// Stripe refused the request (its 400): its message and the parameter it names.
    #[error("Stripe refused the request: {message}")]
    StripeInvalidRequest {
        /// Stripe's message.
        message: String,
        /// Stripe's parameter name, if any.
        param: Option<String>,
    },
    /// Stripe could not be reached or kept failing until the deadline; the caller may retry.
    #[error("Stripe is unavailable: {0}")]
    StripeUnavailable(String),
    /// The call's deadline ran out while waiting for Stripe.
    #[error("the deadline ran out waiting for Stripe")]
    DeadlineExceeded,
    /// A dependency (the database) cannot be reached now; the caller may retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected state; the cause goes to the log, not to the caller.
    #[error("internal error: {0}")]
    Internal(String),
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// INVALID_ARGUMENT for one field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }
}

/// Collects field violations so that one response names every bad field.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// No violations yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a violation of `field`.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Keeps the value of `result`, recording its violations.
    pub fn check<T>(&mut self, result: Result<T, FieldViolation>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(violation) => {
                self.0.push(violation);
                None
            }
        }
    }

    /// Records every violation of `violations`.
    pub fn extend(&mut self, violations: impl IntoIterator<Item = FieldViolation>) {
        self.0.extend(violations);
    }

    /// Whether anything was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Ok with `value` if nothing was recorded, every violation otherwise.
    pub fn into_result<T>(self, value: T) -> Result<T, Vec<FieldViolation>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }

    /// Ok if nothing was recorded, INVALID_ARGUMENT with every violation otherwise.
    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(self.0))
        }
    }
}
