//! The network backend: aws-sdk-dynamodb, for AWS and any DynamoDB-compatible
//! endpoint.

use super::{Backend, BackendError, BatchGetOutput, Expr, Get, Item, Page, Query, Scan, TableInfo, TableKeys, Write};
use crate::usage;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types as aws;
use serde_dynamo::AttributeValue;
use std::collections::HashMap;

/// Every request asks for DynamoDB's consumed-capacity figures.
const TOTAL: aws::ReturnConsumedCapacity = aws::ReturnConsumedCapacity::Total;

/// Records the figures of a read (`read`) or write response.
fn record<'a>(figures: impl IntoIterator<Item = &'a aws::ConsumedCapacity>, read: bool) {
    for c in figures {
        let (table, units) = (c.table_name().unwrap_or_default(), c.capacity_units().unwrap_or_default());
        if read { usage::read(table, units) } else { usage::write(table, units) }
    }
}

/// DynamoDB over HTTP, through an aws-sdk-dynamodb client.
#[derive(Clone, Debug)]
pub struct DynamoDb {
    client: Client,
}

impl DynamoDb {
    /// Wraps a configured client, with the SDK's own retries turned off.
    ///
    /// dystore retries failed requests itself ([`RetryPolicy`](crate::RetryPolicy)):
    /// it counts every attempt (capacity figures, tracing), knows which
    /// writes may have been applied when an answer is lost, and keeps one
    /// deadline per call. Retries inside the SDK would hide attempts from
    /// all three: a write that timed out and was sent again by the SDK
    /// would come back as a failed condition, with nothing saying the
    /// object may have changed.
    pub fn new(client: Client) -> Self {
        let conf = client.config().to_builder().retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()).build();
        DynamoDb { client: Client::from_conf(conf) }
    }
}

type AwsItem = HashMap<String, aws::AttributeValue>;

fn to_aws(item: Item) -> AwsItem {
    item.into_iter().map(|(k, v)| (k, v.into())).collect()
}

fn from_aws(item: AwsItem) -> Item {
    item.into_iter().map(|(k, v)| (k, AttributeValue::from(v))).collect()
}

fn opt<T>(map: HashMap<String, T>) -> Option<HashMap<String, T>> {
    (!map.is_empty()).then_some(map)
}

/// The error code DynamoDB sent, mapped to what dystore acts on; `status`
/// is the HTTP status, for answers with no code DynamoDB documents.
fn map_code(code: Option<&str>, message: String, status: u16) -> BackendError {
    match code {
        Some("ConditionalCheckFailedException") => BackendError::ConditionFailed,
        Some("ResourceNotFoundException") => BackendError::TableNotFound(message),
        Some("ResourceInUseException") => BackendError::TableExists(message),
        Some("ThrottlingException" | "ProvisionedThroughputExceededException" | "RequestLimitExceeded" | "LimitExceededException") => {
            BackendError::Throttled(message)
        }
        Some("ValidationException") => BackendError::Validation(message),
        Some("InternalServerError" | "ServiceUnavailable" | "ServiceUnavailableException" | "InternalFailure") => {
            BackendError::Unavailable(message)
        }
        // A 5xx with no code dystore knows (a proxy's or a server's own
        // failure page): the service failed, as DynamoDB's 500s say.
        _ if status >= 500 => BackendError::Unavailable(message),
        _ => BackendError::Other(message),
    }
}

fn map_err<E>(e: SdkError<E, HttpResponse>) -> BackendError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let err = service.err();
            let message = err.message().unwrap_or("no message").to_owned();
            map_code(err.code(), message, status)
        }
        lost @ (SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)) => {
            BackendError::Unavailable(causes(&lost.to_string(), std::error::Error::source(&lost)))
        }
        other => BackendError::Other(causes(&other.to_string(), std::error::Error::source(&other))),
    }
}

/// The error and its causes, each by its `Display`, joined by ": " (the
/// SDK's `DisplayErrorContext` appends the whole `Debug` dump too, which
/// is noise in a message for a person).
fn causes(first: &str, source: Option<&(dyn std::error::Error + 'static)>) -> String {
    let mut parts: Vec<String> = vec![first.to_owned()];
    let mut next = source;
    while let Some(cause) = next {
        let text = cause.to_string();
        if !text.is_empty() && parts.last() != Some(&text) {
            parts.push(text);
        }
        next = cause.source();
    }
    parts.join(": ")
}

fn map_transact_err(e: SdkError<TransactWriteItemsError, HttpResponse>) -> BackendError {
    if let Some(TransactWriteItemsError::TransactionCanceledException(t)) = e.as_service_error() {
        let reasons = t.cancellation_reasons().iter().map(|r| r.code().filter(|c| *c != "None").map(str::to_owned)).collect();
        return BackendError::TransactionCanceled { reasons };
    }
    map_err(e)
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> BackendError {
    BackendError::Validation(e.to_string())
}

fn split(condition: Option<Expr>) -> (Option<String>, Option<HashMap<String, String>>, Option<AwsItem>) {
    match condition {
        None => (None, None, None),
        Some(c) => (Some(c.text), opt(c.names), opt(to_aws(c.values))),
    }
}

fn transact_item(write: Write) -> Result<aws::TransactWriteItem, BackendError> {
    let item = aws::TransactWriteItem::builder();
    Ok(match write {
        Write::Put { table, item: attrs, condition } => {
            let (text, names, values) = split(condition);
            let put = aws::Put::builder()
                .table_name(table)
                .set_item(Some(to_aws(attrs)))
                .set_condition_expression(text)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .build()
                .map_err(build_err)?;
            item.put(put).build()
        }
        Write::Update { table, key, update, condition } => {
            let (names, values) = Expr::merged_placeholders(&update, condition.as_ref());
            let update = aws::Update::builder()
                .table_name(table)
                .set_key(Some(to_aws(key)))
                .update_expression(update.text)
                .set_condition_expression(condition.map(|c| c.text))
                .set_expression_attribute_names(opt(names))
                .set_expression_attribute_values(opt(to_aws(values)))
                .build()
                .map_err(build_err)?;
            item.update(update).build()
        }
        Write::Delete { table, key, condition } => {
            let (text, names, values) = split(condition);
            let delete = aws::Delete::builder()
                .table_name(table)
                .set_key(Some(to_aws(key)))
                .set_condition_expression(text)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .build()
                .map_err(build_err)?;
            item.delete(delete).build()
        }
        Write::Check { table, key, condition } => {
            let check = aws::ConditionCheck::builder()
                .table_name(table)
                .set_key(Some(to_aws(key)))
                .condition_expression(condition.text)
                .set_expression_attribute_names(opt(condition.names))
                .set_expression_attribute_values(opt(to_aws(condition.values)))
                .build()
                .map_err(build_err)?;
            item.condition_check(check).build()
        }
    })
}

fn page(items: Option<Vec<AwsItem>>, last: Option<AwsItem>) -> Page {
    Page { items: items.unwrap_or_default().into_iter().map(from_aws).collect(), last_key: last.filter(|k| !k.is_empty()).map(from_aws) }
}

#[async_trait]
impl Backend for DynamoDb {
    async fn get(&self, get: Get) -> Result<Option<Item>, BackendError> {
        let (projection, names) = match get.projection {
            Some(p) => (Some(p.text), opt(p.names)),
            None => (None, None),
        };
        let out = self
            .client
            .get_item()
            .table_name(get.table)
            .set_key(Some(to_aws(get.key)))
            .consistent_read(get.consistent)
            .set_projection_expression(projection)
            .set_expression_attribute_names(names)
            .return_consumed_capacity(TOTAL)
            .send()
            .await
            .map_err(map_err)?;
        record(&out.consumed_capacity, true);
        Ok(out.item.map(from_aws))
    }

    async fn batch_get(&self, keys: Vec<TableKeys>) -> Result<BatchGetOutput, BackendError> {
        let mut request = self.client.batch_get_item().return_consumed_capacity(TOTAL);
        for t in keys {
            let ka = aws::KeysAndAttributes::builder()
                .set_keys(Some(t.keys.into_iter().map(to_aws).collect()))
                .consistent_read(t.consistent)
                .build()
                .map_err(build_err)?;
            request = request.request_items(t.table, ka);
        }
        let out = request.send().await.map_err(map_err)?;
        record(out.consumed_capacity.iter().flatten(), true);
        let items = out
            .responses
            .unwrap_or_default()
            .into_iter()
            .map(|(table, items)| (table, items.into_iter().map(from_aws).collect()))
            .collect();
        let unprocessed = out
            .unprocessed_keys
            .unwrap_or_default()
            .into_iter()
            .map(|(table, ka)| TableKeys {
                table,
                consistent: ka.consistent_read.unwrap_or(true),
                keys: ka.keys.into_iter().map(from_aws).collect(),
            })
            .filter(|t| !t.keys.is_empty())
            .collect();
        Ok(BatchGetOutput { items, unprocessed })
    }

    async fn write(&self, write: Write) -> Result<(), BackendError> {
        match write {
            Write::Put { table, item, condition } => {
                let (text, names, values) = split(condition);
                self.client
                    .put_item()
                    .table_name(table)
                    .set_item(Some(to_aws(item)))
                    .set_condition_expression(text)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .return_consumed_capacity(TOTAL)
                    .send()
                    .await
                    .map(|out| record(&out.consumed_capacity, false))
                    .map_err(map_err)
            }
            Write::Update { table, key, update, condition } => {
                let (names, values) = Expr::merged_placeholders(&update, condition.as_ref());
                self.client
                    .update_item()
                    .table_name(table)
                    .set_key(Some(to_aws(key)))
                    .update_expression(update.text)
                    .set_condition_expression(condition.map(|c| c.text))
                    .set_expression_attribute_names(opt(names))
                    .set_expression_attribute_values(opt(to_aws(values)))
                    .return_consumed_capacity(TOTAL)
                    .send()
                    .await
                    .map(|out| record(&out.consumed_capacity, false))
                    .map_err(map_err)
            }
            Write::Delete { table, key, condition } => {
                let (text, names, values) = split(condition);
                self.client
                    .delete_item()
                    .table_name(table)
                    .set_key(Some(to_aws(key)))
                    .set_condition_expression(text)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .return_consumed_capacity(TOTAL)
                    .send()
                    .await
                    .map(|out| record(&out.consumed_capacity, false))
                    .map_err(map_err)
            }
            Write::Check { .. } => self.transact_write(vec![write]).await,
        }
    }

    async fn transact_write(&self, writes: Vec<Write>) -> Result<(), BackendError> {
        let items = writes.into_iter().map(transact_item).collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .return_consumed_capacity(TOTAL)
            .send()
            .await
            .map_err(map_transact_err)?;
        record(out.consumed_capacity.iter().flatten(), false);
        Ok(())
    }

    async fn transact_get(&self, gets: Vec<Get>) -> Result<Vec<Option<Item>>, BackendError> {
        let mut items = Vec::with_capacity(gets.len());
        for g in gets {
            let (projection, names) = match g.projection {
                Some(p) => (Some(p.text), opt(p.names)),
                None => (None, None),
            };
            let get = aws::Get::builder()
                .table_name(g.table)
                .set_key(Some(to_aws(g.key)))
                .set_projection_expression(projection)
                .set_expression_attribute_names(names)
                .build()
                .map_err(build_err)?;
            items.push(aws::TransactGetItem::builder().get(get).build());
        }
        let out = self
            .client
            .transact_get_items()
            .set_transact_items(Some(items))
            .return_consumed_capacity(TOTAL)
            .send()
            .await
            .map_err(map_err)?;
        record(out.consumed_capacity.iter().flatten(), true);
        Ok(out.responses.unwrap_or_default().into_iter().map(|r| r.item.map(from_aws)).collect())
    }

    async fn query(&self, q: Query) -> Result<Page, BackendError> {
        let out = self
            .client
            .query()
            .table_name(q.table)
            .key_condition_expression(q.key_condition.text)
            .set_expression_attribute_names(opt(q.key_condition.names))
            .set_expression_attribute_values(opt(to_aws(q.key_condition.values)))
            .set_exclusive_start_key(q.start.map(to_aws))
            .set_limit(q.limit.map(|l| l as i32))
            .consistent_read(q.consistent)
            .return_consumed_capacity(TOTAL)
            .send()
            .await
            .map_err(map_err)?;
        record(&out.consumed_capacity, true);
        Ok(page(out.items, out.last_evaluated_key))
    }

    async fn scan(&self, s: Scan) -> Result<Page, BackendError> {
        let out = self
            .client
            .scan()
            .table_name(s.table)
            .set_segment(s.segment.map(|(i, _)| i as i32))
            .set_total_segments(s.segment.map(|(_, n)| n as i32))
            .set_exclusive_start_key(s.start.map(to_aws))
            .set_limit(s.limit.map(|l| l as i32))
            .consistent_read(s.consistent)
            .return_consumed_capacity(TOTAL)
            .send()
            .await
            .map_err(map_err)?;
        record(&out.consumed_capacity, true);
        Ok(page(out.items, out.last_evaluated_key))
    }

    async fn create_table(&self, table: &str, key: &str) -> Result<(), BackendError> {
        let schema = aws::KeySchemaElement::builder().attribute_name(key).key_type(aws::KeyType::Hash).build().map_err(build_err)?;
        let definition = aws::AttributeDefinition::builder()
            .attribute_name(key)
            .attribute_type(aws::ScalarAttributeType::S)
            .build()
            .map_err(build_err)?;
        self.client
            .create_table()
            .table_name(table)
            .key_schema(schema)
            .attribute_definitions(definition)
            .billing_mode(aws::BillingMode::PayPerRequest)
            .send()
            .await
            .map(drop)
            .map_err(map_err)
    }

    async fn describe_table(&self, table: &str) -> Result<Option<TableInfo>, BackendError> {
        let out = match self.client.describe_table().table_name(table).send().await.map_err(map_err) {
            Ok(out) => out,
            Err(BackendError::TableNotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(t) = out.table else { return Ok(None) };
        Ok(Some(TableInfo {
            name: t.table_name.unwrap_or_default(),
            key_schema: t.key_schema.unwrap_or_default().into_iter().map(|k| (k.attribute_name, k.key_type.as_str().to_owned())).collect(),
            attribute_types: t
                .attribute_definitions
                .unwrap_or_default()
                .into_iter()
                .map(|a| (a.attribute_name, a.attribute_type.as_str().to_owned()))
                .collect(),
            status: t.table_status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        }))
    }
}
