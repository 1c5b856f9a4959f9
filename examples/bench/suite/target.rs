//! Where the bench sends its requests: the embedded engine, a dynoxide
//! server started in this process and spoken to over HTTP, or any
//! DynamoDB-compatible endpoint (as tests/common/mod.rs connects).

use super::floor::Engine;
use aws_sdk_dynamodb::config::Credentials;
use dystore::Client;
use std::net::SocketAddr;
use std::sync::OnceLock;

/// A backend to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// dynoxide in process (`Client::memory()`).
    Embedded,
    /// The aws-sdk-dynamodb backend against a dynoxide server started in
    /// this process on 127.0.0.1.
    Http,
    /// The aws-sdk-dynamodb backend against `url`; with `test_credentials`
    /// a fixed region and dummy credentials (a local server), else the
    /// usual AWS variables.
    Endpoint { url: String, test_credentials: bool },
}

impl Target {
    /// A fresh client on this target (a fresh database for `Embedded`).
    pub(crate) async fn client(&self) -> Client {
        self.connect().await.0
    }

    /// A fresh client on this target and the same engine spoken to without
    /// dystore (the floor's): the very dynoxide database the client wraps,
    /// or an aws-sdk-dynamodb client of the same configuration.
    pub(crate) async fn connect(&self) -> (Client, Engine) {
        match self {
            Target::Embedded => {
                let database = dynoxide::Database::memory().expect("the embedded engine opens");
                (Client::new(dystore::backend::Embedded::from_database(database.clone())), Engine::Embedded(database))
            }
            Target::Http => network(&format!("http://{}", server()), true).await,
            Target::Endpoint { url, test_credentials } => network(url, *test_credentials).await,
        }
    }

    /// The same target as a child process reaches it: the in-process
    /// server becomes its URL (the child holds none of the engine's memory).
    pub(crate) fn for_child(&self) -> Target {
        match self {
            Target::Http => Target::Endpoint { url: format!("http://{}", server()), test_credentials: true },
            other => other.clone(),
        }
    }

    /// A short name for tables of figures.
    pub(crate) fn name(&self) -> &str {
        match self {
            Target::Embedded => "embedded",
            Target::Http => "http",
            Target::Endpoint { test_credentials: true, .. } => "http",
            Target::Endpoint { .. } => "endpoint",
        }
    }

    /// The command-line form read back by [`Target::parse`].
    pub(crate) fn arg(&self) -> String {
        match self.for_child() {
            Target::Embedded => "embedded".to_owned(),
            Target::Endpoint { url, test_credentials: true } => format!("test:{url}"),
            Target::Endpoint { url, .. } => url,
            Target::Http => unreachable!("for_child resolves the server"),
        }
    }

    /// Reads [`Target::arg`]'s form.
    pub(crate) fn parse(arg: &str) -> Target {
        match arg {
            "embedded" => Target::Embedded,
            _ => match arg.strip_prefix("test:") {
                Some(url) => Target::Endpoint { url: url.to_owned(), test_credentials: true },
                None => Target::Endpoint { url: arg.to_owned(), test_credentials: false },
            },
        }
    }
}

async fn network(endpoint: &str, test_credentials: bool) -> (Client, Engine) {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(endpoint);
    if test_credentials {
        let credentials = Credentials::new("test", "test", None, None, "dystore-bench");
        loader = loader.region(aws_config::Region::new("us-east-1")).credentials_provider(credentials);
    }
    let conf = loader.load().await;
    (Client::from_conf(&conf), Engine::Sdk(aws_sdk_dynamodb::Client::new(&conf)))
}

/// The in-process dynoxide server, started once on its own thread and
/// runtime (2 workers), so it outlives the runtimes of the sections.
pub(crate) fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a local address");
        listener.set_nonblocking(true).expect("a non-blocking listener");
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("server runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                let db = dynoxide::Database::memory().expect("a dynoxide memory database");
                dynoxide::server::serve_on(listener, db).await;
            });
        });
        addr
    })
}
