//! The gRPC surface: generated code, one module per service, the error mapping and conversions.
//! The only module that knows protobuf types.

pub mod apps;
pub mod auth;
pub mod checkout;
pub mod codec;
pub mod convert;
pub mod customer_apps;
pub mod customers;
pub mod events;
pub mod observe;
pub mod status;
pub mod subjects;

use tonic::Request;

use crate::domain::Namespace;

/// Generated protobuf and gRPC code of `patron.v1`.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("patron.v1");
}

/// The encoded descriptor set of every proto (with imports), for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("patron_descriptor");

/// The gRPC service names patron serves (for health reporting).
pub const SERVICE_NAMES: &[&str] = &[
    "patron.v1.CustomerService",
    "patron.v1.AppService",
    "patron.v1.CustomerAppService",
    "patron.v1.StripeCheckoutService",
    "patron.v1.SubjectService",
    "patron.v1.EventService",
];

/// The namespace the request acts for, set by the interceptor.
pub fn namespace<T>(request: &Request<T>) -> Namespace {
    request
        .extensions()
        .get::<Namespace>()
        .cloned()
        .unwrap_or_default()
}

/// How long a call may wait on Stripe when the caller sets no deadline.
pub const DEFAULT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

/// The call's deadline: the caller's `grpc-timeout` (capped at 60 s) or `DEFAULT_DEADLINE`,
/// minus a small margin so our answer arrives before the caller gives up.
pub fn deadline<T>(request: &Request<T>) -> tokio::time::Instant {
    let timeout = request
        .metadata()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
        .map(|t| t.min(std::time::Duration::from_secs(60)))
        .unwrap_or(DEFAULT_DEADLINE);
    let margin = (timeout / 20).min(std::time::Duration::from_millis(200));
    tokio::time::Instant::now() + timeout.saturating_sub(margin)
}

/// Parses gRPC's `grpc-timeout` header: digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(value: &str) -> Option<std::time::Duration> {
    use std::time::Duration;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_grpc_timeout;
    use std::time::Duration;

    #[test]
    fn grpc_timeouts_parse() {
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("x"), None);
        assert_eq!(parse_grpc_timeout(""), None);
    }
}
