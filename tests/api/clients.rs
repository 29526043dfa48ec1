//! Typed calls of one tenant (one API key) on every service: each returns the message or the
//! status, so scenarios read as "tenant B tries X" without protocol plumbing; plus the request
//! builders they share.

use std::collections::HashMap;

use patron::grpc::pb;
use patron::grpc::pb::cloud_event::cloud_event_attribute_value::Attr;
use patron::grpc::pb::cloud_event::{CloudEventAttributeValue, Data};
use prost_types::FieldMask;
use tonic::Status;

use crate::helpers::{Tenant, customer_with_subjects};

impl Tenant {
    pub async fn create(
        &self,
        customer: pb::Customer,
        request_id: &str,
    ) -> Result<pb::Customer, Status> {
        self.customers
            .clone()
            .create_customer(pb::CreateCustomerRequest {
                customer: Some(customer),
                request_id: request_id.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn get_customer(
        &self,
        lookup: pb::get_customer_request::Lookup,
    ) -> Result<pb::Customer, Status> {
        self.customers
            .clone()
            .get_customer(pb::GetCustomerRequest {
                lookup: Some(lookup),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn update_customer(
        &self,
        customer: pb::Customer,
        paths: &[&str],
    ) -> Result<pb::Customer, Status> {
        self.customers
            .clone()
            .update_customer(pb::UpdateCustomerRequest {
                customer: Some(customer),
                update_mask: Some(FieldMask {
                    paths: paths.iter().map(|p| (*p).to_owned()).collect(),
                }),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn delete_customer(
        &self,
        lookup: pb::delete_customer_request::Lookup,
        etag: &str,
    ) -> Result<pb::Customer, Status> {
        self.customers
            .clone()
            .delete_customer(pb::DeleteCustomerRequest {
                lookup: Some(lookup),
                etag: etag.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Every customer of a list query, following next_page_token.
    pub async fn list_customers(&self, request: pb::ListCustomersRequest) -> Vec<pb::Customer> {
        crate::helpers::every_customer(self.customers.clone(), request).await
    }

    pub async fn upsert_subjects(
        &self,
        subjects: Vec<pb::SubjectUpsert>,
    ) -> Result<Vec<pb::Subject>, Status> {
        self.subjects
            .clone()
            .upsert_subjects(pb::UpsertSubjectsRequest { subjects })
            .await
            .map(|r| r.into_inner().subjects)
    }

    pub async fn get_subject(
        &self,
        lookup: pb::get_subject_request::Lookup,
    ) -> Result<pb::Subject, Status> {
        self.subjects
            .clone()
            .get_subject(pb::GetSubjectRequest {
                lookup: Some(lookup),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn delete_subject(
        &self,
        lookup: pb::delete_subject_request::Lookup,
    ) -> Result<pb::Subject, Status> {
        self.subjects
            .clone()
            .delete_subject(pb::DeleteSubjectRequest {
                lookup: Some(lookup),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Every subject of a list query, following next_page_token.
    pub async fn list_subjects(
        &self,
        mut request: pb::ListSubjectsRequest,
    ) -> Result<Vec<pb::Subject>, Status> {
        let mut all = Vec::new();
        let mut pages = 0;
        loop {
            pages += 1;
            assert!(pages <= crate::helpers::MAX_PAGES, "endless pagination");
            let page = self
                .subjects
                .clone()
                .list_subjects(request.clone())
                .await?
                .into_inner();
            all.extend(page.subjects);
            if page.next_page_token.is_empty() {
                return Ok(all);
            }
            request.page_token = page.next_page_token;
        }
    }

    pub async fn ingest(
        &self,
        events: Vec<pb::CloudEvent>,
    ) -> Result<pb::IngestEventsResponse, Status> {
        self.events
            .clone()
            .ingest_events(pb::IngestEventsRequest { events })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Every event of a list query, following next_page_token.
    pub async fn list_events(
        &self,
        mut request: pb::ListEventsRequest,
    ) -> Result<Vec<pb::IngestedEvent>, Status> {
        let mut all = Vec::new();
        let mut pages = 0;
        loop {
            pages += 1;
            assert!(pages <= crate::helpers::MAX_PAGES, "endless pagination");
            let page = self
                .events
                .clone()
                .list_events(request.clone())
                .await?
                .into_inner();
            all.extend(page.events);
            if page.next_page_token.is_empty() {
                return Ok(all);
            }
            request.page_token = page.next_page_token;
        }
    }

    pub async fn install(
        &self,
        api_key: &str,
        name: &str,
        request_id: &str,
    ) -> Result<pb::App, Status> {
        self.apps
            .clone()
            .install_stripe_app(pb::InstallStripeAppRequest {
                api_key: api_key.to_owned(),
                name: name.to_owned(),
                request_id: request_id.to_owned(),
                ..Default::default()
            })
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn get_app(&self, id: &str) -> Result<pb::App, Status> {
        self.apps
            .clone()
            .get_app(pb::GetAppRequest { id: id.to_owned() })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Every app, uninstalled ones included.
    pub async fn list_apps(&self) -> Vec<pb::App> {
        let mut request = pb::ListAppsRequest {
            show_deleted: true,
            ..Default::default()
        };
        let mut all = Vec::new();
        let mut pages = 0;
        loop {
            pages += 1;
            assert!(pages <= crate::helpers::MAX_PAGES, "endless pagination");
            let page = self
                .apps
                .clone()
                .list_apps(request.clone())
                .await
                .expect("list apps")
                .into_inner();
            all.extend(page.apps);
            if page.next_page_token.is_empty() {
                return all;
            }
            request.page_token = page.next_page_token;
        }
    }

    pub async fn update_app(
        &self,
        app: pb::App,
        api_key: &str,
        paths: &[&str],
    ) -> Result<pb::App, Status> {
        self.apps
            .clone()
            .update_app(pb::UpdateAppRequest {
                app: Some(app),
                api_key: api_key.to_owned(),
                update_mask: Some(FieldMask {
                    paths: paths.iter().map(|p| (*p).to_owned()).collect(),
                }),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn uninstall_app(&self, id: &str) -> Result<pb::App, Status> {
        self.apps
            .clone()
            .uninstall_app(pb::UninstallAppRequest { id: id.to_owned() })
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn checkout(
        &self,
        request: pb::CreateStripeCheckoutSessionRequest,
    ) -> Result<pb::StripeCheckoutSession, Status> {
        self.checkout
            .clone()
            .create_stripe_checkout_session(request)
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn get_session(&self, id: &str) -> Result<pb::StripeCheckoutSession, Status> {
        self.checkout
            .clone()
            .get_stripe_checkout_session(pb::GetStripeCheckoutSessionRequest { id: id.to_owned() })
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn expire_session(&self, id: &str) -> Result<pb::StripeCheckoutSession, Status> {
        self.checkout
            .clone()
            .expire_stripe_checkout_session(pb::ExpireStripeCheckoutSessionRequest {
                id: id.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Every session of a list query, following next_page_token.
    pub async fn list_sessions(
        &self,
        mut request: pb::ListStripeCheckoutSessionsRequest,
    ) -> Result<Vec<pb::StripeCheckoutSession>, Status> {
        let mut all = Vec::new();
        let mut pages = 0;
        loop {
            pages += 1;
            assert!(pages <= crate::helpers::MAX_PAGES, "endless pagination");
            let page = self
                .checkout
                .clone()
                .list_stripe_checkout_sessions(request.clone())
                .await?
                .into_inner();
            all.extend(page.sessions);
            if page.next_page_token.is_empty() {
                return Ok(all);
            }
            request.page_token = page.next_page_token;
        }
    }

    pub async fn list_customer_apps(
        &self,
        customer_id: &str,
    ) -> Result<Vec<pb::CustomerAppData>, Status> {
        self.customer_apps
            .clone()
            .list_customer_apps(pb::ListCustomerAppsRequest {
                customer: Some(pb::list_customer_apps_request::Customer::CustomerId(
                    customer_id.to_owned(),
                )),
            })
            .await
            .map(|r| r.into_inner().data)
    }

    pub async fn upsert_customer_apps(
        &self,
        customer_id: &str,
        data: Vec<pb::CustomerAppData>,
    ) -> Result<Vec<pb::CustomerAppData>, Status> {
        self.customer_apps
            .clone()
            .upsert_customer_apps(pb::UpsertCustomerAppsRequest {
                customer: Some(pb::upsert_customer_apps_request::Customer::CustomerId(
                    customer_id.to_owned(),
                )),
                data,
            })
            .await
            .map(|r| r.into_inner().data)
    }

    pub async fn delete_customer_app(
        &self,
        customer_id: &str,
        app_id: &str,
    ) -> Result<pb::CustomerAppData, Status> {
        self.customer_apps
            .clone()
            .delete_customer_app(pb::DeleteCustomerAppRequest {
                customer: Some(pb::delete_customer_app_request::Customer::CustomerId(
                    customer_id.to_owned(),
                )),
                app_id: app_id.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner)
    }
}

pub fn customer_id(id: &str) -> pb::get_customer_request::Lookup {
    pb::get_customer_request::Lookup::Id(id.to_owned())
}

pub fn customer_key(key: &str) -> pb::get_customer_request::Lookup {
    pb::get_customer_request::Lookup::Key(key.to_owned())
}

pub fn customer_ids(customers: &[pb::Customer]) -> Vec<&str> {
    customers.iter().map(|c| c.id.as_str()).collect()
}

pub fn named_subject(key: &str, display_name: &str) -> pb::SubjectUpsert {
    pb::SubjectUpsert {
        key: key.to_owned(),
        display_name: Some(display_name.to_owned()),
        ..Default::default()
    }
}

pub fn subject_id(id: &str) -> pb::get_subject_request::Lookup {
    pb::get_subject_request::Lookup::Id(id.to_owned())
}

pub fn subject_key(key: &str) -> pb::get_subject_request::Lookup {
    pb::get_subject_request::Lookup::Key(key.to_owned())
}

pub fn subject_keys(subjects: &[pb::Subject]) -> Vec<&str> {
    subjects.iter().map(|s| s.key.as_str()).collect()
}

pub fn ce_string(s: &str) -> CloudEventAttributeValue {
    CloudEventAttributeValue {
        attr: Some(Attr::CeString(s.to_owned())),
    }
}

/// A valid "api-calls" usage event with JSON data (time: the receipt time).
pub fn usage_event(id: &str, source: &str, subject: &str, json: &str) -> pb::CloudEvent {
    let mut attributes = HashMap::new();
    attributes.insert("subject".to_owned(), ce_string(subject));
    attributes.insert("datacontenttype".to_owned(), ce_string("application/json"));
    pb::CloudEvent {
        id: id.to_owned(),
        source: source.to_owned(),
        spec_version: "1.0".to_owned(),
        r#type: "api-calls".to_owned(),
        attributes,
        data: Some(Data::TextData(json.to_owned())),
    }
}

pub fn of_subject(key: &str) -> pb::ListEventsRequest {
    pb::ListEventsRequest {
        owner: Some(pb::list_events_request::Owner::SubjectKey(key.to_owned())),
        ..Default::default()
    }
}

pub fn of_customer(id: &str) -> pb::ListEventsRequest {
    pb::ListEventsRequest {
        owner: Some(pb::list_events_request::Owner::CustomerId(id.to_owned())),
        ..Default::default()
    }
}

/// The JSON data of an ingested event.
pub fn data_of(event: &pb::IngestedEvent) -> serde_json::Value {
    match event.event.as_ref().and_then(|e| e.data.as_ref()) {
        Some(Data::TextData(text)) => serde_json::from_str(text).expect("JSON text data"),
        Some(Data::BinaryData(bytes)) => serde_json::from_slice(bytes).expect("JSON binary data"),
        other => panic!("no JSON data in {event:?}: {other:?}"),
    }
}

pub fn hosted_usd() -> pb::StripeCheckoutSessionOptions {
    pb::StripeCheckoutSessionOptions {
        currency: "USD".into(),
        success_url: "https://example.com/success".into(),
        cancel_url: "https://example.com/cancel".into(),
        ..Default::default()
    }
}

pub fn checkout_request(
    app_id: &str,
    customer: pb::checkout_customer::Customer,
    request_id: &str,
) -> pb::CreateStripeCheckoutSessionRequest {
    pb::CreateStripeCheckoutSessionRequest {
        app_id: app_id.to_owned(),
        customer: Some(pb::CheckoutCustomer {
            customer: Some(customer),
        }),
        options: Some(hosted_usd()),
        request_id: request_id.to_owned(),
        ..Default::default()
    }
}

/// Create-or-use the customer `key` (with subject `<key>-subject` and an email) on the default
/// app.
pub fn seed_checkout(
    name: &str,
    key: &str,
    request_id: &str,
) -> pb::CreateStripeCheckoutSessionRequest {
    checkout_request(
        "",
        pb::checkout_customer::Customer::Create(pb::Customer {
            primary_email: format!("{key}@example.com"),
            ..customer_with_subjects(name, key, &[&format!("{key}-subject")])
        }),
        request_id,
    )
}

pub fn stripe_entry(app_id: &str, stripe_customer: &str, pm: &str) -> pb::CustomerAppData {
    pb::CustomerAppData {
        app_id: app_id.to_owned(),
        data: Some(pb::customer_app_data::Data::Stripe(
            pb::StripeCustomerAppData {
                stripe_customer_id: stripe_customer.to_owned(),
                stripe_default_payment_method_id: pm.to_owned(),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

/// The default payment method of a customer's first Stripe entry ("" if none).
pub fn default_pm(entries: &[pb::CustomerAppData]) -> String {
    match entries.first().and_then(|e| e.data.as_ref()) {
        Some(pb::customer_app_data::Data::Stripe(s)) => s.stripe_default_payment_method_id.clone(),
        None => String::new(),
    }
}
