//! The client the command line asks for: a dynoxide file, an HTTP
//! endpoint, or DynamoDB as aws-config finds it.

use crate::opt::Connect;
use anyhow::{Context, Result, anyhow, bail};
use dystore::Client;

/// A client on what `connect` names.
pub(crate) async fn client(connect: &Connect) -> Result<Client> {
    if let Some(path) = &connect.embedded {
        // Opening a missing file would create an empty database: a typo
        // would then look like a table missing, and leave a file behind.
        if !path.is_file() {
            // The path is not repeated: it is what was typed, maybe key material.
            bail!(
                "there is no database file at the path given with --embedded: dystore opens an existing dynoxide file, it never creates one"
            );
        }
        return Client::open(path).context("cannot open the database file given with --embedded");
    }
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(endpoint) = &connect.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(region) = &connect.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let mut conf = loader.load().await;
    if conf.region().is_none() && connect.endpoint.is_some() {
        // A local engine ignores the region, but the SDK wants one.
        conf = conf.into_builder().region(aws_config::Region::new("us-east-1")).build();
    }
    Ok(Client::from_conf(&conf))
}

/// The key attribute of `table`, from its key schema. Its failures are
/// dystore errors, so that `--json` gives their kind.
pub(crate) async fn key_name(client: &Client, table: &str) -> Result<String> {
    use dystore::backend::BackendError;
    use dystore::{Error, ErrorKind};
    let info = client
        .backend()
        .describe_table(table)
        .await
        .map_err(|e| {
            let kind = match e.clone().split().0 {
                BackendError::Throttled(_) => ErrorKind::Throttled,
                BackendError::Unavailable(_) => ErrorKind::Unavailable,
                _ => ErrorKind::Backend,
            };
            Error::new(kind, "cannot describe the table").with_table(table).with_source(e)
        })?
        .ok_or_else(|| Error::new(ErrorKind::TableNotFound, "the table does not exist").with_table(table))?;
    info.key_schema
        .into_iter()
        .find(|(_, kind)| kind == "HASH")
        .map(|(name, _)| name)
        .ok_or_else(|| anyhow!("the table `{table}` has no partition key in its schema"))
}
