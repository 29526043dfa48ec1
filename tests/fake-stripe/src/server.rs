//! The HTTP side: one axum fallback handler that runs every request through the same pipeline
//! (fault injection, API version, authentication, routing, form decoding, idempotency,
//! validation, execution), records it, and answers in Stripe's wire format.
//!
//! Connections are accepted by [`KillableListener`], whose streams can be told to fail all
//! further I/O: that is how [`Fault::Drop`] and [`Fault::SucceedThenDrop`] close a connection
//! without an answer.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State as AxumState};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::api::{self, Ctx, Route};
use crate::error::ApiError;
use crate::form::{self, FormError};
use crate::objects::request_id;
use crate::params;
use crate::state::{
    Fault, RecordedRequest, State, Stored, key_livemode, key_well_formed, mask_key,
};
use crate::webhook::EVENT_API_VERSION;

/// Largest request body accepted.
const MAX_BODY: usize = 1 << 20;

/// The state shared by the handler and the [`crate::FakeStripe`] handle.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    /// Locks the state (a panic elsewhere does not poison it for good).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Serves the fake on an already bound listener until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let app = Router::new().fallback(handle).with_state(shared);
    let service = app.into_make_service_with_connect_info::<ConnHandle>();
    // `serve` only returns on an accept loop failure it cannot retry.
    let _ = axum::serve(KillableListener(listener), service).await;
}

/// A TCP listener whose connections can be cut from inside a request.
pub(crate) struct KillableListener(TcpListener);

/// The connection a request came on, with its kill switch.
#[derive(Debug, Clone)]
pub(crate) struct ConnHandle {
    #[allow(dead_code)] // Kept for debugging output.
    remote: SocketAddr,
    kill: Arc<AtomicBool>,
}

impl ConnHandle {
    /// Makes all further reads and writes of the connection fail: the answer being prepared
    /// is never sent and the connection is closed.
    fn kill(&self) {
        self.kill.store(true, Ordering::SeqCst);
    }
}

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = ConnHandle;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, remote)) => {
                    let kill = Arc::new(AtomicBool::new(false));
                    let io = KillableStream {
                        inner: stream,
                        kill: Arc::clone(&kill),
                    };
                    return (io, ConnHandle { remote, kill });
                }
                // Too many open files and the like: wait a little and go on.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ConnHandle {
            remote: self.0.local_addr()?,
            kill: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A TCP stream that fails once its connection is killed.
pub(crate) struct KillableStream {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

impl KillableStream {
    fn killed(&self) -> bool {
        self.kill.load(Ordering::SeqCst)
    }
}

fn killed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection dropped by fault injection",
    )
}

impl AsyncRead for KillableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// What arrived, read once.
struct Incoming {
    method: String,
    path: String,
    query: Option<String>,
    body: String,
    headers: Vec<(String, String)>,
    authorization: Option<String>,
    stripe_version: Option<String>,
    idempotency_key: Option<String>,
    stripe_account: Option<String>,
    content_type: Option<String>,
    params: Result<Value, FormError>,
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

impl Incoming {
    fn new(parts: &axum::http::request::Parts, body: &Bytes) -> Self {
        let query = parts.uri.query().map(str::to_string);
        let params = match std::str::from_utf8(body) {
            Ok(text) => form::parse_parts(&[query.as_deref().unwrap_or(""), text]),
            Err(_) => Err(FormError {
                param: String::new(),
                message: "Invalid request: the body is not valid UTF-8.".to_string(),
            }),
        };
        Self {
            method: parts.method.as_str().to_string(),
            path: parts.uri.path().to_string(),
            query,
            body: String::from_utf8_lossy(body).into_owned(),
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            authorization: header(&parts.headers, "authorization"),
            stripe_version: header(&parts.headers, "stripe-version"),
            idempotency_key: header(&parts.headers, "idempotency-key"),
            stripe_account: header(&parts.headers, "stripe-account"),
            content_type: header(&parts.headers, "content-type"),
            params,
        }
    }

    /// The key of `Authorization: Bearer <key>`, or of `Basic base64(<key>:)` as curl sends
    /// with `-u sk_test_...:` (Stripe takes both).
    fn api_key(&self) -> Option<String> {
        let auth = self.authorization.as_deref()?;
        let (scheme, credentials) = auth.trim().split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(credentials.trim().to_string());
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = String::from_utf8(base64_decode(credentials.trim())?).ok()?;
            return Some(decoded.split(':').next().unwrap_or("").to_string());
        }
        None
    }
}

/// Decodes standard base64 (with or without padding).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes: Vec<u8> = text.bytes().filter(|b| *b != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= value(*c)? << (18 - 6 * i);
        }
        let [_, b0, b1, b2] = acc.to_be_bytes();
        out.push(b0);
        if chunk.len() > 2 {
            out.push(b1);
        }
        if chunk.len() > 3 {
            out.push(b2);
        }
    }
    Some(out)
}

/// The answer, before it becomes an HTTP response.
struct Outcome {
    status: u16,
    body: String,
    headers: Vec<(&'static str, String)>,
    replayed: bool,
}

impl Outcome {
    fn error(err: &ApiError) -> Self {
        Self {
            status: err.status,
            body: err.body().to_string(),
            headers: err.headers.clone(),
            replayed: false,
        }
    }
}

/// The error body of an injected status.
fn injected_status(code: u16) -> ApiError {
    let mut err = ApiError::invalid(format!(
        "An error occurred with our connection to Stripe. Request failed with status {code} \
         (injected by fake-stripe)."
    ));
    err.status = code;
    if code >= 500 {
        err.kind = "api_error";
        err.message =
            "An unknown error occurred while processing this request (injected by fake-stripe)."
                .to_string();
    } else if code == 409 {
        err.code = Some("lock_timeout");
        err.message = "This object cannot be accessed right now because another API request or \
                       Stripe process is currently accessing it (injected by fake-stripe)."
            .to_string();
    }
    err
}

/// Stripe's 403 for a restricted key that lacks `permission`.
fn permission_denied(key: &str, account: &str, permission: &str) -> ApiError {
    ApiError {
        status: 403,
        ..ApiError::invalid(format!(
            "The provided key '{}' does not have the required permissions for this endpoint on \
             account '{account}'. Having the '{permission}' permission would allow this request \
             to continue.",
            mask_key(key)
        ))
    }
}

fn rate_limited(retry_after_secs: u64) -> ApiError {
    ApiError {
        status: 429,
        kind: "rate_limit_error",
        code: Some("rate_limit"),
        message: "Request rate limit exceeded. You can learn more about rate limits here \
                  https://stripe.com/docs/rate-limits."
            .to_string(),
        param: None,
        headers: vec![("Retry-After", retry_after_secs.to_string())],
        executed: false,
    }
}

async fn handle(
    AxumState(shared): AxumState<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let too_large;
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => {
            too_large = false;
            bytes
        }
        Err(_) => {
            too_large = true;
            Bytes::new()
        }
    };
    let incoming = Incoming::new(&parts, &body);
    let request_id = request_id();

    let fault = shared.lock().take_fault(&incoming.method, &incoming.path);
    let mut dropped = false;
    let outcome = match &fault {
        Some(Fault::Status(code)) => Outcome::error(&injected_status(*code)),
        Some(Fault::RateLimited { retry_after_secs }) => {
            Outcome::error(&rate_limited(*retry_after_secs))
        }
        Some(Fault::PermissionDenied(permission)) => {
            let key = incoming.api_key().unwrap_or_default();
            let account = shared
                .lock()
                .keys
                .get(&key)
                .map(|info| info.account.clone())
                .unwrap_or_default();
            Outcome::error(&permission_denied(&key, &account, permission))
        }
        Some(Fault::Drop) => {
            conn.kill();
            dropped = true;
            Outcome {
                status: 0,
                body: String::new(),
                headers: Vec::new(),
                replayed: false,
            }
        }
        _ => {
            if let Some(Fault::Delay(delay)) = &fault {
                tokio::time::sleep(*delay).await;
            }
            let outcome = if too_large {
                Outcome::error(&ApiError {
                    status: 413,
                    ..ApiError::invalid("Request body too large.")
                })
            } else {
                let mut state = shared.lock();
                process(&mut state, &incoming, &request_id)
            };
            match &fault {
                Some(Fault::SucceedThenDrop) => {
                    conn.kill();
                    dropped = true;
                    outcome
                }
                Some(Fault::SucceedThenStatus(code)) => Outcome::error(&injected_status(*code)),
                _ => outcome,
            }
        }
    };

    let api_key = incoming.api_key();
    let record = RecordedRequest {
        request_id: request_id.clone(),
        method: incoming.method.clone(),
        path: incoming.path.clone(),
        query: incoming.query.clone(),
        params: incoming
            .params
            .clone()
            .unwrap_or_else(|_| Value::Object(serde_json::Map::new())),
        body: incoming.body.clone(),
        headers: incoming.headers.clone(),
        api_key,
        stripe_version: incoming.stripe_version.clone(),
        idempotency_key: incoming.idempotency_key.clone(),
        status: outcome.status,
        response_body: outcome.body.clone(),
        replayed: outcome.replayed,
        fault,
        dropped,
    };
    shared.lock().requests.push(record);
    respond(&incoming, &request_id, outcome)
}

fn respond(incoming: &Incoming, request_id: &str, outcome: Outcome) -> Response {
    let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Body::from(outcome.body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let mut put = |name: &str, value: &str| {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            headers.insert(name, value);
        }
    };
    put("content-type", "application/json");
    put("request-id", request_id);
    put(
        "stripe-version",
        incoming
            .stripe_version
            .as_deref()
            .unwrap_or(EVENT_API_VERSION),
    );
    if incoming.method == "POST"
        && let Some(key) = &incoming.idempotency_key
    {
        put("idempotency-key", key);
    }
    for (name, value) in &outcome.headers {
        put(name, value);
    }
    response
}

/// Everything after fault injection, under the state lock.
fn process(state: &mut State, incoming: &Incoming, request_id: &str) -> Outcome {
    match authorize_and_run(state, incoming, request_id) {
        Ok(outcome) => outcome,
        Err(err) => Outcome::error(&err),
    }
}

fn authorize_and_run(
    state: &mut State,
    incoming: &Incoming,
    request_id: &str,
) -> Result<Outcome, ApiError> {
    if let Some(required) = &state.required_version
        && incoming.stripe_version.as_deref() != Some(required.as_str())
    {
        return Err(ApiError::invalid(format!(
            "Invalid Stripe API version: {}. This fake Stripe requires Stripe-Version {required}.",
            incoming.stripe_version.as_deref().unwrap_or("(none)")
        )));
    }

    let Some(key) = incoming.api_key() else {
        return Err(ApiError::unauthorized(
            None,
            "You did not provide an API key. You need to provide your API key in the \
             Authorization header, using Bearer auth (e.g. 'Authorization: Bearer \
             YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or \
             we can help at https://support.stripe.com/.",
        ));
    };
    let info = match state.keys.get(&key) {
        Some(info) if key_well_formed(&key) => info.clone(),
        _ => {
            return Err(ApiError::unauthorized(
                None,
                format!("Invalid API Key provided: {}", mask_key(&key)),
            ));
        }
    };
    if info.revoked {
        return Err(ApiError::unauthorized(
            Some("api_key_expired"),
            format!("Expired API Key provided: {}", mask_key(&key)),
        ));
    }
    if let Some(other) = &incoming.stripe_account
        && *other != info.account
    {
        return Err(ApiError {
            status: 403,
            ..ApiError::invalid(format!(
                "The provided key '{}' does not have access to account '{other}' (or that account \
                 does not exist). Application access may have been revoked.",
                mask_key(&key)
            ))
        });
    }

    if let Some(session_id) = crate::api::control_complete_path(&incoming.method, &incoming.path) {
        let raw = incoming
            .params
            .as_ref()
            .map_err(|e| ApiError::invalid(&e.message))?;
        let livemode = key_livemode(&key);
        let body = crate::api::control_complete(state, &info.account, livemode, session_id, raw)?;
        return Ok(Outcome {
            status: 200,
            body: body.to_string(),
            headers: Vec::new(),
            replayed: false,
        });
    }
    let Some(route) = Route::parse(&incoming.method, &incoming.path) else {
        return Err(ApiError::unrecognized_url(&incoming.method, &incoming.path));
    };
    if incoming.method == "POST"
        && !incoming.body.is_empty()
        && !incoming.content_type.as_deref().is_some_and(|c| {
            c.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
    {
        return Err(ApiError::invalid(
            "Invalid request (check that your POST content type is \
             application/x-www-form-urlencoded). If you have any questions, we can help at \
             https://support.stripe.com/.",
        ));
    }
    let raw = match &incoming.params {
        Ok(raw) => raw,
        Err(e) => {
            return Err(if e.param.is_empty() {
                ApiError::invalid(&e.message)
            } else {
                ApiError::param(None, &e.param, &e.message)
            });
        }
    };

    let ctx = Ctx {
        account: info.account.clone(),
        livemode: key_livemode(&key),
        request_id: request_id.to_string(),
        idempotency_key: incoming.idempotency_key.clone(),
        endive: api::is_endive(incoming.stripe_version.as_deref()),
    };
    let idempotency = match (&incoming.idempotency_key, incoming.method.as_str()) {
        (Some(idem), "POST") => Some(idem.clone()),
        _ => None,
    };
    if let Some(idem) = &idempotency {
        if idem.is_empty() || idem.chars().count() > 255 {
            return Err(ApiError::invalid(
                "Invalid Idempotency-Key: it must be between 1 and 255 characters long.",
            ));
        }
        let slot = (ctx.account.clone(), ctx.livemode, idem.clone());
        if let Some(stored) = state.idempotency.get(&slot) {
            if stored.method != incoming.method || stored.path != incoming.path {
                return Err(ApiError::idempotency(format!(
                    "Keys for idempotent requests can only be used for the same endpoint they were \
                     first used for ('{} {}' vs '{} {}'). Try using a key other than '{idem}' if \
                     you meant to execute a different request.",
                    stored.method, stored.path, incoming.method, incoming.path
                )));
            }
            if stored.params != *raw {
                return Err(ApiError::idempotency(format!(
                    "Keys for idempotent requests can only be used with the same parameters they \
                     were first used with. Try using a key other than '{idem}' if you meant to \
                     execute a different request."
                )));
            }
            return Ok(Outcome {
                status: stored.status,
                body: stored.body.clone(),
                headers: vec![
                    ("Idempotent-Replayed", "true".to_string()),
                    ("Original-Request", stored.request_id.clone()),
                ],
                replayed: true,
            });
        }
    }

    api::version_gate(&route, ctx.endive, raw)?;
    let typed = params::validate(route.schema(), raw)?;
    let (status, body, store) = match api::execute(state, &ctx, &route, &typed) {
        Ok(value) => (200, value.to_string(), true),
        Err(err) => (err.status, err.body().to_string(), err.executed),
    };
    if store && let Some(idem) = idempotency {
        state.idempotency.insert(
            (ctx.account.clone(), ctx.livemode, idem),
            Stored {
                method: incoming.method.clone(),
                path: incoming.path.clone(),
                params: raw.clone(),
                status,
                body: body.clone(),
                request_id: request_id.to_string(),
            },
        );
    }
    Ok(Outcome {
        status,
        body,
        headers: Vec::new(),
        replayed: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(base64_decode("c2tfdGVzdF94Og==").unwrap(), b"sk_test_x:");
        assert_eq!(base64_decode("c2tfdGVzdF94Og").unwrap(), b"sk_test_x:");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert!(base64_decode("*").is_none());
    }
}
