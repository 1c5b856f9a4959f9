//! Listing the objects of a layout: a Scan of the root table, page by page,
//! keeping the keys of objects' roots (not shard, chunk or record items,
//! nor tombstones), the objects then read in batches of a page.

use super::upgrade::{Kind, kind_of};
use super::{Env, Loaded, backend_error, load_many, operation};
use crate::backend::{Item, Scan};
use crate::error::Result;
use crate::layout::Layout;
use futures_util::stream::{self, Stream};
use serde_dynamo::AttributeValue;
use std::collections::VecDeque;

/// Items per Scan page, and so objects per batched read.
pub(crate) const PAGE_ITEMS: u32 = 100;

/// Where a listing stands.
struct Listing<'a> {
    env: Env<'a>,
    layout: &'a Layout,
    segment: Option<(u32, u32)>,
    /// Where the next page starts; `None` before the first.
    start: Option<Item>,
    /// The last page was read.
    done: bool,
}

impl Listing<'_> {
    /// The keys of the objects of the next page (maybe none); `None` past
    /// the last page.
    async fn next_page(&mut self) -> Option<Result<Vec<String>>> {
        if self.done {
            return None;
        }
        let scan = Scan {
            table: self.layout.table.to_string(),
            segment: self.segment,
            start: self.start.take(),
            limit: Some(PAGE_ITEMS),
            consistent: true,
        };
        let scanned = async { self.env.backend.scan(scan).await.map_err(|e| backend_error(e, &self.layout.table)) };
        let page = match operation(&self.env, "list_page", self.layout, None, false, scanned).await {
            Ok(page) => page,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        self.done = page.last_key.is_none();
        self.start = page.last_key;
        let keys = page
            .items
            .iter()
            .filter_map(|item| match item.get(self.layout.key.as_ref()) {
                Some(AttributeValue::S(key)) if matches!(kind_of(item, key), Kind::Object) => Some(key.clone()),
                _ => None,
            })
            .collect();
        Some(Ok(keys))
    }
}

/// The keys of every object of `layout` (of one segment of a parallel scan
/// with `segment`), a Scan page at a time.
pub(crate) fn keys<'a>(env: Env<'a>, layout: &'a Layout, segment: Option<(u32, u32)>) -> impl Stream<Item = Result<String>> + 'a {
    let listing = Listing { env, layout, segment, start: None, done: false };
    stream::unfold((listing, VecDeque::new()), |(mut listing, mut ready)| async move {
        loop {
            if let Some(key) = ready.pop_front() {
                return Some((Ok(key), (listing, ready)));
            }
            match listing.next_page().await? {
                Ok(keys) => ready.extend(keys),
                Err(e) => return Some((Err(e), (listing, ready))),
            }
        }
    })
}

/// Every object of `layout` (of one segment with `segment`) with its key,
/// read a page at a time with [`load_many`]: memory holds one page. An
/// object deleted between the Scan and its read is left out (a listing is
/// not a snapshot: it lists what exists when each object is read); an
/// object that fails to read otherwise is an error naming its key, and the
/// listing goes on; a failed Scan ends it.
pub(crate) fn objects<'a>(
    env: Env<'a>,
    layout: &'a Layout,
    segment: Option<(u32, u32)>,
) -> impl Stream<Item = Result<(String, Loaded)>> + 'a {
    let listing = Listing { env, layout, segment, start: None, done: false };
    stream::unfold((listing, VecDeque::new()), |(mut listing, mut ready)| async move {
        loop {
            if let Some(answer) = ready.pop_front() {
                return Some((answer, (listing, ready)));
            }
            match listing.next_page().await? {
                Ok(keys) => {
                    let loaded = load_many(&listing.env, listing.layout, &keys).await;
                    // Each error names its object already, as the client
                    // shows keys.
                    ready.extend(
                        keys.into_iter()
                            .zip(loaded)
                            .filter(|(_, loaded)| !matches!(loaded, Err(e) if e.is_not_found()))
                            .map(|(key, loaded)| loaded.map(|loaded| (key, loaded))),
                    );
                }
                Err(e) => return Some((Err(e), (listing, ready))),
            }
        }
    })
}
