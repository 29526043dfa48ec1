//! A coherent in-process cache of customers by id, for a database this process alone writes
//! (the embedded SQLite file, guarded by a lock file).
//!
//! Coherence: a write transaction *marks* every customer it is about to change before its
//! statement runs; a marked customer is neither served from nor filled into the cache, and its
//! entry is dropped. The marks are released after the commit (or the rollback), so a read that
//! starts after the write is acknowledged sees the new row. A read that misses takes a
//! generation ticket first and fills the cache only if no mark was placed or released since, so a
//! row read before a write can never be filled in after it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::domain::customer::Customer;

/// The cache. Cheap to share; every operation holds the lock for a few map operations.
#[derive(Debug)]
pub struct CustomerCache {
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// namespace -> id -> customer.
    entries: HashMap<String, HashMap<String, Arc<Customer>>>,
    len: usize,
    /// (namespace, id) -> open write transactions that marked it.
    marked: HashMap<(String, String), u32>,
    /// Bumped by every mark and every release.
    generation: u64,
}

/// What a lookup found: the customer, or the ticket a later `fill` needs.
#[derive(Debug)]
pub enum Lookup {
    /// Served from the cache.
    Hit(Arc<Customer>),
    /// Not cached; read the database, then `fill` with this ticket.
    Miss(Ticket),
}

/// The generation a missed read started at (and whether the id was marked then).
#[derive(Debug)]
pub struct Ticket {
    generation: u64,
    marked: bool,
}

impl CustomerCache {
    /// A cache holding at most `capacity` customers.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that matters
        // for coherence (every operation only removes entries or adds complete ones).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached customer `id` of `ns`, or a ticket to fill it after reading the database.
    pub fn get(&self, ns: &str, id: &str) -> Lookup {
        let state = self.state();
        let marked = !state.marked.is_empty() && state.marked.contains_key(&key(ns, id));
        if !marked && let Some(found) = state.entries.get(ns).and_then(|m| m.get(id)) {
            return Lookup::Hit(Arc::clone(found));
        }
        Lookup::Miss(Ticket {
            generation: state.generation,
            marked,
        })
    }

    /// Caches `customer`, read from the database after `ticket` was taken, unless a write marked
    /// or released any customer since.
    pub fn fill(&self, ticket: Ticket, ns: &str, customer: &Customer) {
        if self.capacity == 0 || ticket.marked {
            return;
        }
        let mut state = self.state();
        if state.generation != ticket.generation {
            return;
        }
        if state.len >= self.capacity {
            state.evict_one();
        }
        let previous = state
            .entries
            .entry(ns.to_owned())
            .or_default()
            .insert(customer.id.clone(), Arc::new(customer.clone()));
        if previous.is_none() {
            state.len += 1;
        }
    }

    /// Marks customer `id` of `ns` as being written: drops its entry and keeps it out of the
    /// cache until the matching `release`.
    pub fn mark(&self, ns: &str, id: &str) {
        let mut state = self.state();
        state.generation += 1;
        *state.marked.entry(key(ns, id)).or_insert(0) += 1;
        let removed = state
            .entries
            .get_mut(ns)
            .and_then(|m| m.remove(id))
            .is_some();
        if removed {
            state.len -= 1;
        }
    }

    /// Ends one `mark` of customer `id` of `ns` (after its transaction committed or rolled back).
    pub fn release(&self, ns: &str, id: &str) {
        let mut state = self.state();
        state.generation += 1;
        let k = key(ns, id);
        if let Some(count) = state.marked.get_mut(&k) {
            *count -= 1;
            if *count == 0 {
                state.marked.remove(&k);
            }
        }
    }

    /// How many customers are cached.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.state().len
    }
}

fn key(ns: &str, id: &str) -> (String, String) {
    (ns.to_owned(), id.to_owned())
}

impl State {
    /// Drops one entry (whichever the map yields first: the cache is a bounded working set, not
    /// an LRU).
    fn evict_one(&mut self) {
        let victim = self
            .entries
            .iter()
            .find_map(|(ns, ids)| ids.keys().next().map(|id| (ns.clone(), id.clone())));
        if let Some((ns, id)) = victim
            && let Some(ids) = self.entries.get_mut(&ns)
        {
            ids.remove(&id);
            self.len -= 1;
            if ids.is_empty() {
                self.entries.remove(&ns);
            }
        }
    }
}

/// The customers a write transaction marked; released when dropped (after commit or rollback).
#[derive(Debug, Default)]
pub struct Marks {
    cache: Option<Arc<CustomerCache>>,
    held: Mutex<Vec<(String, String)>>,
}

impl Marks {
    /// Marks for a transaction on a store with `cache` (none: nothing to mark).
    pub fn new(cache: Option<Arc<CustomerCache>>) -> Self {
        Self {
            cache,
            held: Mutex::new(Vec::new()),
        }
    }

    /// Marks customer `id` of `ns` until this transaction ends.
    pub fn mark(&self, ns: &str, id: &str) {
        if let Some(cache) = &self.cache {
            cache.mark(ns, id);
            self.held
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(key(ns, id));
        }
    }
}

impl Drop for Marks {
    fn drop(&mut self) {
        if let Some(cache) = &self.cache {
            let held = std::mem::take(
                self.held
                    .get_mut()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            );
            for (ns, id) in held {
                cache.release(&ns, &id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::customer::{Address, CustomerFields};
    use crate::domain::values::{Metadata, Name};
    use crate::domain::{Timestamp, new_etag};

    fn customer(id: &str, name: &str) -> Customer {
        Customer {
            id: id.to_owned(),
            fields: CustomerFields {
                key: None,
                name: Name::from_stored(name.to_owned()),
                description: None,
                metadata: Metadata::default(),
                subject_keys: Vec::new(),
                primary_email: None,
                currency: None,
                billing_address: Address::default(),
            },
            created_at: Timestamp(1),
            updated_at: Timestamp(1),
            deleted_at: None,
            etag: new_etag(),
        }
    }

    fn hit(cache: &CustomerCache, ns: &str, id: &str) -> Option<String> {
        match cache.get(ns, id) {
            Lookup::Hit(c) => Some(c.fields.name.as_str().to_owned()),
            Lookup::Miss(_) => None,
        }
    }

    fn miss(cache: &CustomerCache, ns: &str, id: &str) -> Ticket {
        match cache.get(ns, id) {
            Lookup::Miss(t) => t,
            Lookup::Hit(_) => panic!("{ns}/{id} should not be cached"),
        }
    }

    #[test]
    fn fills_and_serves_per_namespace() {
        let cache = CustomerCache::new(10);
        let t = miss(&cache, "a", "c1");
        cache.fill(t, "a", &customer("c1", "one"));
        assert_eq!(hit(&cache, "a", "c1").as_deref(), Some("one"));
        assert_eq!(hit(&cache, "b", "c1"), None);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_read_that_started_before_a_write_is_not_filled_in() {
        let cache = CustomerCache::new(10);
        let cache = Arc::new(cache);
        let before = miss(&cache, "a", "c1");
        let marks = Marks::new(Some(Arc::clone(&cache)));
        marks.mark("a", "c1");
        // While the write is open, the row is neither served nor filled.
        let during = miss(&cache, "a", "c1");
        cache.fill(during, "a", &customer("c1", "old"));
        assert_eq!(hit(&cache, "a", "c1"), None);
        drop(marks);
        // The read that began before the write comes back with the old row: refused.
        cache.fill(before, "a", &customer("c1", "old"));
        assert_eq!(hit(&cache, "a", "c1"), None);
        // A read after the release fills it.
        let after = miss(&cache, "a", "c1");
        cache.fill(after, "a", &customer("c1", "new"));
        assert_eq!(hit(&cache, "a", "c1").as_deref(), Some("new"));
    }

    #[test]
    fn marking_drops_the_entry_until_every_mark_is_released() {
        let cache = Arc::new(CustomerCache::new(10));
        let t = miss(&cache, "a", "c1");
        cache.fill(t, "a", &customer("c1", "one"));
        let first = Marks::new(Some(Arc::clone(&cache)));
        let second = Marks::new(Some(Arc::clone(&cache)));
        first.mark("a", "c1");
        second.mark("a", "c1");
        assert_eq!(cache.len(), 0);
        drop(first);
        let t = miss(&cache, "a", "c1");
        cache.fill(t, "a", &customer("c1", "two"));
        assert_eq!(hit(&cache, "a", "c1"), None, "still marked by the second");
        drop(second);
        let t = miss(&cache, "a", "c1");
        cache.fill(t, "a", &customer("c1", "two"));
        assert_eq!(hit(&cache, "a", "c1").as_deref(), Some("two"));
    }

    #[test]
    fn stays_within_capacity_and_zero_disables() {
        let cache = CustomerCache::new(3);
        for i in 0..10 {
            let id = format!("c{i}");
            let t = miss(&cache, "a", &id);
            cache.fill(t, "a", &customer(&id, "x"));
        }
        assert_eq!(cache.len(), 3);
        let off = CustomerCache::new(0);
        let t = miss(&off, "a", "c1");
        off.fill(t, "a", &customer("c1", "x"));
        assert_eq!(off.len(), 0);
    }
}
