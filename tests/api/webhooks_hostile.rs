//! The webhook endpoint under hostile deliveries: forged floods of signature candidates, oversized
//! headers, unknown or malformed app ids (all answered exactly like a bad signature), a
//! setup_intent.succeeded of another Stripe customer (acknowledged, ignored), and arbitrary
//! correctly signed bodies (never a 500). Requests are written by hand over TCP so that headers,
//! paths and bodies may be any bytes.

use std::net::SocketAddr;
use std::time::Duration;

use hmac::{Hmac, Mac};
use patron::grpc::pb;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, customer_with_subjects};
use crate::on_both_databases;
use crate::stripe_apps::{ACCOUNT, install};

/// Request headers of any bytes.
type Headers<'a> = Vec<(&'a str, &'a [u8])>;

/// What every unauthenticated delivery gets.
const INVALID_SIGNATURE: &[u8] = br#"{"error":"invalid signature"}"#;
const UNKNOWN_APP: &str = "/webhooks/stripe/01ARZ3NDEKTSV4RRFFQ69G5FAV";

/// POSTs `body` to `path` with `headers` (any bytes) over a fresh connection; returns the status
/// and the body of the answer.
async fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n",
        body.len()
    )
    .into_bytes();
    for (name, value) in headers {
        request.extend_from_slice(name.as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body);
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(&request).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        std::io::Result::Ok(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .unwrap_or_else(|_| panic!("no answer to POST {path} within 30 s"))
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let status = std::str::from_utf8(&response[9..12])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"));
    (status, response[split + 4..].to_vec())
}

/// Stripe's `Stripe-Signature` for a payload of any bytes.
fn sign(payload: &[u8], secret: &str, t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(payload);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}

fn shown(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

/// A checkout for a new customer with this key.
fn checkout_request(key: &str) -> pb::CreateStripeCheckoutSessionRequest {
    pb::CreateStripeCheckoutSessionRequest {
        customer: Some(pb::CheckoutCustomer {
            customer: Some(pb::checkout_customer::Customer::Create(pb::Customer {
                primary_email: format!("{key}@example.com"),
                ..customer_with_subjects(key, key, &[])
            })),
        }),
        options: Some(pb::StripeCheckoutSessionOptions {
            currency: "USD".into(),
            success_url: "https://example.com/success".into(),
            cancel_url: "https://example.com/cancel".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn checkout(app: &TestApp, key: &str) -> pb::StripeCheckoutSession {
    app.checkout
        .clone()
        .create_stripe_checkout_session(checkout_request(key))
        .await
        .expect("checkout")
        .into_inner()
}

async fn default_pm(app: &TestApp, customer_id: &str) -> String {
    let data = app
        .customer_apps
        .clone()
        .list_customer_apps(pb::ListCustomerAppsRequest {
            customer: Some(pb::list_customer_apps_request::Customer::CustomerId(
                customer_id.into(),
            )),
        })
        .await
        .expect("list customer apps")
        .into_inner()
        .data;
    match data.first().and_then(|e| e.data.as_ref()) {
        Some(pb::customer_app_data::Data::Stripe(s)) => s.stripe_default_payment_method_id.clone(),
        None => String::new(),
    }
}

async fn stored_event_ids(app: &TestApp) -> Vec<String> {
    app.query("SELECT event_id FROM webhook_events ORDER BY event_id")
        .await
        .into_iter()
        .map(|row| row[0].clone().unwrap_or_default())
        .collect()
}

#[allow(clippy::too_many_lines)]
async fn every_unauthenticated_delivery_gets_the_same_answer(app: TestApp) {
    let installed = install(&app).await;
    let secret = app
        .stripe
        .webhook_endpoints()
        .pop()
        .expect("endpoint")
        .secret;
    let ours = format!("/webhooks/stripe/{}", installed.id);
    let addr = app.http_addr;
    let body =
        br#"{"id":"evt_hostile","type":"customer.updated","created":1,"data":{"object":{}}}"#;
    let t = now();
    let good = sign(body, &secret, t);
    let mac = good.split_once("v1=").expect("v1").1.to_owned();

    // The bound is the header's size, not its shape: padding up to 4 KiB is still accepted.
    let bound_body =
        br#"{"id":"evt_bound","type":"customer.updated","created":1,"data":{"object":{}}}"#;
    let bound_mac = sign(bound_body, &secret, t)
        .split_once("v1=")
        .expect("v1")
        .1
        .to_owned();
    let head = format!("t={t}, ");
    let tail = format!("v1={bound_mac}");
    let at_bound = format!("{head}{}{tail}", " ".repeat(4096 - head.len() - tail.len()));
    assert_eq!(at_bound.len(), 4096);
    let (status, answer) = post(
        addr,
        &ours,
        &[("Stripe-Signature", at_bound.as_bytes())],
        bound_body,
    )
    .await;
    assert_eq!(status, 200, "{}", shown(&answer));
    let over_bound = format!(
        "{head} {}{tail}",
        " ".repeat(4096 - head.len() - tail.len())
    );

    // A correctly signed delivery to an app that does not exist: the reference answer.
    let reference = post(
        addr,
        UNKNOWN_APP,
        &[("Stripe-Signature", good.as_bytes())],
        body,
    )
    .await;
    assert_eq!(
        reference,
        (400, INVALID_SIGNATURE.to_vec()),
        "{}",
        shown(&reference.1)
    );

    let flood = format!("t={t}{}", ",v1=00".repeat(20_000));
    let big = vec![b'x'; 500 * 1024];
    let wrong = sign(body, "whsec_wrong", t);
    // Well outside the 300 s tolerance whatever second the server reads (the exact boundary is a
    // unit test of payments::signature, where time is given).
    let stale = sign(body, &secret, t - 400);
    let future = sign(body, &secret, t + 400);
    let nine = format!("{good}{}", format!(",v0={mac}").repeat(8));
    let short = format!("t={t},v1={}", &mac[..62]);
    let long_id = format!("/webhooks/stripe/{}", "A".repeat(2000));
    let lower = format!("/webhooks/stripe/{}", installed.id.to_lowercase());
    let mut not_utf8 = good.clone().into_bytes();
    not_utf8.extend_from_slice(b",v0=\xff\xfe");
    let cases: Vec<(&str, &str, Headers<'_>, &[u8])> =
        vec![
        (
            "20,000 candidates and a 500 KB body",
            ours.as_str(),
            vec![("Stripe-Signature", flood.as_bytes())],
            big.as_slice(),
        ),
        (
            "20,000 candidates and a 500 KB body, unknown app",
            UNKNOWN_APP,
            vec![("Stripe-Signature", flood.as_bytes())],
            big.as_slice(),
        ),
        (
            "a signature header over 4 KiB",
            ours.as_str(),
            vec![("Stripe-Signature", over_bound.as_bytes())],
            bound_body.as_slice(),
        ),
        (
            "wrong secret",
            ours.as_str(),
            vec![("Stripe-Signature", wrong.as_bytes())],
            body.as_slice(),
        ),
        (
            "wrong secret, unknown app",
            UNKNOWN_APP,
            vec![("Stripe-Signature", wrong.as_bytes())],
            body.as_slice(),
        ),
        (
            "stale",
            ours.as_str(),
            vec![("Stripe-Signature", stale.as_bytes())],
            body.as_slice(),
        ),
        (
            "from the future",
            ours.as_str(),
            vec![("Stripe-Signature", future.as_bytes())],
            body.as_slice(),
        ),
        ("no signature", ours.as_str(), vec![], body.as_slice()),
        ("no signature, unknown app", UNKNOWN_APP, vec![], body.as_slice()),
        (
            "two signature headers",
            ours.as_str(),
            vec![
                ("Stripe-Signature", good.as_bytes()),
                ("Stripe-Signature", good.as_bytes()),
            ],
            body.as_slice(),
        ),
        (
            "nine signatures",
            ours.as_str(),
            vec![("Stripe-Signature", nine.as_bytes())],
            body.as_slice(),
        ),
        (
            "a v1 of 62 hex digits",
            ours.as_str(),
            vec![("Stripe-Signature", short.as_bytes())],
            body.as_slice(),
        ),
        (
            "a header that is not UTF-8",
            ours.as_str(),
            vec![("Stripe-Signature", not_utf8.as_slice())],
            body.as_slice(),
        ),
        (
            "a malformed app id",
            "/webhooks/stripe/not-an-app",
            vec![("Stripe-Signature", good.as_bytes())],
            body.as_slice(),
        ),
        (
            "an app id that is not UTF-8",
            "/webhooks/stripe/%FF%FE",
            vec![("Stripe-Signature", good.as_bytes())],
            body.as_slice(),
        ),
        (
            "a 2000-character app id",
            long_id.as_str(),
            vec![("Stripe-Signature", good.as_bytes())],
            body.as_slice(),
        ),
        (
            "a tampered body",
            ours.as_str(),
            vec![("Stripe-Signature", good.as_bytes())],
            br#"{"id":"evt_hostile","type":"customer.updated","created":2,"data":{"object":{}}}"#
                .as_slice(),
        ),
    ];
    for (why, path, headers, payload) in &cases {
        let answer = post(addr, path, headers, payload).await;
        assert_eq!(answer, reference, "{why}: {}", shown(&answer.1));
    }
    assert_eq!(
        stored_event_ids(&app).await,
        ["evt_bound"],
        "nothing refused was stored"
    );

    // A live app without a webhook secret, then an uninstalled app: the same answer for a
    // delivery its old secret signed.
    let saved = app
        .query("SELECT webhook_secret_ciphertext FROM apps")
        .await
        .remove(0)
        .remove(0)
        .expect("a webhook secret");
    app.execute("UPDATE apps SET webhook_secret_ciphertext = NULL")
        .await;
    let answer = post(addr, &ours, &[("Stripe-Signature", good.as_bytes())], body).await;
    assert_eq!(answer, reference, "no webhook secret: {}", shown(&answer.1));
    app.execute(&format!(
        "UPDATE apps SET webhook_secret_ciphertext = '{saved}'"
    ))
    .await;
    // The id is case-insensitive like every id; the restored secret verifies again.
    let answer = post(addr, &lower, &[("Stripe-Signature", good.as_bytes())], body).await;
    assert_eq!(answer.0, 200, "{}", shown(&answer.1));
    app.apps
        .clone()
        .uninstall_app(pb::UninstallAppRequest {
            id: installed.id.clone(),
        })
        .await
        .expect("uninstall");
    let late = br#"{"id":"evt_late","type":"customer.updated","created":1,"data":{"object":{}}}"#;
    let late_sig = sign(late, &secret, now());
    let answer = post(
        addr,
        &ours,
        &[("Stripe-Signature", late_sig.as_bytes())],
        late,
    )
    .await;
    assert_eq!(answer, reference, "uninstalled app: {}", shown(&answer.1));
    assert_eq!(stored_event_ids(&app).await, ["evt_bound", "evt_hostile"]);
}

async fn a_setup_intent_of_another_stripe_customer_changes_nothing(app: TestApp) {
    install(&app).await;
    let endpoint = app.stripe.webhook_endpoints().pop().expect("endpoint");
    let victim = checkout(&app, "victim").await;
    let attacker = checkout(&app, "attacker").await;
    assert_ne!(victim.stripe_customer_id, attacker.stripe_customer_id);
    let pm_attacker = app
        .stripe
        .create_payment_method(ACCOUNT, Some(&attacker.stripe_customer_id));
    let succeeded = |events: Vec<fake_stripe::Event>| {
        events
            .into_iter()
            .find(|e| e.event_type() == "setup_intent.succeeded")
            .expect("setup_intent.succeeded")
    };
    let attackers = succeeded(
        app.stripe
            .complete_checkout_session(&attacker.session_id, &pm_attacker),
    );
    assert_eq!(
        attackers.object()["customer"],
        json!(attacker.stripe_customer_id)
    );

    // The attacker's SetupIntent (its Stripe customer, its payment method) naming the victim as
    // the patron customer, as a string, as an expanded object, and with no customer at all.
    let victim_id = victim.customer_id.clone();
    let forged = attackers.clone().with_id("evt_forged").map_json(|v| {
        v["data"]["object"]["metadata"]["patron_customer_id"] = json!(victim_id);
    });
    let expanded = forged.clone().with_id("evt_forged_expanded").map_json(|v| {
        let customer = v["data"]["object"]["customer"].clone();
        v["data"]["object"]["customer"] = json!({"id": customer, "object": "customer"});
    });
    let anonymous = forged
        .clone()
        .with_id("evt_forged_anonymous")
        .map_json(|v| {
            v["data"]["object"]["customer"] = Value::Null;
        });
    for event in [&forged, &expanded, &anonymous] {
        let (status, body) = app
            .stripe
            .deliver(&endpoint.url, &endpoint.secret, event)
            .await;
        assert_eq!(status, 200, "{}: {body}", event.id());
        assert!(
            body.contains("not applied") || body.contains("without"),
            "{body}"
        );
    }
    assert_eq!(default_pm(&app, &victim.customer_id).await, "");
    assert_eq!(default_pm(&app, &attacker.customer_id).await, "");

    // The genuine events still apply, the victim's with its customer expanded.
    let pm_victim = app
        .stripe
        .create_payment_method(ACCOUNT, Some(&victim.stripe_customer_id));
    let victims = succeeded(
        app.stripe
            .complete_checkout_session(&victim.session_id, &pm_victim),
    )
    .map_json(|v| {
        let customer = v["data"]["object"]["customer"].clone();
        v["data"]["object"]["customer"] = json!({"id": customer, "object": "customer"});
    });
    for event in [&victims, &attackers] {
        let (status, body) = app
            .stripe
            .deliver(&endpoint.url, &endpoint.secret, event)
            .await;
        assert_eq!(status, 200, "{}: {body}", event.id());
        assert!(body.contains("default payment method set"), "{body}");
    }
    assert_eq!(default_pm(&app, &victim.customer_id).await, pm_victim);
    assert_eq!(default_pm(&app, &attacker.customer_id).await, pm_attacker);
}

/// Strings a hostile (or buggy) signer might put where patron expects ids.
fn tricky_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_]{0,12}",
        "\\PC{0,16}",
        ".{0,16}",
        "[a-z]{0,4}\\x00[a-z]{0,4}",
        "[ -~]{250,300}",
        "[a-z]{0,3}[\\n\\t\\r\\x7f\\x01][a-z]{0,3}",
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        tricky_text().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::btree_map(tricky_text(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The ids of a real app, customer and session, so that generated events reach the updates.
#[derive(Clone, Debug)]
struct Known {
    app_id: String,
    customer_id: String,
    stripe_customer_id: String,
    session_id: String,
}

fn either(known: String) -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::from(known.clone())),
        Just(json!({ "id": known })),
        any_json(),
    ]
}

/// Stripe-shaped events with hostile fields.
fn event_like(known: &Known) -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        Just(Value::from("setup_intent.succeeded")),
        Just(Value::from("checkout.session.completed")),
        Just(Value::from("checkout.session.expired")),
        any_json(),
    ];
    let created = prop_oneof![any::<i64>().prop_map(Value::from), any_json()];
    let object = (
        either(known.session_id.clone()),
        either(known.stripe_customer_id.clone()),
        either("pm_1PatronGenerated".into()),
        either(known.app_id.clone()),
        either(known.customer_id.clone()),
    )
        .prop_map(|(id, customer, pm, app_id, customer_id)| {
            json!({
                "id": id,
                "object": "setup_intent",
                "customer": customer,
                "payment_method": pm,
                "metadata": { "patron_app_id": app_id, "patron_customer_id": customer_id },
            })
        });
    let id = prop_oneof![3 => "evt_[A-Za-z0-9]{8,24}", 1 => tricky_text()];
    (id, kind, created, object).prop_map(|(id, kind, created, object)| {
        json!({ "id": id, "object": "event", "type": kind, "created": created,
                "data": { "object": object } })
    })
}

fn signed_body(known: &Known) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..256),
        1 => any_json().prop_map(|v| v.to_string().into_bytes()),
        2 => event_like(known).prop_map(|v| v.to_string().into_bytes()),
    ]
}

async fn signed_arbitrary_bodies_never_fail_the_server(app: TestApp) {
    let installed = install(&app).await;
    let secret = app
        .stripe
        .webhook_endpoints()
        .pop()
        .expect("endpoint")
        .secret;
    let session = checkout(&app, "generated").await;
    let known = Known {
        app_id: installed.id.clone(),
        customer_id: session.customer_id.clone(),
        stripe_customer_id: session.stripe_customer_id.clone(),
        session_id: session.session_id.clone(),
    };
    let path = format!("/webhooks/stripe/{}", installed.id);
    let addr = app.http_addr;
    let runtime = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let accepted = std::cell::Cell::new(0usize);
    let result = runner.run(&signed_body(&known), |body| {
        let signature = sign(&body, &secret, now());
        let (status, answer) = tokio::task::block_in_place(|| {
            runtime.block_on(post(
                addr,
                &path,
                &[("Stripe-Signature", signature.as_bytes())],
                &body,
            ))
        });
        match status {
            200 => accepted.set(accepted.get() + 1),
            400 => {}
            _ => {
                return Err(TestCaseError::fail(format!(
                    "{status} {} for {}",
                    shown(&answer),
                    shown(&body)
                )));
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("a signed delivery failed the server: {e}");
    }
    assert!(accepted.get() > 0, "some generated events are accepted");
    // The server still answers and processes a genuine delivery afterwards.
    let pm = app
        .stripe
        .create_payment_method(ACCOUNT, Some(&session.stripe_customer_id));
    let events = app
        .stripe
        .complete_checkout_session(&session.session_id, &pm);
    for event in &events {
        let payload = event.payload();
        let signature = sign(payload.as_bytes(), &secret, now());
        let (status, answer) = post(
            addr,
            &path,
            &[("Stripe-Signature", signature.as_bytes())],
            payload.as_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{}", shown(&answer));
    }
}

on_both_databases!(
    every_unauthenticated_delivery_gets_the_same_answer,
    a_setup_intent_of_another_stripe_customer_changes_nothing,
    signed_arbitrary_bodies_never_fail_the_server,
);
