//! CustomerAppService: decode, call the use case, encode.

use tonic::{Request, Response, Status};

use super::apps::{app_to_pb, optional_app_id};
use super::convert::{self, timestamp};
use super::pb::customer_app_service_server::CustomerAppService;
use super::pb::{
    self, create_stripe_customer_portal_session_request, customer_app_data,
    delete_customer_app_request, list_customer_apps_request, sync_stripe_customer_request,
    upsert_customer_apps_request,
};
use super::{deadline, namespace};
use crate::domain::Error;
use crate::domain::app::parse_stripe_id;
use crate::domain::customer::CustomerLookup;
use crate::domain::error::Violations;
use crate::domain::portal::{PortalOptions, PortalSession};
use crate::service::CustomerApps;
use crate::service::customer_apps::{CustomerAppInput, EntryWithApp};

/// The CustomerAppService handlers.
#[derive(Clone, Debug)]
pub struct CustomerAppApi {
    customer_apps: CustomerApps,
}

impl CustomerAppApi {
    /// Handlers over the use cases.
    pub fn new(customer_apps: CustomerApps) -> Self {
        Self { customer_apps }
    }
}

fn entry_to_pb((entry, app): EntryWithApp) -> pb::CustomerAppData {
    pb::CustomerAppData {
        app_id: entry.app_id,
        app: Some(app_to_pb(app)),
        data: Some(customer_app_data::Data::Stripe(pb::StripeCustomerAppData {
            stripe_customer_id: entry.stripe_customer_id,
            stripe_default_payment_method_id: entry
                .stripe_default_payment_method_id
                .unwrap_or_default(),
            stripe_customer_deleted: entry.stripe_customer_deleted_at.is_some(),
        })),
        created_at: Some(timestamp(entry.created_at)),
        updated_at: Some(timestamp(entry.updated_at)),
    }
}

fn portal_session_to_pb(s: PortalSession) -> pb::StripeCustomerPortalSession {
    pb::StripeCustomerPortalSession {
        id: s.id,
        stripe_customer_id: s.stripe_customer_id,
        configuration_id: s.configuration_id,
        livemode: s.livemode,
        created_at: Some(timestamp(s.created_at)),
        return_url: s.return_url.unwrap_or_default(),
        locale: s.locale.unwrap_or_default(),
        url: s.url,
    }
}

fn customer_lookup(id: Option<&str>, key: Option<&str>) -> Result<CustomerLookup, Error> {
    convert::lookup_named(id, key, ("customer_id", "customer_key", "customer"))
}

#[tonic::async_trait]
impl CustomerAppService for CustomerAppApi {
    async fn list_customer_apps(
        &self,
        request: Request<pb::ListCustomerAppsRequest>,
    ) -> Result<Response<pb::ListCustomerAppsResponse>, Status> {
        let ns = namespace(&request);
        let lookup = match &request.get_ref().customer {
            Some(list_customer_apps_request::Customer::CustomerId(id)) => {
                customer_lookup(Some(id), None)
            }
            Some(list_customer_apps_request::Customer::CustomerKey(key)) => {
                customer_lookup(None, Some(key))
            }
            None => customer_lookup(None, None),
        }?;
        let entries = self.customer_apps.list(&ns, &lookup).await?;
        Ok(Response::new(pb::ListCustomerAppsResponse {
            data: entries.into_iter().map(entry_to_pb).collect(),
        }))
    }

    async fn upsert_customer_apps(
        &self,
        request: Request<pb::UpsertCustomerAppsRequest>,
    ) -> Result<Response<pb::UpsertCustomerAppsResponse>, Status> {
        let (ns, deadline) = (namespace(&request), deadline(&request));
        let r = request.into_inner();
        let lookup = match &r.customer {
            Some(upsert_customer_apps_request::Customer::CustomerId(id)) => {
                customer_lookup(Some(id), None)
            }
            Some(upsert_customer_apps_request::Customer::CustomerKey(key)) => {
                customer_lookup(None, Some(key))
            }
            None => customer_lookup(None, None),
        }?;
        let mut v = Violations::new();
        if r.data.is_empty() {
            v.add("data", "name at least one app entry");
        }
        if r.data.len() > 1000 {
            v.add("data", "at most 1000 entries");
        }
        let mut inputs = Vec::with_capacity(r.data.len());
        for (i, entry) in r.data.iter().enumerate() {
            let app_id = v.check(optional_app_id(&format!("data[{i}].app_id"), &entry.app_id));
            let Some(customer_app_data::Data::Stripe(stripe)) = &entry.data else {
                v.add(format!("data[{i}].stripe"), "is required");
                continue;
            };
            let customer = v.check(parse_stripe_id(
                &format!("data[{i}].stripe.stripe_customer_id"),
                &stripe.stripe_customer_id,
                "cus_",
            ));
            let pm = if stripe.stripe_default_payment_method_id.is_empty() {
                None
            } else {
                v.check(parse_stripe_id(
                    &format!("data[{i}].stripe.stripe_default_payment_method_id"),
                    &stripe.stripe_default_payment_method_id,
                    "pm_",
                ))
            };
            if let (Some(app_id), Some(stripe_customer_id)) = (app_id, customer) {
                inputs.push(CustomerAppInput {
                    app_id,
                    stripe_customer_id,
                    stripe_default_payment_method_id: pm,
                });
            }
        }
        v.finish()?;
        let stored = self
            .customer_apps
            .upsert(&ns, &lookup, inputs, deadline)
            .await?;
        Ok(Response::new(pb::UpsertCustomerAppsResponse {
            data: stored.into_iter().map(entry_to_pb).collect(),
        }))
    }

    async fn delete_customer_app(
        &self,
        request: Request<pb::DeleteCustomerAppRequest>,
    ) -> Result<Response<pb::CustomerAppData>, Status> {
        let ns = namespace(&request);
        let r = request.get_ref();
        let lookup = match &r.customer {
            Some(delete_customer_app_request::Customer::CustomerId(id)) => {
                customer_lookup(Some(id), None)
            }
            Some(delete_customer_app_request::Customer::CustomerKey(key)) => {
                customer_lookup(None, Some(key))
            }
            None => customer_lookup(None, None),
        }?;
        let app_id = optional_app_id("app_id", &r.app_id)
            .map_err(|v| Error::InvalidArgument(vec![v]))?
            .ok_or_else(|| Error::invalid("app_id", "is required"))?;
        let deleted = self.customer_apps.delete(&ns, &lookup, &app_id).await?;
        Ok(Response::new(entry_to_pb(deleted)))
    }

    async fn create_stripe_customer_portal_session(
        &self,
        request: Request<pb::CreateStripeCustomerPortalSessionRequest>,
    ) -> Result<Response<pb::StripeCustomerPortalSession>, Status> {
        use create_stripe_customer_portal_session_request::Customer;
        let (ns, deadline) = (namespace(&request), deadline(&request));
        let r = request.get_ref();
        let lookup = match &r.customer {
            Some(Customer::CustomerId(id)) => customer_lookup(Some(id), None),
            Some(Customer::CustomerKey(key)) => customer_lookup(None, Some(key)),
            None => customer_lookup(None, None),
        }?;
        let app_id =
            optional_app_id("app_id", &r.app_id).map_err(|v| Error::InvalidArgument(vec![v]))?;
        let options = PortalOptions::parse(&r.configuration_id, &r.locale, &r.return_url)?;
        let session = self
            .customer_apps
            .portal_session(&ns, &lookup, app_id.as_deref(), options, deadline)
            .await?;
        Ok(Response::new(portal_session_to_pb(session)))
    }

    async fn sync_stripe_customer(
        &self,
        request: Request<pb::SyncStripeCustomerRequest>,
    ) -> Result<Response<pb::CustomerAppData>, Status> {
        use sync_stripe_customer_request::Customer;
        let (ns, deadline) = (namespace(&request), deadline(&request));
        let r = request.get_ref();
        let lookup = match &r.customer {
            Some(Customer::CustomerId(id)) => customer_lookup(Some(id), None),
            Some(Customer::CustomerKey(key)) => customer_lookup(None, Some(key)),
            None => customer_lookup(None, None),
        }?;
        let app_id =
            optional_app_id("app_id", &r.app_id).map_err(|v| Error::InvalidArgument(vec![v]))?;
        let synced = self
            .customer_apps
            .sync_stripe_customer(&ns, &lookup, app_id.as_deref(), deadline)
            .await?;
        Ok(Response::new(entry_to_pb(synced)))
    }
}
