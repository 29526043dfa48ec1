//! `fake-stripe`: runs the fake Stripe API for manual testing (grpcurl against patron).
//!
//! ```text
//! fake-stripe --addr 127.0.0.1:12111 --key sk_test_xxx=acct_xxx [--key ...] [--require-version V]
//!             [--portal-configuration]
//! ```
//!
//! Prints the base URL on stdout and serves until Ctrl-C (or SIGTERM); each request is logged on stderr.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use fake_stripe::FakeStripe;

const USAGE: &str =
    "usage: fake-stripe [--addr HOST:PORT] [--key KEY=ACCOUNT]... [--require-version VERSION]
                   [--portal-configuration]

  --addr             address to listen on (default 127.0.0.1:12111; port 0 picks a free one)
  --key              an API key (sk_test_/sk_live_/rk_test_/rk_live_) and its account id (acct_...),
                     repeatable; several keys may share an account
  --require-version  answer 400 to requests whose Stripe-Version differs
  --portal-configuration
                     give every --key account a default customer portal configuration
                     (without it, portal sessions need `configuration`, as on a fresh account)
  --deliver          deliver every event the fake emits (API changes, completed sessions) to the
                     webhook endpoints registered for its account, signed, as Stripe does

Besides Stripe's API it serves POST /_fake/checkout/sessions/{id}/complete (with the session
account's key; form: name, address[country|postal_code|state|city|line1|line2], payment_method
optional): the customer completes Checkout with a new card and what they typed.";

struct Args {
    addr: SocketAddr,
    keys: Vec<(String, String)>,
    required_version: Option<String>,
    portal_configuration: bool,
    deliver: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 12111)),
        keys: Vec::new(),
        required_version: None,
        portal_configuration: false,
        deliver: false,
    };
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--addr" => {
                let v = value()?;
                parsed.addr = v.parse().map_err(|e| format!("--addr {v}: {e}"))?;
            }
            "--key" => {
                let v = value()?;
                let (key, account) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--key {v}: expected KEY=ACCOUNT"))?;
                if !["sk_test_", "sk_live_", "rk_test_", "rk_live_"]
                    .iter()
                    .any(|p| key.starts_with(p))
                {
                    return Err(format!(
                        "--key {key}: not a Stripe secret or restricted key"
                    ));
                }
                if !account.starts_with("acct_") {
                    return Err(format!("--key {v}: the account must start with acct_"));
                }
                parsed.keys.push((key.to_string(), account.to_string()));
            }
            "--require-version" => parsed.required_version = Some(value()?),
            "--portal-configuration" => parsed.portal_configuration = true,
            "--deliver" => parsed.deliver = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("fake-stripe: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let fake = match FakeStripe::start_on(args.addr).await {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!("fake-stripe: cannot listen on {}: {e}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    for (key, account) in &args.keys {
        fake.add_account(key, account);
        if args.portal_configuration {
            fake.create_portal_configuration(key, true, None);
        }
    }
    fake.set_required_version(args.required_version);
    println!("{}", fake.base_url());

    let mut logged = 0;
    let mut delivered = 0;
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    let shutdown = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminated() => {}
        }
    };
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = ticker.tick() => {
                let requests = fake.requests();
                for r in requests.iter().skip(logged) {
                    eprintln!(
                        "{} {} {} -> {}{}",
                        r.request_id,
                        r.method,
                        r.path,
                        r.status,
                        if r.replayed { " (replayed)" } else { "" }
                    );
                }
                logged = requests.len();
                if args.deliver {
                    let events = fake.events();
                    for event in events.iter().skip(delivered) {
                        for d in fake.deliver_to_endpoints(event).await {
                            eprintln!("{} {} -> {} {}", event.event_type(), d.url, d.status, d.body);
                        }
                    }
                    delivered = events.len();
                }
            }
        }
    }
    ExitCode::SUCCESS
}

/// Resolves on SIGTERM (Unix), never elsewhere.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            term.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse_args(list.iter().map(|s| (*s).to_string()))
    }

    #[test]
    fn parses_keys_and_addr() {
        let a = args(&[
            "--addr",
            "127.0.0.1:0",
            "--key",
            "sk_test_a=acct_1",
            "--key=rk_live_b=acct_2",
        ])
        .unwrap();
        assert_eq!(a.addr.port(), 0);
        assert_eq!(
            a.keys,
            vec![
                ("sk_test_a".to_string(), "acct_1".to_string()),
                ("rk_live_b".to_string(), "acct_2".to_string())
            ]
        );
        assert!(args(&["--key", "pk_test_a=acct_1"]).is_err());
        assert!(args(&["--key", "sk_test_a"]).is_err());
        assert!(args(&["--bogus"]).is_err());
        assert!(!args(&[]).unwrap().portal_configuration);
        assert!(
            args(&["--portal-configuration"])
                .unwrap()
                .portal_configuration
        );
    }
}
