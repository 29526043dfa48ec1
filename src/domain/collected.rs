//! Details a customer entered in Stripe Checkout, and the rule by which they flow back to the
//! patron customer.
//!
//! The rule: a Checkout Session created without `ignore_collected_details` records, for each
//! customer field it may take, the field's value at creation. An event that brings collected
//! values (the payment method's `billing_details` after `setup_intent.succeeded`; with
//! `customer_update[address]=auto` / `[name]=auto` the Stripe customer's `customer.updated`)
//! changes a field only if the customer still holds the recorded value (so a change the caller
//! made after the session was created is never overwritten); what it writes becomes the new
//! recorded value. Events older than the newest one applied change nothing. All fields change
//! in one write (one new etag).

use serde::{Deserialize, Serialize};

use super::FieldViolation;
use super::checkout::{CheckoutOptions, CustomerUpdateBehavior};
use super::customer::{Address, CustomerFields};
use super::values::{CountryCode, Name, ShortText};

/// What a session may take back, with each field's value when patron last knew it (at the
/// session's creation, then after each applied event).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetailsRule {
    /// The billing address, if the session takes it (always, unless opted out).
    pub billing_address: Option<Address>,
    /// The name, if the session takes it (`customer_update.name=auto`).
    pub name: Option<Name>,
    /// Whether the Stripe customer's own address may bring it (`customer_update.address=auto`:
    /// Checkout then saves the collected address on the Stripe customer).
    pub address_from_customer: bool,
    /// `created` (Unix seconds) of the newest event applied.
    pub event_created: Option<i64>,
}

/// Values collected in Checkout, parsed; `None` for what was not collected (or did not parse).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Collected {
    /// Billing name.
    pub name: Option<Name>,
    /// Billing address (country and postal code at least, or nothing).
    pub address: Option<Address>,
}

/// An address as Stripe sends it: country, postal_code, state, city, line1, line2.
pub type RawAddress = [Option<String>; 6];

impl Collected {
    /// Parses what Stripe sent. A value that does not parse is left out whole and reported (the
    /// caller logs it): an address with any part that does not parse, or without a country, is
    /// no address.
    pub fn parse(
        source: &str,
        name: Option<&str>,
        address: Option<&RawAddress>,
    ) -> (Self, Vec<FieldViolation>) {
        let mut violations = Vec::new();
        let name = match name.filter(|n| !n.trim().is_empty()) {
            Some(raw) => match Name::parse(&format!("{source}.name"), raw) {
                Ok(name) => Some(name),
                Err(v) => {
                    violations.push(v);
                    None
                }
            },
            None => None,
        };
        let before = violations.len();
        let address = address.and_then(|raw| {
            let [country, postal_code, state, city, line1, line2] = raw;
            let path = |part: &str| format!("{source}.address.{part}");
            let mut text = |part: &str, value: &Option<String>| match ShortText::parse(
                &path(part),
                value.as_deref().unwrap_or_default(),
            ) {
                Ok(v) => v,
                Err(v) => {
                    violations.push(v);
                    None
                }
            };
            let parsed = Address {
                postal_code: text("postal_code", postal_code),
                state: text("state", state),
                city: text("city", city),
                line1: text("line1", line1),
                line2: text("line2", line2),
                country: None,
                phone_number: None,
            };
            match CountryCode::parse(&path("country"), country.as_deref().unwrap_or_default()) {
                Ok(Some(country)) => Some(Address {
                    country: Some(country),
                    ..parsed
                }),
                Ok(None) => None,
                Err(v) => {
                    violations.push(v);
                    None
                }
            }
        });
        let address = address.filter(|_| violations.len() == before);
        (Self { name, address }, violations)
    }
}

/// The address after taking `collected`: its parts replace the stored ones (the phone number,
/// which Stripe's address has not, stays); a partial address (country and postal code only, as
/// Checkout collects without `billing_address_collection=required`) that matches the stored
/// country and postal code changes nothing.
fn merged_address(current: &Address, collected: &Address) -> Address {
    let partial = collected.state.is_none()
        && collected.city.is_none()
        && collected.line1.is_none()
        && collected.line2.is_none();
    if partial
        && current.country == collected.country
        && current.postal_code == collected.postal_code
    {
        return current.clone();
    }
    Address {
        phone_number: current.phone_number.clone(),
        ..collected.clone()
    }
}

/// What applying an event gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The customer's fields after the event, if they changed.
    pub fields: Option<CustomerFields>,
    /// The session's rule after the event.
    pub rule: DetailsRule,
}

impl DetailsRule {
    /// The rule of a session created with `options` for a customer holding `current`; `None`
    /// when the request opted out.
    pub fn for_session(options: &CheckoutOptions, current: &CustomerFields) -> Option<Self> {
        if options.ignore_collected_details {
            return None;
        }
        let auto = |b: Option<CustomerUpdateBehavior>| b == Some(CustomerUpdateBehavior::Auto);
        Some(Self {
            billing_address: Some(current.billing_address.clone()),
            name: auto(options.customer_update_name).then(|| current.name.clone()),
            address_from_customer: auto(options.customer_update_address),
            event_created: None,
        })
    }

    /// Applies what an event created at `created` (Unix seconds) collected to a customer
    /// holding `current`; `None` when the event is older than the newest one applied.
    pub fn apply(
        &self,
        current: &CustomerFields,
        collected: &Collected,
        created: i64,
    ) -> Option<Applied> {
        if self.event_created.is_some_and(|newest| created < newest) {
            return None;
        }
        let mut fields = current.clone();
        let mut rule = self.clone();
        rule.event_created = Some(created);
        if let (Some(recorded), Some(address)) = (&self.billing_address, &collected.address)
            && current.billing_address == *recorded
        {
            let merged = merged_address(&current.billing_address, address);
            fields.billing_address = merged.clone();
            rule.billing_address = Some(merged);
        }
        if let (Some(recorded), Some(name)) = (&self.name, &collected.name)
            && current.name == *recorded
        {
            fields.name = name.clone();
            rule.name = Some(name.clone());
        }
        Some(Applied {
            fields: (fields != *current).then_some(fields),
            rule,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::values::Metadata;

    fn fields(name: &str, country: Option<&str>) -> CustomerFields {
        CustomerFields {
            key: None,
            name: Name::parse("n", name).unwrap(),
            description: None,
            metadata: Metadata::default(),
            subject_keys: Vec::new(),
            primary_email: None,
            currency: None,
            billing_address: Address {
                country: country.map(|c| CountryCode::parse("c", c).unwrap().unwrap()),
                phone_number: ShortText::parse("p", "+1 555").unwrap(),
                ..Address::default()
            },
        }
    }

    fn raw(country: &str, postal: &str, line1: Option<&str>) -> RawAddress {
        [
            Some(country.into()),
            Some(postal.into()),
            None,
            line1.map(|_| "Berlin".into()),
            line1.map(Into::into),
            None,
        ]
    }

    fn rule_for(current: &CustomerFields, name_auto: bool) -> DetailsRule {
        let options = CheckoutOptions {
            customer_update_name: name_auto.then_some(CustomerUpdateBehavior::Auto),
            ..CheckoutOptions::default()
        };
        DetailsRule::for_session(&options, current).unwrap()
    }

    #[test]
    fn opting_out_records_nothing() {
        let options = CheckoutOptions {
            ignore_collected_details: true,
            ..CheckoutOptions::default()
        };
        assert!(DetailsRule::for_session(&options, &fields("A", None)).is_none());
    }

    #[test]
    fn collected_address_and_name_replace_what_was_recorded() {
        let current = fields("Old", None);
        let rule = rule_for(&current, true);
        let (collected, v) = Collected::parse(
            "pm",
            Some("New Name"),
            Some(&raw("de", "10115", Some("Main St 1"))),
        );
        assert!(v.is_empty(), "{v:?}");
        let applied = rule.apply(&current, &collected, 100).unwrap();
        let next = applied.fields.unwrap();
        assert_eq!(next.name.as_str(), "New Name");
        let a = &next.billing_address;
        assert_eq!(a.country.as_ref().unwrap().as_str(), "DE");
        assert_eq!(a.line1.as_ref().unwrap().as_str(), "Main St 1");
        assert_eq!(a.phone_number, current.billing_address.phone_number);
        assert_eq!(applied.rule.billing_address.as_ref(), Some(a));
        assert_eq!(applied.rule.event_created, Some(100));
        // The same again: nothing changes; an older event is not applied.
        assert_eq!(
            applied.rule.apply(&next, &collected, 100).unwrap().fields,
            None
        );
        assert!(applied.rule.apply(&next, &collected, 99).is_none());
    }

    #[test]
    fn fields_changed_by_the_caller_stay() {
        let current = fields("Old", None);
        let rule = rule_for(&current, false);
        let changed = fields("Old", Some("FR"));
        let (collected, _) = Collected::parse("pm", Some("X"), Some(&raw("DE", "1", None)));
        let applied = rule.apply(&changed, &collected, 1).unwrap();
        assert_eq!(
            applied.fields, None,
            "address changed by the caller, name not asked"
        );
    }

    #[test]
    fn a_partial_address_matching_the_stored_one_keeps_its_lines() {
        let mut current = fields("A", Some("DE"));
        current.billing_address.postal_code = ShortText::parse("p", "10115").unwrap();
        current.billing_address.line1 = ShortText::parse("l", "Main St 1").unwrap();
        let rule = rule_for(&current, false);
        let (collected, _) = Collected::parse("pm", None, Some(&raw("DE", "10115", None)));
        assert_eq!(rule.apply(&current, &collected, 1).unwrap().fields, None);
        let (moved, _) = Collected::parse("pm", None, Some(&raw("FR", "75001", None)));
        let next = rule.apply(&current, &moved, 1).unwrap().fields.unwrap();
        assert_eq!(next.billing_address.line1, None);
        assert_eq!(next.billing_address.country.unwrap().as_str(), "FR");
    }

    #[test]
    fn unparseable_parts_are_left_out_and_reported() {
        let (collected, v) = Collected::parse(
            "pm",
            Some("   "),
            Some(&[Some("XX".into()), None, None, None, None, None]),
        );
        assert_eq!(collected, Collected::default());
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].field, "pm.address.country");
        let (none, v) = Collected::parse("pm", None, Some(&Default::default()));
        assert_eq!((none, v.len()), (Collected::default(), 0));
        // One bad part: no address at all, the name still counts.
        let long = "x".repeat(10_000);
        let (partial, v) = Collected::parse(
            "pm",
            Some("Ada"),
            Some(&[Some("DE".into()), None, None, None, Some(long), None]),
        );
        assert_eq!(partial.address, None);
        assert_eq!(partial.name.unwrap().as_str(), "Ada");
        assert_eq!(v[0].field, "pm.address.line1");
    }
}
