//! The embedded backend: dynoxide (DynamoDB's API on SQLite) called in
//! process, with no HTTP and no ports.
//!
//! dynoxide's calls are synchronous and take microseconds (a mutex and an
//! SQLite statement), so they run on the caller's task rather than on a
//! blocking thread: the hop would cost more than the call. Each request
//! first yields to the runtime once, as a network request would, so that a
//! call's deadline (`tokio::time::timeout`) and other tasks get their turn
//! between requests.

use super::{Backend, BackendError, BatchGetOutput, Expr, Get, Item, Page, Query, Scan, TableInfo, TableKeys, Write};
use crate::usage;
use async_trait::async_trait;
use dynoxide::actions::{
    batch_get_item, create_table, delete_item, describe_table, get_item, put_item, query, scan, transact_get_items,
    transact_write_items as twi, update_item,
};
use dynoxide::types as dx;
use dynoxide::{Database, DynoxideError};
use serde_dynamo::AttributeValue;
use std::collections::HashMap;

/// dynoxide, in process: in memory or on an SQLite file.
#[derive(Clone)]
pub struct Embedded {
    db: Database,
}

impl Embedded {
    /// A fresh in-memory database.
    ///
    /// # Errors
    ///
    /// `BackendError::Other` if dynoxide cannot open an in-memory SQLite
    /// database.
    pub fn memory() -> Result<Self, BackendError> {
        Database::memory().map(|db| Embedded { db }).map_err(map_err)
    }

    /// A database persisted in the SQLite file at `path` (created if absent).
    ///
    /// # Errors
    ///
    /// `BackendError::Other` if the file cannot be opened or created, or is
    /// not a dynoxide database.
    pub fn open(path: &str) -> Result<Self, BackendError> {
        Database::new(path).map(|db| Embedded { db }).map_err(map_err)
    }

    /// Wraps an existing dynoxide database (to share it with a server, say).
    pub fn from_database(db: Database) -> Self {
        Embedded { db }
    }
}

fn to_dx(value: AttributeValue) -> dx::AttributeValue {
    match value {
        AttributeValue::S(s) => dx::AttributeValue::S(s),
        AttributeValue::N(n) => dx::AttributeValue::N(n),
        AttributeValue::B(b) => dx::AttributeValue::B(b),
        AttributeValue::Bool(b) => dx::AttributeValue::BOOL(b),
        AttributeValue::Null(b) => dx::AttributeValue::NULL(b),
        AttributeValue::Ss(v) => dx::AttributeValue::SS(v),
        AttributeValue::Ns(v) => dx::AttributeValue::NS(v),
        AttributeValue::Bs(v) => dx::AttributeValue::BS(v),
        AttributeValue::L(v) => dx::AttributeValue::L(v.into_iter().map(to_dx).collect()),
        AttributeValue::M(m) => dx::AttributeValue::M(to_dx_item(m)),
    }
}

fn from_dx(value: dx::AttributeValue) -> AttributeValue {
    match value {
        dx::AttributeValue::S(s) => AttributeValue::S(s),
        dx::AttributeValue::N(n) => AttributeValue::N(n),
        dx::AttributeValue::B(b) => AttributeValue::B(b),
        dx::AttributeValue::BOOL(b) => AttributeValue::Bool(b),
        dx::AttributeValue::NULL(b) => AttributeValue::Null(b),
        dx::AttributeValue::SS(v) => AttributeValue::Ss(v),
        dx::AttributeValue::NS(v) => AttributeValue::Ns(v),
        dx::AttributeValue::BS(v) => AttributeValue::Bs(v),
        dx::AttributeValue::L(v) => AttributeValue::L(v.into_iter().map(from_dx).collect()),
        dx::AttributeValue::M(m) => AttributeValue::M(from_dx_item(m)),
    }
}

fn to_dx_item(item: Item) -> HashMap<String, dx::AttributeValue> {
    item.into_iter().map(|(k, v)| (k, to_dx(v))).collect()
}

fn from_dx_item(item: HashMap<String, dx::AttributeValue>) -> Item {
    item.into_iter().map(|(k, v)| (k, from_dx(v))).collect()
}

fn some_if<T>(map: HashMap<String, T>) -> Option<HashMap<String, T>> {
    (!map.is_empty()).then_some(map)
}

type Cond = (Option<String>, Option<HashMap<String, String>>, Option<HashMap<String, dx::AttributeValue>>);

fn cond(condition: Option<Expr>) -> Cond {
    match condition {
        None => (None, None, None),
        Some(c) => (Some(c.text), some_if(c.names), some_if(to_dx_item(c.values))),
    }
}

fn transact_item(write: Write) -> twi::TransactWriteItem {
    let mut out = twi::TransactWriteItem::default();
    match write {
        Write::Put { table, item, condition } => {
            let (condition_expression, names, values) = cond(condition);
            out.put = Some(twi::TransactPut {
                table_name: table,
                item: to_dx_item(item),
                condition_expression,
                expression_attribute_names: names,
                expression_attribute_values: values,
                ..Default::default()
            });
        }
        Write::Update { table, key, update, condition } => {
            let text = update.text.clone();
            let (names, values) = Expr::merged_placeholders(&update, condition.as_ref());
            out.update = Some(twi::TransactUpdate {
                table_name: table,
                key: to_dx_item(key),
                update_expression: text,
                condition_expression: condition.map(|c| c.text),
                expression_attribute_names: some_if(names),
                expression_attribute_values: some_if(to_dx_item(values)),
                ..Default::default()
            });
        }
        Write::Delete { table, key, condition } => {
            let (condition_expression, names, values) = cond(condition);
            out.delete = Some(twi::TransactDelete {
                table_name: table,
                key: to_dx_item(key),
                condition_expression,
                expression_attribute_names: names,
                expression_attribute_values: values,
                ..Default::default()
            });
        }
        Write::Check { table, key, condition } => {
            out.condition_check = Some(twi::TransactConditionCheck {
                table_name: table,
                key: to_dx_item(key),
                condition_expression: condition.text,
                expression_attribute_names: some_if(condition.names),
                expression_attribute_values: some_if(to_dx_item(condition.values)),
                ..Default::default()
            });
        }
    }
    out
}

fn map_err(e: DynoxideError) -> BackendError {
    match e {
        DynoxideError::ConditionalCheckFailedException(..) => BackendError::ConditionFailed,
        DynoxideError::TransactionCanceledException(_, reasons) => {
            BackendError::TransactionCanceled { reasons: reasons.into_iter().map(|r| (r.code != "None").then_some(r.code)).collect() }
        }
        DynoxideError::ResourceNotFoundException(m) => BackendError::TableNotFound(m),
        DynoxideError::ResourceInUseException(m) => BackendError::TableExists(m),
        DynoxideError::ProvisionedThroughputExceededException(m) => BackendError::Throttled(m),
        DynoxideError::ValidationException(m) => BackendError::Validation(m),
        other => BackendError::Other(other.to_string()),
    }
}

fn get_request(get: Get) -> get_item::GetItemRequest {
    let (projection, names) = match get.projection {
        Some(p) => (Some(p.text), some_if(p.names)),
        None => (None, None),
    };
    get_item::GetItemRequest {
        table_name: get.table,
        key: to_dx_item(get.key),
        consistent_read: Some(get.consistent),
        projection_expression: projection,
        expression_attribute_names: names,
        return_consumed_capacity: total(),
        ..Default::default()
    }
}

/// Every request asks for DynamoDB's consumed-capacity figures.
fn total() -> Option<String> {
    Some("TOTAL".to_owned())
}

/// Records the figures of a read (`read`) or write response.
fn record<'a>(figures: impl IntoIterator<Item = &'a dx::ConsumedCapacity>, read: bool) {
    for c in figures {
        if read { usage::read(&c.table_name, c.capacity_units) } else { usage::write(&c.table_name, c.capacity_units) }
    }
}

fn page(items: Option<Vec<dx::Item>>, last: Option<HashMap<String, dx::AttributeValue>>) -> Page {
    Page { items: items.unwrap_or_default().into_iter().map(from_dx_item).collect(), last_key: last.map(from_dx_item) }
}

#[async_trait]
impl Backend for Embedded {
    /// `false`: dynoxide answers every request under one lock on one
    /// SQLite database, and never throttles, times out or meets a
    /// transaction holding its items.
    fn may_fail_transiently(&self) -> bool {
        false
    }

    async fn get(&self, get: Get) -> Result<Option<Item>, BackendError> {
        tokio::task::yield_now().await;
        let response = self.db.get_item(get_request(get)).map_err(map_err)?;
        record(&response.consumed_capacity, true);
        Ok(response.item.map(from_dx_item))
    }

    async fn batch_get(&self, keys: Vec<TableKeys>) -> Result<BatchGetOutput, BackendError> {
        tokio::task::yield_now().await;
        let request_items = keys
            .into_iter()
            .map(|t| {
                let keys_and_attributes = batch_get_item::KeysAndAttributes {
                    keys: t.keys.into_iter().map(to_dx_item).collect(),
                    consistent_read: Some(t.consistent),
                    ..Default::default()
                };
                (t.table, keys_and_attributes)
            })
            .collect();
        let request = batch_get_item::BatchGetItemRequest { request_items, return_consumed_capacity: total() };
        let response = self.db.batch_get_item(request).map_err(map_err)?;
        record(response.consumed_capacity.iter().flatten(), true);
        // The engine, like DynamoDB, stops at 16 MB per response and hands
        // the rest back as unprocessed keys, which the caller asks for again.
        // dynoxide gives them in DynamoDB's JSON wire form.
        let unprocessed = response
            .unprocessed_keys
            .into_iter()
            .map(|(table, left)| {
                let keys: Vec<HashMap<String, dx::AttributeValue>> = serde_json::from_value(left["Keys"].clone())
                    .map_err(|e| BackendError::Other(format!("embedded engine: unreadable unprocessed keys: {e}")))?;
                let consistent = left["ConsistentRead"].as_bool().unwrap_or(false);
                Ok(TableKeys { table, keys: keys.into_iter().map(from_dx_item).collect(), consistent })
            })
            .collect::<Result<_, BackendError>>()?;
        let items = response.responses.into_iter().map(|(table, items)| (table, items.into_iter().map(from_dx_item).collect())).collect();
        Ok(BatchGetOutput { items, unprocessed })
    }

    async fn write(&self, write: Write) -> Result<(), BackendError> {
        tokio::task::yield_now().await;
        match write {
            Write::Put { table, item, condition } => {
                let (condition_expression, names, values) = cond(condition);
                let request = put_item::PutItemRequest {
                    table_name: table,
                    item: to_dx_item(item),
                    condition_expression,
                    expression_attribute_names: names,
                    expression_attribute_values: values,
                    return_consumed_capacity: total(),
                    ..Default::default()
                };
                let response = self.db.put_item(request).map_err(map_err)?;
                record(&response.consumed_capacity, false);
                Ok(())
            }
            Write::Update { table, key, update, condition } => {
                let text = update.text.clone();
                let (names, values) = Expr::merged_placeholders(&update, condition.as_ref());
                let request = update_item::UpdateItemRequest {
                    table_name: table,
                    key: to_dx_item(key),
                    update_expression: Some(text),
                    condition_expression: condition.map(|c| c.text),
                    expression_attribute_names: some_if(names),
                    expression_attribute_values: some_if(to_dx_item(values)),
                    return_consumed_capacity: total(),
                    ..Default::default()
                };
                let response = self.db.update_item(request).map_err(map_err)?;
                record(&response.consumed_capacity, false);
                Ok(())
            }
            Write::Delete { table, key, condition } => {
                let (condition_expression, names, values) = cond(condition);
                let request = delete_item::DeleteItemRequest {
                    table_name: table,
                    key: to_dx_item(key),
                    condition_expression,
                    expression_attribute_names: names,
                    expression_attribute_values: values,
                    return_consumed_capacity: total(),
                    ..Default::default()
                };
                let response = self.db.delete_item(request).map_err(map_err)?;
                record(&response.consumed_capacity, false);
                Ok(())
            }
            Write::Check { .. } => self.transact_write(vec![write]).await,
        }
    }

    async fn transact_write(&self, writes: Vec<Write>) -> Result<(), BackendError> {
        tokio::task::yield_now().await;
        let request = twi::TransactWriteItemsRequest {
            transact_items: writes.into_iter().map(transact_item).collect(),
            return_consumed_capacity: total(),
            ..Default::default()
        };
        let response = self.db.transact_write_items(request).map_err(map_err)?;
        record(response.consumed_capacity.iter().flatten(), false);
        Ok(())
    }

    async fn transact_get(&self, gets: Vec<Get>) -> Result<Vec<Option<Item>>, BackendError> {
        tokio::task::yield_now().await;
        let transact_items = gets
            .into_iter()
            .map(|g| {
                let r = get_request(g);
                transact_get_items::TransactGetItem {
                    get: transact_get_items::TransactGet {
                        table_name: r.table_name,
                        key: r.key,
                        projection_expression: r.projection_expression,
                        expression_attribute_names: r.expression_attribute_names,
                    },
                }
            })
            .collect();
        let request = transact_get_items::TransactGetItemsRequest { transact_items, return_consumed_capacity: total() };
        let response = self.db.transact_get_items(request).map_err(map_err)?;
        record(response.consumed_capacity.iter().flatten(), true);
        Ok(response.responses.into_iter().map(|r| r.item.map(from_dx_item)).collect())
    }

    async fn query(&self, q: Query) -> Result<Page, BackendError> {
        tokio::task::yield_now().await;
        let request = query::QueryRequest {
            table_name: q.table,
            key_condition_expression: Some(q.key_condition.text),
            expression_attribute_names: some_if(q.key_condition.names),
            expression_attribute_values: some_if(to_dx_item(q.key_condition.values)),
            scan_index_forward: true,
            limit: q.limit.map(|l| l as usize),
            exclusive_start_key: q.start.map(to_dx_item),
            consistent_read: Some(q.consistent),
            return_consumed_capacity: total(),
            ..Default::default()
        };
        let response = self.db.query(request).map_err(map_err)?;
        record(&response.consumed_capacity, true);
        Ok(page(response.items, response.last_evaluated_key))
    }

    async fn scan(&self, s: Scan) -> Result<Page, BackendError> {
        tokio::task::yield_now().await;
        let request = scan::ScanRequest {
            table_name: s.table,
            limit: s.limit.map(|l| l as usize),
            exclusive_start_key: s.start.map(to_dx_item),
            consistent_read: Some(s.consistent),
            segment: s.segment.map(|(i, _)| i),
            total_segments: s.segment.map(|(_, n)| n),
            return_consumed_capacity: total(),
            ..Default::default()
        };
        let response = self.db.scan(request).map_err(map_err)?;
        record(&response.consumed_capacity, true);
        Ok(page(response.items, response.last_evaluated_key))
    }

    async fn create_table(&self, table: &str, key: &str) -> Result<(), BackendError> {
        tokio::task::yield_now().await;
        let request = create_table::CreateTableRequest {
            table_name: table.to_owned(),
            key_schema: vec![dx::KeySchemaElement { attribute_name: key.to_owned(), key_type: dx::KeyType::HASH }],
            attribute_definitions: vec![dx::AttributeDefinition {
                attribute_name: key.to_owned(),
                attribute_type: dx::ScalarAttributeType::S,
            }],
            billing_mode: Some("PAY_PER_REQUEST".to_owned()),
            ..Default::default()
        };
        self.db.create_table(request).map(drop).map_err(map_err)
    }

    async fn describe_table(&self, table: &str) -> Result<Option<TableInfo>, BackendError> {
        tokio::task::yield_now().await;
        let request = describe_table::DescribeTableRequest { table_name: table.to_owned() };
        let t = match self.db.describe_table(request).map_err(map_err) {
            Ok(response) => response.table,
            Err(BackendError::TableNotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(TableInfo {
            name: t.table_name,
            key_schema: t.key_schema.into_iter().map(|k| (k.attribute_name, format!("{:?}", k.key_type))).collect(),
            attribute_types: t.attribute_definitions.into_iter().map(|a| (a.attribute_name, format!("{:?}", a.attribute_type))).collect(),
            status: t.table_status,
        }))
    }
}
