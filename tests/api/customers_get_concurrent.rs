//! GetCustomer under concurrency: on PostgreSQL the reads of calls that arrive together share one
//! statement; every call must still get exactly its own answer, per namespace, as a lone call
//! would.

use patron::grpc::pb;
use tokio::task::JoinSet;
use tonic::Code;

use crate::helpers::{Tenant, TestApp, assert_error, customer};
use crate::on_both_databases;

const KEYS: &[(&str, &str)] = &[
    ("batch-a", "patron_test_key_batch_a_0123456789"),
    ("batch-b", "patron_test_key_batch_b_9876543210"),
];

/// A call and what it must answer: the customer, or NOT_FOUND.
struct Call {
    tenant: usize,
    lookup: pb::get_customer_request::Lookup,
    expected: Option<pb::Customer>,
}

async fn create(tenant: &Tenant, name: &str, key: &str) -> pb::Customer {
    tenant
        .customers
        .clone()
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer(name, key)),
            request_id: String::new(),
        })
        .await
        .expect("create")
        .into_inner()
}

async fn concurrent_gets_each_answer_their_own_call(app: TestApp) {
    use pb::get_customer_request::Lookup;
    let tenants = [app.tenant(KEYS[0].1).await, app.tenant(KEYS[1].1).await];
    // Both namespaces hold customers under the same keys, with different names.
    let mut live = Vec::new();
    for (t, tenant) in tenants.iter().enumerate() {
        for i in 0..12 {
            let created = create(
                tenant,
                &format!("Tenant {t} customer {i}"),
                &format!("k-{i}"),
            )
            .await;
            live.push((t, created));
        }
    }
    // A deleted customer: found by id (with deleted_at), not by its key.
    let gone = create(&tenants[0], "Gone", "gone").await;
    let gone = tenants[0]
        .customers
        .clone()
        .delete_customer(pb::DeleteCustomerRequest {
            lookup: Some(pb::delete_customer_request::Lookup::Id(gone.id.clone())),
            etag: String::new(),
        })
        .await
        .expect("delete")
        .into_inner();
    assert!(gone.deleted_at.is_some());

    let mut calls = Vec::new();
    for (t, c) in &live {
        calls.push(Call {
            tenant: *t,
            lookup: Lookup::Id(c.id.clone()),
            expected: Some(c.clone()),
        });
        calls.push(Call {
            tenant: *t,
            lookup: Lookup::Key(c.key.clone()),
            expected: Some(c.clone()),
        });
        // The other namespace sees none of this customer's ids.
        calls.push(Call {
            tenant: 1 - *t,
            lookup: Lookup::Id(c.id.clone()),
            expected: None,
        });
    }
    for t in 0..2 {
        calls.push(Call {
            tenant: t,
            lookup: Lookup::Id("01ARZ3NDEKTSV4RRFFQ69G5FAV".into()),
            expected: None,
        });
        calls.push(Call {
            tenant: t,
            lookup: Lookup::Key("nobody".into()),
            expected: None,
        });
    }
    calls.push(Call {
        tenant: 0,
        lookup: Lookup::Id(gone.id.clone()),
        expected: Some(gone.clone()),
    });
    calls.push(Call {
        tenant: 0,
        lookup: Lookup::Key("gone".into()),
        expected: None,
    });
    calls.push(Call {
        tenant: 1,
        lookup: Lookup::Id(gone.id.clone()),
        expected: None,
    });

    // Every call three times over, all at once, interleaved.
    let mut running = JoinSet::new();
    for round in 0..3 {
        for (n, call) in calls.iter().enumerate() {
            let mut client = tenants[call.tenant].customers.clone();
            let request = pb::GetCustomerRequest {
                lookup: Some(call.lookup.clone()),
            };
            running.spawn(async move {
                let answer = client.get_customer(request).await;
                (round, n, answer.map(tonic::Response::into_inner))
            });
        }
    }
    let mut answered = 0;
    let deadline = std::time::Duration::from_secs(30);
    while let Some(joined) = tokio::time::timeout(deadline, running.join_next())
        .await
        .expect("every call answers in time")
    {
        let (round, n, answer) = joined.expect("call task");
        let call = &calls[n];
        let what = format!("round {round}, tenant {}, {:?}", call.tenant, call.lookup);
        match (&call.expected, answer) {
            (Some(expected), Ok(found)) => assert_eq!(&found, expected, "{what}"),
            (None, Err(status)) => {
                assert_error(&status, Code::NotFound, "CUSTOMER_NOT_FOUND");
            }
            (Some(_), Err(status)) => panic!("{what}: {status:?}"),
            (None, Ok(found)) => panic!("{what}: found {found:?}"),
        }
        answered += 1;
    }
    assert_eq!(answered, calls.len() * 3);
}

on_both_databases!(with_api_keys(KEYS): concurrent_gets_each_answer_their_own_call);

/// A failed statement fails every call that shared it, as UNAVAILABLE. Only PostgreSQL can
/// disappear under a running server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_gets_on_a_database_that_went_away_are_all_unavailable_on_postgres() {
    let app = TestApp::spawn(crate::helpers::Backend::Postgres).await;
    let created = app.create(customer("Before", "before")).await;
    app.kill_database().await;
    let mut running = JoinSet::new();
    for i in 0..40 {
        let mut client = app.customers.clone();
        let lookup = if i % 2 == 0 {
            pb::get_customer_request::Lookup::Id(created.id.clone())
        } else {
            pb::get_customer_request::Lookup::Key("before".into())
        };
        running.spawn(async move {
            client
                .get_customer(pb::GetCustomerRequest {
                    lookup: Some(lookup),
                })
                .await
        });
    }
    let mut failed = 0;
    while let Some(joined) =
        tokio::time::timeout(std::time::Duration::from_secs(30), running.join_next())
            .await
            .expect("every call answers in time")
    {
        let status = joined.expect("call task").unwrap_err();
        assert_error(&status, Code::Unavailable, "UNAVAILABLE");
        failed += 1;
    }
    assert_eq!(failed, 40);
}
