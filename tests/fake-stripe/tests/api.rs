//! The fake over HTTP, with the crate's own tiny client: authentication, strict parameters,
//! Checkout rules, idempotency, fault injection, recording and webhooks.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fake_stripe::http::{self, HttpResponse};
use fake_stripe::{FakeStripe, Fault};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const KEY: &str = "sk_test_51FakeKeyAbcd1234";
const ACCOUNT: &str = "acct_1FakeAccount";
const VERSION: &str = "2026-09-30.endive";

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

async fn fake() -> FakeStripe {
    let fake = FakeStripe::start().await;
    fake.add_account(KEY, ACCOUNT);
    fake
}

/// A request as async-stripe sends it.
async fn call(
    fake: &FakeStripe,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
    extra: &[(&str, &str)],
) -> HttpResponse {
    let url = format!("{}{}", fake.base_url(), path.trim_start_matches('/'));
    let auth = key.map(|k| format!("Bearer {k}"));
    let mut headers: Vec<(&str, &str)> = vec![("User-Agent", "Stripe/v1 RustBindings/1.0.0-rc.10")];
    if !extra
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("stripe-version"))
    {
        headers.push(("Stripe-Version", VERSION));
    }
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth));
    }
    if !body.is_empty() {
        headers.push(("Content-Type", "application/x-www-form-urlencoded"));
    }
    headers.extend_from_slice(extra);
    http::send(method, &url, &headers, body).await.unwrap()
}

async fn get(fake: &FakeStripe, path: &str) -> HttpResponse {
    call(fake, "GET", path, Some(KEY), "", &[]).await
}

async fn post(fake: &FakeStripe, path: &str, body: &str) -> HttpResponse {
    call(fake, "POST", path, Some(KEY), body, &[]).await
}

async fn post_idem(fake: &FakeStripe, path: &str, body: &str, idem: &str) -> HttpResponse {
    call(
        fake,
        "POST",
        path,
        Some(KEY),
        body,
        &[("Idempotency-Key", idem)],
    )
    .await
}

fn assert_error(r: &HttpResponse, status: u16, code: Option<&str>, param: Option<&str>) -> Value {
    assert_eq!(r.status, status, "{}", r.body);
    let err = r.json()["error"].clone();
    assert_eq!(err["code"].as_str(), code, "{}", r.body);
    assert_eq!(err["param"].as_str(), param, "{}", r.body);
    err
}

async fn create_customer(fake: &FakeStripe) -> String {
    let r = post(fake, "/v1/customers", "name=Jane&email=jane@example.com").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_string()
}

fn hosted_setup(customer: &str) -> String {
    format!(
        "mode=setup&customer={customer}&currency=usd&success_url=https://example.com/ok?s={{CHECKOUT_SESSION_ID}}&\
         cancel_url=https://example.com/no&setup_intent_data[metadata][patron_app_id]=01APP&\
         metadata[patron_customer_id]=01CUS"
    )
}

#[tokio::test]
async fn base_url_has_a_trailing_slash_and_every_answer_is_json_with_a_request_id() {
    let fake = fake().await;
    assert!(fake.base_url().starts_with("http://127.0.0.1:"));
    assert!(fake.base_url().ends_with('/'));
    for r in [
        get(&fake, "/v1/account").await,
        call(&fake, "GET", "/v1/account", None, "", &[]).await,
        get(&fake, "/v1/xyz").await,
    ] {
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(r.header("request-id").unwrap().starts_with("req_"));
    }
}

#[tokio::test]
async fn account_for_each_key_and_rotation() {
    let fake = fake().await;
    fake.add_account("rk_test_rotated9999", ACCOUNT);
    // async-stripe sends GETs with an empty query as `?`.
    let r = get(&fake, "/v1/account?").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let account = r.json();
    assert_eq!(account["id"], ACCOUNT);
    assert_eq!(account["object"], "account");
    assert_eq!(account["country"], "US");
    let r = call(
        &fake,
        "GET",
        "/v1/account",
        Some("rk_test_rotated9999"),
        "",
        &[],
    )
    .await;
    assert_eq!(r.json()["id"], ACCOUNT);
}

#[tokio::test]
async fn authentication_errors() {
    let fake = fake().await;
    let r = call(&fake, "GET", "/v1/account", None, "", &[]).await;
    let err = assert_error(&r, 401, None, None);
    assert_eq!(err["type"], "invalid_request_error");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("You did not provide an API key")
    );

    let r = call(
        &fake,
        "GET",
        "/v1/account",
        Some("sk_test_unknownkeyabcd"),
        "",
        &[],
    )
    .await;
    let err = assert_error(&r, 401, None, None);
    assert_eq!(err["message"], "Invalid API Key provided: sk_test_****abcd");

    let r = call(
        &fake,
        "GET",
        "/v1/account",
        Some("pk_test_publishable1234"),
        "",
        &[],
    )
    .await;
    assert_eq!(r.status, 401);

    fake.revoke_key(KEY);
    let r = get(&fake, "/v1/account").await;
    let err = assert_error(&r, 401, Some("api_key_expired"), None);
    assert_eq!(err["message"], "Expired API Key provided: sk_test_****1234");
    assert_eq!(fake.requests().len(), 4);
    assert!(fake.requests().iter().all(|r| r.status == 401));
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let fake = fake().await;
    let r = get(&fake, "/v1/xyz").await;
    let err = assert_error(&r, 404, None, None);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("Unrecognized request URL (GET: /v1/xyz)")
    );
    let r = call(
        &fake,
        "DELETE",
        "/v1/checkout/sessions/cs_test_1",
        Some(KEY),
        "",
        &[],
    )
    .await;
    let err = assert_error(&r, 404, None, None);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("Unrecognized request URL (DELETE: /v1/checkout/sessions/cs_test_1)")
    );
}

#[tokio::test]
async fn customers_are_created_from_bracket_notation_and_kept_per_account_and_mode() {
    let fake = fake().await;
    let r = post(
        &fake,
        "/v1/customers",
        "name=Jane+Doe&email=jane@example.com&phone=%2B33123&address[line1]=1%20rue%20X&\
         address[country]=FR&metadata[patron_namespace]=ns&metadata[patron_customer_id]=01H",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let c = r.json();
    let id = c["id"].as_str().unwrap();
    assert!(id.starts_with("cus_"));
    assert_eq!(c["object"], "customer");
    assert_eq!(c["name"], "Jane Doe");
    assert_eq!(c["email"], "jane@example.com");
    assert_eq!(c["phone"], "+33123");
    assert_eq!(c["address"]["line1"], "1 rue X");
    assert_eq!(c["address"]["city"], Value::Null);
    assert_eq!(
        c["metadata"],
        json!({"patron_namespace": "ns", "patron_customer_id": "01H"})
    );
    assert_eq!(c["invoice_settings"]["default_payment_method"], Value::Null);
    assert_eq!(c["livemode"], false);
    assert!(c["created"].as_i64().unwrap() > 1_700_000_000);

    let r = get(&fake, &format!("/v1/customers/{id}")).await;
    assert_eq!(r.json(), c);

    let r = get(&fake, "/v1/customers/cus_nope").await;
    let err = assert_error(&r, 404, Some("resource_missing"), Some("id"));
    assert_eq!(err["message"], "No such customer: 'cus_nope'");

    // Another account, and the live mode of the same account, do not see it.
    fake.add_account("sk_test_otheraccount1", "acct_other");
    fake.add_account("sk_live_sameaccount12", ACCOUNT);
    for key in ["sk_test_otheraccount1", "sk_live_sameaccount12"] {
        let r = call(
            &fake,
            "GET",
            &format!("/v1/customers/{id}"),
            Some(key),
            "",
            &[],
        )
        .await;
        assert_eq!(r.status, 404);
    }
    let r = call(
        &fake,
        "POST",
        "/v1/customers",
        Some("sk_live_sameaccount12"),
        "name=L",
        &[],
    )
    .await;
    assert_eq!(r.json()["livemode"], true);

    let r = post(&fake, "/v1/customers", "email=not-an-email").await;
    assert_error(&r, 400, Some("email_invalid"), Some("email"));

    let r = call(
        &fake,
        "DELETE",
        &format!("/v1/customers/{id}"),
        Some(KEY),
        "",
        &[],
    )
    .await;
    assert_eq!(
        r.json(),
        json!({"id": id, "object": "customer", "deleted": true})
    );
    let r = get(&fake, &format!("/v1/customers/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["deleted"], true);
}

#[tokio::test]
async fn payment_methods() {
    let fake = fake().await;
    let customer = create_customer(&fake).await;
    let pm = fake.create_payment_method(KEY, Some(&customer));
    let r = get(&fake, &format!("/v1/payment_methods/{pm}")).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["object"], "payment_method");
    assert_eq!(v["type"], "card");
    assert_eq!(v["customer"], customer.as_str());
    assert_eq!(v["card"]["last4"], "4242");
    let loose = fake.create_payment_method(ACCOUNT, None);
    assert_eq!(
        get(&fake, &format!("/v1/payment_methods/{loose}"))
            .await
            .json()["customer"],
        Value::Null
    );
    let r = get(&fake, "/v1/payment_methods/pm_nope").await;
    let err = assert_error(&r, 404, Some("resource_missing"), Some("payment_method"));
    assert_eq!(err["message"], "No such PaymentMethod: 'pm_nope'");
    let r = get(
        &fake,
        &format!("/v1/customers/{customer}/payment_methods?type=card"),
    )
    .await;
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn hosted_checkout_session_in_setup_mode() {
    let fake = fake().await;
    let customer = create_customer(&fake).await;
    let r = post(
        &fake,
        "/v1/checkout/sessions",
        &(hosted_setup(&customer)
            + "&client_reference_id=ref-1&locale=fr&custom_text[submit][message]=Go"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let s = r.json();
    let id = s["id"].as_str().unwrap();
    assert!(id.starts_with("cs_test_"));
    assert_eq!(s["object"], "checkout.session");
    assert_eq!(s["mode"], "setup");
    assert_eq!(s["status"], "open");
    assert_eq!(s["ui_mode"], "hosted_page");
    assert_eq!(s["customer"], customer.as_str());
    assert_eq!(s["currency"], "usd");
    assert_eq!(s["url"], format!("https://checkout.stripe.com/c/pay/{id}"));
    assert_eq!(s["client_secret"], Value::Null);
    assert_eq!(
        s["success_url"],
        "https://example.com/ok?s={CHECKOUT_SESSION_ID}"
    );
    assert_eq!(s["client_reference_id"], "ref-1");
    assert_eq!(s["custom_text"]["submit"]["message"], "Go");
    assert_eq!(s["metadata"], json!({"patron_customer_id": "01CUS"}));
    let expires_at = s["expires_at"].as_i64().unwrap();
    assert!((expires_at - now() - 86_400).abs() < 5);

    let seti = s["setup_intent"].as_str().unwrap();
    assert!(seti.starts_with("seti_"));
    let r = get(&fake, &format!("/v1/setup_intents/{seti}")).await;
    let si = r.json();
    assert_eq!(si["status"], "requires_payment_method");
    assert_eq!(si["customer"], customer.as_str());
    assert_eq!(si["metadata"], json!({"patron_app_id": "01APP"}));

    let r = get(
        &fake,
        &format!("/v1/checkout/sessions/{id}?expand[0]=setup_intent&expand[1]=customer"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["setup_intent"]["id"], seti);
    assert_eq!(r.json()["customer"]["id"], customer.as_str());
    let r = get(&fake, &format!("/v1/checkout/sessions/{id}?expand[0]=mode")).await;
    assert_eq!(r.status, 400);

    let r = post(&fake, &format!("/v1/checkout/sessions/{id}/expire"), "").await;
    assert_eq!(r.json()["status"], "expired");
    let r = post(&fake, &format!("/v1/checkout/sessions/{id}/expire"), "").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        fake.events().last().unwrap().event_type(),
        "checkout.session.expired"
    );

    let r = get(&fake, "/v1/checkout/sessions/cs_test_nope").await;
    assert_error(&r, 404, Some("resource_missing"), Some("session"));
}

#[tokio::test]
async fn embedded_checkout_session() {
    let fake = fake().await;
    let customer = create_customer(&fake).await;
    let body = format!(
        "mode=setup&customer={customer}&currency=eur&ui_mode=embedded_page&return_url=https://example.com/back"
    );
    let r = post(&fake, "/v1/checkout/sessions", &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let s = r.json();
    assert_eq!(s["url"], Value::Null);
    let secret = s["client_secret"].as_str().unwrap();
    assert!(secret.starts_with(&format!("{}_secret_", s["id"].as_str().unwrap())));
    assert_eq!(s["return_url"], "https://example.com/back");

    let r = post(
        &fake,
        "/v1/checkout/sessions",
        &format!("mode=setup&customer={customer}&currency=eur&ui_mode=embedded_page&redirect_on_completion=never"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn checkout_parameters_are_strict() {
    let fake = fake().await;
    let customer = create_customer(&fake).await;
    let base = hosted_setup(&customer);

    let r = post(
        &fake,
        "/v1/checkout/sessions",
        &format!("{base}&ui_mode=hosted"),
    )
    .await;
    let err = assert_error(&r, 400, Some("parameter_invalid_string"), Some("ui_mode"));
    assert_eq!(err["type"], "invalid_request_error");
    let r = post(
        &fake,
        "/v1/checkout/sessions",
        &format!("{base}&ui_mode=hosted_page"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = post(
        &fake,
        "/v1/checkout/sessions",
        &format!("{base}&custom_text[foo][message]=x"),
    )
    .await;
    let err = assert_error(&r, 400, Some("parameter_unknown"), Some("custom_text[foo]"));
    assert_eq!(
        err["message"],
        "Received unknown parameter: custom_text[foo]"
    );

    let r = post(
        &fake,
        "/v1/checkout/sessions",
        &format!("{base}&billing_address_collection=sometimes"),
    )
    .await;
    assert_error(
        &r,
        400,
        Some("parameter_invalid_string"),
        Some("billing_address_collection"),
    );

    let r = post(
        &fake,
        "/v1/checkout/sessions",
        &format!("currency=usd&customer={customer}&success_url=https://x.test/"),
    )
    .await;
    assert_error(&r, 400, Some("parameter_missing"), Some("mode"));

    let r = post(
        &fake,
        "/v1/checkout/sessions",
        "mode=setup&success_url=https://x.test/",
    )
    .await;
    assert_error(&r, 400, Some("parameter_missing"), Some("currency"));

    // Endive (the version sent here) filters with `allowed_payment_method_types`; dahlia's
    // `payment_method_types` is gone, and so is its standing in for `currency`.
    let types = "mode=setup&success_url=https://x.test/&payment_method_types[0]=card";
    let r = post(&fake, "/v1/checkout/sessions", types).await;
    assert_error(
        &r,
        400,
        Some("parameter_unknown"),
        Some("payment_method_types"),
    );
    let allowed = "mode=setup&success_url=https://x.test/&allowed_payment_method_types[0]=card";
    let r = post(&fake, "/v1/checkout/sessions", allowed).await;
    assert_error(&r, 400, Some("parameter_missing"), Some("currency"));
    let r = post(
        &fake,
        "/v1/checkout/sessions",
        &format!("{allowed}&currency=usd"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["payment_method_types"], json!(["card"]));
    let dahlia = [("Stripe-Version", "2026-06-24.dahlia")];
    let r = call(
        &fake,
        "POST",
        "/v1/checkout/sessions",
        Some(KEY),
        types,
        &dahlia,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(
        &fake,
        "POST",
        "/v1/checkout/sessions",
        Some(KEY),
        allowed,
        &dahlia,
    )
    .await;
    assert_error(
        &r,
        400,
        Some("parameter_unknown"),
        Some("allowed_payment_method_types"),
    );

    let r = post(
        &fake,
        "/v1/checkout/sessions",
        &format!("mode=setup&currency=usd&customer={customer}"),
    )
    .await;
    assert_error(&r, 400, Some("parameter_missing"), Some("success_url"));

    let r = post(
        &fake,
        "/v1/checkout/sessions",
        &format!("mode=setup&currency=usd&customer={customer}&ui_mode=embedded_page&return_url=https://x.test/&success_url=https://x.test/"),
    )
    .await;
    assert_error(&r, 400, None, Some("success_url"));
    let r = post(
        &fake,
        "/v1/checkout/sessions",
        &format!("mode=setup&currency=usd&customer={customer}&ui_mode=embedded_page"),
    )
    .await;
    assert_error(&r, 400, Some("parameter_missing"), Some("return_url"));

    let r = post(&fake, "/v1/checkout/sessions", &hosted_setup("cus_missing")).await;
    let err = assert_error(&r, 400, Some("resource_missing"), Some("customer"));
    assert_eq!(err["message"], "No such customer: 'cus_missing'");

    for bad in [now() + 60, now() + 2 * 86_400] {
        let r = post(
            &fake,
            "/v1/checkout/sessions",
            &format!("{base}&expires_at={bad}"),
        )
        .await;
        assert_error(&r, 400, None, Some("expires_at"));
    }
    let r = post(
        &fake,
        "/v1/checkout/sessions",
        &format!("{base}&expires_at={}", now() + 3600),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let long = "k".repeat(41);
    let r = post(
        &fake,
        "/v1/checkout/sessions",
        &format!("{base}&metadata[{long}]=v"),
    )
    .await;
    assert_error(&r, 400, None, Some(&format!("metadata[{long}]")));

    let r = post(
        &fake,
        "/v1/checkout/sessions",
        &format!("{base}&success_url=not-a-url"),
    )
    .await;
    assert_eq!(r.status, 400);

    let r = post(
        &fake,
        "/v1/checkout/sessions",
        &format!("{base}&payment_intent_data[description]=x"),
    )
    .await;
    assert_error(&r, 400, None, Some("payment_intent_data"));

    // A JSON body is not what Stripe takes.
    let r = call(
        &fake,
        "POST",
        "/v1/customers",
        Some(KEY),
        "{\"name\":\"x\"}",
        &[("Content-Type", "application/json")],
    )
    .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn idempotent_replay_creates_once() {
    let fake = fake().await;
    let body = "name=Jane&metadata[k]=v";
    let first = post_idem(&fake, "/v1/customers", body, "key-1").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("idempotent-replayed"), None);
    // The same parameters in another order are the same request.
    let second = post_idem(&fake, "/v1/customers", "metadata[k]=v&name=Jane", "key-1").await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        second.header("original-request"),
        first.header("request-id")
    );
    assert_eq!(fake.customers(KEY).len(), 1);

    let third = post_idem(&fake, "/v1/customers", "name=John", "key-1").await;
    let err = assert_error(&third, 400, None, None);
    assert_eq!(err["type"], "idempotency_error");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("Keys for idempotent requests can only be used with the same parameters they were first used with.")
    );
    let other_path = post_idem(
        &fake,
        "/v1/webhook_endpoints",
        "url=https://x.test/&enabled_events[0]=*",
        "key-1",
    )
    .await;
    assert_eq!(other_path.json()["error"]["type"], "idempotency_error");
    assert_eq!(fake.customers(KEY).len(), 1);

    // Without the header, every request creates.
    post(&fake, "/v1/customers", body).await;
    post(&fake, "/v1/customers", body).await;
    assert_eq!(fake.customers(KEY).len(), 3);

    // Validation errors are not stored: the key can be used again once the request is right.
    let r = post_idem(&fake, "/v1/customers", "bogus=1", "key-2").await;
    assert_eq!(r.status, 400);
    let r = post_idem(&fake, "/v1/customers", "name=Ok", "key-2").await;
    assert_eq!(r.status, 200);

    let recorded = fake.requests_to("POST", "/v1/customers");
    assert_eq!(recorded[1].idempotency_key.as_deref(), Some("key-1"));
    assert!(recorded[1].replayed);
    assert!(!recorded[0].replayed);
}

#[tokio::test]
async fn idempotency_keys_are_per_account() {
    let fake = fake().await;
    fake.add_account("sk_test_secondaccount", "acct_second");
    post_idem(&fake, "/v1/customers", "name=A", "shared").await;
    let r = call(
        &fake,
        "POST",
        "/v1/customers",
        Some("sk_test_secondaccount"),
        "name=B",
        &[("Idempotency-Key", "shared")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("idempotent-replayed"), None);
}

#[tokio::test]
async fn injected_rate_limit_and_server_errors() {
    let fake = fake().await;
    fake.fail_next(
        "POST",
        "/v1/customers",
        Fault::RateLimited {
            retry_after_secs: 2,
        },
    );
    fake.fail_next("POST", "/v1/customers", Fault::Status(500));
    // Not matching: another endpoint.
    let r = get(&fake, "/v1/account").await;
    assert_eq!(r.status, 200);

    let r = post(&fake, "/v1/customers", "name=A").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("2"));
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    let r = post(&fake, "/v1/customers", "name=A").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error"]["type"], "api_error");
    assert!(fake.customers(KEY).is_empty());
    let r = post(&fake, "/v1/customers", "name=A").await;
    assert_eq!(r.status, 200);
    assert_eq!(fake.pending_faults(), 0);

    // Faults apply before authentication.
    fake.fail_next("GET", "/v1/account", Fault::Status(503));
    let r = call(
        &fake,
        "GET",
        "/v1/account",
        Some("sk_test_notregistered"),
        "",
        &[],
    )
    .await;
    assert_eq!(r.status, 503);
    let recorded = fake.requests_to("get", "/v1/account");
    assert_eq!(recorded.last().unwrap().fault, Some(Fault::Status(503)));
}

#[tokio::test]
async fn a_permission_fault_answers_like_a_restricted_key_without_the_permission() {
    let fake = fake().await;
    fake.fail_next(
        "POST",
        "/v1/customers",
        Fault::PermissionDenied("rak_customer_write".into()),
    );
    let r = post(&fake, "/v1/customers", "name=A").await;
    assert_eq!(r.status, 403);
    let error = &r.json()["error"];
    assert_eq!(error["type"], "invalid_request_error");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("does not have the required permissions"),
        "{message}"
    );
    assert!(message.contains("'rak_customer_write'"), "{message}");
    assert!(message.contains(ACCOUNT), "{message}");
    assert!(!message.contains(KEY), "the key is masked: {message}");
    assert!(fake.customers(KEY).is_empty(), "nothing was done");
    let r = post(&fake, "/v1/customers", "name=A").await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn succeed_then_drop_loses_the_response_but_creates_the_object() {
    let fake = fake().await;
    fake.fail_next("POST", "/v1/customers", Fault::SucceedThenDrop);
    let url = format!("{}v1/customers", fake.base_url());
    let auth = format!("Bearer {KEY}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Idempotency-Key", "lost-1"),
    ];
    let err = http::send("POST", &url, &headers, "name=Lost")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    let customers = fake.customers(KEY);
    assert_eq!(customers.len(), 1);
    let recorded = fake.requests();
    assert!(recorded[0].dropped);
    assert_eq!(recorded[0].status, 200);

    // The retry with the same key gets the response that was lost; nothing new is created.
    let r = http::send("POST", &url, &headers, "name=Lost")
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("idempotent-replayed"), Some("true"));
    assert_eq!(r.json()["id"], customers[0]["id"]);
    assert_eq!(fake.customers(KEY).len(), 1);

    fake.fail_next("POST", "/v1/customers", Fault::SucceedThenStatus(502));
    let r = post(&fake, "/v1/customers", "name=Second").await;
    assert_eq!(r.status, 502);
    assert_eq!(fake.customers(KEY).len(), 2);

    fake.fail_next("*", "/v1/", Fault::Drop);
    assert!(
        http::send("POST", &url, &headers, "name=Dropped")
            .await
            .is_err()
    );
    assert_eq!(fake.customers(KEY).len(), 2);
}

#[tokio::test]
async fn delay_then_normal_answer() {
    let fake = fake().await;
    fake.fail_next(
        "GET",
        "/v1/account",
        Fault::Delay(Duration::from_millis(300)),
    );
    let started = std::time::Instant::now();
    let r = get(&fake, "/v1/account").await;
    assert_eq!(r.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn required_version() {
    let fake = fake().await;
    fake.set_required_version(Some(VERSION.to_string()));
    assert_eq!(get(&fake, "/v1/account").await.status, 200);
    let r = call(
        &fake,
        "GET",
        "/v1/account",
        Some(KEY),
        "",
        &[("Stripe-Version", "2026-02-25.clover")],
    )
    .await;
    assert_error(&r, 400, None, None);
    fake.set_required_version(Some("2020-08-27".to_string()));
    assert_eq!(get(&fake, "/v1/account").await.status, 400);
    fake.set_required_version(None);
    assert_eq!(get(&fake, "/v1/account").await.status, 200);
}

#[tokio::test]
async fn requests_are_recorded() {
    let fake = fake().await;
    post_idem(
        &fake,
        "/v1/checkout/sessions",
        "mode=setup&currency=usd&success_url=https://x.test/&allowed_payment_method_types[0]=card&setup_intent_data[metadata][k]=v",
        "idem-9",
    )
    .await;
    let r = &fake.requests_to("POST", "/v1/checkout")[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/checkout/sessions");
    assert_eq!(r.api_key.as_deref(), Some(KEY));
    assert_eq!(r.stripe_version.as_deref(), Some(VERSION));
    assert_eq!(r.idempotency_key.as_deref(), Some("idem-9"));
    assert_eq!(r.status, 200);
    assert_eq!(r.params["allowed_payment_method_types"], json!(["card"]));
    assert_eq!(r.param("setup_intent_data[metadata][k]"), Some("v"));
    assert!(r.body.contains("mode=setup"));
    assert_eq!(
        r.header("user-agent"),
        Some("Stripe/v1 RustBindings/1.0.0-rc.10")
    );
    assert!(
        r.response_json()["id"]
            .as_str()
            .unwrap()
            .starts_with("cs_test_")
    );
}

#[tokio::test]
async fn webhook_endpoints_lifecycle() {
    let fake = fake().await;
    let r = post(
        &fake,
        "/v1/webhook_endpoints",
        "url=http://127.0.0.1:9/webhooks/stripe/01APP&enabled_events[0]=setup_intent.succeeded&\
         enabled_events[1]=setup_intent.setup_failed&enabled_events[2]=checkout.session.completed&\
         enabled_events[3]=checkout.session.expired&description=patron&metadata[patron_app_id]=01APP",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let we = r.json();
    let id = we["id"].as_str().unwrap();
    assert!(id.starts_with("we_"));
    assert_eq!(we["object"], "webhook_endpoint");
    assert_eq!(we["status"], "enabled");
    assert!(we["secret"].as_str().unwrap().starts_with("whsec_"));
    let listed = fake.webhook_endpoints();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].secret, we["secret"].as_str().unwrap());
    assert_eq!(listed[0].url, "http://127.0.0.1:9/webhooks/stripe/01APP");
    assert!(listed[0].receives("checkout.session.completed"));
    assert!(!listed[0].receives("customer.created"));

    // The secret is only shown at creation.
    let r = get(&fake, &format!("/v1/webhook_endpoints/{id}")).await;
    assert_eq!(r.json()["secret"], Value::Null);

    let r = post(
        &fake,
        "/v1/webhook_endpoints",
        "url=https://x.test/&enabled_events[0]=not.an.event",
    )
    .await;
    assert_error(
        &r,
        400,
        Some("parameter_invalid_string"),
        Some("enabled_events[0]"),
    );

    let r = call(
        &fake,
        "DELETE",
        &format!("/v1/webhook_endpoints/{id}"),
        Some(KEY),
        "",
        &[],
    )
    .await;
    assert_eq!(
        r.json(),
        json!({"id": id, "object": "webhook_endpoint", "deleted": true})
    );
    assert!(fake.webhook_endpoints().is_empty());
    let r = call(
        &fake,
        "DELETE",
        &format!("/v1/webhook_endpoints/{id}"),
        Some(KEY),
        "",
        &[],
    )
    .await;
    assert_eq!(r.status, 404);
}

/// A one-shot HTTP server that answers 200 and hands back the raw request it got.
async fn capture_one() -> (String, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/webhooks/stripe/01APP",
        listener.local_addr().unwrap()
    );
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            raw.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&raw).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if body.len() >= len {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nreceived")
            .await
            .unwrap();
        String::from_utf8(raw).unwrap()
    });
    (url, task)
}

fn verify(header: &str, payload: &str, secret: &str) {
    let t = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .unwrap();
    let v1 = header
        .split(',')
        .find_map(|p| p.strip_prefix("v1="))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{payload}").as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1, expected);
    assert!((t.parse::<i64>().unwrap() - now()).abs() < 5);
}

#[tokio::test]
async fn completing_checkout_emits_signed_events() {
    let fake = fake().await;
    let customer = create_customer(&fake).await;
    let session = post(&fake, "/v1/checkout/sessions", &hosted_setup(&customer))
        .await
        .json();
    let session_id = session["id"].as_str().unwrap();
    let pm = fake.create_payment_method(KEY, None);

    let events = fake.complete_checkout_session(session_id, &pm);
    let types: Vec<&str> = events.iter().map(|e| e.event_type()).collect();
    assert_eq!(
        types,
        ["setup_intent.succeeded", "checkout.session.completed"]
    );
    let si_event = &events[0];
    assert!(si_event.id().starts_with("evt_"));
    assert_eq!(si_event.json()["object"], "event");
    assert_eq!(si_event.json()["api_version"], VERSION);
    assert_eq!(si_event.json()["livemode"], false);
    assert_eq!(si_event.json()["pending_webhooks"], 1);
    assert_eq!(
        si_event.json()["request"],
        json!({"id": null, "idempotency_key": null})
    );
    assert_eq!(si_event.object()["status"], "succeeded");
    assert_eq!(si_event.object()["payment_method"], pm.as_str());
    assert_eq!(si_event.object()["metadata"]["patron_app_id"], "01APP");
    assert_eq!(events[1].object()["status"], "complete");
    assert_eq!(
        fake.checkout_session(session_id).unwrap()["status"],
        "complete"
    );
    assert_eq!(
        fake.payment_method(&pm).unwrap()["customer"],
        customer.as_str()
    );

    let older = events[0].clone().with_created(1_000);
    assert_eq!(older.created(), 1_000);
    assert_eq!(older.id(), events[0].id());

    // Signature format, recomputed independently.
    let header = fake.sign("{\"a\":1}", "whsec_abc", 1_700_000_000);
    assert!(header.starts_with("t=1700000000,v1="));
    let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_abc").unwrap();
    mac.update(b"1700000000.{\"a\":1}");
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(header, format!("t=1700000000,v1={hex}"));

    // Delivery: Stripe's headers, the event as body, a signature that verifies.
    let (url, task) = capture_one().await;
    let (status, body) = fake.deliver(&url, "whsec_secret", &events[1]).await;
    assert_eq!((status, body.as_str()), (200, "received"));
    let raw = task.await.unwrap();
    let (head, payload) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("POST /webhooks/stripe/01APP HTTP/1.1\r\n"));
    assert!(head.contains("User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)"));
    assert!(head.contains("Content-Type: application/json"));
    assert_eq!(payload, events[1].payload());
    let signature = head
        .lines()
        .find_map(|l| l.strip_prefix("Stripe-Signature: "))
        .unwrap();
    verify(signature, payload, "whsec_secret");

    // Raw delivery with a tampered signature.
    let (url, task) = capture_one().await;
    fake.deliver_raw(&url, &[("Stripe-Signature", "t=1,v1=00")], "{}")
        .await;
    assert!(task.await.unwrap().contains("Stripe-Signature: t=1,v1=00"));
}

#[tokio::test]
async fn deliver_to_registered_endpoints() {
    let fake = fake().await;
    let (url, task) = capture_one().await;
    let r = post(
        &fake,
        "/v1/webhook_endpoints",
        &format!("url={url}&enabled_events[0]=checkout.session.expired"),
    )
    .await;
    let secret = r.json()["secret"].as_str().unwrap().to_string();
    let customer = create_customer(&fake).await;
    let session = post(&fake, "/v1/checkout/sessions", &hosted_setup(&customer))
        .await
        .json();
    let event = fake.expire_checkout_session_event(session["id"].as_str().unwrap());
    assert_eq!(event.event_type(), "checkout.session.expired");
    assert_eq!(event.object()["status"], "expired");
    let deliveries = fake.deliver_to_endpoints(&event).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, 200);
    let raw = task.await.unwrap();
    let (head, payload) = raw.split_once("\r\n\r\n").unwrap();
    let signature = head
        .lines()
        .find_map(|l| l.strip_prefix("Stripe-Signature: "))
        .unwrap();
    verify(signature, payload, &secret);

    // An event type the endpoint does not receive goes nowhere.
    let session = post(&fake, "/v1/checkout/sessions", &hosted_setup(&customer))
        .await
        .json();
    let failed = fake.setup_intent_failed_event(session["id"].as_str().unwrap());
    assert_eq!(failed.event_type(), "setup_intent.setup_failed");
    assert_eq!(failed.object()["last_setup_error"]["code"], "card_declined");
    assert!(fake.deliver_to_endpoints(&failed).await.is_empty());
}
