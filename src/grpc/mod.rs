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

/// One method patron serves: its number among them (0..[`known_method_count`]), its service and
/// its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownMethod {
    /// A dense number, for per-method tables.
    pub index: usize,
    /// The service's full name (`patron.v1.CustomerService`).
    pub service: &'static str,
    /// The method's name (`GetCustomer`).
    pub method: &'static str,
}

/// Every (service, method) patron serves, by request path (`/service/method`), with its number:
/// patron's services and health from their descriptors, reflection from `OTHER_METHODS`. Metrics
/// label calls from this fixed set only, so no request can add series.
fn known_methods() -> &'static std::collections::HashMap<String, (String, String, usize)> {
    use prost::Message;
    static KNOWN: std::sync::OnceLock<std::collections::HashMap<String, (String, String, usize)>> =
        std::sync::OnceLock::new();
    KNOWN.get_or_init(|| {
        // Sorted by path, which gives each its number below.
        let mut known = std::collections::BTreeMap::new();
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
            .into_iter()
            .enumerate()
            .map(|(index, (path, (service, method)))| (path, (service, method, index)))
            .collect()
    })
}

/// How many methods patron serves.
pub fn known_method_count() -> usize {
    known_methods().len()
}

/// The method a request path names, when patron serves it.
pub fn known_method(path: &str) -> Option<KnownMethod> {
    let (service, method, index) = known_methods().get(path)?;
    Some(KnownMethod {
        index: *index,
        service,
        method,
    })
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
        let labels = |path: &str| super::known_method(path).map(|m| (m.service, m.method));
        assert_eq!(
            labels("/patron.v1.CustomerService/GetCustomer"),
            Some(("patron.v1.CustomerService", "GetCustomer"))
        );
        assert_eq!(
            labels("/patron.v1.EventService/IngestEvents"),
            Some(("patron.v1.EventService", "IngestEvents"))
        );
        assert_eq!(
            labels("/grpc.health.v1.Health/Watch"),
            Some(("grpc.health.v1.Health", "Watch"))
        );
        assert_eq!(
            labels("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo").map(|l| l.1),
            Some("ServerReflectionInfo")
        );
        for unknown in [
            "/patron.v1.CustomerService/Nope",
            "/x/y",
            "/patron.v1.CustomerService/GetCustomer/",
            "",
        ] {
            assert_eq!(labels(unknown), None, "{unknown}");
        }
        for service in super::SERVICE_NAMES {
            assert!(
                super::known_methods()
                    .values()
                    .any(|(s, _, _)| s == service),
                "{service} has known methods"
            );
        }
    }

    #[test]
    fn known_methods_are_numbered_densely() {
        let count = super::known_method_count();
        let mut seen = vec![false; count];
        for path in super::known_methods().keys() {
            let method = super::known_method(path).expect("known");
            assert_eq!(format!("/{}/{}", method.service, method.method), *path);
            assert!(!seen[method.index], "{path} shares its number");
            seen[method.index] = true;
        }
        assert!(
            seen.iter().all(|s| *s),
            "every number in 0..{count} is used"
        );
        assert_eq!(super::known_method("/x/y"), None);
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
