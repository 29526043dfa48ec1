//! SubjectService: decode (every item validated, paths `subjects[i].field`), call, encode.

use prost_types::value::Kind;
use serde_json::{Map, Number, Value};
use tonic::{Request, Response, Status};

use super::convert::timestamp;
use super::namespace;
use super::pb::subject_service_server::SubjectService;
use super::pb::{self, delete_subject_request, get_subject_request};
use crate::domain::error::Violations;
use crate::domain::subject::{self, RawSubjectUpsert, Subject};
use crate::domain::values::{self, Identifier, ResourceId};
use crate::domain::{Error, page};
use crate::service::Subjects;
use crate::service::subjects::SubjectLookup;

/// The SubjectService handlers.
#[derive(Clone, Debug)]
pub struct SubjectApi {
    subjects: Subjects,
}

impl SubjectApi {
    /// Handlers over the use cases.
    pub fn new(subjects: Subjects) -> Self {
        Self { subjects }
    }
}

/// JSON of a protobuf Value.
pub fn value_to_json(value: prost_types::Value) -> Value {
    match value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(b),
        Some(Kind::NumberValue(n)) => Number::from_f64(n).map_or(Value::Null, Value::Number),
        Some(Kind::StringValue(s)) => Value::String(s),
        Some(Kind::ListValue(list)) => {
            Value::Array(list.values.into_iter().map(value_to_json).collect())
        }
        Some(Kind::StructValue(s)) => Value::Object(struct_to_json(s)),
    }
}

/// JSON object of a protobuf Struct.
pub fn struct_to_json(s: prost_types::Struct) -> Map<String, Value> {
    s.fields
        .into_iter()
        .map(|(k, v)| (k, value_to_json(v)))
        .collect()
}

fn json_to_value(value: Value) -> prost_types::Value {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.into_iter().map(json_to_value).collect(),
        }),
        Value::Object(o) => Kind::StructValue(json_to_struct(o)),
    };
    prost_types::Value { kind: Some(kind) }
}

fn json_to_struct(map: Map<String, Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: map
            .into_iter()
            .map(|(k, v)| (k, json_to_value(v)))
            .collect(),
    }
}

fn subject_to_pb(s: Subject) -> pb::Subject {
    pb::Subject {
        id: s.id,
        key: s.key.into_string(),
        display_name: s.display_name.unwrap_or_default(),
        metadata: s.metadata.map(json_to_struct),
        stripe_customer_id: s.stripe_customer_id.unwrap_or_default(),
        customer_id: s.customer_id.unwrap_or_default(),
        created_at: Some(timestamp(s.created_at)),
        updated_at: Some(timestamp(s.updated_at)),
        deleted_at: s.deleted_at.map(timestamp),
    }
}

fn lookup(id: Option<&str>, key: Option<&str>) -> Result<SubjectLookup, Error> {
    let invalid = |v| Error::InvalidArgument(vec![v]);
    match (id, key) {
        (Some(id), _) => ResourceId::parse("id", id)
            .map(|id| SubjectLookup::Id(id.into_string()))
            .map_err(invalid),
        (_, Some(key)) => Identifier::parse("key", key)
            .map(|k| SubjectLookup::Key(k.into_string()))
            .map_err(invalid),
        (None, None) => Err(Error::invalid("lookup", "set id or key")),
    }
}

#[tonic::async_trait]
impl SubjectService for SubjectApi {
    async fn upsert_subjects(
        &self,
        request: Request<pb::UpsertSubjectsRequest>,
    ) -> Result<Response<pb::UpsertSubjectsResponse>, Status> {
        let ns = namespace(&request);
        let r = request.into_inner();
        let raw: Vec<RawSubjectUpsert<'_>> = r
            .subjects
            .iter()
            .enumerate()
            .map(|(i, item)| RawSubjectUpsert {
                key: (format!("subjects[{i}].key"), item.key.as_str()),
                display_name: (
                    format!("subjects[{i}].display_name"),
                    item.display_name.as_deref(),
                ),
                stripe_customer_id: (
                    format!("subjects[{i}].stripe_customer_id"),
                    item.stripe_customer_id.as_deref(),
                ),
                metadata: (
                    format!("subjects[{i}].metadata"),
                    item.metadata.clone().map(struct_to_json),
                ),
            })
            .collect();
        let items = subject::parse_upserts("subjects", raw).map_err(Error::InvalidArgument)?;
        let stored = self.subjects.upsert(&ns, &items).await?;
        Ok(Response::new(pb::UpsertSubjectsResponse {
            subjects: stored.into_iter().map(subject_to_pb).collect(),
        }))
    }

    async fn get_subject(
        &self,
        request: Request<pb::GetSubjectRequest>,
    ) -> Result<Response<pb::Subject>, Status> {
        let ns = namespace(&request);
        let lookup = match &request.get_ref().lookup {
            Some(get_subject_request::Lookup::Id(id)) => lookup(Some(id), None),
            Some(get_subject_request::Lookup::Key(key)) => lookup(None, Some(key)),
            None => lookup(None, None),
        }?;
        Ok(Response::new(subject_to_pb(
            self.subjects.get(&ns, &lookup).await?,
        )))
    }

    async fn list_subjects(
        &self,
        request: Request<pb::ListSubjectsRequest>,
    ) -> Result<Response<pb::ListSubjectsResponse>, Status> {
        let ns = namespace(&request);
        let r = request.get_ref();
        let mut v = Violations::new();
        let page_size = v.check(page::page_size("page_size", r.page_size));
        let customer_id = if r.customer_id.is_empty() {
            None
        } else {
            v.check(ResourceId::parse("customer_id", &r.customer_id))
                .map(ResourceId::into_string)
        };
        let key_prefix = v
            .check(values::filter(
                "key_prefix",
                &r.key_prefix,
                values::MAX_SHORT_TEXT,
            ))
            .flatten();
        v.finish()?;
        let page = self
            .subjects
            .list(
                &ns,
                key_prefix.as_deref(),
                customer_id.as_deref(),
                r.show_deleted,
                page_size.unwrap_or(page::DEFAULT_PAGE_SIZE),
                &r.page_token,
            )
            .await?;
        Ok(Response::new(pb::ListSubjectsResponse {
            subjects: page.items.into_iter().map(subject_to_pb).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn delete_subject(
        &self,
        request: Request<pb::DeleteSubjectRequest>,
    ) -> Result<Response<pb::Subject>, Status> {
        let ns = namespace(&request);
        let lookup = match &request.get_ref().lookup {
            Some(delete_subject_request::Lookup::Id(id)) => lookup(Some(id), None),
            Some(delete_subject_request::Lookup::Key(key)) => lookup(None, Some(key)),
            None => lookup(None, None),
        }?;
        Ok(Response::new(subject_to_pb(
            self.subjects.delete(&ns, &lookup).await?,
        )))
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::domain::Timestamp;
    use crate::domain::page::WireSize;

    #[test]
    fn subject_size_estimates_bound_their_encoding() {
        let metadata = serde_json::json!({
            "numbers": vec![1; 2000],
            "nulls": vec![serde_json::Value::Null; 1000],
            "nested": {"a": [{"b": true, "c": "𝄞".repeat(300)}, [], {}]},
            "": "",
        });
        let serde_json::Value::Object(metadata) = metadata else {
            unreachable!("an object");
        };
        for metadata in [Some(metadata), None] {
            let subject = Subject {
                id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
                key: Identifier::from_stored("𝄞".repeat(256)),
                display_name: Some("𝄞".repeat(256)),
                metadata,
                stripe_customer_id: Some("cus_".repeat(60)),
                customer_id: Some("01ARZ3NDEKTSV4RRFFQ69G5FAV".into()),
                created_at: Timestamp(i64::MAX),
                updated_at: Timestamp(i64::MIN),
                deleted_at: Some(Timestamp(-1)),
            };
            let estimate = subject.wire_size();
            let encoded = subject_to_pb(subject).encoded_len();
            assert!(encoded <= estimate, "{encoded} > {estimate}");
        }
    }
}
