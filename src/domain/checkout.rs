//! Stripe Checkout Sessions in setup mode: options, their rules, and stored sessions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::Violations;
use super::values::{self, Currency};
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

/// One of Stripe's option enums: its values, their Stripe words, and parsing from those words.
macro_rules! stripe_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, with the word Stripe uses for it.
            pub const VALUES: &'static [(&'static str, Self)] = &[$(($word, Self::$variant)),+];

            /// The word Stripe uses.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word),+
                }
            }

            /// Parses Stripe's word for a value (empty means unset).
            pub fn parse(field: &str, raw: &str) -> Result<Option<Self>, FieldViolation> {
                if raw.is_empty() {
                    return Ok(None);
                }
                match Self::VALUES.iter().find(|(word, _)| *word == raw) {
                    Some((_, value)) => Ok(Some(*value)),
                    None => {
                        let words: Vec<&str> = Self::VALUES.iter().map(|(w, _)| *w).collect();
                        Err(FieldViolation::new(
                            field,
                            format!("{raw:?} is not one of: {}", words.join(", ")),
                        ))
                    }
                }
            }
        }
    };
}

stripe_enum! {
    /// billing_address_collection.
    BillingAddressCollection { /** auto */ Auto = "auto", /** required */ Required = "required" }
}

stripe_enum! {
    /// tax_id_collection.required.
    TaxIdRequired { /** if_supported */ IfSupported = "if_supported", /** never */ Never = "never" }
}

stripe_enum! {
    /// customer_update.address, .name and .shipping (one Stripe enum for the three).
    CustomerUpdateBehavior { /** auto */ Auto = "auto", /** never */ Never = "never" }
}

stripe_enum! {
    /// consent_collection.payment_method_reuse_agreement.position.
    ReuseAgreementPosition { /** auto */ Auto = "auto", /** hidden */ Hidden = "hidden" }
}

stripe_enum! {
    /// consent_collection.promotions.
    PromotionsConsent { /** auto */ Auto = "auto", /** none */ None = "none" }
}

stripe_enum! {
    /// consent_collection.terms_of_service.
    TermsOfServiceConsent { /** none */ None = "none", /** required */ Required = "required" }
}

stripe_enum! {
    /// redirect_on_completion (embedded Checkout).
    RedirectOnCompletion {
        /** always */ Always = "always",
        /** if_required */ IfRequired = "if_required",
        /** never */ Never = "never",
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

/// Checkout options, parsed by [`CheckoutOptions::parse`]. `None` leaves Stripe's default.
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
    /// Billing address collection.
    pub billing_address_collection: Option<BillingAddressCollection>,
    /// Tax id collection: (enabled, required).
    pub tax_id_collection: Option<(bool, Option<TaxIdRequired>)>,
    /// customer_update address.
    pub customer_update_address: Option<CustomerUpdateBehavior>,
    /// customer_update name.
    pub customer_update_name: Option<CustomerUpdateBehavior>,
    /// customer_update shipping.
    pub customer_update_shipping: Option<CustomerUpdateBehavior>,
    /// consent_collection payment_method_reuse_agreement position.
    pub consent_reuse_agreement_position: Option<ReuseAgreementPosition>,
    /// consent_collection promotions.
    pub consent_promotions: Option<PromotionsConsent>,
    /// consent_collection terms_of_service.
    pub consent_terms_of_service: Option<TermsOfServiceConsent>,
    /// Custom texts.
    pub custom_text: CustomText,
    /// After completion (embedded only).
    pub redirect_on_completion: Option<RedirectOnCompletion>,
    /// Opt-out of the collected-details rule ([`super::collected`]): what Checkout collects
    /// never changes the patron customer. (Not serialized when false, so the fingerprints of
    /// requests from before the option existed stay the same.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_collected_details: bool,
}

/// Checkout options as a request carries them: text as given, enum values as Stripe's words
/// (empty means unset), `expires_at` in seconds since the epoch.
#[derive(Clone, Debug, Default)]
pub struct CheckoutOptionsInput {
    /// ISO 4217 code.
    pub currency: String,
    /// Hosted success URL.
    pub success_url: String,
    /// Hosted cancel URL.
    pub cancel_url: String,
    /// Embedded return URL.
    pub return_url: String,
    /// `hosted` (also when empty) or `embedded`.
    pub ui_mode: String,
    /// Caller's reference.
    pub client_reference_id: String,
    /// Checkout's locale.
    pub locale: String,
    /// Expiry, in seconds since the epoch.
    pub expires_at: Option<i64>,
    /// Caller's metadata.
    pub metadata: BTreeMap<String, String>,
    /// Payment method types to offer.
    pub payment_method_types: Vec<String>,
    /// billing_address_collection.
    pub billing_address_collection: String,
    /// tax_id_collection: (enabled, required).
    pub tax_id_collection: Option<(bool, String)>,
    /// customer_update.address.
    pub customer_update_address: String,
    /// customer_update.name.
    pub customer_update_name: String,
    /// customer_update.shipping.
    pub customer_update_shipping: String,
    /// consent_collection.payment_method_reuse_agreement.position.
    pub consent_reuse_agreement_position: String,
    /// consent_collection.promotions.
    pub consent_promotions: String,
    /// consent_collection.terms_of_service.
    pub consent_terms_of_service: String,
    /// custom_text.after_submit.
    pub custom_text_after_submit: String,
    /// custom_text.shipping_address.
    pub custom_text_shipping_address: String,
    /// custom_text.submit.
    pub custom_text_submit: String,
    /// custom_text.terms_of_service_acceptance.
    pub custom_text_terms_of_service_acceptance: String,
    /// redirect_on_completion.
    pub redirect_on_completion: String,
    /// ignore_collected_details.
    pub ignore_collected_details: bool,
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

/// Most characters of a client_reference_id.
pub const MAX_CLIENT_REFERENCE_ID: usize = 200;
/// The earliest expiry Stripe accepts, from now.
const MIN_EXPIRY_MICROS: i64 = 30 * 60 * 1_000_000;
/// The latest expiry Stripe accepts, from now.
const MAX_EXPIRY_MICROS: i64 = 24 * 3600 * 1_000_000;

/// An optional text of at most `max` characters (empty means none).
fn short(v: &mut Violations, field: String, raw: &str, max: usize) -> Option<String> {
    if raw.is_empty() {
        return None;
    }
    v.check(values::text(&field, raw, max))?;
    Some(raw.to_owned())
}

impl CheckoutOptions {
    /// Parses the options of a request (field paths under `prefix`) at time `now`: every field
    /// checked, then, if all are valid, the hosted/embedded rules (a malformed success_url is
    /// not also reported as missing). Every violation is returned.
    pub fn parse(
        prefix: &str,
        o: &CheckoutOptionsInput,
        now: Timestamp,
    ) -> Result<Self, Vec<FieldViolation>> {
        let p = prefix;
        let mut v = Violations::new();
        let ui_mode = match o.ui_mode.as_str() {
            "" | "hosted" => UiMode::Hosted,
            "embedded" => UiMode::Embedded,
            other => {
                v.add(
                    format!("{p}.ui_mode"),
                    format!("{other:?} is not HOSTED or EMBEDDED"),
                );
                UiMode::Hosted
            }
        };
        let locale = if o.locale.is_empty() {
            None
        } else if LOCALES.contains(&o.locale.as_str()) {
            Some(o.locale.clone())
        } else {
            v.add(
                format!("{p}.locale"),
                format!(
                    "{:?} is not a Checkout locale (e.g. auto, en, fr-CA)",
                    o.locale
                ),
            );
            None
        };
        let expires_at = o.expires_at.and_then(|seconds| {
            let micros = seconds.saturating_mul(1_000_000);
            let now = now.micros();
            let (min, max) = (
                now.saturating_add(MIN_EXPIRY_MICROS),
                now.saturating_add(MAX_EXPIRY_MICROS),
            );
            if micros < min || micros > max {
                v.add(
                    format!("{p}.expires_at"),
                    "must be 30 minutes to 24 hours from now",
                );
                None
            } else {
                Some(Timestamp(micros))
            }
        });
        let metadata = checkout_metadata(&mut v, p, &o.metadata);
        let mut payment_method_types = Vec::new();
        for (i, t) in o.payment_method_types.iter().enumerate() {
            if t.is_empty()
                || t.len() > 64
                || !t.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            {
                v.add(
                    format!("{p}.payment_method_types[{i}]"),
                    format!("{t:?} is not a payment method type (e.g. card)"),
                );
            } else if !payment_method_types.contains(t) {
                payment_method_types.push(t.clone());
            }
        }
        let tp = format!("{p}.custom_text");
        let custom_text = CustomText {
            after_submit: short(
                &mut v,
                format!("{tp}.after_submit"),
                &o.custom_text_after_submit,
                MAX_CUSTOM_TEXT,
            ),
            shipping_address: short(
                &mut v,
                format!("{tp}.shipping_address"),
                &o.custom_text_shipping_address,
                MAX_CUSTOM_TEXT,
            ),
            submit: short(
                &mut v,
                format!("{tp}.submit"),
                &o.custom_text_submit,
                MAX_CUSTOM_TEXT,
            ),
            terms_of_service_acceptance: short(
                &mut v,
                format!("{tp}.terms_of_service_acceptance"),
                &o.custom_text_terms_of_service_acceptance,
                MAX_CUSTOM_TEXT,
            ),
        };
        let field = |name: &str| format!("{p}.{name}");
        let options = CheckoutOptions {
            currency: v
                .check(Currency::parse(&field("currency"), &o.currency))
                .flatten(),
            success_url: v
                .check(parse_url(&field("success_url"), &o.success_url))
                .flatten(),
            cancel_url: v
                .check(parse_url(&field("cancel_url"), &o.cancel_url))
                .flatten(),
            return_url: v
                .check(parse_url(&field("return_url"), &o.return_url))
                .flatten(),
            ui_mode,
            client_reference_id: short(
                &mut v,
                field("client_reference_id"),
                &o.client_reference_id,
                MAX_CLIENT_REFERENCE_ID,
            ),
            locale,
            expires_at,
            metadata,
            payment_method_types,
            billing_address_collection: v
                .check(BillingAddressCollection::parse(
                    &field("billing_address_collection"),
                    &o.billing_address_collection,
                ))
                .flatten(),
            tax_id_collection: o.tax_id_collection.as_ref().map(|(enabled, required)| {
                let required = v
                    .check(TaxIdRequired::parse(
                        &field("tax_id_collection.required"),
                        required,
                    ))
                    .flatten();
                (*enabled, required)
            }),
            customer_update_address: v
                .check(CustomerUpdateBehavior::parse(
                    &field("customer_update.address"),
                    &o.customer_update_address,
                ))
                .flatten(),
            customer_update_name: v
                .check(CustomerUpdateBehavior::parse(
                    &field("customer_update.name"),
                    &o.customer_update_name,
                ))
                .flatten(),
            customer_update_shipping: v
                .check(CustomerUpdateBehavior::parse(
                    &field("customer_update.shipping"),
                    &o.customer_update_shipping,
                ))
                .flatten(),
            consent_reuse_agreement_position: v
                .check(ReuseAgreementPosition::parse(
                    &field("consent_collection.payment_method_reuse_agreement_position"),
                    &o.consent_reuse_agreement_position,
                ))
                .flatten(),
            consent_promotions: v
                .check(PromotionsConsent::parse(
                    &field("consent_collection.promotions"),
                    &o.consent_promotions,
                ))
                .flatten(),
            consent_terms_of_service: v
                .check(TermsOfServiceConsent::parse(
                    &field("consent_collection.terms_of_service"),
                    &o.consent_terms_of_service,
                ))
                .flatten(),
            custom_text,
            redirect_on_completion: v
                .check(RedirectOnCompletion::parse(
                    &field("redirect_on_completion"),
                    &o.redirect_on_completion,
                ))
                .flatten(),
            ignore_collected_details: o.ignore_collected_details,
        };
        if v.is_empty() {
            v.extend(options.ui_rules(prefix));
        }
        v.into_result(options)
    }

    /// The hosted/embedded rules: hosted needs success_url; embedded needs return_url (unless
    /// it never redirects) and refuses success_url and cancel_url.
    fn ui_rules(&self, prefix: &str) -> Vec<FieldViolation> {
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
                if self.return_url.is_none()
                    && self.redirect_on_completion != Some(RedirectOnCompletion::Never)
                {
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

/// The caller's metadata of a session: at most [`MAX_CHECKOUT_METADATA_ENTRIES`] entries, no
/// `patron_` keys, within Stripe's key and value limits.
fn checkout_metadata(
    v: &mut Violations,
    p: &str,
    raw: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut metadata = BTreeMap::new();
    if raw.len() > MAX_CHECKOUT_METADATA_ENTRIES {
        v.add(
            format!("{p}.metadata"),
            format!("must have at most {MAX_CHECKOUT_METADATA_ENTRIES} entries"),
        );
    }
    for (key, value) in raw {
        let field = format!("{p}.metadata[{key:?}]");
        if key.starts_with(RESERVED_METADATA_PREFIX) {
            v.add(
                field,
                format!("keys starting with {RESERVED_METADATA_PREFIX} are reserved for patron"),
            );
        } else if key.is_empty() || key.chars().count() > MAX_STRIPE_METADATA_KEY {
            v.add(
                field,
                format!("keys must be 1..{MAX_STRIPE_METADATA_KEY} characters"),
            );
        } else if let Err(violation) =
            values::storable(&field, key).and_then(|()| values::storable(&field, value))
        {
            v.add(violation.field, violation.description);
        } else if value.chars().count() > MAX_STRIPE_METADATA_VALUE {
            v.add(
                field,
                format!("values must be at most {MAX_STRIPE_METADATA_VALUE} characters"),
            );
        } else {
            metadata.insert(key.clone(), value.clone());
        }
    }
    metadata
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
    /// How what the customer enters flows back to the patron customer; `None`: it does not
    /// (opted out). Internal: never in a response.
    #[serde(skip)]
    pub collected_details: Option<super::collected::DetailsRule>,
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

    const NOW: Timestamp = Timestamp(1_800_000_000_000_000);

    fn fields(input: &CheckoutOptionsInput) -> Vec<String> {
        match CheckoutOptions::parse("o", input, NOW) {
            Ok(_) => Vec::new(),
            Err(violations) => violations.into_iter().map(|v| v.field).collect(),
        }
    }

    #[test]
    fn hosted_and_embedded_rules() {
        assert_eq!(fields(&CheckoutOptionsInput::default()), ["o.success_url"]);
        let embedded = CheckoutOptionsInput {
            ui_mode: "embedded".into(),
            success_url: "https://x.example/s".into(),
            ..Default::default()
        };
        assert_eq!(fields(&embedded), ["o.success_url", "o.return_url"]);
        let never = CheckoutOptionsInput {
            ui_mode: "embedded".into(),
            redirect_on_completion: "never".into(),
            ..Default::default()
        };
        assert!(fields(&never).is_empty());
        // The rules speak of valid fields only: a malformed URL is not also "required".
        let malformed = CheckoutOptionsInput {
            success_url: "not a url".into(),
            ..Default::default()
        };
        assert_eq!(fields(&malformed), ["o.success_url"]);
    }

    #[test]
    fn every_enum_field_is_parsed_into_its_own_type() {
        let input = CheckoutOptionsInput {
            success_url: "https://x.example/s".into(),
            billing_address_collection: "required".into(),
            tax_id_collection: Some((true, "if_supported".into())),
            customer_update_address: "auto".into(),
            customer_update_name: "never".into(),
            consent_reuse_agreement_position: "hidden".into(),
            consent_promotions: "none".into(),
            consent_terms_of_service: "required".into(),
            ..Default::default()
        };
        let o = CheckoutOptions::parse("o", &input, NOW).unwrap();
        assert_eq!(
            o.billing_address_collection,
            Some(BillingAddressCollection::Required)
        );
        assert_eq!(
            o.tax_id_collection,
            Some((true, Some(TaxIdRequired::IfSupported)))
        );
        assert_eq!(
            o.customer_update_address,
            Some(CustomerUpdateBehavior::Auto)
        );
        assert_eq!(o.customer_update_name, Some(CustomerUpdateBehavior::Never));
        assert_eq!(o.customer_update_shipping, None);
        assert_eq!(
            o.consent_reuse_agreement_position,
            Some(ReuseAgreementPosition::Hidden)
        );
        assert_eq!(o.consent_promotions, Some(PromotionsConsent::None));
        assert_eq!(
            o.consent_terms_of_service,
            Some(TermsOfServiceConsent::Required)
        );
        // A word of another field's enum is not a value of this one.
        let wrong = CheckoutOptionsInput {
            success_url: "https://x.example/s".into(),
            billing_address_collection: "never".into(),
            consent_promotions: "required".into(),
            redirect_on_completion: "hidden".into(),
            ..Default::default()
        };
        assert_eq!(
            fields(&wrong),
            [
                "o.billing_address_collection",
                "o.consent_collection.promotions",
                "o.redirect_on_completion"
            ]
        );
        for (word, value) in RedirectOnCompletion::VALUES {
            assert_eq!(value.as_str(), *word);
            assert_eq!(RedirectOnCompletion::parse("f", word), Ok(Some(*value)));
        }
    }

    #[test]
    fn expiry_is_30_minutes_to_24_hours_after_the_given_now() {
        let at = |seconds: i64| CheckoutOptionsInput {
            success_url: "https://x.example/s".into(),
            expires_at: Some(seconds),
            ..Default::default()
        };
        let now = NOW.micros() / 1_000_000;
        assert!(fields(&at(now + 30 * 60)).is_empty());
        assert!(fields(&at(now + 24 * 3600)).is_empty());
        assert_eq!(fields(&at(now + 30 * 60 - 1)), ["o.expires_at"]);
        assert_eq!(fields(&at(now + 24 * 3600 + 1)), ["o.expires_at"]);
        assert_eq!(fields(&at(i64::MAX)), ["o.expires_at"]);
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
