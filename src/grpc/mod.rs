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
pub mod limit;
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

/// Services served beside patron's own, whose methods are not in `FILE_DESCRIPTOR_SET`.
const OTHER_METHODS: &[(&str, &str)] = &[
    (
        "grpc.reflection.v1.ServerReflection",
        "ServerReflectionInfo",
    ),
    (
        "grpc.reflection.v1alpha.ServerReflection",
        "ServerReflectionInfo",
    ),
];

/// Every (service, method) patron serves, by request path (`/service/method`): patron's services
/// and health from their descriptors, reflection from `OTHER_METHODS`. Metrics label calls from
/// this fixed set only, so no request can add series.
fn known_methods() -> &'static std::collections::HashMap<String, (String, String)> {
    use prost::Message;
    static KNOWN: std::sync::OnceLock<std::collections::HashMap<String, (String, String)>> =
        std::sync::OnceLock::new();
    KNOWN.get_or_init(|| {
        let mut known = std::collections::HashMap::new();
        let mut add = |service: &str, method: &str| {
            known.insert(
                format!("/{service}/{method}"),
                (service.to_owned(), method.to_owned()),
            );
        };
        for set in [FILE_DESCRIPTOR_SET, tonic_health::pb::FILE_DESCRIPTOR_SET] {
            // The sets are generated at build time; one that does not decode adds nothing (and
            // the test below fails).
            let Ok(set) = prost_types::FileDescriptorSet::decode(set) else {
                continue;
            };
            for file in &set.file {
                for service in &file.service {
                    let name = match file.package() {
                        "" => service.name().to_owned(),
                        package => format!("{package}.{}", service.name()),
                    };
                    for method in &service.method {
                        add(&name, method.name());
                    }
                }
            }
        }
        for (service, method) in OTHER_METHODS {
            add(service, method);
        }
        known
    })
}

/// The (service, method) of a request path when patron serves it, else ("unknown", "unknown").
pub fn method_labels(path: &str) -> (&'static str, &'static str) {
    known_methods()
        .get(path)
        .map_or(("unknown", "unknown"), |(s, m)| (s.as_str(), m.as_str()))
}

/// The namespace the request acts for, set by the interceptor.
pub fn namespace<T>(request: &Request<T>) -> Namespace {
    request
        .extensions()
        .get::<Namespace>()
        .cloned()
        .unwrap_or_default()
}

/// The deadline of a call when neither the server layer nor the caller set one (the layer always
/// does in a running server; see `limit::Limits` and `PATRON_DEFAULT_DEADLINE_MS`).
pub const DEFAULT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

/// Longest a call waits on Stripe, whatever the caller's deadline.
const MAX_STRIPE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// When the call must be answered, set by the server layer (`limit`) from the caller's
/// `grpc-timeout` or the configured default deadline.
#[derive(Clone, Copy, Debug)]
pub struct CallDeadline {
    /// When the call started.
    pub started: tokio::time::Instant,
    /// Its whole budget.
    pub timeout: std::time::Duration,
}

/// The call's deadline for waiting on Stripe: the call's deadline (the caller's `grpc-timeout`
/// or the server's default; capped at 60 s), minus a small margin so our answer arrives before
/// the caller (or the server layer) gives up.
pub fn deadline<T>(request: &Request<T>) -> tokio::time::Instant {
    let (started, timeout) = match request.extensions().get::<CallDeadline>() {
        Some(d) => (d.started, d.timeout),
        None => (
            tokio::time::Instant::now(),
            request
                .metadata()
                .get("grpc-timeout")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_grpc_timeout)
                .unwrap_or(DEFAULT_DEADLINE),
        ),
    };
    let timeout = timeout.min(MAX_STRIPE_WAIT);
    let margin = (timeout / 20).min(std::time::Duration::from_millis(200));
    started + timeout.saturating_sub(margin)
}

/// Parses gRPC's `grpc-timeout` header: digits and a unit (H, M, S, m, u, n).
pub(crate) fn parse_grpc_timeout(value: &str) -> Option<std::time::Duration> {
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
    fn method_labels_come_from_a_fixed_set() {
        use super::method_labels;
        assert_eq!(
            method_labels("/patron.v1.CustomerService/GetCustomer"),
            ("patron.v1.CustomerService", "GetCustomer")
        );
        assert_eq!(
            method_labels("/patron.v1.EventService/IngestEvents"),
            ("patron.v1.EventService", "IngestEvents")
        );
        assert_eq!(
            method_labels("/grpc.health.v1.Health/Watch"),
            ("grpc.health.v1.Health", "Watch")
        );
        assert_eq!(
            method_labels("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo").1,
            "ServerReflectionInfo"
        );
        for unknown in [
            "/patron.v1.CustomerService/Nope",
            "/x/y",
            "/patron.v1.CustomerService/GetCustomer/",
            "",
        ] {
            assert_eq!(method_labels(unknown), ("unknown", "unknown"), "{unknown}");
        }
        for service in super::SERVICE_NAMES {
            assert!(
                super::known_methods().values().any(|(s, _)| s == service),
                "{service} has known methods"
            );
        }
    }

    #[test]
    fn grpc_timeouts_parse() {
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("x"), None);
        assert_eq!(parse_grpc_timeout(""), None);
    }
}
