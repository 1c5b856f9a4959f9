//! The `dystore` binary run as a process: on a dynoxide file and over HTTP
//! against a dynoxide server started here, its `--json` report parsed and
//! checked, its exit codes, keys from a file and from the environment, and
//! no key material in anything it prints.

use base64::Engine as _;
use dystore::backend::Embedded;
use dystore::{Client, Key, Keyring, PathPattern, Store};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output};

const OBJECTS: usize = 20;
const A: [u8; 32] = [0xA1; 32];
const B: [u8; 32] = [0xB2; 32];

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn store(table: &str) -> Store {
    Store::new(table, "ID").shard(Store::new(format!("{table}Contacts"), "CID").at("$.contact"))
}

fn ring(keys: &[(&str, [u8; 32])], current: &str) -> Keyring {
    let mut ring = Keyring::new();
    for (id, bytes) in keys {
        ring = ring.with_key(*id, Key::new(bytes).unwrap());
    }
    ring.rule(PathPattern::exact("$.name").unwrap(), current).rule(PathPattern::prefix("$.contact").unwrap(), current)
}

/// The keyring file's JSON for `keys`, `current` for every encrypted path.
fn keyring_json(keys: &[(&str, [u8; 32])], current: &str) -> String {
    let keys: serde_json::Map<String, Value> = keys.iter().map(|(id, bytes)| ((*id).to_owned(), json!(b64(bytes)))).collect();
    json!({"keys": keys, "rules": [{"exact": "$.name", "key": current}, {"prefix": "$.contact", "key": current}], "default": current})
        .to_string()
}

async fn seed(db: &Client, table: &str) {
    let store = store(table);
    db.store(&store).create_tables().await.unwrap();
    for i in 0..OBJECTS {
        db.store(&store).write_with_key(&format!("k{i}"), json!({"name": format!("n{i}"), "contact": {"phone": i}})).await.unwrap();
    }
}

/// Runs `dystore` with `args` and `env`; checks that no key material
/// appears in what it printed.
fn dystore(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dystore"));
    command.args(args).env_remove("DYSTORE_KEYS");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("run dystore");
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    for secret in [b64(&A), b64(&B)] {
        assert!(!printed.contains(&secret), "key material printed:\n{printed}");
    }
    out
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("an exit code")
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("stdout is one JSON report ({e}):\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn rotates_a_database_file_with_keys_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.db");
    {
        let db = Client::open(&file).unwrap().with_loader(ring(&[("A", A)], "A"));
        seed(&db, "People").await;
    }
    let keys = write(dir.path(), "keys.json", &keyring_json(&[("A", A), ("B", B)], "B"));
    let db = file.to_str().unwrap();
    let args = |rest: &[&'static str]| [&["--embedded", db, "--keys", keys.as_str(), "--json"][..], rest].concat();

    let plan = dystore(&args(&["plan", "--table", "People", "--key-name", "ID"]), &[]);
    assert_eq!(code(&plan), 0, "{plan:?}");
    let plan = report(&plan);
    assert_eq!((plan["mode"].as_str(), plan["stale_objects"].as_u64()), (Some("plan"), Some(OBJECTS as u64)));
    assert_eq!(plan["before"]["A"]["leaves"], json!(2 * OBJECTS));

    // The key attribute is read from the table's schema when not given.
    let rotated = dystore(&args(&["rotate", "--table", "People", "--segments", "2"]), &[]);
    assert_eq!(code(&rotated), 0, "{rotated:?}");
    let rotated = report(&rotated);
    assert_eq!((rotated["rotated"].as_u64(), rotated["failed"].as_u64()), (Some(OBJECTS as u64), Some(0)));
    assert_eq!(rotated["after"]["B"]["leaves"], json!(2 * OBJECTS));

    let retired = dystore(&args(&["verify", "--table", "People", "--retire", "A"]), &[]);
    assert_eq!(code(&retired), 0, "{retired:?}");
    assert_eq!(report(&retired)["retire"]["passed"], json!(true));
    let in_use = dystore(&args(&["verify", "--table", "People", "--retire", "B"]), &[]);
    assert_eq!(code(&in_use), 1, "B is still used: {in_use:?}");
    assert_eq!(report(&in_use)["retire"]["leaves"], json!(2 * OBJECTS));

    // Without --json, a summary for a person.
    let human = dystore(&["--embedded", db, "--keys", &keys, "plan", "--table", "People"], &[]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(code(&human) == 0 && text.contains("plan `People`: 20 objects"), "{text}");

    let only_b = Client::open(&file).unwrap().with_loader(ring(&[("B", B)], "B"));
    assert_eq!(only_b.store(&store("People")).read("k7").await.unwrap(), json!({"name": "n7", "contact": {"phone": 7}}));
}

/// A dynoxide server on 127.0.0.1, seeded under key A; its address.
fn server(table: &'static str) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let (ready, seeded) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        runtime.block_on(async move {
            let db = dynoxide::Database::memory().unwrap();
            seed(&Client::new(Embedded::from_database(db.clone())).with_loader(ring(&[("A", A)], "A")), table).await;
            ready.send(()).unwrap();
            dynoxide::server::serve_on(tokio::net::TcpListener::from_std(listener).unwrap(), db).await;
        });
    });
    seeded.recv().unwrap();
    addr
}

#[test]
fn rotates_over_http_with_keys_from_the_environment() {
    let endpoint = format!("http://{}", server("Remote"));
    let keys = keyring_json(&[("A", A), ("B", B)], "B");
    let env =
        [("DYSTORE_KEYS", keys.as_str()), ("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_REGION", "us-east-1")];
    let args = |rest: &[&'static str]| [&["--endpoint", endpoint.as_str(), "--json"][..], rest].concat();

    let rotated = dystore(&args(&["rotate", "--table", "Remote", "--segments", "4", "--max-wcu", "1000"]), &env);
    assert_eq!(code(&rotated), 0, "{rotated:?}");
    assert_eq!(report(&rotated)["rotated"], json!(OBJECTS));
    let again = dystore(&args(&["rotate", "--table", "Remote"]), &env);
    assert_eq!((report(&again)["rotated"].as_u64(), report(&again)["current"].as_u64()), (Some(0), Some(OBJECTS as u64)));
    let retired = dystore(&args(&["verify", "--table", "Remote", "--retire", "A"]), &env);
    assert_eq!(code(&retired), 0, "{retired:?}");

    // A keyring without B: every leaf fails, each named, and the exit code says so.
    let only_a = keyring_json(&[("A", A)], "A");
    let failing = dystore(&args(&["verify", "--table", "Remote"]), &[("DYSTORE_KEYS", only_a.as_str()), env[1], env[2], env[3]]);
    assert_eq!(code(&failing), 1, "{failing:?}");
    let failing = report(&failing);
    assert_eq!(failing["failed"], json!(2 * OBJECTS));
    let first = &failing["failures"][0];
    assert_eq!((first["kind"].as_str(), first["key_id"].as_str()), (Some("MissingKey"), Some("B")));
    assert!(first["table"].as_str().unwrap().starts_with("Remote") && first["path"].is_string(), "{first}");

    let missing = dystore(&args(&["plan", "--table", "NoSuchTable"]), &env);
    assert_eq!(code(&missing), 3, "{missing:?}");
}

#[test]
fn usage_errors_exit_2_and_never_print_a_key() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(code(&dystore(&["plan"], &[])), 2, "no --table");
    assert_eq!(code(&dystore(&["--endpoint", "http://127.0.0.1:9", "--embedded", "x.db", "plan", "--table", "T"], &[])), 2);
    assert_eq!(code(&dystore(&["rotate", "--table", "T", "--segments", "0"], &[])), 2);

    // A key of the wrong length: named by its id, its bytes not printed.
    let short = b64(&A[..20]);
    let keys = write(dir.path(), "keys.json", &json!({"keys": {"A": short}}).to_string());
    let db = dir.path().join("d.db");
    let out = dystore(&["--embedded", db.to_str().unwrap(), "--keys", &keys, "plan", "--table", "T"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(stderr.contains("`A`") && stderr.contains("20 bytes") && !stderr.contains(&short), "{stderr}");
    // Malformed JSON holding a key: the position is given, not the text.
    let broken = format!(r#"{{"keys": {{"A": "{}" "#, b64(&A));
    let out = dystore(&["--embedded", db.to_str().unwrap(), "plan", "--table", "T"], &[("DYSTORE_KEYS", broken.as_str())]);
    assert_eq!(code(&out), 2, "{out:?}");

    // Key material where a keyring file or an argument belongs (`dystore`
    // checks it is printed nowhere).
    let material = b64(&A);
    let out = dystore(&["--keys", &material, "plan", "--table", "T"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(code(&out) == 2 && stderr.contains("cannot read the keyring file given with --keys"), "{stderr}");
    let out = dystore(&["plan", "--table", "T", &material], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(code(&out) == 2 && stderr.contains("an unexpected argument (not shown"), "{stderr}");
    let out = dystore(&["plan", "--table", "T", "--frobnicate"], &[]);
    assert!(code(&out) == 2 && String::from_utf8_lossy(&out.stderr).contains("'--frobnicate'"), "a flag's name is shown: {out:?}");
}

/// Every number and duration on the command line is checked before
/// anything runs: a usage error (exit 2) naming the flag, never a panic,
/// and never a silent "no limit".
#[test]
fn numbers_out_of_range_are_usage_errors_naming_the_flag() {
    let cases: [(&[&str], &str); 10] = [
        (&["plan", "--table", "T", "--window", "nan"], "--window"),
        (&["plan", "--table", "T", "--window", "inf"], "--window"),
        (&["plan", "--table", "T", "--window", "0"], "--window"),
        (&["rotate", "--table", "T", "--lease-ttl", "18446744073709551"], "--lease-ttl"),
        (&["rotate", "--table", "T", "--lease-ttl", "0"], "--lease-ttl"),
        (&["plan", "--table", "T", "--max-wcu", "0"], "--max-wcu"),
        (&["plan", "--table", "T", "--max-wcu", "-3"], "--max-wcu"),
        (&["verify", "--table", "T", "--max-rcu", "nan"], "--max-rcu"),
        (&["verify", "--table", "T", "--max-rcu", "inf"], "--max-rcu"),
        (&["plan", "--table", "T", "--page-size", "1001"], "--page-size"),
    ];
    for (args, flag) in cases {
        let out = dystore(args, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), 2, "{args:?}: {stderr}");
        assert!(stderr.contains(&format!("'{flag} ")) && !stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let out = dystore(&["plan", "--table", "T", "--max-wcu", "0"], &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("omit the flag for no limit"), "{out:?}");
}

/// A run checks the table and its key attribute before anything else: a
/// wrong key attribute or a missing table stops it (exit 3) and leaves no
/// state; a table holding no object (a shard table) fails a verification;
/// a missing database file is not created.
#[tokio::test]
async fn the_wrong_table_or_key_attribute_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.db");
    seed(&Client::open(&file).unwrap().with_loader(ring(&[("A", A)], "A")), "People").await;
    let keys = write(dir.path(), "keys.json", &keyring_json(&[("A", A), ("B", B)], "B"));
    let db = file.to_str().unwrap();
    let run = |rest: &[&str]| dystore(&[&["--embedded", db, "--keys", keys.as_str()][..], rest].concat(), &[]);

    let shard_table = run(&["verify", "--table", "PeopleContacts", "--retire", "A"]);
    let stdout = String::from_utf8_lossy(&shard_table.stdout);
    assert_eq!(code(&shard_table), 1, "{stdout}");
    assert!(stdout.contains("no object was examined") && !stdout.contains("passed"), "{stdout}");

    // A plan or rotation of it is refused before any state (exit 3).
    for command in ["plan", "rotate"] {
        let out = run(&[command, "--table", "PeopleContacts"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(code(&out) == 3 && stderr.contains("holds no dystore object"), "{command}: {stderr}");
    }

    let wrong_key = run(&["verify", "--table", "People", "--key-name", "NOPE", "--retire", "A"]);
    let stderr = String::from_utf8_lossy(&wrong_key.stderr);
    assert_eq!(code(&wrong_key), 3, "{stderr}");
    assert!(stderr.contains("table schema mismatch: expected partition key `NOPE`"), "{stderr}");

    let missing = run(&["rotate", "--table", "Nope", "--key-name", "ID"]);
    assert_eq!(code(&missing), 3, "{missing:?}");
    let state = Client::open(&file).unwrap();
    let scan = dystore::backend::Scan {
        table: dystore::rotate::DEFAULT_STATE_TABLE.into(),
        segment: None,
        start: None,
        limit: None,
        consistent: true,
    };
    let left = state.backend().scan(scan).await.map(|page| page.items.len()).unwrap_or(0);
    assert_eq!(left, 0, "a run over a missing table leaves no state");

    let nowhere = dir.path().join("typo.db");
    let out = dystore(&["--embedded", nowhere.to_str().unwrap(), "--keys", &keys, "plan", "--table", "People"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(code(&out) == 3 && stderr.contains("there is no database file at"), "{stderr}");
    assert!(!nowhere.exists(), "no database file is created");
}

/// Keys, key ids and paths come from data and files: control characters
/// in them are printed escaped, never sent to the terminal.
#[tokio::test]
async fn control_characters_from_data_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.db");
    let (evil_id, evil_key) = ("K\u{1b}[2J", "k\u{1b}[31m\nretire `A`: passed");
    {
        let db = Client::open(&file).unwrap().with_loader(ring(&[(evil_id, A)], evil_id));
        db.store(&store("People")).create_tables().await.unwrap();
        db.store(&store("People")).write_with_key(evil_key, json!({"name": "n", "contact": {"phone": 1}})).await.unwrap();
    }
    let keys = write(dir.path(), "keys.json", &keyring_json(&[(evil_id, A)], evil_id));
    let only_b = write(dir.path(), "only_b.json", &keyring_json(&[("B", B)], "B"));
    let db = file.to_str().unwrap();
    for keys in [&keys, &only_b] {
        let out = dystore(&["--embedded", db, "--keys", keys, "verify", "--table", "People"], &[]);
        let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!printed.contains('\u{1b}') && printed.contains("\\u{1b}"), "{printed}");
        assert!(!printed.contains("\nretire `A`: passed"), "no line can be faked: {printed}");
    }
}

#[tokio::test]
async fn a_held_lease_exits_3_naming_its_holder_until_forced() {
    use dystore::rotate::{Budget, Rotation};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.db");
    {
        let db = Client::open(&file).unwrap().with_loader(ring(&[("A", A)], "A"));
        seed(&db, "People").await;
        // Another rotation, slowed by its budget, dies part-way: its lease stays.
        // Its keyring chooses as the file below does (rules and default), so it is resumed.
        let db = db.with_loader(ring(&[("A", A), ("B", B)], "B").default_key("B"));
        let layout = store("People").into_layout();
        let reached = AtomicBool::new(false);
        let held = Rotation::new(&db, &layout)
            .owner("host-7")
            .page_size(2)
            .budget(Budget::unlimited().max_wcu(20.0).window(Duration::from_secs(1)))
            .on_progress(|p| reached.store(p.objects >= 3, Ordering::SeqCst));
        tokio::select! {
            biased;
            () = async { while !reached.load(Ordering::SeqCst) { tokio::time::sleep(Duration::from_millis(1)).await } } => {}
            done = held.rotate() => panic!("the rotation ended before it was dropped: {done:?}"),
        }
    }
    let keys = write(dir.path(), "keys.json", &keyring_json(&[("A", A), ("B", B)], "B"));
    let db = file.to_str().unwrap();
    let refused = dystore(&["--embedded", db, "--keys", &keys, "rotate", "--table", "People"], &[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(code(&refused), 3, "{stderr}");
    assert!(stderr.contains("another rotation holds the table's lease: owner `host-7` holds it"), "{stderr}");

    let forced = dystore(&["--embedded", db, "--keys", &keys, "--json", "rotate", "--table", "People", "--force"], &[]);
    assert_eq!(code(&forced), 0, "{forced:?}");
    let forced = report(&forced);
    assert!(forced["resumed_segments"] == json!(1) && forced["rotated"].as_u64() > Some(0), "{forced}");
    let retired = dystore(&["--embedded", db, "--keys", &keys, "verify", "--table", "People", "--retire", "A"], &[]);
    assert_eq!(code(&retired), 0, "{retired:?}");
}

/// A database file holding `People` under A, and a keyring of A and B naming B.
async fn people_under_a(dir: &Path) -> (String, String) {
    let file = dir.join("data.db");
    seed(&Client::open(&file).unwrap().with_loader(ring(&[("A", A)], "A")), "People").await;
    let keys = write(dir, "keys.json", &keyring_json(&[("A", A), ("B", B)], "B"));
    (file.to_str().unwrap().to_owned(), keys)
}

/// `--retire` with a key id neither in the keyring nor under any leaf (a
/// typo, a stray space) is a usage error, never "passed"; with `--json`
/// the error is a JSON document on stdout.
#[tokio::test]
async fn retiring_a_key_id_nobody_has_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let (db, keys) = people_under_a(dir.path()).await;
    for typo in ["a", "A "] {
        let out = dystore(&["--embedded", &db, "--keys", &keys, "verify", "--table", "People", "--retire", typo], &[]);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(code(&out), 2, "{typo:?}: {stdout}{stderr}");
        assert!(!stdout.contains("passed") && stderr.contains("neither one the loader has key material for"), "{stderr}");
    }
    let out = dystore(&["--embedded", &db, "--keys", &keys, "--json", "verify", "--table", "People", "--retire", "a"], &[]);
    let doc = report(&out);
    assert_eq!((code(&out), doc["error"]["kind"].as_str(), doc["exit"].as_u64()), (2, Some("Config"), Some(2)), "{doc}");
    let missing = dystore(&["--embedded", &db, "--keys", &keys, "--json", "plan", "--table", "Nope", "--key-name", "ID"], &[]);
    let doc = report(&missing);
    assert_eq!((code(&missing), doc["error"]["kind"].as_str()), (3, Some("TableNotFound")), "{doc}");
    // Without `--key-name` too (the key attribute read from the table's
    // schema): second break test, `kind: null`.
    let missing = dystore(&["--embedded", &db, "--keys", &keys, "--json", "plan", "--table", "Nope"], &[]);
    let doc = report(&missing);
    assert_eq!((code(&missing), doc["error"]["kind"].as_str()), (3, Some("TableNotFound")), "{doc}");
    // A name DynamoDB would refuse is a usage error with its kind, before
    // any request (break test: `kind: null`, exit 3, after a DescribeTable).
    for bad in [&["plan", "--table", "X\u{1b}"][..], &["plan", "--table", "People", "--key-name", ""][..]] {
        let mut args = vec!["--embedded", db.as_str(), "--keys", keys.as_str(), "--json"];
        args.extend(bad.iter().copied());
        let out = dystore(&args, &[]);
        let doc = report(&out);
        assert_eq!(code(&out), 2, "{bad:?}: {doc}");
        assert!(matches!(doc["error"]["kind"].as_str(), Some("InvalidTableName" | "InvalidKey")), "{bad:?}: {doc}");
    }
}

/// A stdout that is full is reported (exit 3), one closed by its reader
/// (`| head`) ends the run quietly with its own exit code; never a panic.
#[tokio::test]
async fn a_closed_or_full_stdout_is_no_panic() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let (db, keys) = people_under_a(dir.path()).await;
    let args = ["--embedded", db.as_str(), "--keys", keys.as_str(), "plan", "--table", "People"];
    if let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") {
        let out = Command::new(env!("CARGO_BIN_EXE_dystore")).args(args).stdout(full).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), 3, "{stderr}");
        assert!(stderr.contains("cannot write the report on stdout") && !stderr.contains("panicked"), "{stderr}");
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_dystore")).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 0, "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

/// Keyring mistakes found by the break test are usage errors: a key id
/// given twice in `keys`, an empty dynamo-store 0.6 key string, a legacy
/// key as the default (it only reads).
#[test]
fn keyring_mistakes_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let a = b64(&A);
    for (text, said) in [
        (format!(r#"{{"keys": {{"A": "{a}", "A": "{a}"}}}}"#), "a key id is given twice"),
        (r#"{"legacy_keys": {"L": ""}, "default": "L"}"#.to_owned(), "key string is empty"),
        (r#"{"legacy_keys": {"L": "x"}, "default": "L"}"#.to_owned(), "only reads"),
    ] {
        let keys = write(dir.path(), "keys.json", &text);
        let out = dystore(&["--embedded", "nowhere.db", "--keys", &keys, "plan", "--table", "T"], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(code(&out) == 2 && stderr.contains(said), "{text}: {stderr}");
    }
}

/// What is typed on the command line is not repeated when it is wrong
/// (it may be key material): a missing `--embedded` file, a malformed
/// `--endpoint` (a usage error, exit 2, at once), a tiny budget.
#[test]
fn typed_values_are_not_echoed_and_checked_at_once() {
    let pasted = b64(&A);
    let out = dystore(&["--embedded", &pasted, "plan", "--table", "T"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(code(&out) == 3 && stderr.contains("no database file at the path given with --embedded"), "{stderr}");
    let started = std::time::Instant::now();
    let out = dystore(&["--endpoint", "not a url", "plan", "--table", "T"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(code(&out) == 2 && stderr.contains("--endpoint") && !stderr.contains("not a url"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "no retries for a malformed URL");
    let out = dystore(&["--embedded", "x.db", "plan", "--table", "T", "--max-rcu", "1e-300"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(code(&out) == 2 && stderr.contains("--max-rcu") && stderr.contains("at least 0.1"), "{stderr}");
}

/// A `DYSTORE_KEYS` that is not UTF-8 is a usage error, not "no keys".
#[cfg(unix)]
#[test]
fn a_non_utf8_keyring_variable_is_a_usage_error() {
    use std::os::unix::ffi::OsStrExt;
    let bytes = std::ffi::OsStr::from_bytes(b"{\"keys\": {\"A\": \"\xff\xfe\"}}");
    let out = Command::new(env!("CARGO_BIN_EXE_dystore"))
        .args(["--embedded", "x.db", "plan", "--table", "T"])
        .env("DYSTORE_KEYS", bytes)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(code(&out) == 2 && stderr.contains("DYSTORE_KEYS is not UTF-8"), "{stderr}");
}

/// `--segment I --of N`: two processes each rotate their share of the
/// table; together they rotate every object. `--segment 2 --of 2` is a
/// usage error, and so is `--segment` without `--of`.
#[tokio::test]
async fn shares_are_rotated_by_separate_processes() {
    let dir = tempfile::tempdir().unwrap();
    let (db, keys) = people_under_a(dir.path()).await;
    let run = |rest: &[&str]| dystore(&[&["--embedded", db.as_str(), "--keys", keys.as_str(), "--json"][..], rest].concat(), &[]);
    let mut rotated = 0;
    for i in ["0", "1"] {
        let out = run(&["rotate", "--table", "People", "--segment", i, "--of", "2", "--owner", &format!("host-{i}")]);
        assert_eq!(code(&out), 0, "{out:?}");
        let r = report(&out);
        assert_eq!(r["share"][1], json!(2), "{r}");
        rotated += r["rotated"].as_u64().unwrap();
    }
    assert_eq!(rotated, OBJECTS as u64);
    assert_eq!(code(&run(&["verify", "--table", "People", "--retire", "A"])), 0);
    assert_eq!(code(&run(&["plan", "--table", "People", "--segment", "2", "--of", "2"])), 2);
    assert_eq!(code(&run(&["plan", "--table", "People", "--segment", "0"])), 2);
}

#[allow(dead_code, reason = "its `main` runs under `cargo run --example`, not here")]
#[path = "../../examples/rotation_data.rs"]
mod rotation_data;

/// The README's rotation, line by line as it stands there: the example
/// writes the data and the keyring, then every `dystore` line of the
/// README's block runs in that directory and exits 0; B alone then reads
/// every person.
#[tokio::test]
async fn the_readme_rotation_runs_end_to_end() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().filter(|l| l.starts_with("dystore --embedded data.db")).collect();
    assert_eq!(lines.len(), 3, "plan, rotate, verify: {lines:?}");
    assert!(readme.contains("cargo run --example rotation_data -- data.db keys.json"));
    let dir = tempfile::tempdir().unwrap();
    rotation_data::run(&dir.path().join("data.db"), &dir.path().join("keys.json")).await.unwrap();
    for line in lines {
        let words: Vec<&str> = line.split('#').next().unwrap().split_whitespace().skip(1).collect();
        let out = Command::new(env!("CARGO_BIN_EXE_dystore")).args(&words).current_dir(dir.path()).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(code(&out), 0, "{line}\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(&format!("{} objects", rotation_data::PEOPLE)), "{line}\n{stdout}");
    }
    let only_b = Client::open(dir.path().join("data.db")).unwrap().with_loader(ring(&[("B", [2u8; 32])], "B"));
    let person = only_b.store(&rotation_data::people()).read("p7").await.unwrap();
    assert_eq!(person["contact"]["phone"], json!("555-0007"));
}

/// `--checkpoint FILE`: a finished rotation removes its file; a file left
/// by the rotation of another table is refused (exit 2), not trusted.
#[tokio::test]
async fn a_checkpoint_file_is_checked_and_removed_when_done() {
    let dir = tempfile::tempdir().unwrap();
    let (db, keys) = people_under_a(dir.path()).await;
    let file = write(
        dir.path(),
        "cp.json",
        r#"{"scope": "Other", "segments": 1, "targets": "x", "checkpoints": [{"done": false, "last": null}]}"#,
    );
    let run = |rest: &[&str]| dystore(&[&["--embedded", db.as_str(), "--keys", keys.as_str()][..], rest].concat(), &[]);
    let refused = run(&["rotate", "--table", "People", "--checkpoint", &file]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(code(&refused) == 2 && stderr.contains("checkpoint file is for the rotation of another table"), "{stderr}");
    std::fs::remove_file(&file).unwrap();
    let done = run(&["rotate", "--table", "People", "--checkpoint", &file, "--page-size", "3"]);
    assert_eq!(code(&done), 0, "{done:?}");
    assert!(!Path::new(&file).exists(), "removed when the run finished");
}

/// An endpoint that does not answer: exit 3 with the causes in words, no
/// `Debug` dump of the SDK's error (and, with `--json`, a JSON error).
#[test]
fn an_unreachable_endpoint_is_said_in_words() {
    let env = [("AWS_ACCESS_KEY_ID", "x"), ("AWS_SECRET_ACCESS_KEY", "y")];
    let out = dystore(&["--endpoint", "http://127.0.0.1:1", "--json", "plan", "--table", "Things"], &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 3, "{stderr}");
    assert!(stderr.contains("Connection refused") && !stderr.contains("DispatchFailure {") && !stderr.contains("source:"), "{stderr}");
    let doc = report(&out);
    assert!(doc["exit"] == json!(3) && doc["error"]["message"].as_str().is_some_and(|m| m.contains("Connection refused")), "{doc}");
    assert_eq!(doc["error"]["kind"].as_str(), Some("Unavailable"), "{doc}");
}
