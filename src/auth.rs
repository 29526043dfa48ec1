//! API keys: `Authorization: Bearer <api key>` maps a call to its namespace, for every transport
//! (the gRPC interceptor in `grpc::auth`, the REST extractor in `rest`); webhooks are
//! authenticated by signature.
//!
//! Keys are configured as SHA-256 digests. The presented key is hashed and compared with every
//! configured digest in constant time, without stopping at a match, so timing reveals neither
//! which key matched nor how much of a digest did.
//!
//! The keys of the API keys file can be swapped while serving (`reload`): SIGHUP and a poll of the
//! file's content re-read it; a file that does not parse keeps the previous keys.

use std::sync::{Arc, PoisonError, RwLock};

use sha2::{Digest, Sha256};

use crate::config::ApiKeyDigest;
use crate::domain::Namespace;

/// The configured API keys.
#[derive(Clone, Debug)]
pub struct Auth {
    /// Keys given inline (PATRON_API_KEYS): fixed for the life of the process.
    fixed: Arc<[ApiKeyDigest]>,
    /// Keys of the API keys file: swapped whole on reload (the lock is held only to clone or
    /// replace the Arc, never across an await).
    reloadable: Arc<RwLock<Arc<[ApiKeyDigest]>>>,
    /// Fixed at start: a reload that empties the file revokes every key, it never turns
    /// authentication off.
    required: bool,
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

impl Auth {
    /// Authentication with these keys; with none, every call acts for the `default` namespace
    /// (the configuration allows that only on loopback listeners or with --insecure-no-auth).
    pub fn new(keys: Vec<ApiKeyDigest>) -> Self {
        Self::with_file_keys(keys, None)
    }

    /// Authentication with fixed keys and, when a keys file is configured, its current keys.
    /// With a file, calls always need a key, even while the file holds none.
    pub fn with_file_keys(fixed: Vec<ApiKeyDigest>, file: Option<Vec<ApiKeyDigest>>) -> Self {
        let required = !fixed.is_empty() || file.is_some();
        Self {
            fixed: fixed.into(),
            reloadable: Arc::new(RwLock::new(file.unwrap_or_default().into())),
            required,
        }
    }

    /// Whether calls need a key.
    pub fn is_required(&self) -> bool {
        self.required
    }

    /// Replaces the keys of the API keys file (every clone of this Auth sees them at once).
    pub fn replace_file_keys(&self, keys: Vec<ApiKeyDigest>) {
        let mut current = self
            .reloadable
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *current = keys.into();
    }

    /// The namespace a call acts for, from its `authorization` header value: the key's namespace
    /// when keys are required (`None`: refuse the call), `default` when they are not.
    pub fn authenticate(&self, header: Option<&str>) -> Option<Namespace> {
        if self.is_required() {
            self.namespace_for(header)
        } else {
            Some(Namespace::default())
        }
    }

    /// The namespace of a presented `authorization` header value.
    pub fn namespace_for(&self, header: Option<&str>) -> Option<Namespace> {
        let key = header?.strip_prefix("Bearer ")?.trim();
        if key.is_empty() {
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let reloadable = Arc::clone(
            &self
                .reloadable
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let mut found: Option<&str> = None;
        for configured in self.fixed.iter().chain(reloadable.iter()) {
            if constant_time_eq(&digest, &configured.digest) && found.is_none() {
                found = Some(&configured.namespace);
            }
        }
        found.map(Namespace::new)
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

    #[test]
    fn file_keys_are_swapped_and_fixed_keys_stay() {
        let (fixed, fixed_entry) = new_key("fixed");
        let (old, old_entry) = new_key("old");
        let (new, new_entry) = new_key("new");
        let auth = Auth::with_file_keys(
            parse_api_keys("k", &fixed_entry).unwrap(),
            Some(parse_api_keys("k", &old_entry).unwrap()),
        );
        let clone = auth.clone();
        let ns = |h: &str| clone.namespace_for(Some(h)).map(|n| n.as_str().to_owned());
        assert_eq!(ns(&format!("Bearer {old}")).as_deref(), Some("old"));
        auth.replace_file_keys(parse_api_keys("k", &new_entry).unwrap());
        assert_eq!(ns(&format!("Bearer {old}")), None);
        assert_eq!(ns(&format!("Bearer {new}")).as_deref(), Some("new"));
        assert_eq!(ns(&format!("Bearer {fixed}")).as_deref(), Some("fixed"));
        auth.replace_file_keys(Vec::new());
        assert!(
            clone.is_required(),
            "an emptied file revokes keys, never auth"
        );
        assert_eq!(ns(&format!("Bearer {new}")), None);
    }
}
