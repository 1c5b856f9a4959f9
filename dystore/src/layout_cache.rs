//! What operations work out from a layout alone (its resolution, its
//! recorded form and shape), kept for the layouts used lately: an
//! application has a handful of layouts (a derive's `const`, a `Store`
//! built once) and runs many operations on each, which otherwise parse its
//! paths and rules, and build, print and hash its metadata, every time.

use crate::layout::Layout;
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// How many layouts a cache remembers; past it, the least recently used is
/// worked out again when next used.
const LAYOUTS: NonZeroUsize = NonZeroUsize::new(64).expect("not zero");

/// A value worked out from a layout, by layout (equal layouts share it).
pub(crate) struct ByLayout<T> {
    cache: OnceLock<Mutex<LruCache<Layout, Arc<T>>>>,
}

impl<T> ByLayout<T> {
    pub(crate) const fn new() -> Self {
        ByLayout { cache: OnceLock::new() }
    }

    /// The value for `layout`, worked out by `make` if not kept.
    pub(crate) fn get_or(&self, layout: &Layout, make: impl FnOnce() -> T) -> Arc<T> {
        match self.get_or_try(layout, || Ok::<_, std::convert::Infallible>(make())) {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// The value for `layout`, worked out by `make` if not kept; an error
    /// of `make` is returned and nothing is kept.
    pub(crate) fn get_or_try<E>(&self, layout: &Layout, make: impl FnOnce() -> Result<T, E>) -> Result<Arc<T>, E> {
        let cache = self.cache.get_or_init(|| Mutex::new(LruCache::new(LAYOUTS)));
        if let Some(found) = cache.lock().unwrap_or_else(PoisonError::into_inner).get(layout) {
            return Ok(found.clone());
        }
        // Worked out outside the lock: two tasks may both work it out the
        // first time, and the value is the same.
        let made = Arc::new(make()?);
        cache.lock().unwrap_or_else(PoisonError::into_inner).put(layout.clone(), made.clone());
        Ok(made)
    }
}
