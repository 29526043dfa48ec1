//! CustomerService: decode, call the use case, encode.

use tonic::{Request, Response, Status};

use super::convert::{self, customer_to_pb};
use super::namespace;
use super::pb::customer_service_server::CustomerService;
use super::pb::{self, delete_customer_request, get_customer_request};
use crate::service::Customers;

/// The CustomerService handlers.
#[derive(Clone, Debug)]
pub struct CustomerApi {
    customers: Customers,
}

impl CustomerApi {
    /// Handlers over the use cases.
    pub fn new(customers: Customers) -> Self {
        Self { customers }
    }
}

#[tonic::async_trait]
impl CustomerService for CustomerApi {
    async fn create_customer(
        &self,
        request: Request<pb::CreateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let ns = namespace(&request);
        let r = request.into_inner();
        let fields = convert::customer_fields(r.customer.as_ref())?;
        let request_id = convert::request_id(&r.request_id)?;
        let customer = self.customers.create(&ns, fields, request_id).await?;
        Ok(Response::new(customer_to_pb(customer)))
    }

    async fn get_customer(
        &self,
        request: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let ns = namespace(&request);
        let lookup = match &request.get_ref().lookup {
            Some(get_customer_request::Lookup::Id(id)) => convert::lookup(Some(id), None),
            Some(get_customer_request::Lookup::Key(key)) => convert::lookup(None, Some(key)),
            None => convert::lookup(None, None),
        }?;
        let customer = self.customers.get(&ns, &lookup).await?;
        Ok(Response::new(customer_to_pb(customer)))
    }

    async fn list_customers(
        &self,
        request: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let ns = namespace(&request);
        let query = convert::customer_query(request.get_ref())?;
        let page = self.customers.list(&ns, &query).await?;
        Ok(Response::new(pb::ListCustomersResponse {
            customers: page.items.into_iter().map(customer_to_pb).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn update_customer(
        &self,
        request: Request<pb::UpdateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let ns = namespace(&request);
        let r = request.into_inner();
        let customer = r.customer.ok_or_else(|| convert::required("customer"))?;
        let id = convert::customer_id(&customer)?;
        let patch = convert::customer_patch(&customer, r.update_mask.as_ref())?;
        let etag = (!customer.etag.is_empty()).then_some(customer.etag.as_str());
        let updated = self.customers.update(&ns, &id, etag, &patch).await?;
        Ok(Response::new(customer_to_pb(updated)))
    }

    async fn delete_customer(
        &self,
        request: Request<pb::DeleteCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let ns = namespace(&request);
        let r = request.get_ref();
        let lookup = match &r.lookup {
            Some(delete_customer_request::Lookup::Id(id)) => convert::lookup(Some(id), None),
            Some(delete_customer_request::Lookup::Key(key)) => convert::lookup(None, Some(key)),
            None => convert::lookup(None, None),
        }?;
        let etag = (!r.etag.is_empty()).then_some(r.etag.as_str());
        let deleted = self.customers.delete(&ns, &lookup, etag).await?;
        Ok(Response::new(customer_to_pb(deleted)))
    }
}
