//! The Stripe round trip a new user tries: Checkout with billing address collection, completed
//! at the Stripe double, the collected details on the patron customer (GetCustomer), a portal
//! session, the default card changed and a card detached at Stripe, the Stripe customer deleted
//! and a new checkout; the opt-out, a field the caller changed after the session was created,
//! `customer_update[address]=auto` through `customer.updated`, and the same in a second tenant.

use fake_stripe::{EnteredDetails, Event, FakeStripe};
use patron::grpc::pb;
use prost_types::FieldMask;
use serde_json::json;
use tonic::Code;

use crate::helpers::{Tenant, TestApp, assert_error};
use crate::on_both_databases;

const ACCOUNT_A: &str = "acct_1DetailsTenantA";
const STRIPE_KEY_A: &str = "sk_test_51DetailsTenantAKey000";
const ACCOUNT_B: &str = "acct_1DetailsTenantB";
const STRIPE_KEY_B: &str = "sk_test_51DetailsTenantBKey000";
const API_KEY_A: &str = "patron_test_key_a_details_0123456789";
const API_KEY_B: &str = "patron_test_key_b_details_9876543210";
const KEYS: &[(&str, &str)] = &[("details-a", API_KEY_A), ("details-b", API_KEY_B)];

/// One tenant with its own Stripe account installed as its default app.
struct Shop<'a> {
    app: &'a TestApp,
    tenant: Tenant,
    stripe_key: &'static str,
    account: &'static str,
}

fn auto() -> i32 {
    pb::CustomerUpdateBehavior::Auto as i32
}

fn entered() -> EnteredDetails {
    EnteredDetails {
        name: Some("Ada Buyer".into()),
        country: Some("DE".into()),
        postal_code: Some("10115".into()),
        state: Some("Berlin".into()),
        city: Some("Berlin".into()),
        line1: Some("Invalidenstr. 1".into()),
        line2: Some("3rd floor".into()),
    }
}

fn by_key(key: &str) -> pb::get_customer_request::Lookup {
    pb::get_customer_request::Lookup::Key(key.into())
}

impl<'a> Shop<'a> {
    async fn open(
        app: &'a TestApp,
        api_key: &str,
        stripe_key: &'static str,
        account: &'static str,
    ) -> Self {
        app.stripe.add_account(stripe_key, account);
        app.stripe.create_portal_configuration(account, true, None);
        let tenant = app.tenant(api_key).await;
        tenant
            .apps
            .clone()
            .install_stripe_app(pb::InstallStripeAppRequest {
                api_key: stripe_key.into(),
                ..Default::default()
            })
            .await
            .expect("install");
        Self {
            app,
            tenant,
            stripe_key,
            account,
        }
    }

    fn stripe(&self) -> &FakeStripe {
        &self.app.stripe
    }

    /// A checkout for customer `key` (created with only a name, so no address), with `options`
    /// over hosted defaults.
    async fn checkout(
        &self,
        key: &str,
        options: pb::StripeCheckoutSessionOptions,
    ) -> pb::StripeCheckoutSession {
        self.tenant
            .checkout
            .clone()
            .create_stripe_checkout_session(pb::CreateStripeCheckoutSessionRequest {
                customer: Some(pb::CheckoutCustomer {
                    customer: Some(pb::checkout_customer::Customer::Create(pb::Customer {
                        name: "ACME, Inc.".into(),
                        key: key.into(),
                        ..Default::default()
                    })),
                }),
                options: Some(pb::StripeCheckoutSessionOptions {
                    currency: "EUR".into(),
                    success_url: "https://example.com/success".into(),
                    ..options
                }),
                ..Default::default()
            })
            .await
            .expect("checkout")
            .into_inner()
    }

    async fn customer(&self, key: &str) -> pb::Customer {
        self.tenant
            .get_customer(by_key(key))
            .await
            .expect("get customer")
    }

    /// Completes the session at Stripe with a new card and what the customer `typed`; returns
    /// the card and the events Stripe emitted.
    fn complete(
        &self,
        session: &pb::StripeCheckoutSession,
        typed: &EnteredDetails,
    ) -> (String, Vec<Event>) {
        let card = self
            .stripe()
            .create_payment_method(self.stripe_key, Some(&session.stripe_customer_id));
        let events =
            self.stripe()
                .complete_checkout_session_with(&session.session_id, &card, typed);
        (card, events)
    }

    /// Delivers an event to this tenant's endpoint (the only one of its account).
    async fn deliver(&self, event: &Event) -> String {
        let deliveries = self.stripe().deliver_to_endpoints(event).await;
        assert_eq!(
            deliveries.len(),
            1,
            "{}: {deliveries:?}",
            event.event_type()
        );
        assert_eq!(deliveries[0].status, 200, "{}", deliveries[0].body);
        deliveries[0].body.clone()
    }

    async fn deliver_all(&self, events: &[Event]) {
        for event in events {
            self.deliver(event).await;
        }
    }

    /// Calls the Stripe double's API with this shop's key, as the Dashboard or the portal would.
    async fn stripe_api(&self, method: &str, path: &str, form: &str) -> u16 {
        let url = format!("http://{}{path}", self.stripe().addr());
        let auth = format!("Bearer {}", self.stripe_key);
        let headers = [
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ];
        fake_stripe::http::send(method, &url, &headers, form)
            .await
            .expect("Stripe API")
            .status
    }

    /// The last event of `event_type` about `object_id`, a second after `after` (event times are
    /// whole seconds; a tie keeps the current default payment method).
    fn last_event(&self, event_type: &str, object_id: &str, after: i64) -> Event {
        let event = self
            .stripe()
            .events()
            .into_iter()
            .rev()
            .find(|e| e.event_type() == event_type && e.object()["id"] == json!(object_id))
            .unwrap_or_else(|| panic!("no {event_type} event for {object_id}"));
        assert_eq!(event.account_id(), self.account);
        let created = event.created().max(after + 1);
        event.with_created(created)
    }

    async fn stripe_data(&self, key: &str) -> pb::StripeCustomerAppData {
        let entries = self
            .tenant
            .customer_apps
            .clone()
            .list_customer_apps(pb::ListCustomerAppsRequest {
                customer: Some(pb::list_customer_apps_request::Customer::CustomerKey(
                    key.into(),
                )),
            })
            .await
            .expect("list customer apps")
            .into_inner()
            .data;
        assert_eq!(entries.len(), 1, "{entries:?}");
        match &entries[0].data {
            Some(pb::customer_app_data::Data::Stripe(s)) => s.clone(),
            None => panic!("no Stripe data"),
        }
    }

    /// The whole round trip for customer `key`.
    async fn round_trip(&self, key: &str) {
        let session = self
            .checkout(
                key,
                pb::StripeCheckoutSessionOptions {
                    billing_address_collection: pb::BillingAddressCollection::Required as i32,
                    ..Default::default()
                },
            )
            .await;
        let before = self.customer(key).await;
        assert_eq!(
            before.billing_address.clone().unwrap_or_default(),
            pb::Address::default()
        );

        // Completed at Stripe: the address lands on the card; patron takes it from there.
        let (card, events) = self.complete(&session, &entered());
        let types: Vec<&str> = events.iter().map(Event::event_type).collect();
        assert_eq!(
            types,
            ["setup_intent.succeeded", "checkout.session.completed"]
        );
        self.deliver_all(&events).await;
        let after = self.customer(key).await;
        assert_ne!(after.etag, before.etag, "one write, a new etag");
        assert_eq!(
            after.billing_address,
            Some(pb::Address {
                country: "DE".into(),
                postal_code: "10115".into(),
                state: "Berlin".into(),
                city: "Berlin".into(),
                line1: "Invalidenstr. 1".into(),
                line2: "3rd floor".into(),
                phone_number: String::new(),
            })
        );
        assert_eq!(after.name, "ACME, Inc.", "the name was not asked for");
        // The card's billing details were read at Stripe once; a replay reads nothing and
        // changes nothing.
        let reads = || {
            self.stripe()
                .requests_to("GET", &format!("/v1/payment_methods/{card}"))
                .len()
        };
        assert_eq!(reads(), 1);
        let replay = self.deliver(&events[0]).await;
        assert!(replay.contains("duplicate"), "{replay}");
        assert_eq!(reads(), 1);
        assert_eq!(self.customer(key).await.etag, after.etag);
        assert_eq!(
            self.stripe_data(key).await.stripe_default_payment_method_id,
            card
        );

        // A portal session for that customer.
        let portal = self
            .tenant
            .customer_apps
            .clone()
            .create_stripe_customer_portal_session(pb::CreateStripeCustomerPortalSessionRequest {
                customer: Some(
                    pb::create_stripe_customer_portal_session_request::Customer::CustomerKey(
                        key.into(),
                    ),
                ),
                return_url: "https://example.com/account".into(),
                ..Default::default()
            })
            .await
            .expect("portal session")
            .into_inner();
        assert_eq!(portal.stripe_customer_id, session.stripe_customer_id);
        assert!(portal.url.starts_with("https://"), "{}", portal.url);

        // The default card changed at Stripe (as in the portal), then detached there.
        let stripe_customer = session.stripe_customer_id.clone();
        let second = self
            .stripe()
            .create_payment_method(self.stripe_key, Some(&stripe_customer));
        let path = format!("/v1/customers/{stripe_customer}");
        let form = format!("invoice_settings[default_payment_method]={second}");
        assert_eq!(self.stripe_api("POST", &path, &form).await, 200);
        let changed = self.last_event("customer.updated", &stripe_customer, events[0].created());
        self.deliver(&changed).await;
        assert_eq!(
            self.stripe_data(key).await.stripe_default_payment_method_id,
            second
        );
        let detach = format!("/v1/payment_methods/{second}/detach");
        assert_eq!(self.stripe_api("POST", &detach, "").await, 200);
        let detached = self.last_event("payment_method.detached", &second, changed.created());
        self.deliver(&detached).await;
        let data = self.stripe_data(key).await;
        assert_eq!(data.stripe_default_payment_method_id, "");
        assert!(!data.stripe_customer_deleted);

        // The Stripe customer deleted at Stripe; the next checkout connects a fresh one.
        assert_eq!(self.stripe_api("DELETE", &path, "").await, 200);
        let deleted = self.last_event("customer.deleted", &stripe_customer, detached.created());
        self.deliver(&deleted).await;
        let data = self.stripe_data(key).await;
        assert!(data.stripe_customer_deleted);
        assert_eq!(data.stripe_customer_id, stripe_customer);
        let fresh = self
            .checkout(key, pb::StripeCheckoutSessionOptions::default())
            .await;
        assert_ne!(fresh.stripe_customer_id, stripe_customer);
        let data = self.stripe_data(key).await;
        assert!(!data.stripe_customer_deleted);
        assert_eq!(data.stripe_customer_id, fresh.stripe_customer_id);
        // The address collected before is still the customer's.
        assert_eq!(
            self.customer(key).await.billing_address,
            after.billing_address
        );
    }
}

async fn the_round_trip_of_a_new_user(app: TestApp) {
    let shop = Shop::open(&app, API_KEY_A, STRIPE_KEY_A, ACCOUNT_A).await;
    shop.round_trip("acme").await;
}

async fn opting_out_leaves_the_customer_as_it_was(app: TestApp) {
    let shop = Shop::open(&app, API_KEY_A, STRIPE_KEY_A, ACCOUNT_A).await;
    let session = shop
        .checkout(
            "acme",
            pb::StripeCheckoutSessionOptions {
                billing_address_collection: pb::BillingAddressCollection::Required as i32,
                customer_update: Some(pb::CustomerUpdate {
                    address: auto(),
                    name: auto(),
                    ..Default::default()
                }),
                ignore_collected_details: true,
                ..Default::default()
            },
        )
        .await;
    let before = shop.customer("acme").await;
    let (card, events) = shop.complete(&session, &entered());
    // Stripe's customer got the details (customer_update auto), patron's did not.
    assert_eq!(events[0].event_type(), "customer.updated");
    assert_eq!(
        events[0].object()["address"]["line1"],
        json!("Invalidenstr. 1")
    );
    shop.deliver_all(&events).await;
    assert_eq!(shop.customer("acme").await, before);
    assert_eq!(
        shop.stripe_data("acme")
            .await
            .stripe_default_payment_method_id,
        card
    );
}

async fn a_field_the_caller_changed_after_the_session_stays(app: TestApp) {
    let shop = Shop::open(&app, API_KEY_A, STRIPE_KEY_A, ACCOUNT_A).await;
    let session = shop
        .checkout(
            "acme",
            pb::StripeCheckoutSessionOptions {
                billing_address_collection: pb::BillingAddressCollection::Required as i32,
                customer_update: Some(pb::CustomerUpdate {
                    name: auto(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await;
    // The caller sets the address while the customer is in Checkout.
    let mine = pb::Address {
        country: "FR".into(),
        city: "Paris".into(),
        line1: "1 rue de Rivoli".into(),
        ..Default::default()
    };
    let changed = shop
        .tenant
        .customers
        .clone()
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                id: session.customer_id.clone(),
                billing_address: Some(mine.clone()),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["billing_address".into()],
            }),
        })
        .await
        .expect("update")
        .into_inner();
    let (_, events) = shop.complete(&session, &entered());
    shop.deliver_all(&events).await;
    let after = shop.customer("acme").await;
    assert_eq!(
        after.billing_address,
        Some(mine),
        "the caller's address stays"
    );
    assert_eq!(
        after.name, "Ada Buyer",
        "the name was asked for and not changed by the caller"
    );
    assert_ne!(after.etag, changed.etag);
}

async fn customer_update_address_auto_comes_through_customer_updated(app: TestApp) {
    let shop = Shop::open(&app, API_KEY_A, STRIPE_KEY_A, ACCOUNT_A).await;
    // Without billing_address_collection=required Checkout keeps country and postal code only.
    let session = shop
        .checkout(
            "acme",
            pb::StripeCheckoutSessionOptions {
                customer_update: Some(pb::CustomerUpdate {
                    address: auto(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await;
    let before = shop.customer("acme").await;
    let (_, events) = shop.complete(&session, &entered());
    let updated = events
        .iter()
        .find(|e| e.event_type() == "customer.updated")
        .expect("customer.updated");
    // The customer had no address at Stripe: its previous value is null.
    assert_eq!(
        updated.json()["data"]["previous_attributes"],
        json!({"address": null})
    );
    // Only the customer.updated arrives (the other deliveries are still on their way).
    let body = shop.deliver(updated).await;
    assert!(body.contains("customer details updated"), "{body}");
    let after = shop.customer("acme").await;
    assert_ne!(after.etag, before.etag);
    assert_eq!(
        after.billing_address,
        Some(pb::Address {
            country: "DE".into(),
            postal_code: "10115".into(),
            ..Default::default()
        })
    );
    // The rest changes nothing more; an older customer.updated neither.
    shop.deliver_all(&events[1..]).await;
    assert_eq!(shop.customer("acme").await.etag, after.etag);
    let older = updated
        .clone()
        .with_id("evt_details_older")
        .with_created(updated.created() - 10);
    shop.deliver(&older).await;
    assert_eq!(shop.customer("acme").await.etag, after.etag);

    // A collected address that does not parse is skipped (logged), not refused: Stripe would
    // retry it forever.
    let mut bad = updated
        .clone()
        .with_id("evt_details_bad")
        .with_created(updated.created() + 5);
    bad = bad.map_json(|v| v["data"]["object"]["address"]["country"] = json!("ZZ"));
    let body = shop.deliver(&bad).await;
    assert!(!body.contains("updated"), "{body}");
    assert_eq!(shop.customer("acme").await.etag, after.etag);
}

async fn a_second_tenant_makes_the_same_trip_without_touching_the_first(app: TestApp) {
    let a = Shop::open(&app, API_KEY_A, STRIPE_KEY_A, ACCOUNT_A).await;
    let b = Shop::open(&app, API_KEY_B, STRIPE_KEY_B, ACCOUNT_B).await;
    a.round_trip("acme").await;
    let a_customer = a.customer("acme").await;
    let a_data = a.stripe_data("acme").await;
    // B has a customer with the same key; its whole trip leaves A's alone.
    b.round_trip("acme").await;
    assert_eq!(a.customer("acme").await, a_customer);
    assert_eq!(a.stripe_data("acme").await, a_data);
    let err = b
        .tenant
        .get_customer(pb::get_customer_request::Lookup::Id(a_customer.id.clone()))
        .await
        .expect_err("A's customer for B");
    assert_error(&err, Code::NotFound, "CUSTOMER_NOT_FOUND");
}

on_both_databases!(
    with_api_keys(KEYS): the_round_trip_of_a_new_user,
    opting_out_leaves_the_customer_as_it_was,
    a_field_the_caller_changed_after_the_session_stays,
    customer_update_address_auto_comes_through_customer_updated,
    a_second_tenant_makes_the_same_trip_without_touching_the_first,
);
