//! StripeCheckoutService: decode, parse (the rules live in `domain::checkout`), call the use case,
//! encode.

use tonic::{Request, Response, Status};

use super::apps::optional_app_id;
use super::convert::{self, timestamp};
use super::pb::stripe_checkout_service_server::StripeCheckoutService;
use super::pb::{self, checkout_customer};
use super::{deadline, namespace};
use crate::domain::app::parse_stripe_id;
use crate::domain::checkout::{
    CheckoutOptions, CheckoutOptionsInput, CheckoutSession, SessionStatus, UiMode,
};
use crate::domain::error::Violations;
use crate::domain::values::{self, Identifier, RequestId, ResourceId};
use crate::domain::{Error, page};
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

/// Checks the `id` of a Checkout Session lookup: required, storable, at most 255 characters.
fn session_id(id: &str) -> Result<(), Error> {
    if id.is_empty() {
        return Err(Error::invalid("id", "is required"));
    }
    values::text("id", id, 255).map_err(|v| Error::InvalidArgument(vec![v]))
}

/// Stripe's word for a proto enum value: `""` for 0 (unspecified), the number itself (which no
/// enum of the domain accepts) for a value this build does not know.
fn word<E: Copy>(raw: i32, known: &[(E, &'static str)], number: impl Fn(E) -> i32) -> String {
    if raw == 0 {
        return String::new();
    }
    known
        .iter()
        .find(|(e, _)| number(*e) == raw)
        .map_or_else(|| raw.to_string(), |(_, w)| (*w).to_owned())
}

/// The options of a request as the domain parses them (decoding only: no rule is checked here).
fn options_input(raw: Option<&pb::StripeCheckoutSessionOptions>) -> CheckoutOptionsInput {
    use pb::{
        BillingAddressCollection as B, CustomerUpdateBehavior as U,
        PaymentMethodReuseAgreementPosition as P, PromotionsConsent as Pr,
        RedirectOnCompletion as R, StripeCheckoutUiMode as M, TaxIdRequired as T,
        TermsOfServiceConsent as Tos,
    };
    let default = pb::StripeCheckoutSessionOptions::default();
    let o = raw.unwrap_or(&default);
    let update = o.customer_update.unwrap_or_default();
    let consent = o.consent_collection.unwrap_or_default();
    let text = o.custom_text.clone().unwrap_or_default();
    let behavior = |raw: i32| word(raw, &[(U::Auto, "auto"), (U::Never, "never")], |e| e as i32);
    CheckoutOptionsInput {
        currency: o.currency.clone(),
        success_url: o.success_url.clone(),
        cancel_url: o.cancel_url.clone(),
        return_url: o.return_url.clone(),
        ui_mode: word(
            o.ui_mode,
            &[(M::Hosted, "hosted"), (M::Embedded, "embedded")],
            |e| e as i32,
        ),
        client_reference_id: o.client_reference_id.clone(),
        locale: o.locale.clone(),
        expires_at: o.expires_at.map(|t| t.seconds),
        metadata: o.metadata.clone().into_iter().collect(),
        payment_method_types: o.payment_method_types.clone(),
        billing_address_collection: word(
            o.billing_address_collection,
            &[(B::Auto, "auto"), (B::Required, "required")],
            |e| e as i32,
        ),
        tax_id_collection: o.tax_id_collection.as_ref().map(|t| {
            let required = word(
                t.required,
                &[(T::IfSupported, "if_supported"), (T::Never, "never")],
                |e| e as i32,
            );
            (t.enabled, required)
        }),
        customer_update_address: behavior(update.address),
        customer_update_name: behavior(update.name),
        customer_update_shipping: behavior(update.shipping),
        consent_reuse_agreement_position: word(
            consent.payment_method_reuse_agreement_position,
            &[(P::Auto, "auto"), (P::Hidden, "hidden")],
            |e| e as i32,
        ),
        consent_promotions: word(
            consent.promotions,
            &[(Pr::Auto, "auto"), (Pr::None, "none")],
            |e| e as i32,
        ),
        consent_terms_of_service: word(
            consent.terms_of_service,
            &[(Tos::None, "none"), (Tos::Required, "required")],
            |e| e as i32,
        ),
        custom_text_after_submit: text.after_submit,
        custom_text_shipping_address: text.shipping_address,
        custom_text_submit: text.submit,
        custom_text_terms_of_service_acceptance: text.terms_of_service_acceptance,
        redirect_on_completion: word(
            o.redirect_on_completion,
            &[
                (R::Always, "always"),
                (R::IfRequired, "if_required"),
                (R::Never, "never"),
            ],
            |e| e as i32,
        ),
        ignore_collected_details: o.ignore_collected_details,
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
        } else {
            v.check(parse_stripe_id(
                "stripe_customer_id",
                &r.stripe_customer_id,
                "cus_",
            ))
        };
        let options = match CheckoutOptions::parse(
            "options",
            &options_input(r.options.as_ref()),
            self.checkout.now(),
        ) {
            Ok(options) => Some(options),
            Err(violations) => {
                v.extend(violations);
                None
            }
        };
        let request_id = v
            .check(RequestId::parse("request_id", &r.request_id))
            .flatten();
        v.finish()?;
        let (Some(customer), Some(options)) = (customer, options) else {
            return Err(
                Error::Internal("checkout parsed without a customer or options".into()).into(),
            );
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
