//! Use cases: each public method is one call of the API, owns its transaction and enforces the
//! rules of the domain. Speaks domain types only; storage is reached through `storage::Store`.

pub mod customers;
mod idempotency;

pub use customers::Customers;
pub use idempotency::RETENTION as IDEMPOTENCY_RETENTION;

use crate::storage::Store;

/// Every use case, sharing one store.
#[derive(Clone, Debug)]
pub struct Services {
    /// CustomerService's use cases.
    pub customers: Customers,
}

impl Services {
    /// The use cases over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            customers: Customers::new(store),
        }
    }
}
