//! Subjects: `POST/GET /subjects`, `GET/DELETE /subjects/{subjectIdOrKey}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::customers::{put_opt, rfc3339};
use super::json::{self, Object};
use super::{JsonBody, RestResult, RestState, Tenant, invalid};
use crate::domain::error::Violations;
use crate::domain::subject::{self, RawSubjectUpsert, Subject};
use crate::domain::values;
use crate::service::subjects::SubjectLookup;

/// OpenMeter's `Subject`.
pub fn subject_json(s: Subject) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(s.id));
    out.insert("key".into(), json!(s.key.as_str()));
    put_opt(&mut out, "displayName", s.display_name);
    if let Some(metadata) = s.metadata {
        out.insert("metadata".into(), Value::Object(metadata));
    }
    put_opt(&mut out, "stripeCustomerId", s.stripe_customer_id);
    out.insert("createdAt".into(), json!(rfc3339(s.created_at)));
    out.insert("updatedAt".into(), json!(rfc3339(s.updated_at)));
    if let Some(deleted) = s.deleted_at {
        out.insert("deletedAt".into(), json!(rfc3339(deleted)));
    }
    Value::Object(out)
}

fn lookup(raw: &str) -> RestResult<SubjectLookup> {
    values::text("subjectIdOrKey", raw, values::MAX_SHORT_TEXT).map_err(|v| invalid(vec![v]))?;
    Ok(SubjectLookup::IdOrKey(raw.to_owned()))
}

/// POST /api/v1/subjects: upserts every item (an array), answers them as stored.
pub async fn upsert(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    JsonBody(body): JsonBody,
) -> RestResult {
    let raw_items = json::array("", &body).map_err(|v| invalid(vec![v]))?;
    let mut v = Violations::new();
    let objects: Vec<Object> = raw_items
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| match Object::new(&format!("[{i}]"), raw) {
            Ok(o) => Some(o),
            Err(errors) => {
                v.extend(errors);
                None
            }
        })
        .collect();
    let mut raw = Vec::with_capacity(objects.len());
    for o in &objects {
        let metadata = match o.get("metadata") {
            None => None,
            Some(Value::Object(map)) => Some(map.clone()),
            Some(_) => {
                v.add(o.path("metadata"), "must be an object");
                None
            }
        };
        raw.push(RawSubjectUpsert {
            key: (o.path("key"), o.text(&mut v, "key")),
            display_name: (o.path("displayName"), o.string(&mut v, "displayName")),
            stripe_customer_id: (
                o.path("stripeCustomerId"),
                o.string(&mut v, "stripeCustomerId"),
            ),
            metadata: (o.path("metadata"), metadata),
        });
    }
    let items = subject::parse_upserts("body", raw);
    if let Err(errors) = &items {
        v.extend(errors.iter().cloned());
    }
    v.finish()?;
    let items = items.map_err(invalid)?;
    let stored = s.services.subjects.upsert(&ns, &items).await?;
    let out: Vec<Value> = stored.into_iter().map(subject_json).collect();
    Ok(super::json(StatusCode::OK, Value::Array(out)))
}

/// GET /api/v1/subjects: every live subject, by key.
pub async fn list(State(s): State<RestState>, Tenant(ns): Tenant) -> RestResult {
    let all = s.services.subjects.list_all(&ns).await?;
    let out: Vec<Value> = all.into_iter().map(subject_json).collect();
    Ok(super::json(StatusCode::OK, Value::Array(out)))
}

/// GET /api/v1/subjects/{subjectIdOrKey}
pub async fn get(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    Path(raw): Path<String>,
) -> RestResult {
    let found = s.services.subjects.get(&ns, &lookup(&raw)?).await?;
    Ok(super::json(StatusCode::OK, subject_json(found)))
}

/// DELETE /api/v1/subjects/{subjectIdOrKey}: 204 (again for a deleted one, by id).
pub async fn delete(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    Path(raw): Path<String>,
) -> RestResult {
    s.services.subjects.delete(&ns, &lookup(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
