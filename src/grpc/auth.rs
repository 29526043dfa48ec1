//! The gRPC side of authentication: the interceptor that puts the caller's namespace on every
//! call of a patron service (health and reflection are not behind it). The keys and their
//! checks are transport-independent, in `crate::auth`.

use tonic::service::Interceptor;
use tonic::{Request, Status};

pub use crate::auth::{Auth, new_key};

fn unauthenticated() -> Status {
    Status::unauthenticated("missing or invalid API key: send `authorization: Bearer <api key>`")
}

impl Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let namespace = self.authenticate(header).ok_or_else(unauthenticated)?;
        request.extensions_mut().insert(namespace);
        Ok(request)
    }
}
