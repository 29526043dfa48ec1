//! Stripe Checkout Sessions in setup mode: options, their rules, and stored sessions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::values::Currency;
use super::{FieldViolation, Timestamp};

/// How Checkout is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum UiMode {
    /// A page hosted by Stripe.
    #[default]
    Hosted,
    /// Embedded in the caller's page.
    Embedded,
}

impl UiMode {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hosted => "hosted",
            Self::Embedded => "embedded",
        }
    }

    /// From the stored form.
    pub fn from_stored(value: &str) -> Self {
        if value == "embedded" {
            Self::Embedded
        } else {
            Self::Hosted
        }
    }
}

/// The state of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionStatus {
    /// Waiting for the customer.
    Open,
    /// Completed.
    Complete,
    /// Expired.
    Expired,
}

impl SessionStatus {
    /// Stored form (Stripe's words).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Complete => "complete",
            Self::Expired => "expired",
        }
    }

    /// From the stored form or Stripe's value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "open" => Some(Self::Open),
            "complete" => Some(Self::Complete),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// Choices of Stripe's option enums, by their canonical lower-case value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Choice {
    /// auto
    Auto,
    /// required
    Required,
    /// never
    Never,
    /// if_supported
    IfSupported,
    /// hidden
    Hidden,
    /// none
    None,
    /// always
    Always,
    /// if_required
    IfRequired,
}

impl Choice {
    /// The value Stripe uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Required => "required",
            Self::Never => "never",
            Self::IfSupported => "if_supported",
            Self::Hidden => "hidden",
            Self::None => "none",
            Self::Always => "always",
            Self::IfRequired => "if_required",
        }
    }
}

/// Custom texts (each at most 1200 characters).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomText {
    /// After submit.
    pub after_submit: Option<String>,
    /// Next to the shipping address.
    pub shipping_address: Option<String>,
    /// Next to the submit button.
    pub submit: Option<String>,
    /// Terms of service acceptance.
    pub terms_of_service_acceptance: Option<String>,
}

/// Validated Checkout options. `None` leaves Stripe's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutOptions {
    /// Currency (default: the customer's).
    pub currency: Option<Currency>,
    /// Hosted success URL.
    pub success_url: Option<String>,
    /// Hosted cancel URL.
    pub cancel_url: Option<String>,
    /// Embedded return URL.
    pub return_url: Option<String>,
    /// Hosted or embedded.
    pub ui_mode: UiMode,
    /// Caller's reference.
    pub client_reference_id: Option<String>,
    /// Checkout's locale.
    pub locale: Option<String>,
    /// Expiry.
    pub expires_at: Option<Timestamp>,
    /// Caller's metadata (no `patron_` keys).
    pub metadata: BTreeMap<String, String>,
    /// Payment method types to offer.
    pub payment_method_types: Vec<String>,
    /// auto | required.
    pub billing_address_collection: Option<Choice>,
    /// Tax id collection: (enabled, required: if_supported | never).
    pub tax_id_collection: Option<(bool, Option<Choice>)>,
    /// customer_update address: auto | never.
    pub customer_update_address: Option<Choice>,
    /// customer_update name: auto | never.
    pub customer_update_name: Option<Choice>,
    /// customer_update shipping: auto | never.
    pub customer_update_shipping: Option<Choice>,
    /// consent_collection payment_method_reuse_agreement position: auto | hidden.
    pub consent_reuse_agreement_position: Option<Choice>,
    /// consent_collection promotions: auto | none.
    pub consent_promotions: Option<Choice>,
    /// consent_collection terms_of_service: none | required.
    pub consent_terms_of_service: Option<Choice>,
    /// Custom texts.
    pub custom_text: CustomText,
    /// always | if_required | never (embedded).
    pub redirect_on_completion: Option<Choice>,
}

/// Most characters of a custom text.
pub const MAX_CUSTOM_TEXT: usize = 1200;
/// Metadata keys patron adds to sessions, setup intents and Stripe customers.
pub const RESERVED_METADATA_PREFIX: &str = "patron_";
/// Stripe's metadata limits, with room for the patron_* keys.
pub const MAX_CHECKOUT_METADATA_ENTRIES: usize = 45;
/// Stripe's metadata key limit.
pub const MAX_STRIPE_METADATA_KEY: usize = 40;
/// Stripe's metadata value limit.
pub const MAX_STRIPE_METADATA_VALUE: usize = 500;

/// Locales Checkout accepts.
pub const LOCALES: &[&str] = &[
    "auto", "bg", "cs", "da", "de", "el", "en", "en-GB", "es", "es-419", "et", "fi", "fil", "fr",
    "fr-CA", "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt",
    "pt-BR", "ro", "ru", "sk", "sl", "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
];

/// Parses an absolute http(s) URL of at most 2048 characters (empty means none).
pub fn parse_url(field: &str, raw: &str) -> Result<Option<String>, FieldViolation> {
    if raw.is_empty() {
        return Ok(None);
    }
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty()
    });
    if !host_ok || raw.len() > 2048 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldViolation::new(
            field,
            "must be an absolute http(s) URL of at most 2048 characters",
        ));
    }
    Ok(Some(raw.to_owned()))
}

impl CheckoutOptions {
    /// The rules checked before any Stripe call: hosted needs success_url; embedded needs
    /// return_url (unless it never redirects) and refuses success_url and cancel_url.
    pub fn check_ui_rules(&self, prefix: &str) -> Vec<FieldViolation> {
        let mut v = Vec::new();
        match self.ui_mode {
            UiMode::Hosted => {
                if self.success_url.is_none() {
                    v.push(FieldViolation::new(
                        format!("{prefix}.success_url"),
                        "is required for hosted Checkout",
                    ));
                }
                if self.return_url.is_some() {
                    v.push(FieldViolation::new(
                        format!("{prefix}.return_url"),
                        "is only for embedded Checkout; hosted uses success_url",
                    ));
                }
                if self.redirect_on_completion.is_some() {
                    v.push(FieldViolation::new(
                        format!("{prefix}.redirect_on_completion"),
                        "is only for embedded Checkout",
                    ));
                }
            }
            UiMode::Embedded => {
                for (name, value) in [
                    ("success_url", &self.success_url),
                    ("cancel_url", &self.cancel_url),
                ] {
                    if value.is_some() {
                        v.push(FieldViolation::new(
                            format!("{prefix}.{name}"),
                            "is not allowed for embedded Checkout; use return_url",
                        ));
                    }
                }
                if self.return_url.is_none() && self.redirect_on_completion != Some(Choice::Never) {
                    v.push(FieldViolation::new(
                        format!("{prefix}.return_url"),
                        "is required for embedded Checkout (unless redirect_on_completion is NEVER)",
                    ));
                }
            }
        }
        v
    }
}

/// A stored Checkout Session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutSession {
    /// Stripe's id (cs_...).
    pub session_id: String,
    /// The app.
    pub app_id: String,
    /// The patron customer.
    pub customer_id: String,
    /// The Stripe customer.
    pub stripe_customer_id: String,
    /// The SetupIntent.
    pub setup_intent_id: Option<String>,
    /// State.
    pub status: SessionStatus,
    /// Hosted or embedded.
    pub ui_mode: UiMode,
    /// Hosted URL.
    pub url: Option<String>,
    /// Embedded client secret.
    pub client_secret: Option<String>,
    /// Currency, upper case.
    pub currency: Option<String>,
    /// Success URL.
    pub success_url: Option<String>,
    /// Cancel URL.
    pub cancel_url: Option<String>,
    /// Return URL.
    pub return_url: Option<String>,
    /// Caller's reference.
    pub client_reference_id: Option<String>,
    /// Email given to Stripe.
    pub customer_email: Option<String>,
    /// Session metadata (caller's plus patron_*).
    pub metadata: BTreeMap<String, String>,
    /// The request_id that created it.
    pub request_id: Option<String>,
    /// Expiry.
    pub expires_at: Option<Timestamp>,
    /// Created.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

impl super::page::WireSize for CheckoutSession {
    fn wire_size(&self) -> usize {
        use super::page::wire;
        /// The client secret of an embedded session is added after the page is cut.
        const CLIENT_SECRET: usize = 1024;
        wire::ITEM
            + CLIENT_SECRET
            + wire::text(&self.session_id)
            + wire::text(&self.app_id)
            + wire::text(&self.customer_id)
            + wire::text(&self.stripe_customer_id)
            + wire::opt(&self.setup_intent_id)
            + 3 * wire::SCALAR
            + wire::opt(&self.url)
            + wire::opt(&self.client_secret)
            + wire::opt(&self.currency)
            + wire::opt(&self.success_url)
            + wire::opt(&self.cancel_url)
            + wire::opt(&self.return_url)
            + wire::opt(&self.client_reference_id)
            + wire::opt(&self.customer_email)
            + wire::map(&self.metadata)
            + wire::opt(&self.request_id)
            + 3 * wire::TIMESTAMP
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosted_and_embedded_rules() {
        let hosted = CheckoutOptions::default();
        assert_eq!(hosted.check_ui_rules("o")[0].field, "o.success_url");
        let embedded = CheckoutOptions {
            ui_mode: UiMode::Embedded,
            success_url: Some("https://x.example/s".into()),
            ..Default::default()
        };
        let fields: Vec<String> = embedded
            .check_ui_rules("o")
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["o.success_url", "o.return_url"]);
        let never = CheckoutOptions {
            ui_mode: UiMode::Embedded,
            redirect_on_completion: Some(Choice::Never),
            ..Default::default()
        };
        assert!(never.check_ui_rules("o").is_empty());
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(
            parse_url("u", "https://example.com/done?x=1")
                .unwrap()
                .is_some()
        );
        assert!(parse_url("u", "").unwrap().is_none());
        for bad in ["example.com", "ftp://x", "https://", "https:// x"] {
            assert!(parse_url("u", bad).is_err(), "{bad}");
        }
    }
}
