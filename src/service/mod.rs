//! Use cases: each public method is one call of the API, owns its transaction and enforces the
//! rules of the domain. Speaks domain types only; storage is reached through `storage::Store`,
//! Stripe through the `payments::Payments` trait and time through the injected clock, all held
//! in one [`Deps`] that every use case gets a copy of (no use case reaches through another).

pub mod apps;
pub mod checkout;
pub mod customer_apps;
pub mod customers;
pub mod events;
mod idempotency;
pub mod portal;
mod steps;
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

use crate::domain::Timestamp;
use crate::domain::clock::SharedClock;
use crate::payments::Payments;
use crate::secrets::Cipher;
use crate::storage::Store;

/// What the use cases depend on, built once and shared.
#[derive(Clone, Debug)]
pub struct Deps {
    /// The database.
    pub store: Store,
    /// Stripe.
    pub payments: Arc<dyn Payments>,
    /// Seals the secrets stored in the database.
    pub cipher: Cipher,
    /// Where "now" comes from.
    pub clock: SharedClock,
    /// Where Stripe delivers webhooks (`{public_url}/webhooks/stripe/{app_id}`), if anywhere.
    pub public_url: Option<String>,
}

impl Deps {
    /// The current time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

/// Every use case, over one set of dependencies.
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
    /// The use cases over `deps`.
    pub fn new(deps: Deps) -> Self {
        Self {
            customers: Customers::new(deps.clone()),
            apps: Apps::new(deps.clone()),
            customer_apps: CustomerApps::new(deps.clone()),
            checkout: Checkout::new(deps.clone()),
            webhooks: Webhooks::new(deps.clone()),
            subjects: Subjects::new(deps.clone()),
            events: Events::new(deps),
        }
    }
}
