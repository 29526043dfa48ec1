//! Installed apps (Stripe accounts) and customers' data for them.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::page::{WireSize, wire};
use super::values::{Description, Metadata, Name};
use super::{FieldViolation, Timestamp};

/// Whether an app's credentials work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppStatus {
    /// The API key works.
    Ready,
    /// Stripe refused the API key (401/403).
    Unauthorized,
}

impl AppStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Unauthorized => "unauthorized",
        }
    }

    /// From the stored form (unknown values read as unauthorized: never trust them).
    pub fn from_stored(value: &str) -> Self {
        match value {
            "ready" => Self::Ready,
            _ => Self::Unauthorized,
        }
    }
}

/// A Stripe secret (`sk_`) or restricted (`rk_`) API key. Its Debug and Display never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct StripeApiKey(String);

const KEY_PREFIXES: [(&str, bool); 4] = [
    ("sk_test_", false),
    ("sk_live_", true),
    ("rk_test_", false),
    ("rk_live_", true),
];

impl StripeApiKey {
    /// Parses a key: it must start with sk_test_, sk_live_, rk_test_ or rk_live_ and have more
    /// after the prefix, with no white space.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        if raw.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        let known = KEY_PREFIXES
            .iter()
            .any(|(prefix, _)| raw.len() > prefix.len() && raw.starts_with(prefix));
        if !known || raw.chars().any(|c| c.is_whitespace() || c.is_control()) || raw.len() > 512 {
            return Err(FieldViolation::new(
                field,
                "must be a Stripe secret or restricted key (sk_test_, sk_live_, rk_test_ or rk_live_ followed by the key)",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A key read back from the encrypted store.
    pub fn from_stored(raw: String) -> Self {
        Self(raw)
    }

    /// Live mode follows the prefix.
    pub fn livemode(&self) -> bool {
        KEY_PREFIXES
            .iter()
            .any(|(prefix, live)| *live && self.0.starts_with(prefix))
    }

    /// The first 8 characters, `***` and the last 3; short keys show only their prefix, so no
    /// length reveals the whole key.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() >= 16 {
            let head: String = chars[..8].iter().collect();
            let tail: String = chars[chars.len() - 3..].iter().collect();
            format!("{head}***{tail}")
        } else {
            let head: String = chars.iter().take(chars.len().min(8) / 2).collect();
            format!("{head}***")
        }
    }

    /// The key itself, for the Stripe adapter and the cipher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StripeApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StripeApiKey({})", self.masked())
    }
}

/// A Stripe webhook signing secret (`whsec_...`). Its Debug never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// Wraps a secret.
    pub fn new(raw: String) -> Self {
        Self(raw)
    }

    /// The secret itself, for signature checks and the cipher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

/// An installed Stripe app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    /// ULID.
    pub id: String,
    /// Display name.
    pub name: Name,
    /// Free text.
    pub description: Option<Description>,
    /// Labels.
    pub metadata: Metadata,
    /// Whether the key works.
    pub status: AppStatus,
    /// The namespace's default app.
    pub is_default: bool,
    /// Stripe account (acct_...).
    pub stripe_account_id: String,
    /// Live or test mode.
    pub livemode: bool,
    /// The masked API key.
    pub masked_api_key: String,
    /// The webhook endpoint registered at Stripe (we_...).
    pub webhook_endpoint_id: Option<String>,
    /// Its URL.
    pub webhook_url: Option<String>,
    /// Install time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Uninstall time.
    pub deleted_at: Option<Timestamp>,
}

/// An app's secrets as stored: encrypted, base64 (nonce + ciphertext). `None` once wiped.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AppSecrets {
    /// The encrypted API key.
    pub api_key_ciphertext: Option<String>,
    /// The encrypted webhook signing secret.
    pub webhook_secret_ciphertext: Option<String>,
}

impl fmt::Debug for AppSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppSecrets(***)")
    }
}

/// A customer's data for one app (for Stripe: the Stripe customer and default payment method).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerApp {
    /// ULID of the entry.
    pub id: String,
    /// The patron customer.
    pub customer_id: String,
    /// The app.
    pub app_id: String,
    /// The Stripe customer (cus_...).
    pub stripe_customer_id: String,
    /// The default payment method (pm_...).
    pub stripe_default_payment_method_id: Option<String>,
    /// `created` of the webhook event that set the default payment method (newest wins).
    pub default_payment_method_event_created: Option<i64>,
    /// When Stripe said (`customer.deleted`) the Stripe customer is gone; the next checkout
    /// replaces it.
    pub stripe_customer_deleted_at: Option<Timestamp>,
    /// Created.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Soft-deleted.
    pub deleted_at: Option<Timestamp>,
}

impl WireSize for App {
    fn wire_size(&self) -> usize {
        wire::ITEM
            + wire::text(&self.id)
            + wire::text(self.name.as_str())
            + wire::opt(&self.description)
            + wire::map(self.metadata.entries())
            + 3 * wire::SCALAR
            + wire::FIELD
            + wire::text(&self.stripe_account_id)
            + wire::SCALAR
            + wire::text(&self.masked_api_key)
            + wire::opt(&self.webhook_url)
            + 3 * wire::TIMESTAMP
    }
}

/// Longest Stripe object id a caller may give.
pub const MAX_STRIPE_ID: usize = 255;

/// A Stripe object id given by a caller: `prefix` (e.g. `cus_`, `pm_`), then at least one
/// letter, digit or underscore, at most [`MAX_STRIPE_ID`] characters in all.
pub fn parse_stripe_id(field: &str, raw: &str, prefix: &str) -> Result<String, FieldViolation> {
    let valid = raw.len() > prefix.len()
        && raw.len() <= MAX_STRIPE_ID
        && raw.starts_with(prefix)
        && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(FieldViolation::new(
            field,
            format!("must be a Stripe id starting with {prefix}"),
        ));
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_ids_have_their_prefix_and_safe_characters() {
        assert_eq!(
            parse_stripe_id("f", "cus_A1_b", "cus_"),
            Ok("cus_A1_b".to_owned())
        );
        let long = format!("cus_{}", "x".repeat(MAX_STRIPE_ID));
        for bad in [
            "",
            "cus_",
            "cu_1",
            "pm_1",
            "cus_1 2",
            "cus_é",
            long.as_str(),
        ] {
            assert!(parse_stripe_id("f", bad, "cus_").is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_need_a_known_prefix_and_follow_its_mode() {
        assert!(!StripeApiKey::parse("k", "sk_test_abc").unwrap().livemode());
        assert!(StripeApiKey::parse("k", "rk_live_abc").unwrap().livemode());
        for bad in ["", "pk_test_abc", "sk_test_", "sk_test_a b", "whsec_x"] {
            assert!(StripeApiKey::parse("k", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn masking_never_shows_a_short_key_whole() {
        let key = StripeApiKey::parse("k", "sk_test_51HxYzAbCdEfGh123").unwrap();
        assert_eq!(key.masked(), "sk_test_***123");
        let short = StripeApiKey::parse("k", "sk_test_ab").unwrap();
        assert_eq!(short.masked(), "sk_t***");
        assert!(!format!("{key:?}").contains("51HxYz"));
    }
}
