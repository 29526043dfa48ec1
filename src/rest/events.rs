//! `POST /events`: CloudEvents in JSON (structured mode): one event
//! (`application/cloudevents+json`), a batch (`application/cloudevents-batch+json`), or either
//! (`application/json`, as OpenMeter accepts). 204 once stored; duplicates (same source and id)
//! are accepted and stored once.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine;
use serde_json::Value;

use super::json::join;
use super::{JsonBody, RestResult, RestState, Tenant, invalid};
use crate::domain::event::{AttributeValue, EventData, MAX_BATCH, RawEvent, UsageEvent};
use crate::domain::{FieldViolation, Timestamp};

/// An extension attribute's value in CloudEvents' JSON format (`None`: no value it can have).
fn attribute(value: &Value) -> Option<AttributeValue> {
    match value {
        Value::String(s) => Some(AttributeValue::String(s.clone())),
        Value::Bool(b) => Some(AttributeValue::Boolean(*b)),
        Value::Number(n) => n
            .as_i64()
            .and_then(|i| i32::try_from(i).ok())
            .map(AttributeValue::Integer),
        _ => None,
    }
}

/// A CloudEvent in JSON as the domain parses it (decoding only; names match case-insensitively).
fn raw_event(path: &str, value: &Value) -> Result<RawEvent, FieldViolation> {
    let Value::Object(map) = value else {
        return Err(FieldViolation::new(
            if path.is_empty() { "body" } else { path },
            "must be a CloudEvent (a JSON object)",
        ));
    };
    let mut raw = RawEvent {
        id: String::new(),
        source: String::new(),
        spec_version: String::new(),
        event_type: String::new(),
        attributes: Vec::new(),
        data: None,
    };
    let mut data = None;
    let mut data_base64 = None;
    for (name, value) in map {
        let name = name.to_lowercase();
        if value.is_null() {
            continue;
        }
        let text = || match value {
            Value::String(s) => Ok(s.clone()),
            _ => Err(FieldViolation::new(join(path, &name), "must be a string")),
        };
        match name.as_str() {
            "id" => raw.id = text()?,
            "source" => raw.source = text()?,
            "specversion" => raw.spec_version = text()?,
            "type" => raw.event_type = text()?,
            "data" => data = Some(value),
            "data_base64" => data_base64 = Some(text()?),
            _ => raw.attributes.push((name, attribute(value))),
        }
    }
    raw.data = match (data, data_base64) {
        (Some(_), Some(_)) => {
            return Err(FieldViolation::new(
                join(path, "data"),
                "set data or data_base64, not both",
            ));
        }
        (None, Some(b64)) => Some(EventData::Binary(
            base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|_| FieldViolation::new(join(path, "data_base64"), "is not base64"))?,
        )),
        // A JSON string is the data itself when the content type is not JSON.
        (Some(Value::String(s)), None) if !json_content(&raw) => Some(EventData::Text(s.clone())),
        (Some(value), None) => Some(EventData::Text(value.to_string())),
        (None, None) => None,
    };
    Ok(raw)
}

fn json_content(raw: &RawEvent) -> bool {
    match raw.attributes.iter().find(|(n, _)| n == "datacontenttype") {
        Some((_, Some(AttributeValue::String(t)))) => {
            let media = t
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_lowercase();
            media == "application/json" || media.ends_with("+json")
        }
        _ => true,
    }
}

/// The JSON names of the paths the domain's event rules report (a single event is parsed under
/// the path `event`, a batch's under `[i]`).
fn json_names(violation: FieldViolation) -> FieldViolation {
    let field = violation.field;
    let field = field.strip_prefix("event").unwrap_or(&field);
    let field = field
        .replace(".attributes.", ".")
        .replace(".attributes[", "[")
        .replace(".spec_version", ".specversion")
        .replace(".text_data", ".data")
        .replace(".binary_data", ".data");
    FieldViolation::new(field.trim_start_matches('.'), violation.description)
}

/// The events of a request body sent with `content_type`, parsed with `received` as the
/// default time.
pub fn decode(
    content_type: Option<&str>,
    body: &Value,
    received: Timestamp,
) -> RestResult<Vec<UsageEvent>> {
    let media = content_type
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_else(|| "application/json".to_owned());
    let batch = match (media.as_str(), body) {
        ("application/cloudevents+json", Value::Object(_)) => false,
        ("application/cloudevents-batch+json", Value::Array(_)) => true,
        ("application/json", Value::Object(_)) => false,
        ("application/json", Value::Array(_)) => true,
        ("application/cloudevents+json", _) => {
            return Err(invalid(vec![FieldViolation::new(
                "body",
                "must be one CloudEvent (a JSON object)",
            )]));
        }
        ("application/cloudevents-batch+json", _) => {
            return Err(invalid(vec![FieldViolation::new(
                "body",
                "must be a batch of CloudEvents (a JSON array)",
            )]));
        }
        _ => {
            return Err(invalid(vec![FieldViolation::new(
                "Content-Type",
                "must be application/cloudevents+json, application/cloudevents-batch+json or application/json",
            )]));
        }
    };
    let items: Vec<(String, &Value)> = match body {
        Value::Array(items) if batch => items
            .iter()
            .enumerate()
            .map(|(i, e)| (format!("[{i}]"), e))
            .collect(),
        single => vec![(String::new(), single)],
    };
    if items.len() > MAX_BATCH {
        return Err(invalid(vec![FieldViolation::new(
            "body",
            format!("at most {MAX_BATCH} events per batch (got {})", items.len()),
        )]));
    }
    let mut violations = Vec::new();
    let mut events = Vec::with_capacity(items.len());
    for (path, value) in items {
        let raw = match raw_event(&path, value) {
            Ok(raw) => raw,
            Err(v) => {
                violations.push(v);
                continue;
            }
        };
        let domain_path = if path.is_empty() { "event" } else { &path };
        match UsageEvent::parse(domain_path, raw, received) {
            Ok(event) => events.push(event),
            Err(errors) => violations.extend(errors.into_iter().map(json_names)),
        }
    }
    if !violations.is_empty() {
        return Err(invalid(violations));
    }
    Ok(events)
}

/// POST /api/v1/events: 204.
pub async fn ingest(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> RestResult {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let events = decode(media, &body, s.services.events.now())?;
    s.services.events.ingest(&ns, events).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
