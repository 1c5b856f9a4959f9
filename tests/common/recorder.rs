//! A `tracing` subscriber for tests: every closed span's fields and every
//! event's, as strings.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A subscriber that keeps every closed span's fields and every event's.
#[derive(Clone, Default)]
pub struct Recorder {
    pub spans: Arc<Mutex<Vec<BTreeMap<String, String>>>>,
    pub events: Arc<Mutex<Vec<BTreeMap<String, String>>>>,
    open: Arc<Mutex<BTreeMap<u64, BTreeMap<String, String>>>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}").trim_matches('"').to_owned());
    }
}

impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>> tracing_subscriber::Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = BTreeMap::from([("name".to_owned(), attrs.metadata().name().to_owned())]);
        attrs.record(&mut Fields(&mut fields));
        self.open.lock().unwrap().insert(id.into_u64(), fields);
    }

    fn on_record(&self, id: &tracing::span::Id, values: &tracing::span::Record<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(fields) = self.open.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.events.lock().unwrap().push(fields);
    }

    fn on_close(&self, id: tracing::span::Id, _: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(fields) = self.open.lock().unwrap().remove(&id.into_u64()) {
            self.spans.lock().unwrap().push(fields);
        }
    }
}

/// Runs `work` on a new current-thread runtime under a [`Recorder`].
pub fn recorded<F: std::future::Future>(work: F) -> (F::Output, Recorder) {
    use tracing_subscriber::layer::SubscriberExt;
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // Tests of this binary run on several threads, most with no
    // subscriber. While one dispatcher alone is registered, tracing-core
    // computes a new callsite's interest from the registering thread's
    // default only: a span first reached by a thread with no subscriber
    // would be off for ours too. A second dispatcher alive for the whole
    // run makes every computation ask all of them.
    static SECOND: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    SECOND.get_or_init(|| tracing::Dispatch::new(tracing_subscriber::registry()));
    let out = tracing::subscriber::with_default(subscriber, || {
        tracing::callsite::rebuild_interest_cache();
        runtime.block_on(work)
    });
    (out, recorder)
}
