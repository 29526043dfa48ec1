//! Customers: `POST/GET /customers`, `GET/PUT/DELETE /customers/{customerIdOrKey}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::json::Object;
use super::problem::Problem;
use super::{
    JsonBody, QueryParams, RestResult, RestState, Tenant, invalid, numbered_json, unparsed,
};
use crate::domain::customer::{
    Address, Customer, CustomerFields, CustomerFilter, CustomerLookup, Order, parse_subject_keys,
};
use crate::domain::error::Violations;
use crate::domain::values::{
    self, CountryCode, Currency, Description, Email, Identifier, Metadata, Name, ShortText,
};
use crate::domain::{FieldViolation, Timestamp};

/// RFC 3339 with milliseconds, UTC (`2024-01-01T00:00:00.000Z`).
pub fn rfc3339(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_micros(t.micros())
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Sets `name` to `value` when there is one (empty optional fields are omitted).
pub fn put_opt<T: AsRef<str>>(out: &mut Map<String, Value>, name: &str, value: Option<T>) {
    if let Some(value) = value {
        out.insert(name.to_owned(), Value::String(value.as_ref().to_owned()));
    }
}

/// OpenMeter's `Customer`.
pub fn customer_json(c: Customer) -> Value {
    let f = c.fields;
    let mut out = Map::new();
    out.insert("id".into(), json!(c.id));
    out.insert("name".into(), json!(f.name.as_str()));
    put_opt(&mut out, "description", f.description);
    put_opt(&mut out, "key", f.key);
    if !f.metadata.entries().is_empty() {
        out.insert("metadata".into(), json!(f.metadata.entries()));
    }
    let keys: Vec<&str> = f.subject_keys.iter().map(Identifier::as_str).collect();
    out.insert("usageAttribution".into(), json!({ "subjectKeys": keys }));
    put_opt(&mut out, "primaryEmail", f.primary_email);
    put_opt(&mut out, "currency", f.currency);
    let a = f.billing_address;
    if a != Address::default() {
        let mut address = Map::new();
        put_opt(&mut address, "country", a.country);
        put_opt(&mut address, "postalCode", a.postal_code);
        put_opt(&mut address, "state", a.state);
        put_opt(&mut address, "city", a.city);
        put_opt(&mut address, "line1", a.line1);
        put_opt(&mut address, "line2", a.line2);
        put_opt(&mut address, "phoneNumber", a.phone_number);
        out.insert("billingAddress".into(), Value::Object(address));
    }
    out.insert("createdAt".into(), json!(rfc3339(c.created_at)));
    out.insert("updatedAt".into(), json!(rfc3339(c.updated_at)));
    if let Some(deleted) = c.deleted_at {
        out.insert("deletedAt".into(), json!(rfc3339(deleted)));
    }
    Value::Object(out)
}

/// Metadata (a string map) at `name` of `o`.
pub fn metadata(v: &mut Violations, o: &Object, name: &str) -> Metadata {
    let raw = o.string_map(v, name).unwrap_or_default();
    Metadata::parse(&o.path(name), &raw).unwrap_or_else(|errors| {
        v.extend(errors);
        Metadata::default()
    })
}

/// OpenMeter's `CustomerCreate` (= `CustomerReplaceUpdate`) in `o`, parsed by the domain's rules;
/// empty optional strings mean absent. Violations name JSON paths under `o`.
pub fn customer_fields(v: &mut Violations, o: &Object) -> Option<CustomerFields> {
    let before = v.is_empty();
    let key = match o.text(v, "key") {
        "" => None,
        raw => v.check(Identifier::parse(&o.path("key"), raw)),
    };
    let name = o.parse(v, "name", Name::parse);
    let description = o.parse(v, "description", Description::parse).flatten();
    let metadata = metadata(v, o, "metadata");
    let mut subject_keys = Vec::new();
    if let Some(attribution) = o.object(v, "usageAttribution") {
        // `subjects` is the spelling of OpenMeter's docs; `subjectKeys` its API's.
        if let Some((value, path)) = attribution.get_any(&["subjectKeys", "subjects"]) {
            let raw = super::json::strings_at(v, &path, value).unwrap_or_default();
            match parse_subject_keys(&path, &raw) {
                Ok(keys) => subject_keys = keys,
                Err(errors) => v.extend(errors),
            }
        }
    }
    let primary_email = o.parse(v, "primaryEmail", Email::parse).flatten();
    let currency = o.parse(v, "currency", Currency::parse).flatten();
    let mut billing_address = Address::default();
    if let Some(a) = o.object(v, "billingAddress") {
        let mut part = |name: &str| a.parse(v, name, ShortText::parse).flatten();
        billing_address = Address {
            country: None,
            postal_code: part("postalCode"),
            state: part("state"),
            city: part("city"),
            line1: part("line1"),
            line2: part("line2"),
            phone_number: part("phoneNumber"),
        };
        billing_address.country = a.parse(v, "country", CountryCode::parse).flatten();
    }
    let fields = CustomerFields {
        key,
        name: name?,
        description,
        metadata,
        subject_keys,
        primary_email,
        currency,
        billing_address,
    };
    if before && v.is_empty() {
        // The attribution rule names `{path}.key`; at the root that is `key`.
        let root = "customer";
        if let Err(violation) = fields.check_attribution(root) {
            let field = violation.field.strip_prefix("customer.").unwrap_or("key");
            v.add(o.path(field), violation.description);
        }
    }
    Some(fields)
}

/// The customer of a create or replace body.
pub fn body_fields(body: &Value) -> RestResult<CustomerFields> {
    let o = Object::new("", body).map_err(invalid)?;
    let mut v = Violations::new();
    let fields = customer_fields(&mut v, &o);
    v.finish()?;
    fields.ok_or_else(|| invalid(vec![FieldViolation::new("name", "is required")]))
}

/// The `{customerIdOrKey}` of a path.
pub fn id_or_key(raw: &str) -> RestResult<CustomerLookup> {
    CustomerLookup::id_or_key("customerIdOrKey", raw).map_err(|v| invalid(vec![v]))
}

/// POST /api/v1/customers
pub async fn create(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    JsonBody(body): JsonBody,
) -> RestResult {
    let fields = body_fields(&body)?;
    let customer = s
        .services
        .customers
        .create(&ns, fields, None)
        .await
        .map_err(customer_body)?;
    Ok(super::json(StatusCode::CREATED, customer_json(customer)))
}

/// GET /api/v1/customers/{customerIdOrKey}
pub async fn get(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    Path(id): Path<String>,
) -> RestResult {
    let lookup = id_or_key(&id)?;
    let customer = s.services.customers.get(&ns, &lookup).await?;
    Ok(super::json(StatusCode::OK, customer_json(customer)))
}

/// PUT /api/v1/customers/{customerIdOrKey}: a full replace.
pub async fn replace(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> RestResult {
    let lookup = id_or_key(&id)?;
    let fields = body_fields(&body)?;
    let customer = s
        .services
        .customers
        .replace(&ns, &lookup, fields)
        .await
        .map_err(customer_body)?;
    Ok(super::json(StatusCode::OK, customer_json(customer)))
}

/// DELETE /api/v1/customers/{customerIdOrKey}: 204; deleting a deleted customer (by id) is
/// answered 204 again.
pub async fn delete(
    State(s): State<RestState>,
    Tenant(ns): Tenant,
    Path(id): Path<String>,
) -> RestResult {
    let lookup = id_or_key(&id)?;
    s.services.customers.delete(&ns, &lookup, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn order(q: &QueryParams) -> Result<Order, FieldViolation> {
    let column = match q.get("orderBy").unwrap_or("name") {
        "createdAt" | "created_at" => "created_at",
        "id" => "id",
        "name" => "name",
        other => {
            return Err(FieldViolation::new(
                "orderBy",
                format!("{other:?} is not one of id, name, createdAt"),
            ));
        }
    };
    let direction = match q.get("order").map(str::to_ascii_uppercase).as_deref() {
        None | Some("ASC") => "asc",
        Some("DESC") => "desc",
        Some(_) => return Err(FieldViolation::new("order", "must be ASC or DESC")),
    };
    Order::parse("orderBy", &format!("{column} {direction}"))
}

/// GET /api/v1/customers: `{totalCount, page, pageSize, items}`; filters `key` and `subject`
/// (exact), `primaryEmail` (case-insensitive), `name` (case-insensitive prefix),
/// `includeDeleted`; `orderBy` id|name|createdAt, `order` ASC|DESC.
pub async fn list(State(s): State<RestState>, Tenant(ns): Tenant, q: QueryParams) -> RestResult {
    let mut v = Violations::new();
    let numbered = q.numbered(&mut v);
    let order = v.check(order(&q));
    let mut filter_of = |name: &str, max: usize| {
        let raw = q.get(name).unwrap_or_default();
        v.check(values::filter(name, raw, max)).flatten()
    };
    let filter = CustomerFilter {
        key: filter_of("key", values::MAX_SHORT_TEXT),
        subject_key: filter_of("subject", values::MAX_SHORT_TEXT),
        primary_email_lower: filter_of("primaryEmail", values::MAX_EMAIL).map(|e| e.to_lowercase()),
        name_prefix_lower: filter_of("name", values::MAX_SHORT_TEXT).map(|n| n.to_lowercase()),
        show_deleted: false,
    };
    let show_deleted = v.check(q.boolean("includeDeleted")).flatten();
    if q.get("planKey").is_some() {
        v.add(
            "planKey",
            "patron has no plans: this filter is not supported",
        );
    }
    v.finish()?;
    let (Some(numbered), Some(order)) = (numbered, order) else {
        return Err(unparsed("page or order"));
    };
    let filter = CustomerFilter {
        show_deleted: show_deleted.unwrap_or(false),
        ..filter
    };
    let page = s
        .services
        .customers
        .list_numbered(&ns, &filter, order, numbered)
        .await?;
    let items: Vec<Value> = page.items.into_iter().map(customer_json).collect();
    Ok(numbered_json(page.total_count, &page.page, items))
}

/// The use case names the fields of its request's `customer`; the body is the customer.
fn customer_body(e: crate::domain::Error) -> Problem {
    Problem::from(e).spelled(|p| p.strip_prefix("customer.").map(str::to_owned))
}
