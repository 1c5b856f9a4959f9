//! Reading and writing one path of a stored object, touching only the item
//! that holds it.

use crate::backend::{Expr, Get, Write};
use crate::client::Client;
use crate::codec::{Codec, Site};
use crate::error::{Error, ErrorKind, Result};
use crate::format::{token, META};
use crate::io::{backend_error, exists, key_item, retrying};
use crate::layout::Layout;
use crate::ops::{load, not_found};
use crate::path::{parse, parse_plain_only, placeholder_for, Path, PlainPath, Step};
use crate::shard::{self, holder, Holder};
use jsonpath_rust::JsonPath;
use serde_dynamo::AttributeValue;
use serde_json::Value;


/// The values at `path` in the object keyed `key`: one or none for a plain
/// path, any number for a query.
pub(crate) async fn read_path(client: &Client, layout: &Layout, key: &str, path: &str) -> Result<Vec<Value>> {
    shard::validate(layout)?;
    let plain = match parse(path)? {
        Path::Plain(p) => p,
        Path::Query(q) => return query_loaded(client, layout, key, &q).await,
    };
    match holder(layout, key, &plain)? {
        Holder::Item { layout: item_layout, base, key: item_key, rest } if !rest.steps.is_empty() => {
            read_in_item(client, layout, key, item_layout, &base, &item_key, &rest).await
        }
        _ => {
            let loaded = load(client, layout, key, true, false).await?;
            Ok(walk(&Value::Object(loaded.body), &plain).into_iter().cloned().collect())
        }
    }
}

async fn query_loaded(client: &Client, layout: &Layout, key: &str, query: &str) -> Result<Vec<Value>> {
    let loaded = load(client, layout, key, true, false).await?;
    let doc = Value::Object(loaded.body);
    let found = doc
        .query(query)
        .map_err(|e| Error::new(ErrorKind::InvalidPath, format!("the query failed: {e}")).with_path(query).with_table(layout.table.as_ref()))?;
    Ok(found.into_iter().cloned().collect())
}

/// The value at a plain path of a JSON value.
fn walk<'a>(mut value: &'a Value, path: &PlainPath) -> Option<&'a Value> {
    for step in &path.steps {
        value = match step {
            Step::Field(name) => value.as_object()?.get(name)?,
            Step::Index(i) => value.as_array()?.get(*i)?,
        };
    }
    Some(value)
}

fn walk_attr(mut value: AttributeValue, path: &PlainPath) -> Option<AttributeValue> {
    for step in &path.steps {
        value = match (value, step) {
            (AttributeValue::M(mut map), Step::Field(name)) => map.remove(name)?,
            (AttributeValue::L(mut items), Step::Index(i)) if *i < items.len() => items.swap_remove(*i),
            _ => return None,
        };
    }
    Some(value)
}

/// One GetItem with a projection on the item holding the path.
async fn read_in_item(
    client: &Client,
    root_layout: &Layout,
    root_key: &str,
    layout: &Layout,
    base: &PlainPath,
    item_key: &str,
    rest: &PlainPath,
) -> Result<Vec<Value>> {
    // The key attribute is projected too, so an existing item without the
    // path still comes back and "absent path" differs from "absent item".
    let mut projection = Expr::default();
    let key_operand = placeholder_for(&mut projection, &layout.key);
    let operand = rest.operand(&mut projection);
    projection.text = format!("{key_operand}, {operand}");
    let get = Get { table: layout.table.to_string(), key: key_item(&layout.key, item_key), projection: Some(projection), consistent: true };
    let item = retrying(client.policy(), || client.backend().get(get.clone()))
        .await
        .map_err(|e| backend_error(e, &layout.table).with_key(root_key))?;
    let Some(mut item) = item else {
        return Err(missing_item(client, root_layout, root_key, layout, base).await);
    };
    item.remove(layout.key.as_ref());
    let Some(value) = walk_attr(AttributeValue::M(item), rest) else { return Ok(Vec::new()) };
    let codec = Codec { loader: client.loader(), raw: false };
    let site = Site { table: &layout.table, root_key };
    Ok(vec![codec.decode_value(site, &base.join(rest), value)?])
}

/// The error for an item that is not there: the object is missing, or only
/// the shard the path leads into.
async fn missing_item(client: &Client, root_layout: &Layout, root_key: &str, layout: &Layout, base: &PlainPath) -> Error {
    if base.steps.is_empty() {
        return not_found(root_layout, root_key);
    }
    let mut projection = Expr::default();
    projection.text = placeholder_for(&mut projection, &root_layout.key);
    let get = Get { table: root_layout.table.to_string(), key: key_item(&root_layout.key, root_key), projection: Some(projection), consistent: true };
    match retrying(client.policy(), || client.backend().get(get.clone())).await {
        Ok(Some(_)) => Error::new(ErrorKind::MissingShard, "the object has no shard here")
            .with_table(layout.table.as_ref())
            .with_key(root_key)
            .with_path(base.to_string()),
        Ok(None) => not_found(root_layout, root_key),
        Err(e) => backend_error(e, &root_layout.table).with_key(root_key),
    }
}

/// Sets the value at a plain `path`: one update of the item that holds it,
/// with the root's revision advanced in the same request.
pub(crate) async fn write_path(client: &Client, layout: &Layout, key: &str, path: &str, value: Value) -> Result<()> {
    shard::validate(layout)?;
    let plain = parse_plain_only(path, "write_path").map_err(|e| e.with_table(layout.table.as_ref()))?;
    let Holder::Item { layout: item_layout, base, key: item_key, rest } = holder(layout, key, &plain)? else {
        return Err(Error::new(ErrorKind::InvalidPath, "the path is a shard or holds shards; save the object instead")
            .with_table(layout.table.as_ref())
            .with_key(key)
            .with_path(path));
    };
    match rest.steps.first() {
        None => return Err(Error::new(ErrorKind::InvalidPath, "write_path cannot replace the whole object").with_path(path)),
        Some(Step::Field(name)) if name == META || name == item_layout.key.as_ref() => {
            return Err(Error::new(ErrorKind::InvalidPath, "the key and the metadata are not writable").with_table(item_layout.table.as_ref()).with_path(path));
        }
        _ => {}
    }
    let codec = Codec { loader: client.loader(), raw: false };
    let site = Site { table: &item_layout.table, root_key: key };
    let rel = PlainPath { steps: rest.steps.clone() };
    let encoded = codec
        .encode_value(site, item_layout, &base, rel, value, &Value::Null)
        .map_err(|e| e.with_table(item_layout.table.as_ref()).with_key(key))?;

    let mut update = Expr::default();
    let operand = rest.operand(&mut update);
    update.values.insert(":v".into(), encoded);
    update.text = format!("SET {operand} = :v");
    let revision = AttributeValue::S(token());
    let mut writes = Vec::new();
    if base.steps.is_empty() {
        update.text.push_str(", #dm.#rev = :rev");
        add_revision(&mut update, revision);
        writes.push(Write::Update { table: layout.table.to_string(), key: key_item(&layout.key, key), update, condition: Some(exists(&layout.key)) });
    } else {
        let item = key_item(&item_layout.key, &item_key);
        writes.push(Write::Update { table: item_layout.table.to_string(), key: item, update, condition: Some(exists(&item_layout.key)) });
        let mut root_update = Expr { text: "SET #dm.#rev = :rev".into(), ..Default::default() };
        add_revision(&mut root_update, revision);
        writes.push(Write::Update { table: layout.table.to_string(), key: key_item(&layout.key, key), update: root_update, condition: Some(exists(&layout.key)) });
    }
    let single = writes.len() == 1;
    let result = if single {
        let w = writes.pop().expect("one write");
        retrying(client.policy(), || client.backend().write(w.clone())).await
    } else {
        retrying(client.policy(), || client.backend().transact_write(writes.clone())).await
    };
    result.map_err(|e| write_path_error(e, layout, item_layout, key, &base, path, single))
}

fn add_revision(expr: &mut Expr, revision: AttributeValue) {
    expr.names.insert("#dm".into(), META.into());
    expr.names.insert("#rev".into(), "revision".into());
    expr.values.insert(":rev".into(), revision);
}

fn write_path_error(e: crate::backend::BackendError, root: &Layout, layout: &Layout, key: &str, base: &PlainPath, path: &str, single: bool) -> Error {
    use crate::backend::BackendError as B;
    let failed = |code: &str, reasons: &[Option<String>], i: usize| reasons.get(i).and_then(|r| r.as_deref()) == Some(code);
    match e {
        B::ConditionFailed if single => not_found(root, key),
        B::TransactionCanceled { reasons } if failed("ConditionalCheckFailed", &reasons, 1) => not_found(root, key),
        B::TransactionCanceled { reasons } if failed("ConditionalCheckFailed", &reasons, 0) => {
            Error::new(ErrorKind::MissingShard, "the object has no shard here").with_table(layout.table.as_ref()).with_key(key).with_path(base.to_string())
        }
        B::Validation(_) => invalid_parent(layout, key, path).with_source(e),
        B::TransactionCanceled { reasons } if failed("ValidationError", &reasons, 0) => invalid_parent(layout, key, path),
        other => backend_error(other, &layout.table).with_key(key).with_path(path),
    }
}

fn invalid_parent(layout: &Layout, key: &str, path: &str) -> Error {
    Error::new(ErrorKind::InvalidPath, "the stored object has no map or list where the path needs one").with_table(layout.table.as_ref()).with_key(key).with_path(path)
}
