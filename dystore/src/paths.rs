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
use crate::rules::Rules;
use crate::shard::{holder, Holder, Node, Resolved};
use jsonpath_rust::JsonPath;
use serde_dynamo::AttributeValue;
use serde_json::Value;


/// The values at `path` in the object keyed `key`: one or none for a plain
/// path, any number for a pattern or a query.
pub(crate) async fn read_path(client: &Client, layout: &Layout, key: &str, path: &str) -> Result<Vec<Value>> {
    let resolved = Resolved::new(layout)?;
    let plain = match parse(path).map_err(|e| e.with_table(layout.table.as_ref()))? {
        Path::Plain(p) => p,
        Path::Pattern(p) => {
            let doc = Value::Object(load(client, layout, key, true, false).await?.body);
            return Ok(p.find_all(&doc).into_iter().cloned().collect());
        }
        Path::Query(q) => return query_loaded(client, layout, key, &q).await,
    };
    match holder(&resolved.root, key, &plain)? {
        Holder::Item { node, base, key: item_key, rest } if !rest.steps.is_empty() => {
            let item = ItemAt { node, base: &base, key: &item_key, rest: &rest };
            read_in_item(client, &resolved.rules, layout, key, item).await
        }
        _ => {
            let loaded = load(client, layout, key, true, false).await?;
            Ok(plain.find(&Value::Object(loaded.body)).into_iter().cloned().collect())
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

/// The value a projection of `path` brought back, out of what came back:
/// DynamoDB returns the maps on the way with that one entry each, and each
/// list on the way with only the projected element, so an index step takes
/// the single element there, whatever its index was.
fn projected(mut value: AttributeValue, path: &PlainPath) -> Option<AttributeValue> {
    for step in &path.steps {
        value = match (value, step) {
            (AttributeValue::M(mut map), Step::Field(name)) => map.remove(name)?,
            (AttributeValue::L(mut items), Step::Index(_)) if items.len() == 1 => items.pop()?,
            _ => return None,
        };
    }
    Some(value)
}

/// The item holding a path: its node, the full path of its object, its
/// key, and the path's remainder inside it.
struct ItemAt<'a> {
    node: &'a Node<'a>,
    base: &'a PlainPath,
    key: &'a str,
    rest: &'a PlainPath,
}

/// One GetItem with a projection on the item holding the path.
async fn read_in_item(client: &Client, rules: &Rules, root_layout: &Layout, root_key: &str, at: ItemAt<'_>) -> Result<Vec<Value>> {
    let layout = at.node.layout;
    // The key attribute is projected too, so an existing item without the
    // path still comes back and "absent path" differs from "absent item".
    let mut projection = Expr::default();
    let key_operand = placeholder_for(&mut projection, &layout.key);
    let operand = at.rest.operand(&mut projection);
    projection.text = format!("{key_operand}, {operand}");
    let get = Get { table: layout.table.to_string(), key: key_item(&layout.key, at.key), projection: Some(projection), consistent: true };
    let item = retrying(client.policy(), || client.backend().get(get.clone()))
        .await
        .map_err(|e| backend_error(e, &layout.table).with_key(root_key))?;
    let Some(mut item) = item else {
        return Err(missing_item(client, root_layout, root_key, layout, at.base).await);
    };
    item.remove(layout.key.as_ref());
    let Some(value) = projected(AttributeValue::M(item), at.rest) else { return Ok(Vec::new()) };
    let codec = Codec { loader: client.loader(), rules, raw: false };
    let site = Site { table: &layout.table, root_key };
    Ok(vec![codec.decode_value(site, &at.node.shards, at.base, at.rest.clone(), value)?])
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
    let resolved = Resolved::new(layout)?;
    let plain = parse_plain_only(path, "write_path").map_err(|e| e.with_table(layout.table.as_ref()))?;
    let Holder::Item { node, base, key: item_key, rest } = holder(&resolved.root, key, &plain)? else {
        return Err(Error::new(ErrorKind::InvalidPath, "the path is a shard or holds shards; save the object instead")
            .with_table(layout.table.as_ref())
            .with_key(key)
            .with_path(path));
    };
    match rest.steps.first() {
        None => return Err(Error::new(ErrorKind::InvalidPath, "write_path cannot replace the whole object").with_path(path)),
        Some(Step::Field(name)) if name == META || name == node.layout.key.as_ref() => {
            return Err(Error::new(ErrorKind::InvalidPath, "the key and the metadata are not writable").with_table(node.layout.table.as_ref()).with_path(path));
        }
        _ => {}
    }
    let item_layout = node.layout;
    let codec = Codec { loader: client.loader(), rules: &resolved.rules, raw: false };
    let site = Site { table: &item_layout.table, root_key: key };
    let encoded = codec
        .encode_value(site, &node.shards, &base, rest.clone(), value, &Value::Null)
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
