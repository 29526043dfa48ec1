//! Tenant isolation, from the contract (platform.md "Auth and tenancy", api.md "Tenancy"): every
//! call is authenticated with `authorization: Bearer <api key>`, each key maps to a namespace, and a
//! caller of one namespace can neither read, list, update, delete nor collide with anything of
//! another. Health and reflection need no key; webhooks are authenticated by signature only.
//!
//! Every cross-tenant attempt is followed by a re-read of tenant A's whole state (`Snapshot`), which
//! must be unchanged, and a cross-tenant NOT_FOUND must be indistinguishable from the NOT_FOUND of
//! an id that exists nowhere (same code, reason and message): no existence oracle, no leak.

use std::collections::HashMap;
use std::fmt::Debug;

use patron::grpc::pb;
use patron::grpc::pb::cloud_event::cloud_event_attribute_value::Attr;
use patron::grpc::pb::cloud_event::{CloudEventAttributeValue, Data};
use prost_types::FieldMask;
use sha2::Digest;
use tokio_stream::StreamExt;
use tonic::{Code, Request, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
use tonic_types::StatusExt;

use crate::helpers::{Tenant, TestApp, customer, customer_with_subjects};

/// Runs each scenario (an `async fn(TestApp)`) on SQLite and on PostgreSQL, on a server that
/// requires the API keys of `KEYS`: `mod name { fn sqlite(); fn postgres(); }`.
macro_rules! on_both_databases_with_api_keys {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use crate::helpers::{Backend, TestApp};

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = TestApp::spawn_with_api_keys(Backend::Sqlite, super::KEYS).await;
                    super::$name(app).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let app = TestApp::spawn_with_api_keys(Backend::Postgres, super::KEYS).await;
                    super::$name(app).await;
                }
            }
        )*
    };
}

const KEY_A: &str = "patron_test_key_a_0123456789abcdef";
const KEY_B: &str = "patron_test_key_b_fedcba9876543210";
const NS_A: &str = "tenant-a";
const NS_B: &str = "tenant-b";
/// (namespace, API key) of the two tenants.
const KEYS: &[(&str, &str)] = &[(NS_A, KEY_A), (NS_B, KEY_B)];

const STRIPE_KEY_A: &str = "sk_test_51TenantAStripeKeyAbc123";
const ACCOUNT_A: &str = "acct_1TenantAAccount";
const STRIPE_KEY_B: &str = "sk_test_51TenantBStripeKeyXyz789";
const ACCOUNT_B: &str = "acct_1TenantBAccount";

// ---------------------------------------------------------------------------------------------
// Leaks and indistinguishable errors
// ---------------------------------------------------------------------------------------------

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest_hex(key: &str) -> String {
    hex(&sha2::Sha256::digest(key.as_bytes()))
}

/// What no error may carry: both API keys, their SHA-256 digests (any case) and the namespace
/// names (tenant B's own name is allowed in tenant B's errors only when `own_namespace_ok`).
fn credentials(own_namespace_ok: bool) -> Vec<String> {
    let mut out = Vec::new();
    for (namespace, key) in KEYS {
        let digest = digest_hex(key);
        out.push((*key).to_owned());
        out.push(digest.to_uppercase());
        out.push(digest);
        if !(own_namespace_ok && *namespace == NS_B) {
            out.push((*namespace).to_owned());
        }
    }
    out
}

/// `credentials` plus tenant A's own data that tenant B must never see.
fn forbidden_for_b(a_data: &[&str]) -> Vec<String> {
    let mut out = credentials(true);
    out.extend(a_data.iter().map(|s| (*s).to_owned()));
    out
}

/// The whole status as text: message, metadata and encoded details.
fn status_text(status: &Status) -> String {
    format!(
        "{} | {:?} | {}",
        status.message(),
        status.metadata(),
        String::from_utf8_lossy(status.details())
    )
}

fn assert_no_leak(status: &Status, forbidden: &[String], what: &str) {
    let text = status_text(status);
    for secret in forbidden {
        assert!(
            !text.contains(secret.as_str()),
            "{what}: the error reveals {secret:?}: {status:?}"
        );
    }
}

fn error_info(status: &Status) -> Option<(String, HashMap<String, String>)> {
    status
        .get_error_details()
        .error_info()
        .map(|i| (i.reason.clone(), i.metadata.clone()))
}

/// Tenant B's call on tenant A's resource (named by `id`, an id or a key) must fail exactly like
/// the same call on `unknown_id`, which exists nowhere: NOT_FOUND, the same ErrorInfo reason and
/// metadata, the same message (the id aside), and nothing of tenant A in it.
#[track_caller]
fn assert_hidden<T: Debug>(
    what: &str,
    cross: Result<T, Status>,
    id: &str,
    unknown: Result<T, Status>,
    unknown_id: &str,
    forbidden: &[String],
) {
    let cross = match cross {
        Ok(value) => panic!("{what}: tenant B reached tenant A's {id}: {value:?}"),
        Err(status) => status,
    };
    assert_eq!(
        cross.code(),
        Code::NotFound,
        "{what}: tenant A's {id} must be NOT_FOUND for tenant B: {cross:?}"
    );
    assert_no_leak(&cross, forbidden, what);
    let unknown = match unknown {
        Ok(value) => panic!("{what}: an unknown id {unknown_id} was found: {value:?}"),
        Err(status) => status,
    };
    assert_eq!(
        unknown.code(),
        cross.code(),
        "{what}: unknown id: {unknown:?}"
    );
    let normalize = |info: Option<(String, HashMap<String, String>)>, id: &str| {
        info.map(|(reason, metadata)| {
            let metadata: Vec<(String, String)> = {
                let mut m: Vec<(String, String)> = metadata
                    .into_iter()
                    .map(|(k, v)| (k, v.replace(id, "<id>")))
                    .collect();
                m.sort();
                m
            };
            (reason, metadata)
        })
    };
    assert_eq!(
        normalize(error_info(&cross), id),
        normalize(error_info(&unknown), unknown_id),
        "{what}: tenant A's resource must look exactly like one that does not exist \
         (ErrorInfo)\n  A's: {cross:?}\n  unknown: {unknown:?}"
    );
    assert_eq!(
        cross.message().replace(id, "<id>"),
        unknown.message().replace(unknown_id, "<id>"),
        "{what}: tenant A's resource must look exactly like one that does not exist (message)"
    );
}

/// A list call of tenant B filtered by something of tenant A: empty, or NOT_FOUND without leaks.
#[track_caller]
fn assert_empty_or_not_found<T: Debug>(
    what: &str,
    result: Result<Vec<T>, Status>,
    forbidden: &[String],
) {
    match result {
        Ok(items) => assert!(
            items.is_empty(),
            "{what}: tenant B sees tenant A's data: {items:?}"
        ),
        Err(status) => {
            assert_eq!(status.code(), Code::NotFound, "{what}: {status:?}");
            assert_no_leak(&status, forbidden, what);
        }
    }
}

/// An id that exists in no namespace.
fn unknown_id() -> String {
    ulid::Ulid::new().to_string()
}

// ---------------------------------------------------------------------------------------------
// One tenant's calls
// ---------------------------------------------------------------------------------------------

async fn create(
    t: &Tenant,
    customer: pb::Customer,
    request_id: &str,
) -> Result<pb::Customer, Status> {
    t.customers
        .clone()
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer),
            request_id: request_id.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

fn customer_id(id: &str) -> pb::get_customer_request::Lookup {
    pb::get_customer_request::Lookup::Id(id.to_owned())
}

fn customer_key(key: &str) -> pb::get_customer_request::Lookup {
    pb::get_customer_request::Lookup::Key(key.to_owned())
}

async fn get_customer(
    t: &Tenant,
    lookup: pb::get_customer_request::Lookup,
) -> Result<pb::Customer, Status> {
    t.customers
        .clone()
        .get_customer(pb::GetCustomerRequest {
            lookup: Some(lookup),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn update_customer(
    t: &Tenant,
    customer: pb::Customer,
    paths: &[&str],
) -> Result<pb::Customer, Status> {
    t.customers
        .clone()
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(customer),
            update_mask: Some(FieldMask {
                paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            }),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn delete_customer(
    t: &Tenant,
    lookup: pb::delete_customer_request::Lookup,
    etag: &str,
) -> Result<pb::Customer, Status> {
    t.customers
        .clone()
        .delete_customer(pb::DeleteCustomerRequest {
            lookup: Some(lookup),
            etag: etag.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Every customer of a list query, following next_page_token.
async fn list_customers(t: &Tenant, mut request: pb::ListCustomersRequest) -> Vec<pb::Customer> {
    let mut all = Vec::new();
    loop {
        let page = t
            .customers
            .clone()
            .list_customers(request.clone())
            .await
            .expect("list customers")
            .into_inner();
        all.extend(page.customers);
        if page.next_page_token.is_empty() {
            return all;
        }
        request.page_token = page.next_page_token;
    }
}

fn customer_ids(customers: &[pb::Customer]) -> Vec<&str> {
    customers.iter().map(|c| c.id.as_str()).collect()
}

async fn upsert_subjects(
    t: &Tenant,
    subjects: Vec<pb::SubjectUpsert>,
) -> Result<Vec<pb::Subject>, Status> {
    t.subjects
        .clone()
        .upsert_subjects(pb::UpsertSubjectsRequest { subjects })
        .await
        .map(|r| r.into_inner().subjects)
}

fn named_subject(key: &str, display_name: &str) -> pb::SubjectUpsert {
    pb::SubjectUpsert {
        key: key.to_owned(),
        display_name: Some(display_name.to_owned()),
        ..Default::default()
    }
}

fn subject_id(id: &str) -> pb::get_subject_request::Lookup {
    pb::get_subject_request::Lookup::Id(id.to_owned())
}

fn subject_key(key: &str) -> pb::get_subject_request::Lookup {
    pb::get_subject_request::Lookup::Key(key.to_owned())
}

async fn get_subject(
    t: &Tenant,
    lookup: pb::get_subject_request::Lookup,
) -> Result<pb::Subject, Status> {
    t.subjects
        .clone()
        .get_subject(pb::GetSubjectRequest {
            lookup: Some(lookup),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn delete_subject(
    t: &Tenant,
    lookup: pb::delete_subject_request::Lookup,
) -> Result<pb::Subject, Status> {
    t.subjects
        .clone()
        .delete_subject(pb::DeleteSubjectRequest {
            lookup: Some(lookup),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Every subject of a list query, following next_page_token.
async fn list_subjects(
    t: &Tenant,
    mut request: pb::ListSubjectsRequest,
) -> Result<Vec<pb::Subject>, Status> {
    let mut all = Vec::new();
    loop {
        let page = t
            .subjects
            .clone()
            .list_subjects(request.clone())
            .await?
            .into_inner();
        all.extend(page.subjects);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        request.page_token = page.next_page_token;
    }
}

fn subject_keys(subjects: &[pb::Subject]) -> Vec<&str> {
    subjects.iter().map(|s| s.key.as_str()).collect()
}

fn ce_string(s: &str) -> CloudEventAttributeValue {
    CloudEventAttributeValue {
        attr: Some(Attr::CeString(s.to_owned())),
    }
}

/// A valid "api-calls" usage event with JSON data (time: the receipt time).
fn usage_event(id: &str, source: &str, subject: &str, json: &str) -> pb::CloudEvent {
    let mut attributes = HashMap::new();
    attributes.insert("subject".to_owned(), ce_string(subject));
    attributes.insert("datacontenttype".to_owned(), ce_string("application/json"));
    pb::CloudEvent {
        id: id.to_owned(),
        source: source.to_owned(),
        spec_version: "1.0".to_owned(),
        r#type: "api-calls".to_owned(),
        attributes,
        data: Some(Data::TextData(json.to_owned())),
    }
}

async fn ingest(
    t: &Tenant,
    events: Vec<pb::CloudEvent>,
) -> Result<pb::IngestEventsResponse, Status> {
    t.events
        .clone()
        .ingest_events(pb::IngestEventsRequest { events })
        .await
        .map(tonic::Response::into_inner)
}

fn of_subject(key: &str) -> pb::ListEventsRequest {
    pb::ListEventsRequest {
        owner: Some(pb::list_events_request::Owner::SubjectKey(key.to_owned())),
        ..Default::default()
    }
}

fn of_customer(id: &str) -> pb::ListEventsRequest {
    pb::ListEventsRequest {
        owner: Some(pb::list_events_request::Owner::CustomerId(id.to_owned())),
        ..Default::default()
    }
}

/// Every event of a list query, following next_page_token.
async fn list_events(
    t: &Tenant,
    mut request: pb::ListEventsRequest,
) -> Result<Vec<pb::IngestedEvent>, Status> {
    let mut all = Vec::new();
    loop {
        let page = t
            .events
            .clone()
            .list_events(request.clone())
            .await?
            .into_inner();
        all.extend(page.events);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        request.page_token = page.next_page_token;
    }
}

/// The JSON data of an ingested event.
fn data_of(event: &pb::IngestedEvent) -> serde_json::Value {
    match event.event.as_ref().and_then(|e| e.data.as_ref()) {
        Some(Data::TextData(text)) => serde_json::from_str(text).expect("JSON text data"),
        Some(Data::BinaryData(bytes)) => serde_json::from_slice(bytes).expect("JSON binary data"),
        other => panic!("no JSON data in {event:?}: {other:?}"),
    }
}

async fn install(
    t: &Tenant,
    api_key: &str,
    name: &str,
    request_id: &str,
) -> Result<pb::App, Status> {
    t.apps
        .clone()
        .install_stripe_app(pb::InstallStripeAppRequest {
            api_key: api_key.to_owned(),
            name: name.to_owned(),
            request_id: request_id.to_owned(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn get_app(t: &Tenant, id: &str) -> Result<pb::App, Status> {
    t.apps
        .clone()
        .get_app(pb::GetAppRequest { id: id.to_owned() })
        .await
        .map(tonic::Response::into_inner)
}

/// Every app, uninstalled ones included.
async fn list_apps(t: &Tenant) -> Vec<pb::App> {
    let mut request = pb::ListAppsRequest {
        show_deleted: true,
        ..Default::default()
    };
    let mut all = Vec::new();
    loop {
        let page = t
            .apps
            .clone()
            .list_apps(request.clone())
            .await
            .expect("list apps")
            .into_inner();
        all.extend(page.apps);
        if page.next_page_token.is_empty() {
            return all;
        }
        request.page_token = page.next_page_token;
    }
}

async fn update_app(
    t: &Tenant,
    app: pb::App,
    api_key: &str,
    paths: &[&str],
) -> Result<pb::App, Status> {
    t.apps
        .clone()
        .update_app(pb::UpdateAppRequest {
            app: Some(app),
            api_key: api_key.to_owned(),
            update_mask: Some(FieldMask {
                paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            }),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn uninstall_app(t: &Tenant, id: &str) -> Result<pb::App, Status> {
    t.apps
        .clone()
        .uninstall_app(pb::UninstallAppRequest { id: id.to_owned() })
        .await
        .map(tonic::Response::into_inner)
}

fn hosted_usd() -> pb::StripeCheckoutSessionOptions {
    pb::StripeCheckoutSessionOptions {
        currency: "USD".into(),
        success_url: "https://example.com/success".into(),
        cancel_url: "https://example.com/cancel".into(),
        ..Default::default()
    }
}

fn checkout_request(
    app_id: &str,
    customer: pb::checkout_customer::Customer,
    request_id: &str,
) -> pb::CreateStripeCheckoutSessionRequest {
    pb::CreateStripeCheckoutSessionRequest {
        app_id: app_id.to_owned(),
        customer: Some(pb::CheckoutCustomer {
            customer: Some(customer),
        }),
        options: Some(hosted_usd()),
        request_id: request_id.to_owned(),
        ..Default::default()
    }
}

/// Create-or-use the customer `key` (with subject `<key>-subject` and an email) on the default
/// app.
fn seed_checkout(
    name: &str,
    key: &str,
    request_id: &str,
) -> pb::CreateStripeCheckoutSessionRequest {
    checkout_request(
        "",
        pb::checkout_customer::Customer::Create(pb::Customer {
            primary_email: format!("{key}@example.com"),
            ..customer_with_subjects(name, key, &[&format!("{key}-subject")])
        }),
        request_id,
    )
}

async fn checkout(
    t: &Tenant,
    request: pb::CreateStripeCheckoutSessionRequest,
) -> Result<pb::StripeCheckoutSession, Status> {
    t.checkout
        .clone()
        .create_stripe_checkout_session(request)
        .await
        .map(tonic::Response::into_inner)
}

async fn get_session(t: &Tenant, id: &str) -> Result<pb::StripeCheckoutSession, Status> {
    t.checkout
        .clone()
        .get_stripe_checkout_session(pb::GetStripeCheckoutSessionRequest { id: id.to_owned() })
        .await
        .map(tonic::Response::into_inner)
}

async fn expire_session(t: &Tenant, id: &str) -> Result<pb::StripeCheckoutSession, Status> {
    t.checkout
        .clone()
        .expire_stripe_checkout_session(pb::ExpireStripeCheckoutSessionRequest {
            id: id.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Every session of a list query, following next_page_token.
async fn list_sessions(
    t: &Tenant,
    mut request: pb::ListStripeCheckoutSessionsRequest,
) -> Result<Vec<pb::StripeCheckoutSession>, Status> {
    let mut all = Vec::new();
    loop {
        let page = t
            .checkout
            .clone()
            .list_stripe_checkout_sessions(request.clone())
            .await?
            .into_inner();
        all.extend(page.sessions);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        request.page_token = page.next_page_token;
    }
}

async fn list_customer_apps(
    t: &Tenant,
    customer_id: &str,
) -> Result<Vec<pb::CustomerAppData>, Status> {
    t.customer_apps
        .clone()
        .list_customer_apps(pb::ListCustomerAppsRequest {
            customer: Some(pb::list_customer_apps_request::Customer::CustomerId(
                customer_id.to_owned(),
            )),
        })
        .await
        .map(|r| r.into_inner().data)
}

fn stripe_entry(app_id: &str, stripe_customer: &str, pm: &str) -> pb::CustomerAppData {
    pb::CustomerAppData {
        app_id: app_id.to_owned(),
        data: Some(pb::customer_app_data::Data::Stripe(
            pb::StripeCustomerAppData {
                stripe_customer_id: stripe_customer.to_owned(),
                stripe_default_payment_method_id: pm.to_owned(),
            },
        )),
        ..Default::default()
    }
}

async fn upsert_customer_apps(
    t: &Tenant,
    customer_id: &str,
    data: Vec<pb::CustomerAppData>,
) -> Result<Vec<pb::CustomerAppData>, Status> {
    t.customer_apps
        .clone()
        .upsert_customer_apps(pb::UpsertCustomerAppsRequest {
            customer: Some(pb::upsert_customer_apps_request::Customer::CustomerId(
                customer_id.to_owned(),
            )),
            data,
        })
        .await
        .map(|r| r.into_inner().data)
}

async fn delete_customer_app(
    t: &Tenant,
    customer_id: &str,
    app_id: &str,
) -> Result<pb::CustomerAppData, Status> {
    t.customer_apps
        .clone()
        .delete_customer_app(pb::DeleteCustomerAppRequest {
            customer: Some(pb::delete_customer_app_request::Customer::CustomerId(
                customer_id.to_owned(),
            )),
            app_id: app_id.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// The default payment method of a customer's first Stripe entry ("" if none).
fn default_pm(entries: &[pb::CustomerAppData]) -> String {
    match entries.first().and_then(|e| e.data.as_ref()) {
        Some(pb::customer_app_data::Data::Stripe(s)) => s.stripe_default_payment_method_id.clone(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshot: everything one tenant can read
// ---------------------------------------------------------------------------------------------

/// Everything a tenant can read through the API: customers (deleted too) with their app data,
/// subjects (deleted too) with their events, apps (uninstalled too), checkout sessions.
#[derive(Debug, PartialEq)]
struct Snapshot {
    customers: Vec<pb::Customer>,
    customer_apps: Vec<(String, Result<Vec<pb::CustomerAppData>, Code>)>,
    subjects: Vec<pb::Subject>,
    events: Vec<(String, Result<Vec<pb::IngestedEvent>, Code>)>,
    apps: Vec<pb::App>,
    sessions: Vec<pb::StripeCheckoutSession>,
}

impl Snapshot {
    async fn of(t: &Tenant) -> Self {
        let customers = list_customers(
            t,
            pb::ListCustomersRequest {
                show_deleted: true,
                order_by: "id".into(),
                ..Default::default()
            },
        )
        .await;
        let mut customer_apps = Vec::new();
        for c in &customers {
            customer_apps.push((
                c.id.clone(),
                list_customer_apps(t, &c.id).await.map_err(|s| s.code()),
            ));
        }
        let subjects = list_subjects(
            t,
            pb::ListSubjectsRequest {
                show_deleted: true,
                ..Default::default()
            },
        )
        .await
        .expect("list subjects");
        let mut events = Vec::new();
        for s in &subjects {
            events.push((
                s.key.clone(),
                list_events(t, of_subject(&s.key))
                    .await
                    .map_err(|s| s.code()),
            ));
        }
        let apps = list_apps(t).await;
        let sessions = list_sessions(t, pb::ListStripeCheckoutSessionsRequest::default())
            .await
            .expect("list checkout sessions");
        Self {
            customers,
            customer_apps,
            subjects,
            events,
            apps,
            sessions,
        }
    }
}

/// Tenant A's whole state is exactly as before `what`.
async fn assert_unchanged(t: &Tenant, before: &Snapshot, what: &str) {
    let now = Snapshot::of(t).await;
    assert!(
        now == *before,
        "{what} changed the other tenant's state\nbefore: {before:#?}\nafter: {now:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 1. Authentication
// ---------------------------------------------------------------------------------------------

/// A request with this `authorization` header (none for `None`).
fn with_auth<T>(message: T, authorization: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(value) = authorization {
        request.metadata_mut().insert(
            "authorization",
            value.parse().expect("an ASCII header value"),
        );
    }
    request
}

fn ok<T>(result: Result<tonic::Response<T>, Status>) -> Result<(), Status> {
    result.map(|_| ())
}

/// At least one call of every service (reads and writes, valid and invalid input), each naming
/// tenant A's existing resources, with this `authorization` header.
#[allow(clippy::too_many_lines)]
async fn every_service(
    app: &TestApp,
    auth: Option<&str>,
    acme: &pb::Customer,
) -> Vec<(&'static str, Result<(), Status>)> {
    let mut customers = app.customers.clone();
    let mut apps = app.apps.clone();
    let mut customer_apps = app.customer_apps.clone();
    let mut checkout = app.checkout.clone();
    let mut subjects = app.subjects.clone();
    let mut events = app.events.clone();
    let id = acme.id.clone();
    vec![
        (
            "CreateCustomer",
            ok(customers
                .create_customer(with_auth(
                    pb::CreateCustomerRequest {
                        customer: Some(customer_with_subjects("Intruder", "intruder", &["i-1"])),
                        request_id: "intruder-request".into(),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "CreateCustomer (invalid input)",
            ok(customers
                .create_customer(with_auth(pb::CreateCustomerRequest::default(), auth))
                .await),
        ),
        (
            "GetCustomer by id",
            ok(customers
                .get_customer(with_auth(
                    pb::GetCustomerRequest {
                        lookup: Some(customer_id(&id)),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "GetCustomer by key",
            ok(customers
                .get_customer(with_auth(
                    pb::GetCustomerRequest {
                        lookup: Some(customer_key("acme")),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "ListCustomers",
            ok(customers
                .list_customers(with_auth(pb::ListCustomersRequest::default(), auth))
                .await),
        ),
        (
            "UpdateCustomer",
            ok(customers
                .update_customer(with_auth(
                    pb::UpdateCustomerRequest {
                        customer: Some(pb::Customer {
                            id: id.clone(),
                            name: "Hijacked".into(),
                            ..Default::default()
                        }),
                        update_mask: Some(FieldMask {
                            paths: vec!["name".into()],
                        }),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "DeleteCustomer",
            ok(customers
                .delete_customer(with_auth(
                    pb::DeleteCustomerRequest {
                        lookup: Some(pb::delete_customer_request::Lookup::Id(id.clone())),
                        etag: String::new(),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "InstallStripeApp",
            ok(apps
                .install_stripe_app(with_auth(
                    pb::InstallStripeAppRequest {
                        api_key: STRIPE_KEY_A.into(),
                        ..Default::default()
                    },
                    auth,
                ))
                .await),
        ),
        (
            "GetApp",
            ok(apps
                .get_app(with_auth(pb::GetAppRequest { id: unknown_id() }, auth))
                .await),
        ),
        (
            "ListApps",
            ok(apps
                .list_apps(with_auth(pb::ListAppsRequest::default(), auth))
                .await),
        ),
        (
            "UpdateApp",
            ok(apps
                .update_app(with_auth(
                    pb::UpdateAppRequest {
                        app: Some(pb::App {
                            id: unknown_id(),
                            name: "x".into(),
                            ..Default::default()
                        }),
                        api_key: String::new(),
                        update_mask: Some(FieldMask {
                            paths: vec!["name".into()],
                        }),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "UninstallApp",
            ok(apps
                .uninstall_app(with_auth(
                    pb::UninstallAppRequest { id: unknown_id() },
                    auth,
                ))
                .await),
        ),
        (
            "ListCustomerApps",
            ok(customer_apps
                .list_customer_apps(with_auth(
                    pb::ListCustomerAppsRequest {
                        customer: Some(pb::list_customer_apps_request::Customer::CustomerId(
                            id.clone(),
                        )),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "UpsertCustomerApps",
            ok(customer_apps
                .upsert_customer_apps(with_auth(
                    pb::UpsertCustomerAppsRequest {
                        customer: Some(pb::upsert_customer_apps_request::Customer::CustomerId(
                            id.clone(),
                        )),
                        data: vec![stripe_entry("", "cus_intruder", "")],
                    },
                    auth,
                ))
                .await),
        ),
        (
            "DeleteCustomerApp",
            ok(customer_apps
                .delete_customer_app(with_auth(
                    pb::DeleteCustomerAppRequest {
                        customer: Some(pb::delete_customer_app_request::Customer::CustomerId(
                            id.clone(),
                        )),
                        app_id: unknown_id(),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "CreateStripeCheckoutSession",
            ok(checkout
                .create_stripe_checkout_session(with_auth(
                    seed_checkout("Intruder", "intruder", ""),
                    auth,
                ))
                .await),
        ),
        (
            "GetStripeCheckoutSession",
            ok(checkout
                .get_stripe_checkout_session(with_auth(
                    pb::GetStripeCheckoutSessionRequest {
                        id: "cs_test_unknown".into(),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "ListStripeCheckoutSessions",
            ok(checkout
                .list_stripe_checkout_sessions(with_auth(
                    pb::ListStripeCheckoutSessionsRequest::default(),
                    auth,
                ))
                .await),
        ),
        (
            "ExpireStripeCheckoutSession",
            ok(checkout
                .expire_stripe_checkout_session(with_auth(
                    pb::ExpireStripeCheckoutSessionRequest {
                        id: "cs_test_unknown".into(),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "UpsertSubjects",
            ok(subjects
                .upsert_subjects(with_auth(
                    pb::UpsertSubjectsRequest {
                        subjects: vec![named_subject("acme-subject", "Hijacked")],
                    },
                    auth,
                ))
                .await),
        ),
        (
            "GetSubject",
            ok(subjects
                .get_subject(with_auth(
                    pb::GetSubjectRequest {
                        lookup: Some(subject_key("acme-subject")),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "ListSubjects",
            ok(subjects
                .list_subjects(with_auth(pb::ListSubjectsRequest::default(), auth))
                .await),
        ),
        (
            "DeleteSubject",
            ok(subjects
                .delete_subject(with_auth(
                    pb::DeleteSubjectRequest {
                        lookup: Some(pb::delete_subject_request::Lookup::Key(
                            "acme-subject".into(),
                        )),
                    },
                    auth,
                ))
                .await),
        ),
        (
            "IngestEvents",
            ok(events
                .ingest_events(with_auth(
                    pb::IngestEventsRequest {
                        events: vec![usage_event(
                            "intruder-1",
                            "//intruder",
                            "acme-subject",
                            r#"{"calls":1}"#,
                        )],
                    },
                    auth,
                ))
                .await),
        ),
        (
            "ListEvents",
            ok(events
                .list_events(with_auth(of_subject("acme-subject"), auth))
                .await),
        ),
    ]
}

async fn count(app: &TestApp, table: &str) -> String {
    app.query(&format!("SELECT COUNT(*) FROM {table}")).await[0][0]
        .clone()
        .expect("count")
}

async fn unauthenticated_calls_are_refused(app: TestApp) {
    let a = app.tenant(KEY_A).await;
    // The right key works (and tenant A has something an intruder could aim at).
    let acme = create(
        &a,
        customer_with_subjects("Acme of A", "acme", &["acme-subject"]),
        "",
    )
    .await
    .expect("tenant A creates a customer with its key");
    app.stripe.add_account(STRIPE_KEY_A, ACCOUNT_A);
    let before = Snapshot::of(&a).await;

    let digest_a = digest_hex(KEY_A);
    let truncated = &KEY_A[..KEY_A.len() - 1];
    let headers: Vec<(Option<String>, &str)> = vec![
        (None, "no authorization header"),
        (Some("Bearer wrong".into()), "a wrong key"),
        (Some("Basic x".into()), "another scheme"),
        (Some("Bearer".into()), "a scheme without a key"),
        (
            Some(format!("Basic {KEY_A}")),
            "the right key under another scheme",
        ),
        (Some(KEY_A.to_owned()), "the right key without a scheme"),
        (
            Some(format!("Bearer {KEY_A}x")),
            "the right key plus a character",
        ),
        (
            Some(format!("Bearer {truncated}")),
            "the right key minus a character",
        ),
        (
            Some(format!("Bearer {digest_a}")),
            "the configured digest as the key",
        ),
        (
            Some(format!("Bearer {}", digest_a.to_uppercase())),
            "the configured digest (upper case) as the key",
        ),
        (
            Some(format!("Bearer {NS_A}")),
            "the namespace name as the key",
        ),
    ];
    let forbidden = credentials(false);
    for (header, why) in &headers {
        for (rpc, outcome) in every_service(&app, header.as_deref(), &acme).await {
            let what = format!("{rpc} with {why} ({header:?})");
            let status = match outcome {
                Ok(()) => panic!("{what}: answered without valid credentials"),
                Err(status) => status,
            };
            assert_eq!(status.code(), Code::Unauthenticated, "{what}: {status:?}");
            assert_no_leak(&status, &forbidden, &what);
        }
    }

    // Nothing was read from, written to or charged to any namespace.
    assert_unchanged(&a, &before, "unauthenticated calls").await;
    assert!(
        app.stripe.requests().is_empty(),
        "an unauthenticated call reached Stripe: {:?}",
        app.stripe.requests()
    );
    for (table, expected) in [
        ("customers", "1"),
        ("subjects", "1"),
        ("events", "0"),
        ("apps", "0"),
        ("checkout_sessions", "0"),
        ("customer_apps", "0"),
    ] {
        assert_eq!(
            count(&app, table).await,
            expected,
            "rows in {table} after unauthenticated calls"
        );
    }

    // Health and reflection need no key.
    let mut health = HealthClient::new(app.channel().await);
    for service in ["", "patron.v1.CustomerService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|s| panic!("health of {service:?} without a key: {s:?}"))
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let mut reflection = ServerReflectionClient::new(app.channel().await);
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter(vec![ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }]))
        .await
        .expect("reflection without a key")
        .into_inner();
    let Some(Ok(first)) = responses.next().await else {
        panic!("no reflection response without a key")
    };
    let Some(MessageResponse::ListServicesResponse(list)) = first.message_response else {
        panic!("not a list of services: {:?}", first.message_response)
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "patron.v1.CustomerService",
        "patron.v1.AppService",
        "patron.v1.CustomerAppService",
        "patron.v1.StripeCheckoutService",
        "patron.v1.SubjectService",
        "patron.v1.EventService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }

    // Both keys still work after the refusals, each in its own namespace.
    let b = app.tenant(KEY_B).await;
    assert!(
        list_customers(&b, pb::ListCustomersRequest::default())
            .await
            .is_empty(),
        "tenant B sees nothing of tenant A"
    );
    assert_eq!(
        customer_ids(&list_customers(&a, pb::ListCustomersRequest::default()).await),
        [acme.id.as_str()]
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Customers and subjects
// ---------------------------------------------------------------------------------------------

#[allow(clippy::too_many_lines)]
async fn customers_and_subjects_are_isolated(app: TestApp) {
    let a = app.tenant(KEY_A).await;
    let b = app.tenant(KEY_B).await;
    let a_private = [
        "Acme of A",
        "tenant A's private notes",
        "crm-a-123",
        "A's subject",
    ];
    let forbidden = forbidden_for_b(&a_private);

    let acme_a = create(
        &a,
        pb::Customer {
            description: "tenant A's private notes".into(),
            primary_email: "billing@acme.example".into(),
            metadata: [("crm".to_owned(), "crm-a-123".to_owned())].into(),
            ..customer_with_subjects("Acme of A", "acme", &["shared-subject"])
        },
        "req-acme",
    )
    .await
    .expect("A creates acme");
    let other_a = create(&a, customer("Other", "other"), "req-other")
        .await
        .expect("A creates other");
    let a_only = upsert_subjects(&a, vec![named_subject("a-only", "A's subject")])
        .await
        .expect("A upserts a subject")
        .remove(0);
    let a_shared = get_subject(&a, subject_key("shared-subject"))
        .await
        .expect("A's customer provisioned its subject");
    assert_eq!(a_shared.customer_id, acme_a.id);
    let before = Snapshot::of(&a).await;

    // Idempotency is per namespace: A's exact request with A's request_id creates B's own
    // customer (never A's response), and A's request_id with another request is not "reused".
    let other_b = create(&b, customer("Other", "other"), "req-other")
        .await
        .expect("B sends A's exact request with A's request_id");
    assert_ne!(
        other_b.id, other_a.id,
        "B must never get A's customer back from A's idempotency record"
    );
    assert_unchanged(&a, &before, "B's CreateCustomer replaying A's request").await;
    let acme_b = create(
        &b,
        pb::Customer {
            primary_email: "billing@acme.example".into(),
            ..customer_with_subjects("Acme of B", "acme", &["shared-subject"])
        },
        "req-acme",
    )
    .await
    .unwrap_or_else(|s| {
        assert_no_leak(&s, &forbidden, "B's CreateCustomer");
        panic!(
            "B's key \"acme\", subject key \"shared-subject\" and request_id \"req-acme\" are \
             A's, and free in B (uniqueness and idempotency are per namespace): {s:?}"
        )
    });
    assert_ne!(acme_b.id, acme_a.id);
    assert_eq!(acme_b.name, "Acme of B");
    assert_unchanged(
        &a,
        &before,
        "B's CreateCustomer with A's key and subject key",
    )
    .await;
    let again = create(
        &b,
        pb::Customer {
            primary_email: "billing@acme.example".into(),
            ..customer_with_subjects("Acme of B", "acme", &["shared-subject"])
        },
        "req-acme",
    )
    .await
    .expect("B's retry");
    assert_eq!(again, acme_b, "a retry in B returns B's original response");

    // Uniqueness still holds inside B, and names B's holder, never A's.
    for (duplicate, what) in [
        (customer("Dup", "acme"), "key"),
        (
            customer_with_subjects("Dup", "dup", &["shared-subject"]),
            "subject key",
        ),
    ] {
        let status = create(&b, duplicate, "").await.unwrap_err();
        assert_eq!(status.code(), Code::AlreadyExists, "{what}: {status:?}");
        let text = status_text(&status);
        assert!(
            text.contains(&acme_b.id),
            "{what}: names B's holder: {status:?}"
        );
        assert!(
            !text.contains(&acme_a.id),
            "{what}: names A's customer: {status:?}"
        );
        assert_no_leak(&status, &forbidden, what);
    }
    assert_unchanged(&a, &before, "B's conflicting creates").await;

    // B cannot read, update or delete A's customer by id; by key B finds its own.
    let unknown = unknown_id();
    assert_hidden(
        "GetCustomer(A's id)",
        get_customer(&b, customer_id(&acme_a.id)).await,
        &acme_a.id,
        get_customer(&b, customer_id(&unknown)).await,
        &unknown,
        &forbidden,
    );
    assert_eq!(
        get_customer(&b, customer_key("acme"))
            .await
            .expect("B's acme"),
        acme_b
    );
    assert_eq!(
        get_customer(&a, customer_key("acme"))
            .await
            .expect("A's acme"),
        acme_a
    );
    for (paths, etag, what) in [
        (&["name"][..], "", "UpdateCustomer(A's id, name)"),
        (
            &["name"][..],
            acme_a.etag.as_str(),
            "UpdateCustomer(A's id and etag)",
        ),
        (&["key"][..], "", "UpdateCustomer(A's id, key)"),
        (
            &["usage_attribution.subject_keys"][..],
            "",
            "UpdateCustomer(A's id, subject keys)",
        ),
        (&["*"][..], "", "UpdateCustomer(A's id, *)"),
    ] {
        let change = |id: &str| pb::Customer {
            id: id.to_owned(),
            etag: etag.to_owned(),
            usage_attribution: Some(pb::CustomerUsageAttribution {
                subject_keys: vec!["hijacked-subject".into()],
            }),
            ..customer("Hijacked", "hijacked")
        };
        assert_hidden(
            what,
            update_customer(&b, change(&acme_a.id), paths).await,
            &acme_a.id,
            update_customer(&b, change(&unknown), paths).await,
            &unknown,
            &forbidden,
        );
        assert_unchanged(&a, &before, what).await;
    }
    for etag in ["", acme_a.etag.as_str()] {
        let what = format!("DeleteCustomer(A's id, etag {etag:?})");
        assert_hidden(
            &what,
            delete_customer(
                &b,
                pb::delete_customer_request::Lookup::Id(acme_a.id.clone()),
                etag,
            )
            .await,
            &acme_a.id,
            delete_customer(
                &b,
                pb::delete_customer_request::Lookup::Id(unknown.clone()),
                etag,
            )
            .await,
            &unknown,
            &forbidden,
        );
        assert_unchanged(&a, &before, &what).await;
    }

    // Lists and every filter show only B's own customers.
    let b_ids = [acme_b.id.as_str(), other_b.id.as_str()];
    for (request, expected, what) in [
        (
            pb::ListCustomersRequest::default(),
            &b_ids[..],
            "ListCustomers",
        ),
        (
            pb::ListCustomersRequest {
                show_deleted: true,
                ..Default::default()
            },
            &b_ids[..],
            "ListCustomers(show_deleted)",
        ),
        (
            pb::ListCustomersRequest {
                order_by: "created_at desc".into(),
                ..Default::default()
            },
            &[acme_b.id.as_str(), other_b.id.as_str()][..],
            "ListCustomers(created_at desc)",
        ),
        (
            pb::ListCustomersRequest {
                key: "acme".into(),
                ..Default::default()
            },
            &[acme_b.id.as_str()][..],
            "ListCustomers(key)",
        ),
        (
            pb::ListCustomersRequest {
                subject_key: "shared-subject".into(),
                ..Default::default()
            },
            &[acme_b.id.as_str()][..],
            "ListCustomers(subject_key)",
        ),
        (
            pb::ListCustomersRequest {
                primary_email: "BILLING@acme.example".into(),
                ..Default::default()
            },
            &[acme_b.id.as_str()][..],
            "ListCustomers(primary_email)",
        ),
        (
            pb::ListCustomersRequest {
                name: "acme".into(),
                ..Default::default()
            },
            &[acme_b.id.as_str()][..],
            "ListCustomers(name)",
        ),
        (
            pb::ListCustomersRequest {
                name: "Acme of A".into(),
                ..Default::default()
            },
            &[][..],
            "ListCustomers(A's name)",
        ),
        (
            pb::ListCustomersRequest {
                page_size: 1,
                ..Default::default()
            },
            &b_ids[..],
            "ListCustomers(page_size 1)",
        ),
    ] {
        let mut listed = customer_ids(&list_customers(&b, request).await)
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        if !what.contains("desc") {
            listed.sort();
        }
        let mut expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        if !what.contains("desc") {
            expected.sort();
        }
        assert_eq!(listed, expected, "{what} in B");
    }

    // Subjects: B has its own "shared-subject"; A's subjects are invisible and untouchable.
    let b_shared = get_subject(&b, subject_key("shared-subject"))
        .await
        .expect("B's customer provisioned its own subject");
    assert_ne!(b_shared.id, a_shared.id);
    assert_eq!(b_shared.customer_id, acme_b.id);
    for (subject, what) in [
        (&a_shared, "A's shared subject"),
        (&a_only, "A's own subject"),
    ] {
        let unknown = unknown_id();
        assert_hidden(
            &format!("GetSubject(id of {what})"),
            get_subject(&b, subject_id(&subject.id)).await,
            &subject.id,
            get_subject(&b, subject_id(&unknown)).await,
            &unknown,
            &forbidden,
        );
    }
    assert_hidden(
        "GetSubject(key only A has)",
        get_subject(&b, subject_key("a-only")).await,
        "a-only",
        get_subject(&b, subject_key("no-such-subject")).await,
        "no-such-subject",
        &forbidden,
    );
    let listed = list_subjects(
        &b,
        pb::ListSubjectsRequest {
            show_deleted: true,
            ..Default::default()
        },
    )
    .await
    .expect("B lists subjects");
    assert_eq!(
        subject_keys(&listed),
        ["shared-subject"],
        "B's subjects only"
    );
    assert_eq!(listed[0], b_shared);
    assert!(
        list_subjects(
            &b,
            pb::ListSubjectsRequest {
                key_prefix: "a-".into(),
                ..Default::default()
            }
        )
        .await
        .expect("B lists by prefix")
        .is_empty()
    );
    assert_empty_or_not_found(
        "ListSubjects(customer_id of A's customer)",
        list_subjects(
            &b,
            pb::ListSubjectsRequest {
                customer_id: acme_a.id.clone(),
                ..Default::default()
            },
        )
        .await,
        &forbidden,
    );

    // B upserting the same keys writes B's own subjects.
    let upserted = upsert_subjects(
        &b,
        vec![
            named_subject("shared-subject", "B's name"),
            named_subject("a-only", "B's a-only"),
        ],
    )
    .await
    .expect("B upserts keys A also has");
    assert_eq!(upserted[0].id, b_shared.id);
    assert_ne!(upserted[1].id, a_only.id);
    assert_unchanged(&a, &before, "B's UpsertSubjects with A's keys").await;

    // B cannot delete A's subjects by id; by key it deletes its own.
    for (subject, what) in [
        (&a_shared, "A's shared subject"),
        (&a_only, "A's own subject"),
    ] {
        let unknown = unknown_id();
        let what = format!("DeleteSubject(id of {what})");
        assert_hidden(
            &what,
            delete_subject(
                &b,
                pb::delete_subject_request::Lookup::Id(subject.id.clone()),
            )
            .await,
            &subject.id,
            delete_subject(&b, pb::delete_subject_request::Lookup::Id(unknown.clone())).await,
            &unknown,
            &forbidden,
        );
        assert_unchanged(&a, &before, &what).await;
    }
    let deleted = delete_subject(&b, pb::delete_subject_request::Lookup::Key("a-only".into()))
        .await
        .expect("B deletes its own a-only");
    assert_eq!(deleted.id, upserted[1].id);
    assert_unchanged(&a, &before, "B's DeleteSubject by a key A also has").await;

    // B deleting its "acme" by key frees B's identifiers only.
    let deleted = delete_customer(
        &b,
        pb::delete_customer_request::Lookup::Key("acme".into()),
        "",
    )
    .await
    .expect("B deletes its own acme");
    assert_eq!(deleted.id, acme_b.id);
    assert_unchanged(&a, &before, "B's DeleteCustomer by a key A also has").await;
    assert!(
        get_subject(&a, subject_key("shared-subject"))
            .await
            .expect("A's subject")
            .customer_id
            == acme_a.id,
        "A's subject is still attributed to A's customer"
    );

    // And A, symmetrically, sees only its own.
    let mut a_ids = customer_ids(&list_customers(&a, pb::ListCustomersRequest::default()).await)
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    a_ids.sort();
    let mut expected = vec![acme_a.id.clone(), other_a.id.clone()];
    expected.sort();
    assert_eq!(a_ids, expected);
    let unknown = unknown_id();
    assert_hidden(
        "A's GetCustomer(B's id)",
        get_customer(&a, customer_id(&other_b.id)).await,
        &other_b.id,
        get_customer(&a, customer_id(&unknown)).await,
        &unknown,
        &credentials(false),
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Events
// ---------------------------------------------------------------------------------------------

#[allow(clippy::too_many_lines)]
async fn events_are_isolated(app: TestApp) {
    let a = app.tenant(KEY_A).await;
    let b = app.tenant(KEY_B).await;
    let forbidden = forbidden_for_b(&["Acme of A"]);
    let acme_a = create(
        &a,
        customer_with_subjects("Acme of A", "acme", &["metered"]),
        "",
    )
    .await
    .expect("A's customer");
    let acme_b = create(
        &b,
        customer_with_subjects("Acme of B", "acme", &["metered"]),
        "",
    )
    .await
    .expect("B's customer with the same key and subject key");

    // The same (source, id) in both namespaces, on a subject neither has seen: both stored, each
    // namespace creates its own subject.
    let source = "//billing.example/gateway";
    let r = ingest(
        &a,
        vec![usage_event(
            "evt-1",
            source,
            "fresh-subject",
            r#"{"calls":1}"#,
        )],
    )
    .await
    .expect("A ingests");
    assert_eq!(
        (r.accepted, r.duplicates, r.created_subject_keys),
        (1, 0, vec!["fresh-subject".to_owned()])
    );
    let before = Snapshot::of(&a).await;
    let r = ingest(
        &b,
        vec![usage_event(
            "evt-1",
            source,
            "fresh-subject",
            r#"{"calls":2}"#,
        )],
    )
    .await
    .expect("B ingests the same (source, id)");
    assert_eq!(
        (r.accepted, r.duplicates, r.created_subject_keys),
        (1, 0, vec!["fresh-subject".to_owned()]),
        "dedupe and subject creation are per namespace"
    );
    assert_unchanged(&a, &before, "B's IngestEvents with A's (source, id)").await;
    let r = ingest(
        &b,
        vec![usage_event(
            "evt-1",
            source,
            "fresh-subject",
            r#"{"calls":2}"#,
        )],
    )
    .await
    .expect("B's replay");
    assert_eq!(
        (r.accepted, r.duplicates, r.created_subject_keys),
        (0, 1, vec![]),
        "a replay in B is B's duplicate"
    );
    let a_fresh = get_subject(&a, subject_key("fresh-subject"))
        .await
        .expect("A's subject");
    let b_fresh = get_subject(&b, subject_key("fresh-subject"))
        .await
        .expect("B's subject");
    assert_ne!(a_fresh.id, b_fresh.id);

    // The same again on the subject that each namespace's "acme" holds.
    let r = ingest(
        &a,
        vec![usage_event("evt-2", source, "metered", r#"{"calls":10}"#)],
    )
    .await
    .expect("A ingests on its customer's subject");
    assert_eq!((r.accepted, r.duplicates), (1, 0));
    let before = Snapshot::of(&a).await;
    let r = ingest(
        &b,
        vec![usage_event("evt-2", source, "metered", r#"{"calls":20}"#)],
    )
    .await
    .expect("B ingests on its customer's subject");
    assert_eq!((r.accepted, r.duplicates), (1, 0));
    assert_unchanged(
        &a,
        &before,
        "B's IngestEvents on a subject key A's customer holds",
    )
    .await;

    // Each namespace lists only its own events, attributed to its own customer.
    for (t, fresh, metered, customer, who) in [(&a, 1, 10, &acme_a, "A"), (&b, 2, 20, &acme_b, "B")]
    {
        let listed = list_events(t, of_subject("fresh-subject"))
            .await
            .expect("list by subject");
        assert_eq!(listed.len(), 1, "{who}: {listed:?}");
        assert_eq!(
            data_of(&listed[0]),
            serde_json::json!({"calls": fresh}),
            "{who}"
        );
        assert_eq!(
            listed[0].customer_id, "",
            "{who}: nobody holds fresh-subject"
        );
        let listed = list_events(t, of_subject("metered"))
            .await
            .expect("list by subject");
        assert_eq!(listed.len(), 1, "{who}: {listed:?}");
        assert_eq!(
            data_of(&listed[0]),
            serde_json::json!({"calls": metered}),
            "{who}"
        );
        assert_eq!(
            listed[0].customer_id, customer.id,
            "{who}: attributed to its own customer"
        );
        let listed = list_events(t, of_customer(&customer.id))
            .await
            .expect("list by customer");
        assert_eq!(listed.len(), 1, "{who}: {listed:?}");
        assert_eq!(
            data_of(&listed[0]),
            serde_json::json!({"calls": metered}),
            "{who}"
        );
    }
    assert_empty_or_not_found(
        "B's ListEvents(customer_id of A's customer)",
        list_events(&b, of_customer(&acme_a.id)).await,
        &forbidden,
    );
    assert_empty_or_not_found(
        "A's ListEvents(customer_id of B's customer)",
        list_events(&a, of_customer(&acme_b.id)).await,
        &credentials(false),
    );
    let b_only = ingest(
        &b,
        vec![usage_event("evt-3", source, "b-only", r#"{"calls":3}"#)],
    )
    .await
    .expect("B ingests on a subject only B has");
    assert_eq!(b_only.created_subject_keys, ["b-only"]);
    assert_empty_or_not_found(
        "A's ListEvents(subject only B has)",
        list_events(&a, of_subject("b-only")).await,
        &credentials(false),
    );
    assert_unchanged(&a, &before, "B's reads and writes of events").await;
}

// ---------------------------------------------------------------------------------------------
// 4. Apps, customer app data and Checkout
// ---------------------------------------------------------------------------------------------

fn webhook_url(app: &TestApp, installed: &pb::App) -> String {
    format!("{}/webhooks/stripe/{}", app.public_url, installed.id)
}

fn endpoint_exists(app: &TestApp, url: &str) -> bool {
    app.stripe.webhook_endpoints().iter().any(|w| w.url == url)
}

/// Requests that reached Stripe with this API key.
fn stripe_calls_with(app: &TestApp, key: &str) -> usize {
    app.stripe
        .requests()
        .iter()
        .filter(|r| r.api_key.as_deref() == Some(key))
        .count()
}

#[allow(clippy::too_many_lines)]
async fn stripe_apps_customer_apps_and_checkout_are_isolated(app: TestApp) {
    let a = app.tenant(KEY_A).await;
    let b = app.tenant(KEY_B).await;
    let forbidden = forbidden_for_b(&[STRIPE_KEY_A, "A's Stripe", "Acme of A"]);
    app.stripe.add_account(STRIPE_KEY_A, ACCOUNT_A);
    app.stripe.add_account(STRIPE_KEY_B, ACCOUNT_B);

    let app_a = install(&a, STRIPE_KEY_A, "A's Stripe", "install-1")
        .await
        .expect("A installs");
    assert!(app_a.default);
    let session_a = checkout(&a, seed_checkout("Acme of A", "acme", "checkout-1"))
        .await
        .expect("A's checkout");
    let a_url = webhook_url(&app, &app_a);
    assert!(endpoint_exists(&app, &a_url));
    let before = Snapshot::of(&a).await;

    // B installs its own account with A's request_id: its own app, its namespace's default.
    let app_b = install(&b, STRIPE_KEY_B, "B's Stripe", "install-1")
        .await
        .expect("B installs with A's request_id (idempotency is per namespace)");
    assert_ne!(app_b.id, app_a.id);
    assert!(
        app_b.default,
        "the first app of B's namespace is B's default"
    );
    assert_eq!(
        app_b.stripe.as_ref().map(|s| s.account_id.as_str()),
        Some(ACCOUNT_B)
    );
    assert_unchanged(&a, &before, "B's InstallStripeApp").await;

    // A's app is invisible and untouchable for B.
    let a_key_calls = stripe_calls_with(&app, STRIPE_KEY_A);
    let unknown = unknown_id();
    assert_hidden(
        "GetApp(A's app)",
        get_app(&b, &app_a.id).await,
        &app_a.id,
        get_app(&b, &unknown).await,
        &unknown,
        &forbidden,
    );
    for (paths, api_key, what) in [
        (&["name"][..], "", "UpdateApp(A's app, name)"),
        (&["default"][..], "", "UpdateApp(A's app, default)"),
        (&["metadata"][..], "", "UpdateApp(A's app, metadata)"),
        (
            &["api_key"][..],
            STRIPE_KEY_B,
            "UpdateApp(A's app, api_key)",
        ),
    ] {
        let change = |id: &str| pb::App {
            id: id.to_owned(),
            name: "Hijacked".into(),
            default: true,
            metadata: [("owner".to_owned(), "b".to_owned())].into(),
            ..Default::default()
        };
        assert_hidden(
            what,
            update_app(&b, change(&app_a.id), api_key, paths).await,
            &app_a.id,
            update_app(&b, change(&unknown), api_key, paths).await,
            &unknown,
            &forbidden,
        );
        assert_unchanged(&a, &before, what).await;
    }
    assert_hidden(
        "UninstallApp(A's app)",
        uninstall_app(&b, &app_a.id).await,
        &app_a.id,
        uninstall_app(&b, &unknown).await,
        &unknown,
        &forbidden,
    );
    assert_unchanged(&a, &before, "UninstallApp(A's app)").await;
    assert!(
        endpoint_exists(&app, &a_url),
        "A's webhook endpoint is still registered"
    );
    assert_eq!(
        list_apps(&b)
            .await
            .iter()
            .map(|a| a.id.as_str())
            .collect::<Vec<_>>(),
        [app_b.id.as_str()],
        "B lists its own app only"
    );

    // Checkout from B naming A's customer, A's app or A's session: NOT_FOUND, nothing at Stripe.
    let stripe_customers_a = app.stripe.customers(ACCOUNT_A).len();
    let stripe_sessions_a = app.stripe.checkout_sessions(ACCOUNT_A).len();
    assert_hidden(
        "CreateStripeCheckoutSession(A's customer id)",
        checkout(
            &b,
            checkout_request(
                "",
                pb::checkout_customer::Customer::Id(session_a.customer_id.clone()),
                "",
            ),
        )
        .await,
        &session_a.customer_id,
        checkout(
            &b,
            checkout_request("", pb::checkout_customer::Customer::Id(unknown.clone()), ""),
        )
        .await,
        &unknown,
        &forbidden,
    );
    assert_unchanged(&a, &before, "CreateStripeCheckoutSession(A's customer id)").await;
    assert_hidden(
        "CreateStripeCheckoutSession(key only A has)",
        checkout(
            &b,
            checkout_request("", pb::checkout_customer::Customer::Key("acme".into()), ""),
        )
        .await,
        "acme",
        checkout(
            &b,
            checkout_request(
                "",
                pb::checkout_customer::Customer::Key("no-such-key".into()),
                "",
            ),
        )
        .await,
        "no-such-key",
        &forbidden,
    );
    assert_unchanged(&a, &before, "CreateStripeCheckoutSession(A's customer key)").await;
    let mut on_a_app = seed_checkout("Acme of B", "b-customer", "");
    on_a_app.app_id = app_a.id.clone();
    let mut on_unknown_app = on_a_app.clone();
    on_unknown_app.app_id = unknown.clone();
    assert_hidden(
        "CreateStripeCheckoutSession(A's app)",
        checkout(&b, on_a_app).await,
        &app_a.id,
        checkout(&b, on_unknown_app).await,
        &unknown,
        &forbidden,
    );
    assert_unchanged(&a, &before, "CreateStripeCheckoutSession(A's app)").await;
    assert_hidden(
        "GetStripeCheckoutSession(A's session)",
        get_session(&b, &session_a.session_id).await,
        &session_a.session_id,
        get_session(&b, "cs_test_doesNotExist0000").await,
        "cs_test_doesNotExist0000",
        &forbidden,
    );
    assert_hidden(
        "ExpireStripeCheckoutSession(A's session)",
        expire_session(&b, &session_a.session_id).await,
        &session_a.session_id,
        expire_session(&b, "cs_test_doesNotExist0000").await,
        "cs_test_doesNotExist0000",
        &forbidden,
    );
    assert_unchanged(&a, &before, "ExpireStripeCheckoutSession(A's session)").await;
    assert_eq!(
        app.stripe
            .checkout_session(&session_a.session_id)
            .expect("A's session at Stripe")["status"],
        "open",
        "A's session is still open at Stripe"
    );
    assert_eq!(app.stripe.customers(ACCOUNT_A).len(), stripe_customers_a);
    assert_eq!(
        app.stripe.checkout_sessions(ACCOUNT_A).len(),
        stripe_sessions_a
    );
    assert_eq!(
        stripe_calls_with(&app, STRIPE_KEY_A),
        a_key_calls,
        "B's attempts never made a Stripe call with A's key"
    );

    // Create-or-use by a key A also has creates B's own customer, on B's app, with A's
    // request_id.
    let session_b = checkout(&b, seed_checkout("Acme of B", "acme", "checkout-1"))
        .await
        .expect("B's checkout for its own acme");
    assert_ne!(session_b.customer_id, session_a.customer_id);
    assert_ne!(session_b.session_id, session_a.session_id);
    assert_ne!(session_b.stripe_customer_id, session_a.stripe_customer_id);
    assert_eq!(session_b.app_id, app_b.id);
    assert!(
        app.stripe
            .customers(ACCOUNT_B)
            .iter()
            .any(|c| c["id"] == session_b.stripe_customer_id.as_str()),
        "B's Stripe customer is in B's account"
    );
    assert_unchanged(&a, &before, "B's checkout for a key A also has").await;
    let listed = list_sessions(&b, pb::ListStripeCheckoutSessionsRequest::default())
        .await
        .expect("B lists sessions");
    assert_eq!(
        listed
            .iter()
            .map(|s| s.session_id.as_str())
            .collect::<Vec<_>>(),
        [session_b.session_id.as_str()],
        "B lists its own session only"
    );
    assert_empty_or_not_found(
        "ListStripeCheckoutSessions(A's customer)",
        list_sessions(
            &b,
            pb::ListStripeCheckoutSessionsRequest {
                customer_id: session_a.customer_id.clone(),
                ..Default::default()
            },
        )
        .await,
        &forbidden,
    );

    // Customer app data of A's customer, or on A's app, is out of B's reach.
    let b_stripe_customer = app.stripe.create_customer(ACCOUNT_B, Some("B's"), None);
    assert_hidden(
        "UpsertCustomerApps(A's customer)",
        upsert_customer_apps(
            &b,
            &session_a.customer_id,
            vec![stripe_entry(&app_b.id, &b_stripe_customer, "")],
        )
        .await,
        &session_a.customer_id,
        upsert_customer_apps(
            &b,
            &unknown,
            vec![stripe_entry(&app_b.id, &b_stripe_customer, "")],
        )
        .await,
        &unknown,
        &forbidden,
    );
    assert_unchanged(&a, &before, "UpsertCustomerApps(A's customer)").await;
    assert_hidden(
        "UpsertCustomerApps(A's app)",
        upsert_customer_apps(
            &b,
            &session_b.customer_id,
            vec![stripe_entry(&app_a.id, &session_a.stripe_customer_id, "")],
        )
        .await,
        &app_a.id,
        upsert_customer_apps(
            &b,
            &session_b.customer_id,
            vec![stripe_entry(&unknown, &session_a.stripe_customer_id, "")],
        )
        .await,
        &unknown,
        &forbidden,
    );
    assert_unchanged(&a, &before, "UpsertCustomerApps(A's app)").await;
    assert_hidden(
        "ListCustomerApps(A's customer)",
        list_customer_apps(&b, &session_a.customer_id).await,
        &session_a.customer_id,
        list_customer_apps(&b, &unknown).await,
        &unknown,
        &forbidden,
    );
    assert_hidden(
        "DeleteCustomerApp(A's customer, A's app)",
        delete_customer_app(&b, &session_a.customer_id, &app_a.id).await,
        &session_a.customer_id,
        delete_customer_app(&b, &unknown, &app_a.id).await,
        &unknown,
        &forbidden,
    );
    let delete_on_a_app = delete_customer_app(&b, &session_b.customer_id, &app_a.id).await;
    let delete_on_unknown_app = delete_customer_app(&b, &session_b.customer_id, &unknown).await;
    assert_hidden(
        "DeleteCustomerApp(B's customer, A's app)",
        delete_on_a_app,
        &app_a.id,
        delete_on_unknown_app,
        &unknown,
        &forbidden,
    );
    assert_unchanged(&a, &before, "DeleteCustomerApp").await;
    assert_eq!(
        stripe_calls_with(&app, STRIPE_KEY_A),
        a_key_calls,
        "B's attempts never made a Stripe call with A's key"
    );

    // B installs the Stripe account A installed (B holds its key too): uniqueness is per
    // namespace, so it is B's own app, and nothing B does with it touches A's.
    let app_b2 = install(&b, STRIPE_KEY_A, "B's copy of A's account", "")
        .await
        .unwrap_or_else(|s| {
            let mut forbidden = forbidden.clone();
            forbidden.push(app_a.id.clone());
            assert_no_leak(&s, &forbidden, "B's InstallStripeApp of A's account");
            panic!(
                "the same Stripe account is \"installed twice\" only within a namespace; B may \
                 install an account A has installed: {s:?}"
            )
        });
    assert_ne!(app_b2.id, app_a.id);
    assert!(!app_b2.default, "B already has a default app");
    assert_unchanged(&a, &before, "B's InstallStripeApp of A's account").await;
    assert!(endpoint_exists(&app, &a_url));
    // A's Stripe customer in B's app of the same account: allowed (one live patron customer per
    // Stripe customer per app), and the answer names no customer of A.
    let linked = upsert_customer_apps(
        &b,
        &session_b.customer_id,
        vec![stripe_entry(&app_b2.id, &session_a.stripe_customer_id, "")],
    )
    .await
    .unwrap_or_else(|s| {
        let mut forbidden = forbidden.clone();
        forbidden.push(session_a.customer_id.clone());
        assert_no_leak(&s, &forbidden, "UpsertCustomerApps(A's Stripe customer)");
        panic!(
            "a Stripe customer maps to one patron customer per app, not across namespaces: {s:?}"
        )
    });
    assert_eq!(linked.len(), 1);
    assert_unchanged(
        &a,
        &before,
        "UpsertCustomerApps(A's Stripe customer on B's app)",
    )
    .await;
    // Making B's second app B's default leaves A's default alone.
    let b2_default = update_app(
        &b,
        pb::App {
            id: app_b2.id.clone(),
            default: true,
            ..Default::default()
        },
        "",
        &["default"],
    )
    .await
    .expect("B makes its second app the default");
    assert!(b2_default.default);
    assert_unchanged(&a, &before, "B's UpdateApp(default)").await;
    update_app(
        &b,
        pb::App {
            id: app_b.id.clone(),
            default: true,
            ..Default::default()
        },
        "",
        &["default"],
    )
    .await
    .expect("B makes its first app the default again");
    assert_unchanged(&a, &before, "B's UpdateApp(default)").await;
    // Uninstalling B's copy deletes B's endpoint and B's customer app data only.
    let uninstalled = uninstall_app(&b, &app_b2.id)
        .await
        .expect("B uninstalls its copy");
    assert!(uninstalled.deleted_at.is_some());
    assert_unchanged(&a, &before, "B's UninstallApp of its copy of A's account").await;
    assert!(
        endpoint_exists(&app, &a_url),
        "A's webhook endpoint survives B's uninstall of the same account"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Webhooks
// ---------------------------------------------------------------------------------------------

#[allow(clippy::too_many_lines)]
async fn webhooks_touch_only_their_app(app: TestApp) {
    let a = app.tenant(KEY_A).await;
    let b = app.tenant(KEY_B).await;
    app.stripe.add_account(STRIPE_KEY_A, ACCOUNT_A);
    app.stripe.add_account(STRIPE_KEY_B, ACCOUNT_B);
    let app_a = install(&a, STRIPE_KEY_A, "A's Stripe", "")
        .await
        .expect("A installs");
    let app_b = install(&b, STRIPE_KEY_B, "B's Stripe", "")
        .await
        .expect("B installs");
    let (a_url, b_url) = (webhook_url(&app, &app_a), webhook_url(&app, &app_b));
    let endpoints = app.stripe.webhook_endpoints();
    let secret_of = |url: &str| {
        endpoints
            .iter()
            .find(|w| w.url == url)
            .unwrap_or_else(|| panic!("no endpoint {url} in {endpoints:?}"))
            .secret
            .clone()
    };
    let (a_secret, b_secret) = (secret_of(&a_url), secret_of(&b_url));
    assert_ne!(a_secret, b_secret);

    let session_a = checkout(&a, seed_checkout("Acme of A", "acme", ""))
        .await
        .expect("A's checkout");
    let session_b = checkout(&b, seed_checkout("Acme of B", "acme", ""))
        .await
        .expect("B's checkout");
    let pm_a = app
        .stripe
        .create_payment_method(ACCOUNT_A, Some(&session_a.stripe_customer_id));
    let pm_forged = app
        .stripe
        .create_payment_method(ACCOUNT_A, Some(&session_a.stripe_customer_id));
    let events = app
        .stripe
        .complete_checkout_session(&session_a.session_id, &pm_a);
    assert_eq!(events.len(), 2, "{events:?}");
    let a_before = Snapshot::of(&a).await;
    let b_before = Snapshot::of(&b).await;
    assert_eq!(
        default_pm(
            &list_customer_apps(&a, &session_a.customer_id)
                .await
                .expect("A's data")
        ),
        ""
    );

    // A's events signed with A's secret, delivered to B's endpoint: B's signature check fails.
    for event in &events {
        let (status, body) = app.stripe.deliver(&b_url, &a_secret, event).await;
        assert_eq!(
            status,
            400,
            "{} signed for A, delivered to B: {body}",
            event.event_type()
        );
    }
    assert_unchanged(&a, &a_before, "A's events at B's endpoint").await;
    assert_unchanged(&b, &b_before, "A's events at B's endpoint (B's state)").await;
    // ... and B's secret does not open A's endpoint either.
    for event in &events {
        let (status, body) = app.stripe.deliver(&a_url, &b_secret, event).await;
        assert_eq!(
            status,
            400,
            "{} signed with B's secret at A's endpoint: {body}",
            event.event_type()
        );
    }
    assert_unchanged(&a, &a_before, "B's signature at A's endpoint").await;

    // B (who can read its own endpoint's secret at Stripe) signs A's events, and forgeries
    // naming B's app but A's customer, session and payment method, for its own endpoint: ignored
    // (events of other apps: 200) or refused, never applied to A.
    let forged: Vec<fake_stripe::Event> = events
        .iter()
        .map(|e| {
            let app_b_id = app_b.id.clone();
            let pm = pm_forged.clone();
            e.clone()
                .with_id(&format!("{}_forged", e.id()))
                .with_created(e.created() + 5)
                .map_json(move |v| {
                    let object = &mut v["data"]["object"];
                    object["metadata"]["patron_app_id"] = serde_json::Value::String(app_b_id);
                    if object.get("payment_method").is_some() {
                        object["payment_method"] = serde_json::Value::String(pm);
                    }
                })
        })
        .collect();
    for event in events.iter().chain(&forged) {
        let (status, body) = app.stripe.deliver(&b_url, &b_secret, event).await;
        assert!(
            status == 200 || (400..500).contains(&status),
            "{} {} signed by B at B's endpoint: {status} {body}",
            event.event_type(),
            event.id()
        );
        assert_unchanged(
            &a,
            &a_before,
            &format!("{} {} at B's endpoint", event.event_type(), event.id()),
        )
        .await;
    }
    assert_unchanged(&b, &b_before, "A's events at B's endpoint (B's state)").await;

    // Delivered to A's endpoint with A's secret: applied to A, even though B's endpoint saw the
    // same event ids first, and even though a "newer" forgery went to B.
    for event in &events {
        let (status, body) = app.stripe.deliver(&a_url, &a_secret, event).await;
        assert_eq!(
            status,
            200,
            "{} at A's endpoint: {body}",
            event.event_type()
        );
        assert!(
            !body.contains("duplicate"),
            "{} at A's endpoint was taken for a replay of B's delivery: {body}",
            event.event_type()
        );
    }
    assert_eq!(
        default_pm(
            &list_customer_apps(&a, &session_a.customer_id)
                .await
                .expect("A's data")
        ),
        pm_a,
        "A's default payment method is set by A's event"
    );
    assert_eq!(
        get_session(&a, &session_a.session_id)
            .await
            .expect("A's session")
            .status,
        pb::StripeCheckoutSessionStatus::Complete as i32
    );
    assert_unchanged(&b, &b_before, "A's events at A's endpoint (B's state)").await;
    assert_eq!(
        default_pm(
            &list_customer_apps(&b, &session_b.customer_id)
                .await
                .expect("B's data")
        ),
        ""
    );
    assert_eq!(
        get_session(&b, &session_b.session_id)
            .await
            .expect("B's session")
            .status,
        pb::StripeCheckoutSessionStatus::Open as i32
    );
}

on_both_databases_with_api_keys!(
    unauthenticated_calls_are_refused,
    customers_and_subjects_are_isolated,
    events_are_isolated,
    stripe_apps_customer_apps_and_checkout_are_isolated,
    webhooks_touch_only_their_app,
);
