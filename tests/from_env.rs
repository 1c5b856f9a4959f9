//! `Client::from_env()` follows aws-config's conventions: a process whose
//! environment names a DynamoDB endpoint, region and credentials talks to it.

mod common;

use dystore::{Client, Store};
use serde_json::json;
use std::process::Command;

#[test]
fn from_env_reads_endpoint_region_and_credentials_from_the_environment() {
    let endpoint = format!("http://{}", common::server());
    let table = common::table("FromEnv");
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_uses_from_env", "--include-ignored", "--test-threads=1"])
        .env("AWS_ENDPOINT_URL_DYNAMODB", &endpoint)
        .env("AWS_REGION", "eu-west-3")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("DYSTORE_FROM_ENV_TABLE", &table)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .status()
        .unwrap();
    assert!(status.success(), "the child process failed");

    // The child wrote through the server this process started.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let db = common::client(common::Target::Http).await;
        let doc = db.store(&Store::new(table.clone(), "ID")).read("k1").await.unwrap();
        assert_eq!(doc, json!({"written": "by the child"}));
    });
}

#[tokio::test]
#[ignore = "run by from_env_reads_endpoint_region_and_credentials_from_the_environment in a child process"]
async fn child_uses_from_env() {
    let table = std::env::var("DYSTORE_FROM_ENV_TABLE").unwrap();
    let db = Client::from_env().await.unwrap();
    let store = Store::new(table, "ID");
    db.store(&store).create_tables().await.unwrap();
    db.store(&store).write_with_key("k1", json!({"written": "by the child"})).await.unwrap();
    // The region comes from AWS_REGION and is recorded in the root's metadata.
    let meta = db.clone().with_loader(KeepMeta).store(&store).read("k1").await.unwrap();
    assert_eq!(meta["__dystore_meta__"]["region"], json!("eu-west-3"));
}

struct KeepMeta;
impl dystore::ConfigLoader for KeepMeta {
    fn keep_metadata(&self) -> bool {
        true
    }
}
