//! CustomerService use cases.

use std::collections::BTreeSet;

use crate::domain::customer::{
    Customer, CustomerFields, CustomerLookup, CustomerPatch, CustomerQuery,
};
use crate::domain::page;
use crate::domain::subject::created_by;
use crate::domain::values::{Identifier, RequestId, ResourceId};
use crate::domain::{Error, Namespace, Result, Timestamp, new_etag, new_id};
use crate::storage::{CreateRecord, Store, StoreError, Tx};

use super::idempotency::Idempotent;

/// The field path of the customer in requests, for field violations.
const CUSTOMER: &str = "customer";

/// Customers: create, read, list, update and soft-delete, with the attribution-identifier rule.
#[derive(Clone, Debug)]
pub struct Customers {
    store: Store,
}

/// One page of customers.
#[derive(Debug)]
pub struct CustomerPage {
    /// The customers of the page.
    pub customers: Vec<Customer>,
    /// The token of the next page, if there is one.
    pub next_page_token: Option<String>,
}

fn not_found(lookup: &CustomerLookup) -> Error {
    let (what, value) = match lookup {
        CustomerLookup::Id(id) => ("id", id.as_str().to_owned()),
        CustomerLookup::Key(key) => ("key", key.as_str().to_owned()),
    };
    Error::NotFound {
        reason: "CUSTOMER_NOT_FOUND",
        message: format!("no customer with {what} {value:?}"),
        metadata: vec![(what, value)],
    }
}

fn deleted(customer: &Customer) -> Error {
    Error::FailedPrecondition {
        reason: "CUSTOMER_DELETED",
        message: format!("customer {} is deleted", customer.id),
        metadata: vec![("customer_id", customer.id.clone())],
    }
}

fn check_etag(customer: &Customer, etag: Option<&str>) -> Result<()> {
    match etag {
        Some(etag) if etag != customer.etag => Err(Error::EtagMismatch {
            resource: "customer",
            id: customer.id.clone(),
        }),
        _ => Ok(()),
    }
}

/// Identifiers of `fields` that `customer_id` does not hold yet, and those it gives up.
fn identifier_changes<'a>(
    before: &'a CustomerFields,
    after: &'a CustomerFields,
) -> (Vec<&'a str>, Vec<&'a str>) {
    let old: BTreeSet<&Identifier> = before.identifiers();
    let new: BTreeSet<&Identifier> = after.identifiers();
    let released = old.difference(&new).map(|i| i.as_str()).collect();
    let claimed = new.difference(&old).map(|i| i.as_str()).collect();
    (released, claimed)
}

impl Customers {
    /// Use cases over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates a customer. With a request_id, a repeat of the same request returns the original
    /// customer.
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn create(
        &self,
        ns: &Namespace,
        fields: CustomerFields,
        request_id: Option<RequestId>,
    ) -> Result<Customer> {
        fields
            .check_attribution(CUSTOMER)
            .map_err(|v| Error::InvalidArgument(vec![v]))?;
        // A repeated request_id is found by the idempotency record's primary key refusing the
        // insert (then the original is replayed), which saves a read on every first attempt.
        let idempotent = request_id
            .as_ref()
            .map(|rid| Idempotent::new("CreateCustomer", rid, &fields));
        let now = Timestamp::now();
        let customer = Customer {
            id: new_id(),
            fields,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            etag: new_etag(),
        };
        let record = match &idempotent {
            Some(idem) => Some(CreateRecord {
                method: idem.method,
                request_id: idem.request_id.as_str(),
                record: idem.record(&customer)?,
            }),
            None => None,
        };
        // The live-identifier unique index decides conflicts, atomically with the insert.
        let result = self
            .store
            .create_customer(ns, &customer, &created_by("customer"), record)
            .await;
        match result {
            Ok(()) => Ok(customer),
            Err(StoreError::UniqueViolation(_)) => {
                // This request_id was seen before (replay the original, or REQUEST_ID_REUSED),
                // or another customer holds one of the identifiers.
                if let Some(idem) = &idempotent
                    && let Some(original) = idem.replay(&self.store, ns).await?
                {
                    return Ok(original);
                }
                Err(self.identifier_conflict(ns, &customer.fields, None).await)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads one customer: by id live or deleted, by key only live.
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn get(&self, ns: &Namespace, lookup: &CustomerLookup) -> Result<Customer> {
        let found = match lookup {
            CustomerLookup::Id(id) => self.store.customer_by_id(ns, id.as_str()).await?,
            CustomerLookup::Key(key) => self.store.live_customer_by_key(ns, key.as_str()).await?,
        };
        found.ok_or_else(|| not_found(lookup))
    }

    /// One page of customers.
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn list(&self, ns: &Namespace, query: &CustomerQuery) -> Result<CustomerPage> {
        let rows = self.store.list_customers(ns, query).await?;
        let fingerprint = CustomerQuery::fingerprint(&query.filter, query.order);
        let (customers, next_page_token) = page::finish(rows, query.page_size, &fingerprint, |c| {
            query.cursor_after(c)
        });
        Ok(CustomerPage {
            customers,
            next_page_token,
        })
    }

    /// Changes the fields named by `patch` of the live customer `id`, if `etag` (when given) is
    /// current.
    #[tracing::instrument(skip_all, fields(namespace = %ns, customer_id = %id))]
    pub async fn update(
        &self,
        ns: &Namespace,
        id: &ResourceId,
        etag: Option<&str>,
        patch: &CustomerPatch,
    ) -> Result<Customer> {
        let tx = self.store.begin().await?;
        let lookup = CustomerLookup::Id(id.clone());
        let id = id.as_str();
        let current = tx
            .customer_by_id(ns, id)
            .await?
            .ok_or_else(|| not_found(&lookup))?;
        if !current.is_live() {
            return Err(deleted(&current));
        }
        check_etag(&current, etag)?;
        let fields = patch.apply(&current.fields);
        fields
            .check_attribution(CUSTOMER)
            .map_err(|v| Error::InvalidArgument(vec![v]))?;
        let (released, claimed) = identifier_changes(&current.fields, &fields);
        let updated = Customer {
            fields: fields.clone(),
            updated_at: Timestamp::now().max(current.updated_at),
            etag: new_etag(),
            ..current.clone()
        };
        let result = async {
            reject_held(&tx, ns, &claimed, Some(id)).await?;
            let written = tx
                .update_customer(ns, &updated, &current.etag, &released, &claimed)
                .await?;
            if written {
                provision_subjects(&tx, ns, &updated.fields, updated.updated_at).await?;
                tx.commit().await?;
            }
            Ok(written)
        }
        .await;
        match result {
            Ok(true) => Ok(updated),
            // The row changed between our read and our write (PostgreSQL, READ COMMITTED).
            Ok(false) if etag.is_some() => Err(Error::EtagMismatch {
                resource: "customer",
                id: id.to_owned(),
            }),
            Ok(false) => Err(Error::Conflict(format!(
                "customer {id} changed while it was being updated; retry"
            ))),
            Err(StoreError::UniqueViolation(_)) => {
                Err(self.identifier_conflict(ns, &fields, Some(id)).await)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Soft-deletes a customer, freeing its identifiers. Deleting a deleted customer by id returns
    /// it unchanged.
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn delete(
        &self,
        ns: &Namespace,
        lookup: &CustomerLookup,
        etag: Option<&str>,
    ) -> Result<Customer> {
        let tx = self.store.begin().await?;
        let current = match lookup {
            CustomerLookup::Id(id) => tx.customer_by_id(ns, id.as_str()).await?,
            CustomerLookup::Key(key) => tx.live_customer_by_key(ns, key.as_str()).await?,
        }
        .ok_or_else(|| not_found(lookup))?;
        if !current.is_live() {
            return Ok(current);
        }
        check_etag(&current, etag)?;
        let now = Timestamp::now().max(current.updated_at);
        let deleted = Customer {
            deleted_at: Some(now),
            updated_at: now,
            etag: new_etag(),
            ..current.clone()
        };
        let written = tx.delete_customer(ns, &deleted, &current.etag).await?;
        if written {
            tx.delete_customer_apps_of_customer(ns, &current.id, now)
                .await?;
        }
        if !written {
            if etag.is_some() {
                return Err(Error::EtagMismatch {
                    resource: "customer",
                    id: current.id,
                });
            }
            return Err(Error::Conflict(format!(
                "customer {} changed while it was being deleted; retry",
                current.id
            )));
        }
        tx.commit().await?;
        Ok(deleted)
    }

    /// The live customer holding `key`, if any.
    pub async fn find_live_by_key(
        &self,
        ns: &Namespace,
        key: &Identifier,
    ) -> Result<Option<Customer>> {
        Ok(self.store.live_customer_by_key(ns, key.as_str()).await?)
    }

    /// ALREADY_EXISTS if another live customer than `owner_id` holds one of the identifiers of
    /// `fields` (for "create or use existing").
    pub async fn check_identifiers_free_for(
        &self,
        ns: &Namespace,
        fields: &CustomerFields,
        owner_id: &str,
    ) -> Result<()> {
        let identifiers: Vec<&str> = fields
            .identifiers()
            .into_iter()
            .map(Identifier::as_str)
            .collect();
        let holders = self.store.identifier_holders(ns, &identifiers).await?;
        if holders.iter().any(|(_, holder)| holder != owner_id) {
            return Err(self.identifier_conflict(ns, fields, Some(owner_id)).await);
        }
        Ok(())
    }

    /// ALREADY_EXISTS naming the first identifier of `fields` that another live customer holds.
    async fn identifier_conflict(
        &self,
        ns: &Namespace,
        fields: &CustomerFields,
        own_id: Option<&str>,
    ) -> Error {
        let identifiers: Vec<&str> = fields
            .identifiers()
            .into_iter()
            .map(Identifier::as_str)
            .collect();
        let holders = match self.store.identifier_holders(ns, &identifiers).await {
            Ok(holders) => holders,
            Err(e) => return e.into(),
        };
        let taken = holders
            .into_iter()
            .find(|(_, holder)| Some(holder.as_str()) != own_id);
        let Some((identifier, holder)) = taken else {
            return Error::Conflict(
                "a concurrent write changed these identifiers; retry".to_owned(),
            );
        };
        let is_key = fields
            .key
            .as_ref()
            .is_some_and(|k| k.as_str() == identifier);
        let (reason, field) = if is_key {
            ("KEY_ALREADY_EXISTS", "key")
        } else {
            (
                "SUBJECT_KEY_ALREADY_EXISTS",
                "usage_attribution.subject_keys",
            )
        };
        Error::AlreadyExists {
            reason,
            message: format!(
                "{field} {identifier:?} is already held by customer {holder} (customer keys and \
                 subject keys share one set of attribution identifiers)"
            ),
            metadata: vec![
                ("identifier", identifier),
                ("customer_id", holder),
                ("field", format!("customer.{field}")),
            ],
        }
    }
}

/// Makes sure a live Subject exists for each subject key (created with metadata
/// `{"createdBy":"customer"}`), in the customer's transaction.
async fn provision_subjects(
    tx: &Tx,
    ns: &Namespace,
    fields: &CustomerFields,
    now: Timestamp,
) -> Result<(), StoreError> {
    let keys: Vec<&str> = fields.subject_keys.iter().map(Identifier::as_str).collect();
    tx.ensure_subjects(ns, &keys, &created_by("customer"), now)
        .await?;
    Ok(())
}

/// Fails with `UniqueViolation` if another live customer holds one of `identifiers` (the unique
/// index would refuse it too; checking first keeps the transaction clean).
async fn reject_held(
    tx: &Tx,
    ns: &Namespace,
    identifiers: &[&str],
    own_id: Option<&str>,
) -> Result<(), StoreError> {
    let holders = tx.identifier_holders(ns, identifiers).await?;
    if holders
        .iter()
        .any(|(_, holder)| Some(holder.as_str()) != own_id)
    {
        return Err(StoreError::UniqueViolation(
            "identifier held by another customer".into(),
        ));
    }
    Ok(())
}
