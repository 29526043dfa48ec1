//! Replicas: several patron processes started at the same moment on one empty PostgreSQL
//! database, each migrating at start, all come up and serve.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use patron::grpc::pb;
use patron::grpc::pb::customer_service_client::CustomerServiceClient;
use sea_orm::{ConnectionTrait, Database};
use tonic::transport::Channel;

use crate::helpers::{customer, postgres_admin_url};

/// How many processes start together, and how many times.
const REPLICAS: usize = 4;
const ROUNDS: usize = 3;
/// The longest a process may take to announce its gRPC address.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running patron process; killed when dropped.
struct Replica {
    child: Child,
    started: mpsc::Receiver<Result<String, String>>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh database, dropped (after the replicas on it are killed) even when the test fails.
struct FreshDatabase {
    admin_url: String,
    name: String,
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop cannot await: a runtime of its own on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

fn database_url(admin_url: &str, database: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    format!("{server}/{database}{query}")
}

/// Starts `patron serve` on `url`; its stderr is read on a thread that reports the bound gRPC
/// address (or everything it logged if it exits first) and then keeps draining the pipe.
fn start(url: &str) -> Replica {
    let mut child = Command::new(env!("CARGO_BIN_EXE_patron"))
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--database-url",
            url,
        ])
        .env("PATRON_LOG_FORMAT", "json")
        .env("PATRON_LOG", "info")
        .env(
            "PATRON_SECRET_KEY",
            "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
        )
        .env_remove("DATABASE_URL")
        .env_remove("PATRON_DATABASE_URL")
        .env_remove("PATRON_MIGRATE_AT_START")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn patron");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, started) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut reported = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if reported {
                continue;
            }
            let addr = serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .and_then(|json| json.get("grpc_addr")?.as_str().map(str::to_owned));
            match addr {
                Some(addr) => {
                    let _ = tx.send(Ok(addr));
                    reported = true;
                }
                None => seen.push(line),
            }
        }
        if !reported {
            let _ = tx.send(Err(seen.join("\n")));
        }
    });
    Replica { child, started }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_on_an_empty_postgres_database_all_come_up() {
    let admin_url = postgres_admin_url();
    let admin = Database::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is required at {admin_url}: {e}"));
    for round in 0..ROUNDS {
        let name = format!(
            "patron_test_{}",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let url = database_url(&admin_url, &name);
        let _database = FreshDatabase {
            admin_url: admin_url.clone(),
            name,
        };
        // All at once, on a database without even the migrations table.
        let replicas: Vec<Replica> = (0..REPLICAS).map(|_| start(&url)).collect();
        let mut addrs = Vec::with_capacity(REPLICAS);
        for (i, replica) in replicas.iter().enumerate() {
            match replica.started.recv_timeout(START_TIMEOUT) {
                Ok(Ok(addr)) => addrs.push(addr),
                Ok(Err(log)) => {
                    panic!("round {round}: replica {i} exited before listening:\n{log}")
                }
                Err(e) => panic!("round {round}: replica {i} did not listen in time: {e}"),
            }
        }
        // Each serves a call that touches the shared database; the others see its write.
        let mut ids = Vec::new();
        for (i, addr) in addrs.iter().enumerate() {
            let channel = Channel::from_shared(format!("http://{addr}"))
                .expect("uri")
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(10))
                .connect()
                .await
                .expect("connect to a replica");
            let created = CustomerServiceClient::new(channel)
                .create_customer(pb::CreateCustomerRequest {
                    customer: Some(customer("Replica", &format!("replica-{round}-{i}"))),
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|e| panic!("round {round}: replica {i} serves: {e:?}"))
                .into_inner();
            ids.push(created.id);
        }
        let channel = Channel::from_shared(format!("http://{}", addrs[0]))
            .expect("uri")
            .timeout(Duration::from_secs(10))
            .connect()
            .await
            .expect("connect");
        let mut first = CustomerServiceClient::new(channel);
        for id in &ids {
            first
                .get_customer(pb::GetCustomerRequest {
                    lookup: Some(pb::get_customer_request::Lookup::Id(id.clone())),
                })
                .await
                .expect("one database behind every replica");
        }
        drop(first);
        drop(replicas);
    }
    let _ = admin.close().await;
}
