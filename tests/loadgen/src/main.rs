//! `patron-load`: a load generator for patron over real gRPC, a no-op tonic server (the ceiling
//! of the machine, built with the same tonic/prost stack), data-set builders and a start-up timer.
//! See BENCHMARKS.md for how it is used. Not part of CI.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use patron::grpc::pb;
use pb::cloud_event::CloudEventAttributeValue;
use pb::cloud_event::cloud_event_attribute_value::Attr;
use pb::customer_service_client::CustomerServiceClient;
use pb::customer_service_server::{CustomerService, CustomerServiceServer};
use pb::event_service_client::EventServiceClient;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, Database, TransactionTrait};
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

/// mimalloc, as patron itself uses: the client's many small allocations per call should cost
/// what the server's do.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "patron-load",
    about = "Load generator and data-set builders for patron"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// A no-op CustomerService (fixed answers, no storage): the ceiling of the machine.
    NoopServer {
        #[arg(long, default_value = "127.0.0.1:50061")]
        addr: SocketAddr,
        /// Answer each GetCustomer only after this many microseconds (a timer), so that the
        /// no-op can be measured at a call rate like a database-bound server's.
        #[arg(long, default_value_t = 0)]
        get_delay_us: u64,
    },
    /// Creates N customers through CreateCustomer (slow path, real API).
    Seed {
        #[arg(long)]
        grpc_addr: String,
        #[arg(long)]
        customers: u64,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
    /// Bulk-loads N customers with multi-row INSERTs into a migrated patron database.
    SeedSql {
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        customers: u64,
        /// Rows per INSERT statement.
        #[arg(long, default_value_t = 1000)]
        rows_per_insert: usize,
        #[arg(long, default_value = "default")]
        namespace: String,
        /// Customer ids `00000000000000000000000001`, `...02`, ... (26 digits, valid ULIDs)
        /// instead of random ULIDs, so pgbench can pick one at random by number.
        #[arg(long)]
        numeric_ids: bool,
    },
    /// Drives a target (and optionally the no-op ceiling) and prints a table per RPC.
    Run(RunArgs),
    /// Writes a gRPC-framed GetCustomerRequest for an existing customer of the target (one is
    /// created if there is none), the request body for `h2load -d`.
    H2loadBody {
        #[arg(long)]
        target: String,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// SQLite's own ceiling for CreateCustomer: on a database migrated by patron, with patron's
    /// settings (WAL, synchronous=NORMAL, one writer connection), `--concurrency` tasks each run
    /// CreateCustomer's statements (the customer row and its key's claim) in their own
    /// `BEGIN IMMEDIATE` ... `COMMIT`, for `--duration` seconds; prints commits per second.
    SqliteCeiling {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Creates per transaction (1: a commit per create, as patron does today; more: what a
        /// group commit could reach).
        #[arg(long, default_value_t = 1)]
        per_commit: usize,
    },
    /// Spawns `patron serve` and times start to health SERVING; then reads idle RSS.
    Startup {
        /// The patron binary.
        #[arg(long, default_value = "target/release/patron")]
        patron_bin: String,
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        #[arg(long, default_value = "127.0.0.1:50071")]
        grpc_addr: String,
    },
}

#[derive(Parser, Clone)]
struct RunArgs {
    /// patron's gRPC address (host:port).
    #[arg(long)]
    target: String,
    /// The no-op server's address, or `spawn` to start `patron-load noop-server` as a child.
    #[arg(long)]
    ceiling: Option<String>,
    /// With `--ceiling spawn`: the no-op answers each GetCustomer after a timer of this many
    /// microseconds (at least one tick of tokio's 1 ms timer), so that its CPU per call is
    /// measured at a rate and latency like a database-bound server's rather than at its own
    /// fastest.
    #[arg(long, default_value_t = 0)]
    ceiling_get_delay_us: u64,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// HTTP/2 connections shared by the clients.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Measured seconds (at most 30).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Weights: get, create, list, ingest.
    #[arg(long, default_value = "get=80,create=10,list=10,ingest=0")]
    mix: String,
    /// Page size of ListCustomers.
    #[arg(long, default_value_t = 100)]
    list_page_size: i32,
    /// Events per IngestEvents batch.
    #[arg(long, default_value_t = 1000)]
    ingest_batch: usize,
    /// Send a request_id with every CreateCustomer (idempotency record written too).
    #[arg(long)]
    create_request_id: bool,
    /// The server's pid, for VmRSS / VmHWM from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Customers GetCustomer picks from (collected via ListCustomers, created if missing).
    #[arg(long, default_value_t = 1000)]
    get_pool: usize,
    /// Make exactly this many calls (no warm-up, every call recorded) instead of running for
    /// `--duration`: a fixed amount of work, e.g. for a server under `valgrind --tool=callgrind`.
    #[arg(long)]
    calls: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Rpc {
    Get,
    Create,
    List,
    Ingest,
}

impl Rpc {
    const ALL: [Rpc; 4] = [Rpc::Get, Rpc::Create, Rpc::List, Rpc::Ingest];
    fn name(self) -> &'static str {
        match self {
            Rpc::Get => "GetCustomer",
            Rpc::Create => "CreateCustomer",
            Rpc::List => "ListCustomers",
            Rpc::Ingest => "IngestEvents",
        }
    }
}

fn parse_mix(s: &str) -> Result<Vec<(Rpc, u32)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or(format!("bad mix part {part:?}"))?;
        let w: u32 = v.trim().parse().map_err(|e| format!("{part}: {e}"))?;
        let rpc = match k.trim() {
            "get" => Rpc::Get,
            "create" => Rpc::Create,
            "list" => Rpc::List,
            "ingest" => Rpc::Ingest,
            other => return Err(format!("unknown rpc {other:?}")),
        };
        if w > 0 {
            out.push((rpc, w));
        }
    }
    if out.is_empty() {
        return Err("empty mix".into());
    }
    Ok(out)
}

// ---------------------------------------------------------------- no-op server

fn fixed_customer(i: usize) -> pb::Customer {
    pb::Customer {
        id: "01JCEILING00000000000000000".into(),
        key: format!("ceiling-{i}"),
        name: "Ceiling, Inc.".into(),
        description: String::new(),
        metadata: HashMap::new(),
        usage_attribution: Some(pb::CustomerUsageAttribution {
            subject_keys: vec![],
        }),
        primary_email: "ceiling@example.com".into(),
        currency: "USD".into(),
        billing_address: None,
        created_at: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        updated_at: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        deleted_at: None,
        etag: "ceiling".into(),
    }
}

struct Noop {
    one: pb::Customer,
    page: Vec<pb::Customer>,
    get_delay: Option<Duration>,
}

#[tonic::async_trait]
impl CustomerService for Noop {
    async fn create_customer(
        &self,
        _r: Request<pb::CreateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        Ok(Response::new(self.one.clone()))
    }
    async fn get_customer(
        &self,
        _r: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        if let Some(delay) = self.get_delay {
            tokio::time::sleep(delay).await;
        }
        Ok(Response::new(self.one.clone()))
    }
    async fn list_customers(
        &self,
        r: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let n = (r.get_ref().page_size.max(1) as usize).min(self.page.len());
        Ok(Response::new(pb::ListCustomersResponse {
            customers: self.page[..n].to_vec(),
            next_page_token: String::new(),
        }))
    }
    async fn update_customer(
        &self,
        _r: Request<pb::UpdateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        Err(Status::unimplemented("no-op"))
    }
    async fn delete_customer(
        &self,
        _r: Request<pb::DeleteCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        Err(Status::unimplemented("no-op"))
    }
}

async fn noop_server(
    addr: SocketAddr,
    get_delay_us: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let svc = Noop {
        one: fixed_customer(0),
        page: (0..1000).map(fixed_customer).collect(),
        get_delay: (get_delay_us > 0).then(|| Duration::from_micros(get_delay_us)),
    };
    eprintln!("no-op CustomerService on {addr}");
    tonic::transport::Server::builder()
        .add_service(CustomerServiceServer::new(svc))
        .serve(addr)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------- seeding

async fn connect(addr: &str) -> Result<Channel, tonic::transport::Error> {
    let uri = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    };
    Endpoint::from_shared(uri)?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
}

/// One HTTP/2 connection used directly, as h2load does: a call goes from its task to the
/// connection's task, with no `tonic::transport::Channel` in between (its buffer is one more task
/// and wake-up per call, which the measured calls should not pay: the client shares the CPUs with
/// the server under test).
#[derive(Clone)]
struct H2(hyper::client::conn::http2::SendRequest<tonic::body::Body>);

type H2Future = Pin<
    Box<dyn Future<Output = Result<http::Response<hyper::body::Incoming>, hyper::Error>> + Send>,
>;

impl tower_service::Service<http::Request<tonic::body::Body>> for H2 {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = hyper::Error;
    type Future = H2Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), hyper::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> H2Future {
        Box::pin(self.0.send_request(request))
    }
}

/// An HTTP/2 connection to `addr` (host:port), `TCP_NODELAY` on, within the 5 s `connect` allows;
/// its task runs on the runtime.
async fn connect_h2(addr: &str) -> Result<(H2, http::Uri), Box<dyn std::error::Error>> {
    let authority = addr.trim_start_matches("http://");
    let stream = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(authority),
    )
    .await
    .map_err(|_| format!("connecting to {authority} took more than 5 s"))??;
    stream.set_nodelay(true)?;
    let (send, connection) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .handshake(hyper_util::rt::TokioIo::new(stream))
            .await?;
    tokio::spawn(connection);
    Ok((H2(send), format!("http://{authority}").parse()?))
}

fn new_customer(tag: &str) -> pb::Customer {
    let u = ulid::Ulid::new().to_string().to_lowercase();
    pb::Customer {
        key: format!("{tag}-{u}"),
        name: format!("Load {u}"),
        currency: "USD".into(),
        primary_email: format!("{u}@example.com"),
        ..Default::default()
    }
}

async fn seed_grpc(addr: &str, n: u64, conc: usize) -> Result<(), Box<dyn std::error::Error>> {
    let ch = connect(addr).await?;
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let mut c = CustomerServiceClient::new(ch.clone());
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let req = pb::CreateCustomerRequest {
                    customer: Some(new_customer("seed")),
                    request_id: String::new(),
                };
                if let Err(e) = c.create_customer(req).await {
                    eprintln!("create: {e}");
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    eprintln!(
        "seeded {n} customers via gRPC in {:.1}s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn seed_sql(
    url: &str,
    n: u64,
    per: usize,
    ns: &str,
    numeric_ids: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let db = Database::connect(url).await?;
    let start = Instant::now();
    let now_us = SystemTime::now().duration_since(UNIX_EPOCH)?.as_micros() as i64;
    let mut done = 0u64;
    let mut idgen = ulid::Generator::new();
    while done < n {
        let k = (per as u64).min(n - done) as usize;
        let mut cust = String::with_capacity(k * 260);
        let mut ids = String::with_capacity(k * 120);
        cust.push_str(
            "INSERT INTO customers (id, namespace, key, name, name_lower, description, metadata, \
             subject_keys, primary_email, primary_email_lower, currency, created_at, updated_at, \
             deleted_at, etag) VALUES ",
        );
        ids.push_str(
            "INSERT INTO attribution_identifiers (id, namespace, identifier, customer_id, \
             valid_from, valid_to) VALUES ",
        );
        for j in 0..k {
            let i = done + j as u64;
            let id = if numeric_ids {
                format!("{:026}", i + 1)
            } else {
                idgen.generate()?.to_string()
            };
            let aid = idgen.generate()?.to_string();
            let ts = now_us + i as i64;
            // Names in random order relative to ids and keys, as real data would be.
            let r: u32 = rand::rng().random();
            let name = format!("Customer {r:08x} {i:07}");
            let email = format!("c{i}@example.com");
            if j > 0 {
                cust.push(',');
                ids.push(',');
            }
            cust.push_str(&format!(
                "('{id}','{ns}','bulk-{i}','{name}','{}',NULL,'{{}}','[]','{email}','{email}','USD',{ts},{ts},NULL,'{}')",
                name.to_lowercase(),
                ulid::Ulid::new()
            ));
            ids.push_str(&format!("('{aid}','{ns}','bulk-{i}','{id}',{ts},NULL)"));
        }
        let txn = db.begin().await?;
        txn.execute_unprepared(&cust).await?;
        txn.execute_unprepared(&ids).await?;
        txn.commit().await?;
        done += k as u64;
        if done.is_multiple_of(100_000) || done == n {
            eprintln!("{done}/{n} rows, {:.1}s", start.elapsed().as_secs_f64());
        }
    }
    if url.starts_with("postgres") {
        db.execute_unprepared("ANALYZE customers").await?;
        db.execute_unprepared("ANALYZE attribution_identifiers")
            .await?;
    } else {
        db.execute_unprepared("ANALYZE").await?;
    }
    eprintln!(
        "bulk-loaded {n} customers in {:.1}s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------- load

#[derive(Default)]
struct Stats {
    lat_us: HashMap<Rpc, Vec<u32>>,
    errors: HashMap<Rpc, u64>,
    first_errors: Vec<String>,
}

impl Stats {
    fn merge(&mut self, o: Stats) {
        for (k, mut v) in o.lat_us {
            self.lat_us.entry(k).or_default().append(&mut v);
        }
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for e in o.first_errors {
            if self.first_errors.len() < 5 {
                self.first_errors.push(e);
            }
        }
    }
}

struct Row {
    count: u64,
    rps: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    errors: u64,
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx] as f64 / 1000.0
}

fn rows(stats: &mut Stats, secs: f64) -> HashMap<Rpc, Row> {
    let mut out = HashMap::new();
    for rpc in Rpc::ALL {
        let errors = stats.errors.get(&rpc).copied().unwrap_or(0);
        let v = stats.lat_us.entry(rpc).or_default();
        if v.is_empty() && errors == 0 {
            continue;
        }
        v.sort_unstable();
        out.insert(
            rpc,
            Row {
                count: v.len() as u64,
                rps: v.len() as f64 / secs,
                p50: pct(v, 0.50),
                p99: pct(v, 0.99),
                p999: pct(v, 0.999),
                errors,
            },
        );
    }
    out
}

fn proc_status(pid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn event_batch(n: usize, run: &str, seq: &mut u64) -> pb::IngestEventsRequest {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let ts = prost_types::Timestamp {
        seconds: now.as_secs() as i64,
        nanos: 0,
    };
    let events = (0..n)
        .map(|_| {
            *seq += 1;
            let mut attributes = HashMap::new();
            attributes.insert(
                "time".to_owned(),
                CloudEventAttributeValue {
                    attr: Some(Attr::CeTimestamp(ts)),
                },
            );
            attributes.insert(
                "subject".to_owned(),
                CloudEventAttributeValue {
                    attr: Some(Attr::CeString(format!("lg-subject-{}", *seq % 100))),
                },
            );
            pb::CloudEvent {
                id: format!("{run}-{}", *seq),
                source: "patron-load".into(),
                spec_version: "1.0".into(),
                r#type: "api-calls".into(),
                attributes,
                data: Some(pb::cloud_event::Data::TextData(r#"{"tokens":12}"#.into())),
            }
        })
        .collect();
    pb::IngestEventsRequest { events }
}

async fn h2load_body(
    target: &str,
    out: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    use prost::Message;
    let ch = Endpoint::from_shared(format!("http://{target}"))?
        .connect()
        .await?;
    let id = collect_ids(&ch, 1, false)
        .await
        .into_iter()
        .next()
        .ok_or("no customer to read")?;
    let request = pb::GetCustomerRequest {
        lookup: Some(pb::get_customer_request::Lookup::Id(id.clone())),
    };
    let message = request.encode_to_vec();
    // gRPC message framing: uncompressed flag, big-endian length, message.
    let mut body = vec![0u8];
    body.extend_from_slice(&u32::try_from(message.len())?.to_be_bytes());
    body.extend_from_slice(&message);
    std::fs::write(out, body)?;
    eprintln!("GetCustomer {id} -> {}", out.display());
    Ok(())
}

async fn collect_ids(ch: &Channel, want: usize, is_ceiling: bool) -> Vec<String> {
    if is_ceiling {
        return vec!["01JCEILING00000000000000000".into()];
    }
    let mut c = CustomerServiceClient::new(ch.clone());
    let mut ids = Vec::new();
    let mut token = String::new();
    while ids.len() < want {
        let r = match c
            .list_customers(pb::ListCustomersRequest {
                page_size: 100,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
        {
            Ok(r) => r.into_inner(),
            Err(e) => {
                eprintln!("collect ids: {e}");
                break;
            }
        };
        ids.extend(r.customers.into_iter().map(|c| c.id));
        if r.next_page_token.is_empty() {
            break;
        }
        token = r.next_page_token;
    }
    while ids.len() < want.min(200) {
        match c
            .create_customer(pb::CreateCustomerRequest {
                customer: Some(new_customer("pool")),
                request_id: String::new(),
            })
            .await
        {
            Ok(r) => ids.push(r.into_inner().id),
            Err(e) => {
                eprintln!("create pool customer: {e}");
                break;
            }
        }
    }
    ids.truncate(want);
    ids
}

struct PhaseResult {
    rows: HashMap<Rpc, Row>,
    rss_before_kb: Option<u64>,
    rss_after_kb: Option<u64>,
    hwm_kb: Option<u64>,
    cpu_s: Option<f64>,
    first_errors: Vec<String>,
}

async fn phase(
    label: &str,
    addr: &str,
    a: &RunArgs,
    mix: &[(Rpc, u32)],
    pid: Option<u32>,
    is_ceiling: bool,
) -> Result<PhaseResult, Box<dyn std::error::Error>> {
    let mut chans = Vec::new();
    for _ in 0..a.connections.max(1) {
        chans.push(connect_h2(addr).await?);
    }
    let ids = Arc::new(collect_ids(&connect(addr).await?, a.get_pool, is_ceiling).await);
    if ids.is_empty() && mix.iter().any(|(r, _)| *r == Rpc::Get) {
        return Err(format!("{label}: no customers to get").into());
    }
    let rss_before = pid.and_then(proc_status).map(|s| s.0);
    let total: u32 = mix.iter().map(|m| m.1).sum();
    let mix: Arc<Vec<(Rpc, u32)>> = Arc::new(mix.to_vec());
    let recording = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let run_tag = ulid::Ulid::new().to_string().to_lowercase();
    // With --calls: tickets, one per call; the run ends when they are gone.
    let tickets = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let fixed = a.calls;
    if fixed.is_some() {
        recording.store(true, Ordering::Relaxed);
    }
    let cpu_fixed0 = fixed.and(pid).and_then(proc_cpu_ticks);
    let t_fixed = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..a.concurrency {
        let (ch, origin) = chans[w % chans.len()].clone();
        let (ids, mix, recording, stop, tickets) = (
            ids.clone(),
            mix.clone(),
            recording.clone(),
            stop.clone(),
            tickets.clone(),
        );
        let a = a.clone();
        let run = format!("{run_tag}-{w}");
        tasks.push(tokio::spawn(async move {
            let mut cust = CustomerServiceClient::with_origin(ch.clone(), origin.clone());
            let mut ev = EventServiceClient::with_origin(ch, origin);
            let mut st = Stats::default();
            let mut seq = 0u64;
            let mut rng = rand::rngs::SmallRng::from_rng(&mut rand::rng());
            while !stop.load(Ordering::Relaxed) {
                if let Some(n) = fixed
                    && tickets.fetch_add(1, Ordering::Relaxed) >= n
                {
                    break;
                }
                let mut pick = rng.random_range(0..total);
                let mut rpc = mix[0].0;
                for (r, wgt) in mix.iter() {
                    if pick < *wgt {
                        rpc = *r;
                        break;
                    }
                    pick -= wgt;
                }
                // Build the request before starting the clock.
                let t0;
                let res: Result<(), Status> = match rpc {
                    Rpc::Get => {
                        let id = ids[rng.random_range(0..ids.len())].clone();
                        let req = pb::GetCustomerRequest {
                            lookup: Some(pb::get_customer_request::Lookup::Id(id)),
                        };
                        t0 = Instant::now();
                        cust.get_customer(req).await.map(|_| ())
                    }
                    Rpc::Create => {
                        let req = pb::CreateCustomerRequest {
                            customer: Some(new_customer("lg")),
                            request_id: if a.create_request_id {
                                ulid::Ulid::new().to_string()
                            } else {
                                String::new()
                            },
                        };
                        t0 = Instant::now();
                        cust.create_customer(req).await.map(|_| ())
                    }
                    Rpc::List => {
                        let req = pb::ListCustomersRequest {
                            page_size: a.list_page_size,
                            ..Default::default()
                        };
                        t0 = Instant::now();
                        cust.list_customers(req).await.map(|_| ())
                    }
                    Rpc::Ingest => {
                        let req = event_batch(a.ingest_batch, &run, &mut seq);
                        t0 = Instant::now();
                        ev.ingest_events(req).await.map(|_| ())
                    }
                };
                let us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
                if recording.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                    match res {
                        Ok(()) => st.lat_us.entry(rpc).or_default().push(us),
                        Err(e) => {
                            *st.errors.entry(rpc).or_default() += 1;
                            if st.first_errors.len() < 2 {
                                st.first_errors.push(format!(
                                    "{}: {:?} {}",
                                    rpc.name(),
                                    e.code(),
                                    e.message()
                                ));
                            }
                        }
                    }
                }
            }
            st
        }));
    }
    let mut stats = Stats::default();
    let (secs, cpu0, cpu1) = if fixed.is_some() {
        // The tasks end when the tickets are gone.
        for t in tasks.drain(..) {
            stats.merge(t.await?);
        }
        let cpu1 = pid.and_then(proc_cpu_ticks);
        (t_fixed.elapsed().as_secs_f64(), cpu_fixed0, cpu1)
    } else {
        tokio::time::sleep(Duration::from_secs(a.warmup)).await;
        let cpu0 = pid.and_then(proc_cpu_ticks);
        recording.store(true, Ordering::Relaxed);
        let t = Instant::now();
        tokio::time::sleep(Duration::from_secs(a.duration)).await;
        stop.store(true, Ordering::Relaxed);
        let secs = t.elapsed().as_secs_f64();
        (secs, cpu0, pid.and_then(proc_cpu_ticks))
    };
    for t in tasks {
        stats.merge(t.await?);
    }
    let status = pid.and_then(proc_status);
    Ok(PhaseResult {
        rows: rows(&mut stats, secs),
        rss_before_kb: rss_before,
        rss_after_kb: status.map(|s| s.0),
        hwm_kb: status.map(|s| s.1),
        cpu_s: cpu_seconds(cpu0, cpu1),
        first_errors: stats.first_errors,
    })
}

/// CPU seconds between two readings of utime+stime ticks.
fn cpu_seconds(before: Option<u64>, after: Option<u64>) -> Option<f64> {
    match (before, after) {
        (Some(a), Some(b)) => Some((b - a) as f64 / 100.0), // USER_HZ is 100 on Linux
        _ => None,
    }
}

/// CPU microseconds per answered or failed call of a phase.
fn cpu_per_call_us(p: &PhaseResult) -> Option<f64> {
    let calls: u64 = p.rows.values().map(|r| r.count + r.errors).sum();
    p.cpu_s
        .filter(|_| calls > 0)
        .map(|s| s * 1e6 / calls as f64)
}

fn mb(kb: Option<u64>) -> String {
    kb.map(|k| format!("{:.1} MB", k as f64 / 1024.0))
        .unwrap_or_else(|| "-".into())
}

async fn run(a: RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    if a.duration > 30 {
        return Err("--duration is bounded to 30 s".into());
    }
    let mix = parse_mix(&a.mix)?;
    let mut child = None;
    let ceiling_addr = match a.ceiling.as_deref() {
        Some("spawn") => {
            let addr = "127.0.0.1:50061";
            let delay = a.ceiling_get_delay_us.to_string();
            let c = tokio::process::Command::new(std::env::current_exe()?)
                .args(["noop-server", "--addr", addr, "--get-delay-us", &delay])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            child = Some(c);
            Some(addr.to_owned())
        }
        Some(x) => Some(x.to_owned()),
        None => None,
    };
    println!(
        "patron-load run: target={} ceiling={} concurrency={} connections={} warmup={}s duration={}s mix={}",
        a.target,
        ceiling_addr.as_deref().unwrap_or("-"),
        a.concurrency,
        a.connections,
        a.warmup,
        a.duration,
        a.mix
    );
    let target = phase("target", &a.target, &a, &mix, a.server_pid, false).await?;
    let ceiling = match &ceiling_addr {
        Some(addr) => {
            // The no-op server serves CustomerService only; IngestEvents has no ceiling.
            let cmix: Vec<_> = mix
                .iter()
                .copied()
                .filter(|(r, _)| *r != Rpc::Ingest)
                .collect();
            if cmix.is_empty() {
                None
            } else {
                let pid = child.as_ref().and_then(|c| c.id());
                Some(phase("ceiling", addr, &a, &cmix, pid, true).await?)
            }
        }
        None => None,
    };
    println!();
    println!(
        "{:<15} {:>9} {:>10} {:>9} {:>9} {:>9} {:>7} | {:>10} {:>9} {:>9} {:>7}",
        "rpc",
        "count",
        "rps",
        "p50 ms",
        "p99 ms",
        "p999 ms",
        "errors",
        "noop rps",
        "noop p50",
        "noop p99",
        "ratio"
    );
    for rpc in Rpc::ALL {
        let Some(r) = target.rows.get(&rpc) else {
            continue;
        };
        let c = ceiling.as_ref().and_then(|c| c.rows.get(&rpc));
        let extra = if rpc == Rpc::Ingest {
            format!("  ({:.0} events/s)", r.rps * a.ingest_batch as f64)
        } else {
            String::new()
        };
        println!(
            "{:<15} {:>9} {:>10.1} {:>9.3} {:>9.3} {:>9.3} {:>7} | {:>10} {:>9} {:>9} {:>7}{}",
            rpc.name(),
            r.count,
            r.rps,
            r.p50,
            r.p99,
            r.p999,
            r.errors,
            c.map(|c| format!("{:.1}", c.rps)).unwrap_or("-".into()),
            c.map(|c| format!("{:.3}", c.p50)).unwrap_or("-".into()),
            c.map(|c| format!("{:.3}", c.p99)).unwrap_or("-".into()),
            c.map(|c| format!("{:.1}%", 100.0 * r.rps / c.rps))
                .unwrap_or("-".into()),
            extra
        );
    }
    let total_rps: f64 = target.rows.values().map(|r| r.rps).sum();
    println!("total target rps: {total_rps:.1}");
    if let Some(c) = &ceiling {
        let crps: f64 = c.rows.values().map(|r| r.rps).sum();
        println!("total no-op rps:  {crps:.1}  (same mix without ingest)");
        println!("no-op server: VmHWM {} ; cpu {:?} s", mb(c.hwm_kb), c.cpu_s);
    }
    if a.server_pid.is_some() {
        println!(
            "target server: VmRSS before {} ; VmRSS after {} ; VmHWM (peak) {} ; cpu during measurement {:?} s of {} s wall",
            mb(target.rss_before_kb),
            mb(target.rss_after_kb),
            mb(target.hwm_kb),
            target.cpu_s,
            a.duration
        );
    }
    let per_call = |p: &PhaseResult| {
        cpu_per_call_us(p)
            .map(|us| format!("{us:.1} us"))
            .unwrap_or_else(|| "-".into())
    };
    let ratio = match (
        cpu_per_call_us(&target),
        ceiling.as_ref().and_then(cpu_per_call_us),
    ) {
        (Some(t), Some(c)) if c > 0.0 => format!(" ({:.2}x)", t / c),
        _ => String::new(),
    };
    println!(
        "cpu per call: target {} ; no-op {}{ratio}",
        per_call(&target),
        ceiling.as_ref().map(per_call).unwrap_or_else(|| "-".into())
    );
    for e in target
        .first_errors
        .iter()
        .chain(ceiling.iter().flat_map(|c| c.first_errors.iter()))
    {
        println!("error sample: {e}");
    }
    drop(child);
    Ok(())
}

// ---------------------------------------------------------------- SQLite ceiling

async fn sqlite_ceiling(
    url: &str,
    concurrency: usize,
    duration: u64,
    per_commit: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    use sea_orm::sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    if duration > 30 {
        return Err("--duration is bounded to 30 s".into());
    }
    let options: SqliteConnectOptions = url.parse()?;
    let options = options
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (pool, stop) = (pool.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut commits = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                for _ in 0..per_commit.max(1) {
                    let id = ulid::Ulid::new().to_string();
                    let u = id.to_lowercase();
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_micros() as i64)
                        .unwrap_or_default();
                    let key = format!("sc-{u}");
                    sea_orm::sqlx::query(
                        "INSERT INTO customers (id, namespace, key, name, name_lower, description, \
                     metadata, subject_keys, primary_email, primary_email_lower, currency, \
                     billing_country, billing_postal_code, billing_state, billing_city, \
                     billing_line1, billing_line2, billing_phone_number, created_at, updated_at, \
                     deleted_at, etag) VALUES ($1, 'default', $2, $3, $4, NULL, '{}', '[]', $5, \
                     $5, 'USD', NULL, NULL, NULL, NULL, NULL, NULL, NULL, $6, $6, NULL, $7)",
                    )
                    .bind(&id)
                    .bind(&key)
                    .bind(format!("Load {u}"))
                    .bind(format!("load {u}"))
                    .bind(format!("{u}@example.com"))
                    .bind(now)
                    .bind(ulid::Ulid::new().to_string())
                    .execute(&mut *tx)
                    .await?;
                    sea_orm::sqlx::query(
                    "INSERT INTO attribution_identifiers (id, namespace, identifier, customer_id, \
                     valid_from, valid_to) VALUES ($1, 'default', $2, $3, $4, NULL)",
                )
                .bind(ulid::Ulid::new().to_string())
                .bind(&key)
                .bind(&id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                }
                tx.commit().await?;
                commits += per_commit.max(1) as u64;
            }
            Ok::<u64, sea_orm::sqlx::Error>(commits)
        }));
    }
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(duration)).await;
    stop.store(true, Ordering::Relaxed);
    let mut commits = 0;
    for task in tasks {
        commits += task.await??;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "sqlite ceiling: {commits} creates ({per_commit} per transaction) in {secs:.1} s = {:.1} per second, {concurrency} concurrent",
        commits as f64 / secs
    );
    Ok(())
}

// ---------------------------------------------------------------- start-up

async fn startup(
    bin: &str,
    url: &str,
    repeat: usize,
    grpc: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    use tonic_health::pb::health_client::HealthClient;
    let mut times = Vec::new();
    for i in 0..repeat {
        let t0 = Instant::now();
        let mut child = tokio::process::Command::new(bin)
            .args(["serve", "--grpc-addr", grpc, "--http-addr", "127.0.0.1:0"])
            .env("DATABASE_URL", url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id();
        let serving = loop {
            if t0.elapsed() > Duration::from_secs(10) {
                break None;
            }
            if let Ok(ch) = Endpoint::from_shared(format!("http://{grpc}"))?
                .connect()
                .await
            {
                let mut h = HealthClient::new(ch);
                if let Ok(r) = h
                    .check(tonic_health::pb::HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    && r.into_inner().status == 1
                {
                    break Some(t0.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let Some(t) = serving else {
            return Err("server did not report SERVING within 10 s".into());
        };
        times.push(t);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let st = pid.and_then(proc_status);
        println!(
            "run {i}: start to SERVING {:.1} ms; idle VmRSS {} (VmHWM {}) 2 s after",
            t.as_secs_f64() * 1000.0,
            mb(st.map(|s| s.0)),
            mb(st.map(|s| s.1))
        );
        child.kill().await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    times.sort();
    println!(
        "start to SERVING over {repeat} runs: min {:.1} ms, median {:.1} ms, max {:.1} ms",
        times[0].as_secs_f64() * 1000.0,
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match Cli::parse().cmd {
        Cmd::NoopServer { addr, get_delay_us } => noop_server(addr, get_delay_us).await,
        Cmd::Seed {
            grpc_addr,
            customers,
            concurrency,
        } => seed_grpc(&grpc_addr, customers, concurrency).await,
        Cmd::SeedSql {
            database_url,
            customers,
            rows_per_insert,
            namespace,
            numeric_ids,
        } => {
            seed_sql(
                &database_url,
                customers,
                rows_per_insert,
                &namespace,
                numeric_ids,
            )
            .await
        }
        Cmd::Run(a) => run(a).await,
        Cmd::H2loadBody { target, out } => h2load_body(&target, &out).await,
        Cmd::SqliteCeiling {
            database_url,
            concurrency,
            duration,
            per_commit,
        } => sqlite_ceiling(&database_url, concurrency, duration, per_commit).await,
        Cmd::Startup {
            patron_bin,
            database_url,
            repeat,
            grpc_addr,
        } => startup(&patron_bin, &database_url, repeat, &grpc_addr).await,
    }
}
