//! TLS, the secure-by-default start rule, and secret hygiene (logs, responses, Debug).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use patron::grpc::pb;
use patron::grpc::pb::app_service_client::AppServiceClient;
use patron::grpc::pb::customer_service_client::CustomerServiceClient;
use patron::grpc::pb::stripe_checkout_service_client::StripeCheckoutServiceClient;
use sha2::Digest;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

use crate::helpers::{Backend, BearerAuth, TestApp, customer};

fn self_signed() -> (String, String) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    (cert.cert.pem(), cert.signing_key.serialize_pem())
}

async fn tls_serves_grpc_to_a_tls_client(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = self_signed();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, &cert).expect("write cert");
    std::fs::write(&key_path, &key).expect("write key");
    let app = TestApp::spawn_with(backend, |settings| {
        settings.tls = Some(patron::config::TlsFiles {
            cert: cert_path.clone(),
            key: key_path.clone(),
        });
    })
    .await;
    let channel = Channel::from_shared(format!("https://localhost:{}", app.grpc_addr.port()))
        .expect("uri")
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&cert))
                .domain_name("localhost"),
        )
        .expect("tls config")
        .connect()
        .await
        .expect("TLS connection");
    let created = CustomerServiceClient::new(channel)
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer("Over TLS", "tls")),
            request_id: String::new(),
        })
        .await
        .expect("call over TLS")
        .into_inner();
    assert_eq!(created.key, "tls");
    // A plaintext client cannot talk to the TLS listener.
    let plain = Channel::from_shared(format!("http://127.0.0.1:{}", app.grpc_addr.port()))
        .expect("uri")
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(2))
        .connect_lazy();
    let refused = CustomerServiceClient::new(plain)
        .get_customer(pb::GetCustomerRequest {
            lookup: Some(pb::get_customer_request::Lookup::Key("tls".into())),
        })
        .await;
    assert!(refused.is_err(), "plaintext against TLS must fail");
}

crate::on_both_databases!(backend: tls_serves_grpc_to_a_tls_client);

#[test]
fn a_non_loopback_listener_needs_keys_or_an_explicit_insecure_flag() {
    let dir = tempfile::tempdir().expect("dir");
    let output = Command::new(env!("CARGO_BIN_EXE_patron"))
        .args([
            "serve",
            "--grpc-addr",
            "0.0.0.0:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .current_dir(dir.path())
        .env_remove("PATRON_API_KEYS")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PATRON_API_KEYS") && stderr.contains("--insecure-no-auth"),
        "{stderr}"
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_patron"))
        .args([
            "serve",
            "--grpc-addr",
            "0.0.0.0:0",
            "--http-addr",
            "127.0.0.1:0",
            "--insecure-no-auth",
        ])
        .current_dir(dir.path())
        .env("PATRON_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let warned = lines
        .by_ref()
        .map_while(Result::ok)
        .take_while(|l| !l.contains("grpc_addr"))
        .any(|l| l.contains("without authentication"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(warned, "starting without keys logs a warning");
}

#[test]
fn keys_new_prints_a_key_and_only_its_digest_entry() {
    let output = Command::new(env!("CARGO_BIN_EXE_patron"))
        .args(["keys", "new", "--namespace", "acme"])
        .output()
        .expect("run");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let key = stdout
        .lines()
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .expect("key line");
    let entry = stdout
        .lines()
        .nth(1)
        .and_then(|l| l.rsplit(' ').next())
        .expect("entry line");
    let digest: String = sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(entry, format!("acme:{digest}"));
}

/// Runs the real binary at debug level with API keys, a Stripe app, a checkout, webhooks and
/// failing calls, then greps everything it logged (and every answer) for the secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_logs_responses_or_errors() {
    const API_KEY: &str = "patron_SECRETapiKEYvalue0123456789abcdefXYZ";
    const STRIPE_KEY: &str = "sk_test_SECRETstripeKEY0123456789abcdef";
    const PUBLIC_URL: &str = "http://patron.invalid";
    let secret_key = base64_of([7u8; 32]);
    let stripe = fake_stripe::FakeStripe::start().await;
    stripe.add_account(STRIPE_KEY, "acct_hygiene");
    let dir = tempfile::tempdir().expect("dir");
    let digest: String = sha2::Sha256::digest(API_KEY.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_patron"))
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .current_dir(dir.path())
        .env("PATRON_LOG", "debug")
        .env("PATRON_LOG_FORMAT", "json")
        .env("PATRON_API_KEYS", format!("hygiene:{digest}"))
        .env("PATRON_SECRET_KEY", &secret_key)
        .env("PATRON_STRIPE_API_BASE", stripe.base_url())
        .env("PATRON_PUBLIC_URL", PUBLIC_URL)
        .env_remove("DATABASE_URL")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn patron");
    let log = crate::helpers::ChildLog::wait_for_listening(
        child.stderr.take().expect("stderr"),
        Duration::from_secs(30),
    );
    let channel = Channel::from_shared(format!("http://{}", log.grpc_addr))
        .expect("uri")
        .connect()
        .await
        .expect("connect to patron");
    let auth = BearerAuth(format!("Bearer {API_KEY}").parse().expect("ascii"));
    let mut apps = AppServiceClient::with_interceptor(channel.clone(), auth.clone());
    let mut checkout = StripeCheckoutServiceClient::with_interceptor(channel.clone(), auth);
    let mut answers = String::new();

    let installed = apps
        .install_stripe_app(pb::InstallStripeAppRequest {
            api_key: STRIPE_KEY.into(),
            ..Default::default()
        })
        .await
        .expect("install")
        .into_inner();
    answers.push_str(&format!("{installed:?}"));
    let session = checkout
        .create_stripe_checkout_session(pb::CreateStripeCheckoutSessionRequest {
            customer: Some(pb::CheckoutCustomer {
                customer: Some(pb::checkout_customer::Customer::Create(pb::Customer {
                    currency: "USD".into(),
                    ..customer("Hygiene", "hygiene")
                })),
            }),
            options: Some(pb::StripeCheckoutSessionOptions {
                success_url: "https://example.com/ok".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("checkout")
        .into_inner();
    answers.push_str(&format!("{session:?}"));
    let endpoint = stripe.webhook_endpoints().pop().expect("endpoint");
    // Registered under the public URL; delivered to the address the server bound.
    let webhook_url = endpoint
        .url
        .strip_prefix(PUBLIC_URL)
        .map(|path| format!("http://{}{path}", log.http_addr))
        .unwrap_or_else(|| panic!("{} is under {PUBLIC_URL}", endpoint.url));
    let pm = stripe.create_payment_method("acct_hygiene", Some(&session.stripe_customer_id));
    for event in stripe.complete_checkout_session(&session.session_id, &pm) {
        let (status, body) = stripe.deliver(&webhook_url, &endpoint.secret, &event).await;
        assert_eq!(status, 200, "{body}");
        answers.push_str(&body);
        let (status, body) = stripe.deliver(&webhook_url, "whsec_wrong", &event).await;
        assert_eq!(status, 400);
        answers.push_str(&body);
    }
    // Failures: a wrong API key, a rotation to a key Stripe refuses, a revoked key.
    let wrong = CustomerServiceClient::with_interceptor(
        channel.clone(),
        BearerAuth("Bearer patron_wrong".parse().expect("ascii")),
    )
    .get_customer(pb::GetCustomerRequest {
        lookup: Some(pb::get_customer_request::Lookup::Key("x".into())),
    })
    .await
    .unwrap_err();
    answers.push_str(&format!("{wrong:?}"));
    let refused = apps
        .update_app(pb::UpdateAppRequest {
            app: Some(pb::App {
                id: installed.id.clone(),
                ..Default::default()
            }),
            api_key: "sk_test_SECRETnotRegistered999".into(),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["api_key".into()],
            }),
        })
        .await
        .unwrap_err();
    answers.push_str(&format!("{refused:?}"));
    stripe.revoke_key(STRIPE_KEY);
    let revoked = checkout
        .create_stripe_checkout_session(pb::CreateStripeCheckoutSessionRequest {
            customer: Some(pb::CheckoutCustomer {
                customer: Some(pb::checkout_customer::Customer::Key("hygiene".into())),
            }),
            options: Some(pb::StripeCheckoutSessionOptions {
                success_url: "https://example.com/ok".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    answers.push_str(&format!("{revoked:?}"));
    assert_eq!(revoked.code(), tonic::Code::FailedPrecondition);

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let logs = log.into_log();
    assert!(
        logs.lines().count() > 20,
        "debug logs were captured: {logs}"
    );
    assert!(
        logs.contains("\"level\":\"DEBUG\""),
        "the capture ran at debug level"
    );
    for (name, secret) in [
        ("API key", API_KEY),
        ("Stripe key", STRIPE_KEY),
        ("rejected Stripe key", "sk_test_SECRETnotRegistered999"),
        ("webhook secret", endpoint.secret.as_str()),
        ("key-encryption key", secret_key.as_str()),
    ] {
        assert!(!logs.contains(secret), "the {name} appears in the logs");
        assert!(!answers.contains(secret), "the {name} appears in an answer");
    }
    assert!(!logs.contains("SECRET"), "no part of a secret is logged");
}

fn base64_of(bytes: [u8; 32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn debug_output_of_settings_and_secrets_is_redacted() {
    let mut settings = patron::config::Settings::for_tests("sqlite::memory:");
    settings.secret_key =
        patron::config::SecretKeySource::Inline("c2VjcmV0LWtleS1tYXRlcmlhbA==".into());
    settings.api_keys =
        patron::config::parse_api_keys("k", &format!("ns:{}", "ab".repeat(32))).expect("keys");
    let shown = format!("{settings:?}");
    assert!(!shown.contains("c2VjcmV0"), "{shown}");
    assert!(!shown.contains(&"ab".repeat(32)), "{shown}");
    let key = patron::domain::app::StripeApiKey::parse("k", "sk_test_51SecretKeyMaterial999")
        .expect("key");
    assert!(!format!("{key:?}").contains("SecretKeyMaterial"));
    let secret = patron::domain::app::WebhookSecret::new("whsec_topsecret".into());
    assert!(!format!("{secret:?}").contains("topsecret"));
}
