//! SeaORM entities, one module per table (schema in migrations/).

pub mod attribution_identifier;
pub mod customer;
pub mod customer_subject_key;
pub mod idempotency_record;
