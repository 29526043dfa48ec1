//! What the HTTP-level tests of the double share: one account, calls with its key, and
//! Stripe's error shape.
#![allow(dead_code)]

use fake_stripe::FakeStripe;
use fake_stripe::http::{self, HttpResponse};
use serde_json::Value;

pub const KEY: &str = "sk_test_51FakeKeyAbcd1234";
pub const ACCOUNT: &str = "acct_1FakeAccount";

/// A double with [`KEY`] registered for [`ACCOUNT`].
pub async fn fake() -> FakeStripe {
    let fake = FakeStripe::start().await;
    fake.add_account(KEY, ACCOUNT);
    fake
}

/// `method path_and_query` with [`KEY`], the endive version and a form `body`.
pub async fn call(
    fake: &FakeStripe,
    method: &str,
    path_and_query: &str,
    body: &str,
) -> HttpResponse {
    let url = format!(
        "{}{}",
        fake.base_url(),
        path_and_query.trim_start_matches('/')
    );
    let auth = format!("Bearer {KEY}");
    let headers = [
        ("Stripe-Version", "2026-09-30.endive"),
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    http::send(method, &url, &headers, body).await.unwrap()
}

/// A POST of a form.
pub async fn post(fake: &FakeStripe, path: &str, body: &str) -> HttpResponse {
    call(fake, "POST", path, body).await
}

/// Asserts Stripe's `invalid_request_error` with this status, code and param; returns it.
pub fn error(r: &HttpResponse, status: u16, code: Option<&str>, param: Option<&str>) -> Value {
    assert_eq!(r.status, status, "{}", r.body);
    let err = r.json()["error"].clone();
    assert_eq!(err["type"], "invalid_request_error", "{}", r.body);
    assert_eq!(err["code"].as_str(), code, "{}", r.body);
    assert_eq!(err["param"].as_str(), param, "{}", r.body);
    err
}
