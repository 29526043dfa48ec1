//! StripeCheckoutService: decode (every option validated, field paths under `options`), call the
//! use case, encode.

use std::collections::BTreeMap;

use tonic::{Request, Response, Status};

use super::apps::optional_app_id;
use super::convert::{self, timestamp};
use super::pb::stripe_checkout_service_server::StripeCheckoutService;
use super::pb::{self, checkout_customer};
use super::{deadline, namespace};
use crate::domain::checkout::{
    CheckoutOptions, CheckoutSession, Choice, CustomText, LOCALES, MAX_CHECKOUT_METADATA_ENTRIES,
    MAX_CUSTOM_TEXT, MAX_STRIPE_METADATA_KEY, MAX_STRIPE_METADATA_VALUE, RESERVED_METADATA_PREFIX,
    SessionStatus, UiMode, parse_url,
};
use crate::domain::error::Violations;
use crate::domain::values::{self, Currency, Identifier, RequestId, ResourceId};
use crate::domain::{Error, Timestamp, page};
use crate::service::Checkout;
use crate::service::checkout::{CheckoutCustomer, CreateCheckout};

/// The StripeCheckoutService handlers.
#[derive(Clone, Debug)]
pub struct CheckoutApi {
    checkout: Checkout,
}

impl CheckoutApi {
    /// Handlers over the use cases.
    pub fn new(checkout: Checkout) -> Self {
        Self { checkout }
    }
}

fn status_to_pb(status: SessionStatus) -> pb::StripeCheckoutSessionStatus {
    match status {
        SessionStatus::Open => pb::StripeCheckoutSessionStatus::Open,
        SessionStatus::Complete => pb::StripeCheckoutSessionStatus::Complete,
        SessionStatus::Expired => pb::StripeCheckoutSessionStatus::Expired,
    }
}

fn session_to_pb(s: CheckoutSession) -> pb::StripeCheckoutSession {
    pb::StripeCheckoutSession {
        customer_id: s.customer_id,
        stripe_customer_id: s.stripe_customer_id,
        session_id: s.session_id,
        setup_intent_id: s.setup_intent_id.unwrap_or_default(),
        url: s.url.unwrap_or_default(),
        client_secret: s.client_secret.unwrap_or_default(),
        mode: pb::StripeCheckoutSessionMode::Setup as i32,
        status: status_to_pb(s.status) as i32,
        currency: s.currency.unwrap_or_default(),
        expires_at: s.expires_at.map(timestamp),
        created_at: Some(timestamp(s.created_at)),
        success_url: s.success_url.unwrap_or_default(),
        cancel_url: s.cancel_url.unwrap_or_default(),
        return_url: s.return_url.unwrap_or_default(),
        client_reference_id: s.client_reference_id.unwrap_or_default(),
        customer_email: s.customer_email.unwrap_or_default(),
        metadata: s.metadata.into_iter().collect(),
        app_id: s.app_id,
        ui_mode: match s.ui_mode {
            UiMode::Hosted => pb::StripeCheckoutUiMode::Hosted,
            UiMode::Embedded => pb::StripeCheckoutUiMode::Embedded,
        } as i32,
    }
}

/// An enum field: 0 (unspecified) is `None`; unknown numbers are a violation.
fn choice(v: &mut Violations, field: &str, raw: i32, values: &[(i32, Choice)]) -> Option<Choice> {
    if raw == 0 {
        return None;
    }
    match values.iter().find(|(n, _)| *n == raw) {
        Some((_, c)) => Some(*c),
        None => {
            v.add(field, format!("{raw} is not a value of this enum"));
            None
        }
    }
}

/// Checks the `id` of a Checkout Session lookup: required, storable, at most 255 characters.
fn session_id(id: &str) -> Result<(), Error> {
    if id.is_empty() {
        return Err(Error::invalid("id", "is required"));
    }
    values::text("id", id, 255).map_err(|v| Error::InvalidArgument(vec![v]))
}

fn short(v: &mut Violations, field: &str, raw: &str, max: usize) -> Option<String> {
    if raw.is_empty() {
        return None;
    }
    v.check(values::text(field, raw, max))?;
    Some(raw.to_owned())
}

fn options(
    v: &mut Violations,
    raw: Option<&pb::StripeCheckoutSessionOptions>,
    now: Timestamp,
) -> CheckoutOptions {
    let default = pb::StripeCheckoutSessionOptions::default();
    let o = raw.unwrap_or(&default);
    let p = "options";
    let ui_mode = match pb::StripeCheckoutUiMode::try_from(o.ui_mode) {
        Ok(pb::StripeCheckoutUiMode::Embedded) => UiMode::Embedded,
        Ok(_) => UiMode::Hosted,
        Err(_) => {
            v.add(
                format!("{p}.ui_mode"),
                format!("{} is not HOSTED or EMBEDDED", o.ui_mode),
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
    let expires_at = o.expires_at.and_then(|t| {
        let micros = t.seconds.saturating_mul(1_000_000);
        let now = now.micros();
        let (min, max) = (now + 30 * 60 * 1_000_000, now + 24 * 3600 * 1_000_000);
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
    let mut metadata = BTreeMap::new();
    if o.metadata.len() > MAX_CHECKOUT_METADATA_ENTRIES {
        v.add(
            format!("{p}.metadata"),
            format!("must have at most {MAX_CHECKOUT_METADATA_ENTRIES} entries"),
        );
    }
    for (key, value) in &o.metadata {
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
    let mut payment_method_types = Vec::new();
    for (i, t) in o.payment_method_types.iter().enumerate() {
        if t.is_empty() || t.len() > 64 || !t.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            v.add(
                format!("{p}.payment_method_types[{i}]"),
                format!("{t:?} is not a payment method type (e.g. card)"),
            );
        } else if !payment_method_types.contains(t) {
            payment_method_types.push(t.clone());
        }
    }
    use pb::{
        BillingAddressCollection as B, CustomerUpdateBehavior as U,
        PaymentMethodReuseAgreementPosition as P, PromotionsConsent as Pr,
        RedirectOnCompletion as R, TaxIdRequired as T, TermsOfServiceConsent as Tos,
    };
    let auto_never = [
        (U::Auto as i32, Choice::Auto),
        (U::Never as i32, Choice::Never),
    ];
    let update = o.customer_update.unwrap_or_default();
    let consent = o.consent_collection.unwrap_or_default();
    let text = o.custom_text.clone().unwrap_or_default();
    let tp = format!("{p}.custom_text");
    let custom_text = CustomText {
        after_submit: short(
            v,
            &format!("{tp}.after_submit"),
            &text.after_submit,
            MAX_CUSTOM_TEXT,
        ),
        shipping_address: short(
            v,
            &format!("{tp}.shipping_address"),
            &text.shipping_address,
            MAX_CUSTOM_TEXT,
        ),
        submit: short(v, &format!("{tp}.submit"), &text.submit, MAX_CUSTOM_TEXT),
        terms_of_service_acceptance: short(
            v,
            &format!("{tp}.terms_of_service_acceptance"),
            &text.terms_of_service_acceptance,
            MAX_CUSTOM_TEXT,
        ),
    };
    CheckoutOptions {
        currency: v
            .check(Currency::parse(&format!("{p}.currency"), &o.currency))
            .flatten(),
        success_url: v
            .check(parse_url(&format!("{p}.success_url"), &o.success_url))
            .flatten(),
        cancel_url: v
            .check(parse_url(&format!("{p}.cancel_url"), &o.cancel_url))
            .flatten(),
        return_url: v
            .check(parse_url(&format!("{p}.return_url"), &o.return_url))
            .flatten(),
        ui_mode,
        client_reference_id: short(
            v,
            &format!("{p}.client_reference_id"),
            &o.client_reference_id,
            200,
        ),
        locale,
        expires_at,
        metadata,
        payment_method_types,
        billing_address_collection: choice(
            v,
            &format!("{p}.billing_address_collection"),
            o.billing_address_collection,
            &[
                (B::Auto as i32, Choice::Auto),
                (B::Required as i32, Choice::Required),
            ],
        ),
        tax_id_collection: o.tax_id_collection.as_ref().map(|t| {
            let required = choice(
                v,
                &format!("{p}.tax_id_collection.required"),
                t.required,
                &[
                    (T::IfSupported as i32, Choice::IfSupported),
                    (T::Never as i32, Choice::Never),
                ],
            );
            (t.enabled, required)
        }),
        customer_update_address: choice(
            v,
            &format!("{p}.customer_update.address"),
            update.address,
            &auto_never,
        ),
        customer_update_name: choice(
            v,
            &format!("{p}.customer_update.name"),
            update.name,
            &auto_never,
        ),
        customer_update_shipping: choice(
            v,
            &format!("{p}.customer_update.shipping"),
            update.shipping,
            &auto_never,
        ),
        consent_reuse_agreement_position: choice(
            v,
            &format!("{p}.consent_collection.payment_method_reuse_agreement_position"),
            consent.payment_method_reuse_agreement_position,
            &[
                (P::Auto as i32, Choice::Auto),
                (P::Hidden as i32, Choice::Hidden),
            ],
        ),
        consent_promotions: choice(
            v,
            &format!("{p}.consent_collection.promotions"),
            consent.promotions,
            &[
                (Pr::Auto as i32, Choice::Auto),
                (Pr::None as i32, Choice::None),
            ],
        ),
        consent_terms_of_service: choice(
            v,
            &format!("{p}.consent_collection.terms_of_service"),
            consent.terms_of_service,
            &[
                (Tos::None as i32, Choice::None),
                (Tos::Required as i32, Choice::Required),
            ],
        ),
        custom_text,
        redirect_on_completion: choice(
            v,
            &format!("{p}.redirect_on_completion"),
            o.redirect_on_completion,
            &[
                (R::Always as i32, Choice::Always),
                (R::IfRequired as i32, Choice::IfRequired),
                (R::Never as i32, Choice::Never),
            ],
        ),
    }
}

fn checkout_customer(
    v: &mut Violations,
    raw: Option<&pb::CheckoutCustomer>,
) -> Option<CheckoutCustomer> {
    match raw.and_then(|c| c.customer.as_ref()) {
        Some(checkout_customer::Customer::Id(id)) => v
            .check(ResourceId::parse("customer.id", id))
            .map(CheckoutCustomer::Id),
        Some(checkout_customer::Customer::Key(key)) => v
            .check(Identifier::parse("customer.key", key))
            .map(CheckoutCustomer::Key),
        Some(checkout_customer::Customer::Create(c)) => match convert::customer_fields(Some(c)) {
            Ok(fields) => Some(CheckoutCustomer::Create(Box::new(fields))),
            Err(Error::InvalidArgument(violations)) => {
                for violation in violations {
                    // customer_fields names paths under `customer`; here it is `customer.create`.
                    let field = violation.field.replacen("customer", "customer.create", 1);
                    v.add(field, violation.description);
                }
                None
            }
            Err(other) => {
                v.add("customer.create", other.to_string());
                None
            }
        },
        None => {
            v.add("customer", "is required: set id, key or create");
            None
        }
    }
}

#[tonic::async_trait]
impl StripeCheckoutService for CheckoutApi {
    async fn create_stripe_checkout_session(
        &self,
        request: Request<pb::CreateStripeCheckoutSessionRequest>,
    ) -> Result<Response<pb::StripeCheckoutSession>, Status> {
        let (ns, deadline) = (namespace(&request), deadline(&request));
        let r = request.into_inner();
        let mut v = Violations::new();
        let app_id = v.check(optional_app_id("app_id", &r.app_id)).flatten();
        let customer = checkout_customer(&mut v, r.customer.as_ref());
        let stripe_customer_id = if r.stripe_customer_id.is_empty() {
            None
        } else if r.stripe_customer_id.starts_with("cus_")
            && r.stripe_customer_id.len() > 4
            && r.stripe_customer_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            Some(r.stripe_customer_id.clone())
        } else {
            v.add(
                "stripe_customer_id",
                "must be a Stripe customer id (cus_...)",
            );
            None
        };
        let options = options(&mut v, r.options.as_ref(), self.checkout.now());
        // The hosted/embedded rules speak of valid fields only (a malformed success_url must not
        // also be reported as missing).
        if v.is_empty() {
            for violation in options.check_ui_rules("options") {
                v.add(violation.field, violation.description);
            }
        }
        let request_id = v
            .check(RequestId::parse("request_id", &r.request_id))
            .flatten();
        v.finish()?;
        let Some(customer) = customer else {
            return Err(Error::Internal("checkout parsed without a customer".into()).into());
        };
        let input = CreateCheckout {
            app_id,
            customer,
            stripe_customer_id,
            options,
        };
        let session = self
            .checkout
            .create(&ns, input, request_id, deadline)
            .await?;
        Ok(Response::new(session_to_pb(session)))
    }

    async fn get_stripe_checkout_session(
        &self,
        request: Request<pb::GetStripeCheckoutSessionRequest>,
    ) -> Result<Response<pb::StripeCheckoutSession>, Status> {
        let ns = namespace(&request);
        let id = &request.get_ref().id;
        session_id(id)?;
        Ok(Response::new(session_to_pb(
            self.checkout.get(&ns, id).await?,
        )))
    }

    async fn list_stripe_checkout_sessions(
        &self,
        request: Request<pb::ListStripeCheckoutSessionsRequest>,
    ) -> Result<Response<pb::ListStripeCheckoutSessionsResponse>, Status> {
        let ns = namespace(&request);
        let r = request.get_ref();
        let mut v = Violations::new();
        let page_size = v.check(page::page_size("page_size", r.page_size));
        let customer_id = if r.customer_id.is_empty() {
            None
        } else {
            v.check(ResourceId::parse("customer_id", &r.customer_id))
                .map(ResourceId::into_string)
        };
        let status = match pb::StripeCheckoutSessionStatus::try_from(r.status) {
            Ok(pb::StripeCheckoutSessionStatus::Unspecified) => None,
            Ok(pb::StripeCheckoutSessionStatus::Open) => Some(SessionStatus::Open),
            Ok(pb::StripeCheckoutSessionStatus::Complete) => Some(SessionStatus::Complete),
            Ok(pb::StripeCheckoutSessionStatus::Expired) => Some(SessionStatus::Expired),
            Err(_) => {
                v.add("status", format!("{} is not a session status", r.status));
                None
            }
        };
        v.finish()?;
        let page = self
            .checkout
            .list(
                &ns,
                customer_id.as_deref(),
                status,
                page_size.unwrap_or(page::DEFAULT_PAGE_SIZE),
                &r.page_token,
            )
            .await?;
        Ok(Response::new(pb::ListStripeCheckoutSessionsResponse {
            sessions: page.items.into_iter().map(session_to_pb).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn expire_stripe_checkout_session(
        &self,
        request: Request<pb::ExpireStripeCheckoutSessionRequest>,
    ) -> Result<Response<pb::StripeCheckoutSession>, Status> {
        let (ns, deadline) = (namespace(&request), deadline(&request));
        let id = request.get_ref().id.clone();
        session_id(&id)?;
        Ok(Response::new(session_to_pb(
            self.checkout.expire(&ns, &id, deadline).await?,
        )))
    }
}
