//! Use cases: each public method is one call of the API, owns its transaction and enforces the
//! rules of the domain. Speaks domain types only; storage is reached through `storage::Store`
//! and Stripe through the `payments::Payments` trait.

pub mod apps;
pub mod checkout;
pub mod customer_apps;
pub mod customers;
pub mod events;
mod idempotency;
mod stripe_errors;
pub mod subjects;
pub mod webhooks;

use std::sync::Arc;

pub use apps::Apps;
pub use checkout::Checkout;
pub use customer_apps::CustomerApps;
pub use customers::Customers;
pub use events::Events;
pub use idempotency::RETENTION as IDEMPOTENCY_RETENTION;
pub use subjects::Subjects;
pub use webhooks::Webhooks;

use crate::payments::Payments;
use crate::secrets::Cipher;
use crate::storage::Store;

/// Every use case, sharing one store.
#[derive(Clone, Debug)]
pub struct Services {
    /// CustomerService's use cases.
    pub customers: Customers,
    /// AppService's use cases.
    pub apps: Apps,
    /// CustomerAppService's use cases.
    pub customer_apps: CustomerApps,
    /// StripeCheckoutService's use cases.
    pub checkout: Checkout,
    /// Stripe webhook processing.
    pub webhooks: Webhooks,
    /// SubjectService's use cases.
    pub subjects: Subjects,
    /// EventService's use cases.
    pub events: Events,
}

impl Services {
    /// The use cases over `store`, with Stripe reached through `payments` and secrets sealed by
    /// `cipher`; `public_url` (if any) is where Stripe delivers webhooks.
    pub fn new(
        store: Store,
        payments: Arc<dyn Payments>,
        cipher: Cipher,
        public_url: Option<String>,
    ) -> Self {
        let customers = Customers::new(store.clone());
        let subjects = Subjects::new(store.clone());
        let events = Events::new(store.clone());
        let apps = Apps::new(store, payments, cipher, public_url);
        Self {
            subjects,
            events,
            customer_apps: CustomerApps::new(apps.clone(), customers.clone()),
            checkout: Checkout::new(apps.clone(), customers.clone()),
            webhooks: Webhooks::new(apps.clone()),
            customers,
            apps,
        }
    }
}
