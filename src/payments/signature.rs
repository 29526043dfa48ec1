//! Stripe's webhook signature: the `Stripe-Signature` header (`t=<unix seconds>,v1=<hex>[,...]`)
//! parsed into a typed value, and its verification: one HMAC-SHA256 of `t.payload` keyed with the
//! endpoint's secret per request, compared in constant time with each `v1` candidate.
//!
//! The header faces the internet before anything is authenticated, so its cost is bounded: at
//! most `MAX_HEADER_BYTES` bytes, at most `MAX_SIGNATURES` signature elements (Stripe sends one
//! `v1` per active secret, and a `v0` in test mode), each `v1` exactly 64 hex digits. Whatever the
//! header, a delivery costs at most one HMAC over its body.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Largest accepted `Stripe-Signature` header, in bytes.
pub const MAX_HEADER_BYTES: usize = 4096;
/// Most signature elements (`v1`, and other schemes such as `v0`, which are ignored) accepted in
/// one header.
pub const MAX_SIGNATURES: usize = 8;
/// Largest accepted distance between the signature's timestamp and now, in seconds.
pub const TOLERANCE_SECS: u64 = 300;

/// Length of an HMAC-SHA256 in bytes (a `v1` is twice as many hex digits).
const MAC_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// Why a `Stripe-Signature` header was refused. The messages are for logs: callers are told no
/// more than that the signature is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No header.
    #[error("no Stripe-Signature header")]
    Missing,
    /// Over `MAX_HEADER_BYTES`.
    #[error("Stripe-Signature header over {MAX_HEADER_BYTES} bytes")]
    TooLong,
    /// Not printable ASCII, an element that is not `scheme=value`, or a second `t`.
    #[error("Stripe-Signature header is not a list of scheme=value elements")]
    Malformed,
    /// No `t=`.
    #[error("no timestamp (t=) in Stripe-Signature")]
    NoTimestamp,
    /// A `t=` that is not a non-negative integer.
    #[error("the Stripe-Signature timestamp is not an integer")]
    BadTimestamp,
    /// More than `MAX_SIGNATURES` signature elements.
    #[error("more than {MAX_SIGNATURES} signatures in Stripe-Signature")]
    TooManySignatures,
    /// A `v1` that is not 64 hex digits.
    #[error("a v1 signature is not 64 hex digits")]
    BadSignature,
    /// No `v1`.
    #[error("no v1 signature in Stripe-Signature")]
    NoSignature,
    /// The timestamp is more than `TOLERANCE_SECS` away from now.
    #[error("signature timestamp outside the {TOLERANCE_SECS} s tolerance")]
    Stale,
    /// No `v1` is the HMAC of the payload with the secret.
    #[error("no signature matches the payload")]
    Mismatch,
}

/// A parsed `Stripe-Signature` header: its timestamp and one to `MAX_SIGNATURES` `v1` MACs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    timestamp: i64,
    v1: Vec<[u8; MAC_LEN]>,
}

impl SignatureHeader {
    /// Parses a header value (`t=...,v1=...`: printable ASCII; elements may be surrounded by
    /// spaces; unknown schemes are ignored but count toward `MAX_SIGNATURES`).
    pub fn parse(header: &[u8]) -> Result<Self, SignatureError> {
        if header.len() > MAX_HEADER_BYTES {
            return Err(SignatureError::TooLong);
        }
        if !header.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            return Err(SignatureError::Malformed);
        }
        let mut timestamp = None;
        let mut v1 = Vec::new();
        let mut signatures = 0usize;
        for element in header.split(|b| *b == b',') {
            let element = element.trim_ascii();
            let mut halves = element.splitn(2, |b| *b == b'=');
            let (Some(scheme), Some(value)) = (halves.next(), halves.next()) else {
                return Err(SignatureError::Malformed);
            };
            match scheme {
                b"t" => {
                    if timestamp.is_some() {
                        return Err(SignatureError::Malformed);
                    }
                    timestamp = Some(parse_timestamp(value)?);
                }
                b"" => return Err(SignatureError::Malformed),
                _ => {
                    signatures += 1;
                    if signatures > MAX_SIGNATURES {
                        return Err(SignatureError::TooManySignatures);
                    }
                    if scheme == b"v1" {
                        v1.push(decode_mac(value).ok_or(SignatureError::BadSignature)?);
                    }
                }
            }
        }
        let timestamp = timestamp.ok_or(SignatureError::NoTimestamp)?;
        if v1.is_empty() {
            return Err(SignatureError::NoSignature);
        }
        Ok(Self { timestamp, v1 })
    }

    /// The signature's timestamp (unix seconds).
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// Checks that the timestamp is within `TOLERANCE_SECS` of `now` (unix seconds) and that a
    /// `v1` is the HMAC-SHA256 of `t.payload` keyed with `secret`. The payload is hashed once;
    /// each candidate is compared in constant time (`verify_slice`) on a copy of that state, which
    /// costs only the HMAC's fixed finalization.
    pub fn verify(&self, payload: &[u8], secret: &[u8], now: i64) -> Result<(), SignatureError> {
        if now.abs_diff(self.timestamp) > TOLERANCE_SECS {
            return Err(SignatureError::Stale);
        }
        let Some(hashed) = hashed(self.timestamp, payload, secret) else {
            return Err(SignatureError::Mismatch);
        };
        let mut matched = false;
        for candidate in &self.v1 {
            matched |= hashed.clone().verify_slice(candidate).is_ok();
        }
        if matched {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// Parses and verifies in one step: `header` is the raw header value, if any.
pub fn verify(
    header: Option<&[u8]>,
    payload: &[u8],
    secret: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    SignatureHeader::parse(header.ok_or(SignatureError::Missing)?)?.verify(payload, secret, now)
}

/// The header Stripe would send for `payload` signed with `secret` at `timestamp` (for tests and
/// tools).
pub fn sign(payload: &[u8], secret: &[u8], timestamp: i64) -> String {
    let mut header = format!("t={timestamp},v1=");
    let Some(mac) = hashed(timestamp, payload, secret) else {
        return header;
    };
    for byte in mac.finalize().into_bytes() {
        header.push(char::from(HEX[usize::from(byte >> 4)]));
        header.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    header
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The HMAC-SHA256 state over `timestamp.payload`, not yet finalized (None never happens: HMAC
/// takes keys of any length).
fn hashed(timestamp: i64, payload: &[u8], secret: &[u8]) -> Option<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(secret).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    Some(mac)
}

/// A timestamp: 1 to 18 ASCII digits (so it fits an i64; Stripe sends 10).
fn parse_timestamp(value: &[u8]) -> Result<i64, SignatureError> {
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return Err(SignatureError::BadTimestamp);
    }
    Ok(value.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
}

/// A MAC: exactly 64 hex digits, either case.
fn decode_mac(value: &[u8]) -> Option<[u8; MAC_LEN]> {
    if value.len() != 2 * MAC_LEN {
        return None;
    }
    let mut mac = [0u8; MAC_LEN];
    for (byte, pair) in mac.iter_mut().zip(value.chunks_exact(2)) {
        *byte = hex_digit(pair[0])? << 4 | hex_digit(pair[1])?;
    }
    Some(mac)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"setup_intent.succeeded"}"#;

    fn v1_of(header: &str) -> &str {
        header.split_once("v1=").unwrap().1
    }

    #[test]
    fn a_header_signed_like_stripe_verifies_within_300_seconds() {
        let header = sign(BODY, SECRET, 1_000);
        let ok = |now| verify(Some(header.as_bytes()), BODY, SECRET, now);
        assert_eq!(ok(1_000), Ok(()));
        assert_eq!(ok(1_300), Ok(()));
        assert_eq!(ok(700), Ok(()));
        assert_eq!(ok(1_301), Err(SignatureError::Stale));
        assert_eq!(ok(699), Err(SignatureError::Stale));
    }

    #[test]
    fn a_wrong_secret_or_payload_is_a_mismatch() {
        let header = sign(BODY, SECRET, 1_000);
        assert_eq!(
            verify(Some(header.as_bytes()), BODY, b"whsec_other", 1_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(header.as_bytes()), b"{}", SECRET, 1_000),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_v1_may_match_and_other_schemes_are_ignored() {
        let good = sign(BODY, SECRET, 1_000);
        let other = "ab".repeat(32);
        let header = format!(
            "t=1000, v0={other}, v1={other},v1={}, v1={}",
            v1_of(&good).to_uppercase(),
            other
        );
        assert_eq!(verify(Some(header.as_bytes()), BODY, SECRET, 1_000), Ok(()));
        // Order does not matter either.
        let header = format!("v1={},t=1000", v1_of(&good));
        assert_eq!(verify(Some(header.as_bytes()), BODY, SECRET, 1_000), Ok(()));
    }

    #[test]
    fn malformed_headers_are_refused_with_a_reason() {
        let mac = "0".repeat(64);
        let cases: Vec<(String, SignatureError)> = vec![
            (String::new(), SignatureError::Malformed),
            ("t=1000".into(), SignatureError::NoSignature),
            (format!("t=1000,v0={mac}"), SignatureError::NoSignature),
            (format!("v1={mac}"), SignatureError::NoTimestamp),
            (format!("t=,v1={mac}"), SignatureError::BadTimestamp),
            (format!("t=-5,v1={mac}"), SignatureError::BadTimestamp),
            (format!("t=+5,v1={mac}"), SignatureError::BadTimestamp),
            (format!("t=1e3,v1={mac}"), SignatureError::BadTimestamp),
            (
                format!("t=99999999999999999999,v1={mac}"),
                SignatureError::BadTimestamp,
            ),
            (format!("t=1,t=1,v1={mac}"), SignatureError::Malformed),
            (format!("t=1,v1={mac},"), SignatureError::Malformed),
            (format!("t=1,={mac}"), SignatureError::Malformed),
            (format!("t=1,v1{mac}"), SignatureError::Malformed),
            (format!("t=1,v1={mac},v0=\u{e9}"), SignatureError::Malformed),
            (format!("t=1,v1={mac},\tv0=1"), SignatureError::Malformed),
            ("t=1,v1=00".into(), SignatureError::BadSignature),
            (format!("t=1,v1={mac}0"), SignatureError::BadSignature),
            (
                format!("t=1,v1={}", "g".repeat(64)),
                SignatureError::BadSignature,
            ),
            (
                format!("t=1{}", format!(",v0={mac}").repeat(9)),
                SignatureError::TooManySignatures,
            ),
            (
                format!("t=1,v1={}", "x".repeat(MAX_HEADER_BYTES)),
                SignatureError::TooLong,
            ),
        ];
        for (header, expected) in cases {
            assert_eq!(
                SignatureHeader::parse(header.as_bytes()),
                Err(expected),
                "{header:?}"
            );
        }
        assert_eq!(
            verify(None, BODY, SECRET, 1_000),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn the_bounds_are_inclusive() {
        let mac = "0".repeat(64);
        let eight = format!("t=1{}", format!(",v1={mac}").repeat(MAX_SIGNATURES));
        assert_eq!(
            SignatureHeader::parse(eight.as_bytes()).unwrap().v1.len(),
            8
        );
        let padded = format!("{eight}{}", " ".repeat(MAX_HEADER_BYTES - eight.len()));
        assert_eq!(padded.len(), MAX_HEADER_BYTES);
        assert!(SignatureHeader::parse(padded.as_bytes()).is_ok());
    }

    #[test]
    fn twenty_thousand_candidates_are_refused_before_any_mac() {
        let header = format!("t=1000{}", ",v1=00".repeat(20_000));
        assert_eq!(
            SignatureHeader::parse(header.as_bytes()),
            Err(SignatureError::TooLong)
        );
        let short = &header.as_bytes()[..MAX_HEADER_BYTES];
        assert!(SignatureHeader::parse(short).is_err());
    }

    fn header_text() -> impl Strategy<Value = String> {
        // Mostly header-shaped text, so the parser's branches are reached.
        let element = prop_oneof![
            "t=[0-9]{0,20}",
            "v1=[0-9a-fA-F]{0,70}",
            "v0=[0-9a-f]{64}",
            "[ a-z0-9=]{0,8}",
            "\\PC{0,10}",
        ];
        prop::collection::vec(element, 0..12).prop_map(|parts| parts.join(","))
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(header in prop::collection::vec(any::<u8>(), 0..5000),
                                       payload in prop::collection::vec(any::<u8>(), 0..64),
                                       now in any::<i64>()) {
            if let Ok(parsed) = SignatureHeader::parse(&header) {
                let _ = parsed.verify(&payload, SECRET, now);
            }
        }

        #[test]
        fn arbitrary_header_text_never_panics(header in header_text(), now in any::<i64>()) {
            let _ = verify(Some(header.as_bytes()), BODY, SECRET, now);
        }

        #[test]
        fn a_correctly_signed_header_always_verifies(
            payload in prop::collection::vec(any::<u8>(), 0..256),
            secret in prop::collection::vec(any::<u8>(), 0..80),
            t in 0i64..=999_999_999_999_999_999,
            skew in -300i64..=300,
        ) {
            let header = sign(&payload, &secret, t);
            prop_assert_eq!(verify(Some(header.as_bytes()), &payload, &secret, t + skew), Ok(()));
        }

        #[test]
        fn any_single_byte_change_to_the_payload_fails(
            payload in prop::collection::vec(any::<u8>(), 1..256),
            index in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let header = sign(&payload, SECRET, 1_000);
            let mut changed = payload.clone();
            changed[index.index(payload.len())] ^= flip;
            prop_assert_eq!(
                verify(Some(header.as_bytes()), &changed, SECRET, 1_000),
                Err(SignatureError::Mismatch)
            );
        }

        #[test]
        fn any_single_byte_change_to_the_signature_fails(
            payload in prop::collection::vec(any::<u8>(), 0..256),
            index in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let header = sign(&payload, SECRET, 1_000);
            let mut changed = header.clone().into_bytes();
            let at = index.index(changed.len());
            prop_assume!(changed[at] != byte);
            // Hex digits differing only in case mean the same byte.
            prop_assume!(!changed[at].eq_ignore_ascii_case(&byte));
            changed[at] = byte;
            prop_assert!(verify(Some(&changed), &payload, SECRET, 1_000).is_err());
        }
    }
}
