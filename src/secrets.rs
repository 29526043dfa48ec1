//! Secrets at rest: AES-256-GCM with a key-encryption key from configuration (or, for the
//! embedded SQLite default, a key generated once into a 0600 file beside the database).
//!
//! A ciphertext is base64(nonce || ciphertext+tag). The associated data binds it to its purpose
//! and row ("app/<id>/api_key"), so a ciphertext copied to another row or field does not decrypt.

use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Length of the key-encryption key.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// Why a secret key or a ciphertext could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The configured key is not 32 bytes of base64.
    #[error("must be 32 bytes, base64-encoded (e.g. `openssl rand -base64 32`)")]
    BadKey,
    /// The key file could not be read or written.
    #[error("key file {path}: {message}")]
    KeyFile {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A ciphertext did not decrypt (wrong key, tampered, or moved to another row).
    #[error("a stored secret could not be decrypted (was PATRON_SECRET_KEY changed?)")]
    Decrypt,
}

/// Encrypts and decrypts stored secrets. Its Debug shows nothing of the key.
#[derive(Clone)]
pub struct Cipher {
    aead: Aes256Gcm,
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cipher(***)")
    }
}

impl Cipher {
    /// A cipher with a key given as base64 text.
    pub fn from_base64(encoded: &str) -> Result<Self, SecretError> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| SecretError::BadKey)?;
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, SecretError> {
        if bytes.len() != KEY_LEN {
            return Err(SecretError::BadKey);
        }
        let aead = Aes256Gcm::new_from_slice(bytes).map_err(|_| SecretError::BadKey)?;
        Ok(Self { aead })
    }

    /// A cipher with a fresh random key (for in-memory databases and tests).
    pub fn random() -> Self {
        let key: [u8; KEY_LEN] = rand::random();
        // A 32-byte key is always accepted.
        Self::from_bytes(&key).unwrap_or_else(|_| unreachable!("32-byte key"))
    }

    /// The key stored in `path`, generated there (mode 0600) on first use.
    pub fn from_key_file_or_create(path: &Path) -> Result<Self, SecretError> {
        let file_error = |message: String| SecretError::KeyFile {
            path: path.display().to_string(),
            message,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_base64(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; KEY_LEN] = rand::random();
                let encoded = STANDARD.encode(key);
                write_private(path, &encoded).map_err(|e| file_error(e.to_string()))?;
                Self::from_bytes(&key)
            }
            Err(e) => Err(file_error(e.to_string())),
        }
    }

    /// Encrypts `plaintext` for `purpose`.
    pub fn encrypt(&self, purpose: &str, plaintext: &str) -> String {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let nonce = Nonce::from(nonce_bytes);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: purpose.as_bytes(),
        };
        // AES-GCM encryption of an in-memory buffer cannot fail for inputs this small.
        let sealed = self.aead.encrypt(&nonce, payload).unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&sealed);
        STANDARD.encode(out)
    }

    /// Decrypts a ciphertext made by `encrypt` for the same `purpose`.
    pub fn decrypt(&self, purpose: &str, ciphertext: &str) -> Result<String, SecretError> {
        let bytes = STANDARD
            .decode(ciphertext)
            .map_err(|_| SecretError::Decrypt)?;
        if bytes.len() <= NONCE_LEN {
            return Err(SecretError::Decrypt);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SecretError::Decrypt)?;
        let plain = self
            .aead
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| SecretError::Decrypt)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_binds_the_purpose() {
        let cipher = Cipher::random();
        let sealed = cipher.encrypt("app/1/api_key", "sk_test_secret");
        assert!(!sealed.contains("sk_test_secret"));
        assert_eq!(
            cipher.decrypt("app/1/api_key", &sealed).unwrap(),
            "sk_test_secret"
        );
        assert!(
            cipher.decrypt("app/2/api_key", &sealed).is_err(),
            "moved to another row"
        );
        assert!(
            Cipher::random().decrypt("app/1/api_key", &sealed).is_err(),
            "another key"
        );
        assert_ne!(
            sealed,
            cipher.encrypt("app/1/api_key", "sk_test_secret"),
            "random nonce"
        );
    }

    #[test]
    fn keys_are_32_bytes_of_base64() {
        assert!(Cipher::from_base64(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(Cipher::from_base64(&STANDARD.encode([7u8; 16])).is_err());
        assert!(Cipher::from_base64("not base64!").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn the_embedded_key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("patron.db.secret-key");
        let first = Cipher::from_key_file_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let sealed = first.encrypt("p", "x");
        let second = Cipher::from_key_file_or_create(&path).unwrap();
        assert_eq!(second.decrypt("p", &sealed).unwrap(), "x");
    }
}
