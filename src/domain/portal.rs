//! Stripe Billing customer portal sessions.

use super::Timestamp;
use super::app::parse_stripe_id;
use super::checkout::parse_url;
use super::error::{Error, FieldViolation, Violations};

/// Locales the customer portal accepts (`POST /v1/billing_portal/sessions` `locale`).
pub const PORTAL_LOCALES: &[&str] = &[
    "auto", "bg", "cs", "da", "de", "el", "en", "en-AU", "en-CA", "en-GB", "en-IE", "en-IN",
    "en-NZ", "en-SG", "es", "es-419", "et", "fi", "fil", "fr", "fr-CA", "hr", "hu", "id", "it",
    "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl",
    "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
];

/// The options of a portal session, as OpenMeter offers them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortalOptions {
    /// bpc_...; `None` for the account's default configuration.
    pub configuration_id: Option<String>,
    /// One of [`PORTAL_LOCALES`].
    pub locale: Option<String>,
    /// Absolute http(s) URL.
    pub return_url: Option<String>,
}

fn parse_locale(field: &str, raw: &str) -> Result<Option<String>, FieldViolation> {
    if raw.is_empty() {
        return Ok(None);
    }
    if PORTAL_LOCALES.contains(&raw) {
        Ok(Some(raw.to_owned()))
    } else {
        Err(FieldViolation::new(
            field,
            format!("must be one of {}", PORTAL_LOCALES.join(", ")),
        ))
    }
}

impl PortalOptions {
    /// Parses the raw options (empty strings mean "not given"); every violation names its field.
    pub fn parse(configuration_id: &str, locale: &str, return_url: &str) -> Result<Self, Error> {
        let mut v = Violations::new();
        let configuration_id = if configuration_id.is_empty() {
            None
        } else {
            v.check(parse_stripe_id(
                "configuration_id",
                configuration_id,
                "bpc_",
            ))
        };
        let locale = v.check(parse_locale("locale", locale)).flatten();
        let return_url = v.check(parse_url("return_url", return_url)).flatten();
        v.finish()?;
        Ok(Self {
            configuration_id,
            locale,
            return_url,
        })
    }
}

/// A customer portal session, as Stripe returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalSession {
    /// bps_...
    pub id: String,
    /// cus_...
    pub stripe_customer_id: String,
    /// bpc_...
    pub configuration_id: String,
    /// Live mode.
    pub livemode: bool,
    /// When Stripe created it.
    pub created_at: Timestamp,
    /// Return URL.
    pub return_url: Option<String>,
    /// Locale.
    pub locale: Option<String>,
    /// The portal's URL.
    pub url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_name_each_bad_field() {
        let Err(Error::InvalidArgument(v)) = PortalOptions::parse("cfg_1", "xx", "ftp://a") else {
            panic!("expected INVALID_ARGUMENT");
        };
        let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["configuration_id", "locale", "return_url"]);
    }

    #[test]
    fn options_accept_stripe_values() {
        let o =
            PortalOptions::parse("bpc_1", "fr-CA", "https://example.com/back").unwrap_or_default();
        assert_eq!(o.configuration_id.as_deref(), Some("bpc_1"));
        assert_eq!(o.locale.as_deref(), Some("fr-CA"));
        assert_eq!(o.return_url.as_deref(), Some("https://example.com/back"));
        assert_eq!(
            PortalOptions::parse("", "", "").ok(),
            Some(PortalOptions::default())
        );
    }
}
