//! The floor: requests written by hand in the engine's own types, sent to
//! the engine without dystore in the way — dynoxide's `Database` called
//! directly for the embedded engine, a plain aws-sdk-dynamodb client for an
//! endpoint. What an application writing against the engine by hand would
//! send, and what dystore's time is compared with.
//!
//! A request is described once in dystore's backend types ([`Request`],
//! the form dystore's own requests are recorded in) and turned into the
//! engine's types by [`Engine::prepare`] before the clock starts; only
//! [`Engine::send`] is timed. Hand-written requests do not ask for
//! consumed capacity (dystore's do).

use super::Result;
use super::reference::Request;
use aws_sdk_dynamodb::types as sdk;
use dynoxide::actions::{batch_get_item, get_item, put_item, transact_write_items as twi, update_item};
use dynoxide::types as dx;
use dystore::backend::{Expr, Get, Item, TableKeys, Write};
use serde_dynamo::AttributeValue;
use std::collections::HashMap;

/// The engine, spoken to without dystore.
#[derive(Clone)]
pub(crate) enum Engine {
    /// The same dynoxide database the measured client's embedded backend
    /// wraps.
    Embedded(dynoxide::Database),
    /// An aws-sdk-dynamodb client of the same configuration as the
    /// measured client's.
    Sdk(aws_sdk_dynamodb::Client),
}

/// A request in the engine's own types, ready to send.
pub(crate) enum Native {
    DxGet(get_item::GetItemRequest),
    DxBatchGet(batch_get_item::BatchGetItemRequest),
    DxPut(put_item::PutItemRequest),
    DxUpdate(update_item::UpdateItemRequest),
    DxTransact(twi::TransactWriteItemsRequest),
    SdkGet(aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder),
    SdkBatchGet(aws_sdk_dynamodb::operation::batch_get_item::builders::BatchGetItemFluentBuilder),
    SdkPut(aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder),
    SdkUpdate(aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder),
    SdkTransact(aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder),
}

/// What a request got back, still in the engine's types (converted by
/// [`Reply::items`] after the clock stops).
pub(crate) enum Reply {
    Dx(Vec<dx::Item>),
    Sdk(Vec<HashMap<String, sdk::AttributeValue>>),
}

impl Reply {
    /// The items read (none for a write), in dystore's backend types.
    pub(crate) fn items(self) -> Vec<Item> {
        match self {
            Reply::Dx(items) => items.into_iter().map(from_dx_item).collect(),
            Reply::Sdk(items) => items.into_iter().map(|i| i.into_iter().map(|(k, v)| (k, v.into())).collect()).collect(),
        }
    }
}

impl Engine {
    /// `request` in the engine's types. Supports what the bench's floors
    /// send: a GetItem (with a projection), a BatchGetItem, a PutItem, an
    /// UpdateItem, and a TransactWriteItems of puts and deletes.
    pub(crate) fn prepare(&self, request: Request) -> Result<Native> {
        match self {
            Engine::Embedded(_) => dx_request(request),
            Engine::Sdk(client) => sdk_request(client, request),
        }
    }

    /// Sends a prepared request.
    pub(crate) async fn send(&self, native: Native) -> Result<Reply> {
        match (self, native) {
            (Engine::Embedded(db), native) => Ok(Reply::Dx(send_dx(db, native)?)),
            (Engine::Sdk(_), native) => Ok(Reply::Sdk(send_sdk(native).await?)),
        }
    }
}

fn send_dx(db: &dynoxide::Database, native: Native) -> Result<Vec<dx::Item>> {
    Ok(match native {
        Native::DxGet(r) => db.get_item(r)?.item.into_iter().collect(),
        Native::DxBatchGet(r) => {
            let out = db.batch_get_item(r)?;
            if !out.unprocessed_keys.is_empty() {
                return Err("the floor's BatchGetItem left keys unprocessed".into());
            }
            out.responses.into_values().flatten().collect()
        }
        Native::DxPut(r) => db.put_item(r).map(|_| Vec::new())?,
        Native::DxUpdate(r) => db.update_item(r).map(|_| Vec::new())?,
        Native::DxTransact(r) => db.transact_write_items(r).map(|_| Vec::new())?,
        _ => return Err("an aws-sdk request sent to the embedded engine".into()),
    })
}

async fn send_sdk(native: Native) -> Result<Vec<HashMap<String, sdk::AttributeValue>>> {
    Ok(match native {
        Native::SdkGet(r) => r.send().await?.item.into_iter().collect(),
        Native::SdkBatchGet(r) => {
            let out = r.send().await?;
            if out.unprocessed_keys.as_ref().is_some_and(|u| !u.is_empty()) {
                return Err("the floor's BatchGetItem left keys unprocessed".into());
            }
            out.responses.unwrap_or_default().into_values().flatten().collect()
        }
        Native::SdkPut(r) => r.send().await.map(|_| Vec::new())?,
        Native::SdkUpdate(r) => r.send().await.map(|_| Vec::new())?,
        Native::SdkTransact(r) => r.send().await.map(|_| Vec::new())?,
        _ => return Err("a dynoxide request sent over the network".into()),
    })
}

fn some_if<T>(map: HashMap<String, T>) -> Option<HashMap<String, T>> {
    (!map.is_empty()).then_some(map)
}

fn dx_request(request: Request) -> Result<Native> {
    Ok(match request {
        Request::Get(Get { table, key, projection, consistent }) => {
            let (projection_expression, names) = split(projection);
            Native::DxGet(get_item::GetItemRequest {
                table_name: table,
                key: to_dx_item(key),
                consistent_read: Some(consistent),
                projection_expression,
                expression_attribute_names: some_if(names),
                ..Default::default()
            })
        }
        Request::BatchGet(tables) => {
            let request_items = tables
                .into_iter()
                .map(|TableKeys { table, keys, consistent }| {
                    let keys = keys.into_iter().map(to_dx_item).collect();
                    (table, batch_get_item::KeysAndAttributes { keys, consistent_read: Some(consistent), ..Default::default() })
                })
                .collect();
            Native::DxBatchGet(batch_get_item::BatchGetItemRequest { request_items, ..Default::default() })
        }
        Request::Write(Write::Put { table, item, condition: None }) => {
            Native::DxPut(put_item::PutItemRequest { table_name: table, item: to_dx_item(item), ..Default::default() })
        }
        Request::Write(Write::Update { table, key, update, condition: None }) => Native::DxUpdate(update_item::UpdateItemRequest {
            table_name: table,
            key: to_dx_item(key),
            update_expression: Some(update.text),
            expression_attribute_names: some_if(update.names),
            expression_attribute_values: some_if(to_dx_item(update.values)),
            ..Default::default()
        }),
        Request::Transact(writes) => {
            let transact_items = writes.into_iter().map(dx_transact_item).collect::<Result<_>>()?;
            Native::DxTransact(twi::TransactWriteItemsRequest { transact_items, ..Default::default() })
        }
        other => return Err(format!("the floor does not write {} by hand", other.op()).into()),
    })
}

fn dx_transact_item(write: Write) -> Result<twi::TransactWriteItem> {
    let mut out = twi::TransactWriteItem::default();
    match write {
        Write::Put { table, item, condition: None } => {
            out.put = Some(twi::TransactPut { table_name: table, item: to_dx_item(item), ..Default::default() });
        }
        Write::Delete { table, key, condition: None } => {
            out.delete = Some(twi::TransactDelete { table_name: table, key: to_dx_item(key), ..Default::default() });
        }
        _ => return Err("the floor's transactions hold unconditional puts and deletes".into()),
    }
    Ok(out)
}

fn sdk_request(client: &aws_sdk_dynamodb::Client, request: Request) -> Result<Native> {
    Ok(match request {
        Request::Get(Get { table, key, projection, consistent }) => {
            let (projection, names) = split(projection);
            Native::SdkGet(
                client
                    .get_item()
                    .table_name(table)
                    .set_key(Some(to_sdk_item(key)))
                    .consistent_read(consistent)
                    .set_projection_expression(projection)
                    .set_expression_attribute_names(some_if(names)),
            )
        }
        Request::BatchGet(tables) => {
            let mut items = HashMap::new();
            for TableKeys { table, keys, consistent } in tables {
                let keys = keys.into_iter().map(to_sdk_item).collect();
                items.insert(table, sdk::KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(consistent).build()?);
            }
            Native::SdkBatchGet(client.batch_get_item().set_request_items(Some(items)))
        }
        Request::Write(Write::Put { table, item, condition: None }) => {
            Native::SdkPut(client.put_item().table_name(table).set_item(Some(to_sdk_item(item))))
        }
        Request::Write(Write::Update { table, key, update, condition: None }) => Native::SdkUpdate(
            client
                .update_item()
                .table_name(table)
                .set_key(Some(to_sdk_item(key)))
                .update_expression(update.text)
                .set_expression_attribute_names(some_if(update.names))
                .set_expression_attribute_values(some_if(to_sdk_item(update.values))),
        ),
        Request::Transact(writes) => {
            let items = writes.into_iter().map(sdk_transact_item).collect::<Result<_>>()?;
            Native::SdkTransact(client.transact_write_items().set_transact_items(Some(items)))
        }
        other => return Err(format!("the floor does not write {} by hand", other.op()).into()),
    })
}

fn sdk_transact_item(write: Write) -> Result<sdk::TransactWriteItem> {
    Ok(match write {
        Write::Put { table, item, condition: None } => {
            let put = sdk::Put::builder().table_name(table).set_item(Some(to_sdk_item(item))).build()?;
            sdk::TransactWriteItem::builder().put(put).build()
        }
        Write::Delete { table, key, condition: None } => {
            let delete = sdk::Delete::builder().table_name(table).set_key(Some(to_sdk_item(key))).build()?;
            sdk::TransactWriteItem::builder().delete(delete).build()
        }
        _ => return Err("the floor's transactions hold unconditional puts and deletes".into()),
    })
}

/// A projection's text and names.
fn split(projection: Option<Expr>) -> (Option<String>, HashMap<String, String>) {
    projection.map_or((None, HashMap::new()), |p| (Some(p.text), p.names))
}

fn to_sdk_item(item: Item) -> HashMap<String, sdk::AttributeValue> {
    item.into_iter().map(|(k, v)| (k, v.into())).collect()
}

// Written out here because dystore's own conversion (backend::embedded) is
// private to it, and the floor must not go through dystore anyway.
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

fn to_dx_item(item: Item) -> dx::Item {
    item.into_iter().map(|(k, v)| (k, to_dx(v))).collect()
}

fn from_dx_item(item: dx::Item) -> Item {
    item.into_iter().map(|(k, v)| (k, from_dx(v))).collect()
}
