//! The gRPC surface: generated code, one module per service, the error mapping and conversions.
//! The only module that knows protobuf types.

pub mod convert;
pub mod customers;
pub mod status;

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
pub const SERVICE_NAMES: &[&str] = &["patron.v1.CustomerService"];

/// The namespace the request acts for, set by the interceptor.
pub fn namespace<T>(request: &Request<T>) -> Namespace {
    request
        .extensions()
        .get::<Namespace>()
        .cloned()
        .unwrap_or_default()
}

/// Interceptor that binds every call to its namespace. Without API keys (until authentication is
/// configured) every call acts for the `default` namespace.
pub fn bind_namespace(mut request: Request<()>) -> Result<Request<()>, tonic::Status> {
    request.extensions_mut().insert(Namespace::default());
    Ok(request)
}
