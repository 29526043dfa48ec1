//! Subjects: `POST/GET /subjects`, `GET/DELETE /subjects/{subjectIdOrKey}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::customers::{put_opt, rfc3339};
use super::json::{self, Object};
use super::{JsonBody, RestResult, RestState, Tenant, invalid};
use crate::domain::error::Violations;
use crate::domain::subject::{self, Subject, SubjectUpsert};
use crate::domain::values::{self, Identifier};
use crate::service::subjects::SubjectLookup;

/// Most items of one upsert.
const MAX_ITEMS: usize = 1000;

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
    if raw_items.len() > MAX_ITEMS {
        v.add(
            "body",
            format!("at most {MAX_ITEMS} items (got {})", raw_items.len()),
        );
    }
    let mut seen = std::collections::BTreeMap::new();
    let mut items = Vec::with_capacity(raw_items.len());
    for (i, raw) in raw_items.iter().enumerate() {
        let o = match Object::new(&format!("[{i}]"), raw) {
            Ok(o) => o,
            Err(errors) => {
                v.extend(errors);
                continue;
            }
        };
        let key = o.parse(&mut v, "key", Identifier::parse);
        if let Some(key) = &key
            && let Some(first) = seen.insert(key.as_str().to_owned(), i)
        {
            v.add(o.path("key"), format!("duplicate of [{first}].key"));
        }
        let display_name = o.string(&mut v, "displayName");
        let display_name = v.check(subject::parse_display_name(
            &o.path("displayName"),
            display_name,
        ));
        let stripe = o.string(&mut v, "stripeCustomerId");
        let stripe_customer_id = v.check(subject::parse_stripe_customer(
            &o.path("stripeCustomerId"),
            stripe,
        ));
        let metadata = match o.get("metadata") {
            None => None,
            Some(Value::Object(map)) => Some(map.clone()),
            Some(_) => {
                v.add(o.path("metadata"), "must be an object");
                None
            }
        };
        let metadata = v.check(subject::parse_metadata(&o.path("metadata"), metadata));
        if let (Some(key), Some(display_name), Some(stripe_customer_id), Some(metadata)) =
            (key, display_name, stripe_customer_id, metadata)
        {
            items.push(SubjectUpsert {
                key,
                display_name,
                stripe_customer_id,
                metadata,
            });
        }
    }
    v.finish()?;
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
