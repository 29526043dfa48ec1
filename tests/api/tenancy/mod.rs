//! Tenant isolation, one file per resource, from the contract (platform.md "Auth and tenancy", api.md "Tenancy"): every
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

use crate::clients::*;
use crate::helpers::{Tenant, TestApp, customer, customer_with_subjects};

mod auth;
mod checkout;
mod customers_subjects;
mod events;
mod webhooks;

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
        let customers = t
            .list_customers(pb::ListCustomersRequest {
                show_deleted: true,
                order_by: "id".into(),
                ..Default::default()
            })
            .await;
        let mut customer_apps = Vec::new();
        for c in &customers {
            customer_apps.push((
                c.id.clone(),
                t.list_customer_apps(&c.id).await.map_err(|s| s.code()),
            ));
        }
        let subjects = t
            .list_subjects(pb::ListSubjectsRequest {
                show_deleted: true,
                ..Default::default()
            })
            .await
            .expect("list subjects");
        let mut events = Vec::new();
        for s in &subjects {
            events.push((
                s.key.clone(),
                t.list_events(of_subject(&s.key))
                    .await
                    .map_err(|s| s.code()),
            ));
        }
        let apps = t.list_apps().await;
        let sessions = t
            .list_sessions(pb::ListStripeCheckoutSessionsRequest::default())
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
