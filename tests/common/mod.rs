//! The backends every conformance test runs against, and unique table names
//! so tests run in parallel.
//!
//! - `embedded`: dynoxide in process.
//! - `http`: the `dynamodb` backend (aws-sdk-dynamodb) speaking HTTP to a
//!   dynoxide server started inside this test process on 127.0.0.1.
//! - `endpoint`: the `dynamodb` backend against `DYSTORE_TEST_ENDPOINT`
//!   (credentials and region from the usual AWS variables); these tests are
//!   ignored unless run with `--ignored`, and fail if the variable is unset.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

pub mod legacy;
pub mod recorder;

use aws_sdk_dynamodb::config::Credentials;
use dystore::{Client, Store};
use std::net::SocketAddr;
use std::sync::OnceLock;

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Embedded,
    Http,
    Endpoint,
}

/// The in-process dynoxide server, started once per test binary on its own
/// thread and runtime (each `#[tokio::test]` has a runtime that ends with it).
pub fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        listener.set_nonblocking(true).expect("non-blocking listener");
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("server runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let db = dynoxide::Database::memory().expect("dynoxide memory database");
                dynoxide::server::serve_on(listener, db).await;
            });
        });
        addr
    })
}

/// aws-config for `endpoint`; for the in-process server, a fixed region and
/// test credentials (an external endpoint takes the usual AWS variables).
async fn sdk_config(endpoint: &str, static_credentials: bool) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(endpoint);
    if static_credentials {
        let credentials = Credentials::new("test", "test", None, None, "dystore-tests");
        loader = loader.region(aws_config::Region::new("us-east-1")).credentials_provider(credentials);
    }
    loader.load().await
}

pub async fn network_client(endpoint: &str, static_credentials: bool) -> Client {
    Client::from_conf(&sdk_config(endpoint, static_credentials).await)
}

/// A plain aws-sdk-dynamodb client on `target`'s server, for reading what
/// was stored without going through dystore (not for the embedded engine).
pub async fn sdk(target: Target) -> aws_sdk_dynamodb::Client {
    let endpoint = match target {
        Target::Embedded => panic!("the embedded engine has no endpoint: read it through Client::backend()"),
        Target::Http => format!("http://{}", server()),
        Target::Endpoint => std::env::var("DYSTORE_TEST_ENDPOINT").expect("endpoint tests need DYSTORE_TEST_ENDPOINT"),
    };
    aws_sdk_dynamodb::Client::new(&sdk_config(&endpoint, target == Target::Http).await)
}

/// The item stored under `key` in `table`, exactly as stored: through a
/// plain aws-sdk-dynamodb client over the network, or the embedded engine
/// directly.
pub async fn stored_item(target: Target, db: &Client, table: &str, key_name: &str, key: &str) -> Option<dystore::backend::Item> {
    use aws_sdk_dynamodb::types::AttributeValue as Sdk;
    if target == Target::Embedded {
        let key = [(key_name.to_owned(), serde_dynamo::AttributeValue::S(key.to_owned()))].into();
        let get = dystore::backend::Get { table: table.to_owned(), key, projection: None, consistent: true };
        return db.backend().get(get).await.expect("get through the backend");
    }
    let out = sdk(target)
        .await
        .get_item()
        .table_name(table)
        .key(key_name, Sdk::S(key.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem through aws-sdk-dynamodb");
    out.item.map(|item| item.into_iter().map(|(k, v)| (k, v.into())).collect())
}

/// Whether two documents are equal, numbers compared by value: engines may
/// keep a number as written (`3.0`, moto) or normalise it (`3`, DynamoDB
/// and dynoxide), and both read back as the same JSON number value.
pub fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w))),
        _ => a == b,
    }
}

/// Asserts [`same_json`], showing both documents when they differ.
#[track_caller]
pub fn assert_same_json(a: &serde_json::Value, b: &serde_json::Value) {
    assert!(same_json(a, b), "documents differ (numbers compared by value):\n left: {a}\nright: {b}");
}

/// A client on `target`.
pub async fn client(target: Target) -> Client {
    match target {
        Target::Embedded => Client::memory().expect("embedded engine"),
        Target::Http => network_client(&format!("http://{}", server()), true).await,
        Target::Endpoint => {
            let endpoint = std::env::var("DYSTORE_TEST_ENDPOINT").expect("endpoint tests need DYSTORE_TEST_ENDPOINT");
            network_client(&endpoint, false).await
        }
    }
}

/// A table name unique to this test run.
pub fn table(name: &str) -> String {
    format!("{name}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// The example document layout: location (with geolocation) and
/// birth_details as shards — four items per object.
pub fn people() -> Store {
    Store::new(table("People"), "ID")
        .shard(Store::new(table("Locations"), "IDX").at("$.location").shard(Store::new(table("Geo"), "GID").at("$.geolocation")))
        .shard(Store::new(table("Births"), "BID").at("$.birth_details"))
}

/// A document for [`people`].
pub fn person() -> serde_json::Value {
    serde_json::json!({
        "firstname": "Ada",
        "lastname": "Lovelace",
        "location": {
            "city": "London",
            "country": "UK",
            "geolocation": {"lat": 51.5072, "lng": -0.1276}
        },
        "birth_details": {"hospital": "Home", "dob": "1815-12-10", "weight": 3.1}
    })
}

/// Generates one `#[tokio::test]` per backend for each listed async test
/// function taking a [`Target`].
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod embedded { $( #[tokio::test] async fn $name() { super::$name($crate::common::Target::Embedded).await } )* }
        mod http { $( #[tokio::test] async fn $name() { super::$name($crate::common::Target::Http).await } )* }
        mod endpoint { $(
            #[tokio::test]
            #[ignore = "runs against DYSTORE_TEST_ENDPOINT: cargo test -- --ignored"]
            async fn $name() { super::$name($crate::common::Target::Endpoint).await }
        )* }
    };
}
