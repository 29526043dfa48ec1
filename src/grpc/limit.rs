//! Overload protection in front of every service (a tower layer inside `observe`): degrade, don't
//! collapse.
//!
//! - Calls: at most `max_concurrent_calls` at once; one more waits in line for a slot at most
//!   `call_queue_wait`, then is refused with RESOURCE_EXHAUSTED and RetryInfo (shedding instead
//!   of queueing without bound keeps latency and memory bounded; the short wait keeps a client
//!   that retries at once from turning the CPUs into a rejection loop). Each call gets a deadline, the caller's `grpc-timeout` or the default one, and is
//!   stopped with DEADLINE_EXCEEDED when it runs out (`grpc::deadline` reads the same deadline).
//! - Long-lived streams (health Watch, reflection): at most `max_open_streams`, and each one ends
//!   with UNAVAILABLE when the server shuts down, so none holds the shutdown.
//! - Health checks are never refused: probes must keep answering under load.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderMap, Request, Response};
use http_body::Frame;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::Bytes;
use tower::{Layer, Service};

use crate::config::Limits;
use crate::grpc::status;
use crate::grpc::{CallDeadline, parse_grpc_timeout};

/// Health checks: never limited.
const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";

/// Long-lived streaming calls.
const STREAMS: &[&str] = &[
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// The layer: shared limits for every connection of one server.
#[derive(Clone, Debug)]
pub struct LimitLayer {
    calls: Arc<Semaphore>,
    streams: Arc<Semaphore>,
    default_deadline: Duration,
    queue_wait: Duration,
    /// Turns true when open streams must end (shutdown).
    streams_end: watch::Receiver<bool>,
}

impl LimitLayer {
    /// The limits; streams end when `streams_end` turns true.
    pub fn new(limits: &Limits, streams_end: watch::Receiver<bool>) -> Self {
        Self {
            calls: Arc::new(Semaphore::new(limits.max_concurrent_calls)),
            streams: Arc::new(Semaphore::new(limits.max_open_streams)),
            default_deadline: limits.default_deadline,
            queue_wait: limits.call_queue_wait,
            streams_end,
        }
    }
}

impl<S> Layer<S> for LimitLayer {
    type Service = Limit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Limit {
            inner,
            limits: self.clone(),
        }
    }
}

/// The service the layer wraps around the routes.
#[derive(Clone, Debug)]
pub struct Limit<S> {
    inner: S,
    limits: LimitLayer,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

fn refuse<E: Send + 'static>(status: Status) -> BoxFuture<Response<Body>, E> {
    Box::pin(std::future::ready(Ok(status.into_http())))
}

/// Whether a trailers-only response carries this gRPC code.
fn has_code(response: &Response<Body>, code: tonic::Code) -> bool {
    response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        == Some(code as i32)
}

impl<S> Service<Request<Body>> for Limit<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let path = request.uri().path();
        if path == HEALTH_CHECK {
            return Box::pin(self.inner.call(request));
        }
        if STREAMS.contains(&path) {
            let Ok(permit) = Arc::clone(&self.limits.streams).try_acquire_owned() else {
                return refuse(status::overloaded("open streams"));
            };
            let end = self.limits.streams_end.clone();
            let future = self.inner.call(request);
            return Box::pin(async move {
                let response = future.await?;
                Ok(response.map(|body| Body::new(UntilShutdown::new(body, permit, end))))
            });
        }
        let timeout = request
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout)
            .unwrap_or(self.limits.default_deadline);
        let started = tokio::time::Instant::now();
        request
            .extensions_mut()
            .insert(CallDeadline { started, timeout });
        let calls = Arc::clone(&self.limits.calls);
        let queue_wait = self.limits.queue_wait.min(timeout);
        // The handler's future does nothing until polled: it runs only once a slot is taken.
        let future = self.inner.call(request);
        Box::pin(async move {
            let permit = match Arc::clone(&calls).try_acquire_owned() {
                Ok(permit) => permit,
                // Saturated: wait briefly in line (FIFO), then shed.
                Err(_) => match tokio::time::timeout(queue_wait, calls.acquire_owned()).await {
                    Ok(Ok(permit)) => permit,
                    _ => return Ok(status::overloaded("concurrent calls").into_http()),
                },
            };
            let _permit = permit;
            let left = timeout.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, future).await {
                Ok(Ok(response)) if has_code(&response, tonic::Code::OutOfRange) => {
                    // tonic's "decoded message length too large".
                    Ok(status::message_too_large().into_http())
                }
                Ok(result) => result,
                Err(_) => Ok(status::deadline_exceeded(timeout).into_http()),
            }
        })
    }
}

/// A streaming response body that holds its stream permit and ends with UNAVAILABLE when the
/// server shuts down.
struct UntilShutdown {
    inner: Body,
    end: Pin<Box<dyn Future<Output = ()> + Send>>,
    _permit: OwnedSemaphorePermit,
    finished: bool,
}

impl UntilShutdown {
    fn new(inner: Body, permit: OwnedSemaphorePermit, mut end: watch::Receiver<bool>) -> Self {
        Self {
            inner,
            end: Box::pin(async move {
                let _ = end.wait_for(|end| *end).await;
            }),
            _permit: permit,
            finished: false,
        }
    }
}

impl http_body::Body for UntilShutdown {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        // The stream's own frames first: what it has to say before the shutdown (such as
        // NOT_SERVING) still goes out.
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.finished = frame.is_trailers();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => {
                this.finished = true;
                Poll::Ready(other)
            }
            Poll::Pending => match this.end.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.finished = true;
                    let mut trailers = HeaderMap::new();
                    match status::shutting_down().add_header(&mut trailers) {
                        Ok(()) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
                        Err(status) => Poll::Ready(Some(Err(status))),
                    }
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }
}
