//! CustomerService use cases.

use std::collections::BTreeSet;

use crate::domain::customer::{
    Customer, CustomerFields, CustomerFilter, CustomerLookup, CustomerPatch, CustomerQuery, Order,
};
use crate::domain::page::{Numbered, NumberedPage, Page};
use crate::domain::subject::created_by;
use crate::domain::values::{Identifier, RequestId, ResourceId};
use crate::domain::{Error, Namespace, Result, Timestamp, new_etag, new_id};
use crate::storage::{CreateRecord, StoreError, Tx};

use super::Deps;
use super::idempotency::Idempotent;
use super::steps::{self, customer_deleted, customer_not_found};

/// The field path of the customer in requests, for field violations.
const CUSTOMER: &str = "customer";

/// Customers: create, read, list, update and soft-delete, with the attribution-identifier rule.
#[derive(Clone, Debug)]
pub struct Customers {
    deps: Deps,
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
    /// Use cases over `deps`.
    pub fn new(deps: Deps) -> Self {
        Self { deps }
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
            .map(|rid| Idempotent::new("CreateCustomer", rid, &fields))
            .transpose()?;
        let now = self.deps.now();
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
            .deps
            .store
            .create_customer(ns, &customer, &created_by("customer"), record)
            .await;
        match result {
            Ok(()) => Ok(customer),
            Err(StoreError::UniqueViolation(_)) => {
                // This request_id was seen before (replay the original, or REQUEST_ID_REUSED),
                // or another customer holds one of the identifiers.
                if let Some(idem) = &idempotent
                    && let Some(original) = idem.replay(&self.deps.store, ns).await?
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
        steps::customer(&self.deps.store, ns, lookup).await
    }

    /// One page of customers.
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn list(&self, ns: &Namespace, query: &CustomerQuery) -> Result<Page<Customer>> {
        let rows = self.deps.store.list_customers(ns, query).await?;
        let fingerprint = CustomerQuery::fingerprint(&query.filter, query.order);
        Ok(Page::from_rows(rows, query.page_size, &fingerprint, |c| {
            query.cursor_after(c)
        }))
    }

    /// One page of a page-numbered customer list (OpenMeter's `page`/`pageSize`), with the
    /// number of customers the filter passes.
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn list_numbered(
        &self,
        ns: &Namespace,
        filter: &CustomerFilter,
        order: Order,
        page: Numbered,
    ) -> Result<NumberedPage<Customer>> {
        let total_count = self.deps.store.count_customers(ns, filter).await?;
        let items = if page.offset() < total_count {
            self.deps
                .store
                .customers_at(ns, filter, order, page.offset(), page.page_size)
                .await?
        } else {
            Vec::new()
        };
        Ok(NumberedPage {
            total_count,
            page,
            items,
        })
    }

    /// Replaces every writable field of the customer `lookup` names (OpenMeter's PUT): the
    /// update of [`Self::update`] with every field in the mask.
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn replace(
        &self,
        ns: &Namespace,
        lookup: &CustomerLookup,
        fields: CustomerFields,
    ) -> Result<Customer> {
        fields
            .check_attribution(CUSTOMER)
            .map_err(|v| Error::InvalidArgument(vec![v]))?;
        let current = steps::customer(&self.deps.store, ns, lookup).await?;
        let id = ResourceId::from_stored(current.id);
        self.update(ns, &id, None, &CustomerPatch::replace(fields))
            .await
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
        let tx = self.deps.store.begin().await?;
        let lookup = CustomerLookup::Id(id.clone());
        let id = id.as_str();
        let current = tx
            .customer_by_id(ns, id)
            .await?
            .ok_or_else(|| customer_not_found(&lookup))?;
        if !current.is_live() {
            return Err(customer_deleted(&current));
        }
        check_etag(&current, etag)?;
        let fields = patch.apply(&current.fields);
        fields
            .check_attribution(CUSTOMER)
            .map_err(|v| Error::InvalidArgument(vec![v]))?;
        let (released, claimed) = identifier_changes(&current.fields, &fields);
        let updated = Customer {
            fields: fields.clone(),
            updated_at: self.deps.now().max(current.updated_at),
            etag: new_etag(),
            ..current.clone()
        };
        let result = async {
            if held_by_another(&tx, ns, &claimed, Some(id)).await? {
                return Err(WriteFailure::IdentifierHeld);
            }
            let written = tx
                .update_customer(ns, &updated, &current.etag, &released, &claimed)
                .await?;
            if written {
                provision_subjects(&tx, ns, &updated.fields, updated.updated_at).await?;
                tx.commit().await?;
            }
            Ok::<_, WriteFailure>(written)
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
            Err(WriteFailure::IdentifierHeld) => {
                Err(self.identifier_conflict(ns, &fields, Some(id)).await)
            }
            Err(WriteFailure::Store(e)) => Err(e.into()),
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
        let tx = self.deps.store.begin().await?;
        let current = match lookup {
            CustomerLookup::Id(id) => tx.customer_by_id(ns, id.as_str()).await?,
            CustomerLookup::Key(key) => tx.live_customer_by_key(ns, key.as_str()).await?,
            CustomerLookup::IdOrKey { id, key } => {
                let by_id = match id {
                    Some(id) => tx.customer_by_id(ns, id.as_str()).await?,
                    None => None,
                };
                match (by_id, key) {
                    (Some(found), _) => Some(found),
                    (None, Some(key)) => tx.live_customer_by_key(ns, key.as_str()).await?,
                    (None, None) => None,
                }
            }
        }
        .ok_or_else(|| customer_not_found(lookup))?;
        if !current.is_live() {
            return Ok(current);
        }
        check_etag(&current, etag)?;
        let now = self.deps.now().max(current.updated_at);
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
        Ok(self
            .deps
            .store
            .live_customer_by_key(ns, key.as_str())
            .await?)
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
        let holders = self.deps.store.identifier_holders(ns, &identifiers).await?;
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
        let holders = match self.deps.store.identifier_holders(ns, &identifiers).await {
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

/// Why an update's write did not happen.
enum WriteFailure {
    /// Another live customer holds one of the claimed identifiers: found by reading first, or
    /// by the unique index refusing the write.
    IdentifierHeld,
    /// Any other storage failure.
    Store(StoreError),
}

impl From<StoreError> for WriteFailure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UniqueViolation(_) => Self::IdentifierHeld,
            other => Self::Store(other),
        }
    }
}

/// Whether another live customer than `own_id` holds one of `identifiers` (the unique index
/// would refuse the write too; checking first keeps the transaction clean).
async fn held_by_another(
    tx: &Tx,
    ns: &Namespace,
    identifiers: &[&str],
    own_id: Option<&str>,
) -> Result<bool, StoreError> {
    let holders = tx.identifier_holders(ns, identifiers).await?;
    Ok(holders
        .iter()
        .any(|(_, holder)| Some(holder.as_str()) != own_id))
}
