//! The current key, swapped atomically; requests take a lock-free snapshot.

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwapOption;

use super::{ApiKey, KeySource};

/// A key together with where and when it was loaded.
#[derive(Debug)]
pub struct LoadedKey {
    pub key: ApiKey,
    pub source: KeySource,
    /// `source` as text, made once per load for the access line of every request.
    pub source_text: Box<str>,
    pub loaded_at: SystemTime,
}

#[derive(Debug)]
pub struct KeyStore {
    source: KeySource,
    current: ArcSwapOption<LoadedKey>,
}

impl KeyStore {
    pub fn new(source: KeySource, key: Option<ApiKey>) -> Self {
        let store = Self {
            current: ArcSwapOption::empty(),
            source,
        };
        if let Some(key) = key {
            store.replace(key);
        }
        store
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// The key a request should use from start to finish, even if a swap happens meanwhile.
    pub fn snapshot(&self) -> Option<Arc<LoadedKey>> {
        self.current.load_full()
    }

    pub fn replace(&self, key: ApiKey) {
        self.current.store(Some(Arc::new(LoadedKey {
            key,
            source: self.source.clone(),
            source_text: self.source.to_string().into(),
            loaded_at: SystemTime::now(),
        })));
    }
}
