//! ListCustomers: keyset pages in every order, filters, show_deleted and bad arguments.

use std::collections::BTreeSet;

use patron::grpc::pb;
use tonic::Code;

use patron::storage::{PoolSettings, Store};

use crate::helpers::{
    Backend, TestApp, assert_error, bad_fields, customer, customer_with_subjects,
};
use crate::on_both_databases;

type Compare = fn(&pb::Customer, &pb::Customer) -> std::cmp::Ordering;

fn seconds(c: &pb::Customer) -> (i64, i32) {
    let t = c.created_at.expect("created_at");
    (t.seconds, t.nanos)
}

/// Creates `n` customers whose names repeat (to exercise the id tie-breaker) and mix case.
async fn seed(app: &TestApp, n: usize) -> Vec<pb::Customer> {
    let mut created = Vec::with_capacity(n);
    for i in 0..n {
        let name = match i % 4 {
            0 => format!("Customer {:03}", i % 50),
            1 => format!("customer {:03}", i % 37),
            2 => "Same Name".to_owned(),
            _ => format!("Ügyfél {i}"),
        };
        created.push(app.create(customer(&name, &format!("key-{i}"))).await);
    }
    created
}

async fn pages_cover_every_customer_once_in_every_order(app: TestApp) {
    let all = seed(&app, 230).await;
    let orders: [(&str, Compare); 6] = [
        ("", |a, b| {
            (a.name.as_bytes(), &a.id).cmp(&(b.name.as_bytes(), &b.id))
        }),
        ("name desc", |a, b| {
            (b.name.as_bytes(), &b.id).cmp(&(a.name.as_bytes(), &a.id))
        }),
        ("created_at", |a, b| {
            (seconds(a), &a.id).cmp(&(seconds(b), &b.id))
        }),
        ("created_at desc", |a, b| {
            (seconds(b), &b.id).cmp(&(seconds(a), &a.id))
        }),
        ("id", |a, b| a.id.cmp(&b.id)),
        ("id desc", |a, b| b.id.cmp(&a.id)),
    ];
    for (order_by, compare) in orders {
        let mut expected = all.clone();
        expected.sort_by(compare);
        let mut pages = 0;
        let mut seen = Vec::new();
        let mut request = pb::ListCustomersRequest {
            page_size: 17,
            order_by: order_by.into(),
            ..Default::default()
        };
        loop {
            let page = app
                .customers
                .clone()
                .list_customers(request.clone())
                .await
                .expect("page")
                .into_inner();
            pages += 1;
            assert!(pages <= 230, "endless pagination");
            assert!(page.customers.len() <= 17);
            seen.extend(page.customers);
            if page.next_page_token.is_empty() {
                break;
            }
            request.page_token = page.next_page_token;
        }
        assert_eq!(pages, 230usize.div_ceil(17), "order {order_by:?}");
        let seen_ids: Vec<&str> = seen.iter().map(|c| c.id.as_str()).collect();
        let expected_ids: Vec<&str> = expected.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(seen_ids, expected_ids, "order {order_by:?}");
    }
    // Default page size is 100; the token is empty only at the end.
    let first = app
        .customers
        .clone()
        .list_customers(pb::ListCustomersRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(first.customers.len(), 100);
    assert!(!first.next_page_token.is_empty());
    // Oversized pages are reduced to 1000, not refused.
    let big = app
        .customers
        .clone()
        .list_customers(pb::ListCustomersRequest {
            page_size: 5000,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(big.customers.len(), 230);
    assert!(big.next_page_token.is_empty());
}

async fn filters_select_by_key_subject_email_and_name_prefix(app: TestApp) {
    let acme = app
        .create(pb::Customer {
            primary_email: "Billing@ACME.example".into(),
            ..customer_with_subjects("ACME, Inc.", "acme", &["acme-eu", "acme-us"])
        })
        .await;
    let acorn = app.create(customer("acorn labs", "acorn")).await;
    let _bolt = app.create(customer("Bolt", "bolt")).await;
    let list = |request: pb::ListCustomersRequest| {
        let app = &app;
        async move {
            app.list_all(request)
                .await
                .into_iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(pb::ListCustomersRequest {
            key: "acme".into(),
            ..Default::default()
        })
        .await,
        vec![acme.id.clone()]
    );
    assert!(
        list(pb::ListCustomersRequest {
            key: "ACME".into(),
            ..Default::default()
        })
        .await
        .is_empty(),
        "keys are exact"
    );
    assert_eq!(
        list(pb::ListCustomersRequest {
            subject_key: "acme-us".into(),
            ..Default::default()
        })
        .await,
        vec![acme.id.clone()]
    );
    assert_eq!(
        list(pb::ListCustomersRequest {
            primary_email: "billing@acme.EXAMPLE".into(),
            ..Default::default()
        })
        .await,
        vec![acme.id.clone()]
    );
    assert_eq!(
        list(pb::ListCustomersRequest {
            name: "AC".into(),
            ..Default::default()
        })
        .await,
        [acme.id.clone(), acorn.id.clone()]
    );
    assert_eq!(
        list(pb::ListCustomersRequest {
            name: "acorn".into(),
            ..Default::default()
        })
        .await,
        vec![acorn.id.clone()]
    );
    assert!(
        list(pb::ListCustomersRequest {
            name: "acme inc".into(),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        list(pb::ListCustomersRequest {
            name: "a".into(),
            key: "acorn".into(),
            ..Default::default()
        })
        .await,
        vec![acorn.id.clone()],
        "filters combine with AND"
    );

    app.customers
        .clone()
        .delete_customer(pb::DeleteCustomerRequest {
            lookup: Some(pb::delete_customer_request::Lookup::Id(acme.id.clone())),
            etag: String::new(),
        })
        .await
        .expect("delete");
    assert!(
        list(pb::ListCustomersRequest {
            key: "acme".into(),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    assert!(
        list(pb::ListCustomersRequest {
            subject_key: "acme-us".into(),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        list(pb::ListCustomersRequest {
            key: "acme".into(),
            show_deleted: true,
            ..Default::default()
        })
        .await,
        vec![acme.id.clone()]
    );
    let everyone: BTreeSet<String> = list(pb::ListCustomersRequest {
        show_deleted: true,
        ..Default::default()
    })
    .await
    .into_iter()
    .collect();
    assert_eq!(everyone.len(), 3);
    assert_eq!(list(pb::ListCustomersRequest::default()).await.len(), 2);
}

async fn bad_list_arguments_are_invalid(app: TestApp) {
    seed(&app, 5).await;
    let mut client = app.customers.clone();
    let status = client
        .list_customers(pb::ListCustomersRequest {
            page_size: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["page_size"]);
    let status = client
        .list_customers(pb::ListCustomersRequest {
            order_by: "email".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["order_by"]);
    let status = client
        .list_customers(pb::ListCustomersRequest {
            page_token: "not-a-token".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["page_token"]);

    let page = client
        .list_customers(pb::ListCustomersRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .expect("page")
        .into_inner();
    assert!(!page.next_page_token.is_empty());
    for other in [
        pb::ListCustomersRequest {
            order_by: "id".into(),
            ..Default::default()
        },
        pb::ListCustomersRequest {
            name: "c".into(),
            ..Default::default()
        },
        pb::ListCustomersRequest {
            show_deleted: true,
            ..Default::default()
        },
    ] {
        let status = client
            .list_customers(pb::ListCustomersRequest {
                page_size: 2,
                page_token: page.next_page_token.clone(),
                ..other
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["page_token"]);
        assert_error(&status, Code::InvalidArgument, "INVALID_ARGUMENT");
    }
    // The same query with another page size may continue.
    let next = client
        .list_customers(pb::ListCustomersRequest {
            page_size: 3,
            page_token: page.next_page_token,
            ..Default::default()
        })
        .await
        .expect("continue");
    assert_eq!(next.into_inner().customers.len(), 3);
}

on_both_databases!(
    pages_cover_every_customer_once_in_every_order,
    filters_select_by_key_subject_email_and_name_prefix,
    bad_list_arguments_are_invalid,
);

/// The default list's query, as the planner sees it.
const FIRST_PAGE: &str = "SELECT * FROM customers WHERE namespace = 'default' AND deleted_at IS NULL \
                          ORDER BY name, id LIMIT 101";

/// A table filled in bulk right after it was created has no statistics yet; the first page of the
/// default list must still be read from an index in order, not by sorting the whole namespace
/// (on PostgreSQL patron analyzes a table that changed that much; the live-customer indexes match
/// the list's own predicate).
async fn a_freshly_filled_table_serves_the_first_page_from_an_index(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
         INSERT INTO customers (id, namespace, key, name, name_lower, metadata, subject_keys, \
         created_at, updated_at, etag) \
         SELECT 'B' || CAST(100000 + i AS TEXT), 'default', 'bulk-' || CAST(i AS TEXT), \
         'Bulk ' || CAST((i * 7919) % 3001 AS TEXT) || '-' || CAST(i AS TEXT), \
         'bulk ' || CAST((i * 7919) % 3001 AS TEXT) || '-' || CAST(i AS TEXT), '{}', '[]', i, i, 'e' \
         FROM n",
    )
    .await;
    let plan = if backend == Backend::Postgres {
        let store = Store::connect(&app.database_url, &PoolSettings::default())
            .await
            .expect("connect");
        // The server's own job (every 5 s) may have come first; either way it is analyzed once.
        store.refresh_statistics().await.expect("refresh");
        let again = store.refresh_statistics().await.expect("refresh");
        assert!(
            !again.iter().any(|t| t == "customers"),
            "analyzed once: {again:?}"
        );
        store.close().await;
        app.query(&format!("EXPLAIN {FIRST_PAGE}")).await
    } else {
        app.query(&format!("EXPLAIN QUERY PLAN {FIRST_PAGE}")).await
    };
    let plan: Vec<String> = plan.into_iter().flatten().flatten().collect();
    assert!(
        !plan
            .iter()
            .any(|l| l.contains("Sort") || l.contains("TEMP B-TREE")),
        "the first page sorts: {plan:#?}"
    );
    let page = app
        .customers
        .clone()
        .list_customers(pb::ListCustomersRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    let names: Vec<&str> = page.customers.iter().map(|c| c.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names.len(), 100);
    assert_eq!(names, sorted);
}

on_both_databases!(backend: a_freshly_filled_table_serves_the_first_page_from_an_index);
