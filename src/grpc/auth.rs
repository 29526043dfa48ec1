//! Authentication: `authorization: Bearer <api key>` maps a call to its namespace. One
//! interceptor serves every patron service (health and reflection are not behind it; webhooks
//! are authenticated by signature).
//!
//! Keys are configured as SHA-256 digests. The presented key is hashed and compared with every
//! configured digest in constant time, without stopping at a match, so timing reveals neither
//! which key matched nor how much of a digest did.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::config::ApiKeyDigest;
use crate::domain::Namespace;

/// The interceptor.
#[derive(Clone, Debug)]
pub struct Auth {
    keys: Arc<[ApiKeyDigest]>,
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

fn unauthenticated() -> Status {
    Status::unauthenticated("missing or invalid API key: send `authorization: Bearer <api key>`")
}

impl Auth {
    /// Authentication with these keys; with none, every call acts for the `default` namespace
    /// (the configuration allows that only on loopback listeners or with --insecure-no-auth).
    pub fn new(keys: Vec<ApiKeyDigest>) -> Self {
        Self { keys: keys.into() }
    }

    /// Whether calls need a key.
    pub fn is_required(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The namespace of a presented `authorization` header value.
    pub fn namespace_for(&self, header: Option<&str>) -> Option<Namespace> {
        let key = header?.strip_prefix("Bearer ")?.trim();
        if key.is_empty() {
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found: Option<&str> = None;
        for configured in self.keys.iter() {
            if constant_time_eq(&digest, &configured.digest) && found.is_none() {
                found = Some(&configured.namespace);
            }
        }
        found.map(Namespace::new)
    }
}

impl Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let namespace = if self.is_required() {
            let header = request
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            self.namespace_for(header).ok_or_else(unauthenticated)?
        } else {
            Namespace::default()
        };
        request.extensions_mut().insert(namespace);
        Ok(request)
    }
}

/// A new API key and its `namespace:sha256hex` configuration entry.
pub fn new_key(namespace: &str) -> (String, String) {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    let key = format!(
        "patron_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let digest: String = Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (key, format!("{namespace}:{digest}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_api_keys;

    #[test]
    fn keys_map_to_their_namespace_and_nothing_else_does() {
        let (key_a, entry_a) = new_key("tenant-a");
        let (key_b, entry_b) = new_key("tenant-b");
        let auth = Auth::new(parse_api_keys("k", &format!("{entry_a},{entry_b}")).unwrap());
        let ns = |h: &str| auth.namespace_for(Some(h)).map(|n| n.as_str().to_owned());
        assert_eq!(ns(&format!("Bearer {key_a}")).as_deref(), Some("tenant-a"));
        assert_eq!(ns(&format!("Bearer {key_b}")).as_deref(), Some("tenant-b"));
        assert_eq!(ns("Bearer patron_wrong"), None);
        assert_eq!(ns(&format!("Basic {key_a}")), None);
        assert_eq!(ns("Bearer "), None);
        assert_eq!(auth.namespace_for(None), None);
        assert!(
            !entry_a.contains(&key_a),
            "the entry holds the digest, not the key"
        );
    }
}
