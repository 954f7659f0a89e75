//! A snapshot of environment variables.
//!
//! Everything that reads the environment takes an [`Env`], so tests inject one instead of
//! mutating the test process's environment (which races between parallel tests).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt;

#[derive(Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
    /// Variables set to a value that is not UTF-8: absent from `vars`, but not unset.
    not_text: BTreeSet<String>,
}

impl Env {
    /// The current process environment. A variable whose value is not valid UTF-8 is left out,
    /// and remembered, so that a reader can say so instead of calling it unset; one whose name
    /// is not UTF-8 is no name anything here reads.
    pub fn from_process() -> Self {
        Self::from_os_pairs(std::env::vars_os())
    }

    pub fn from_os_pairs(pairs: impl IntoIterator<Item = (OsString, OsString)>) -> Self {
        let mut env = Self::default();
        for (name, value) in pairs {
            let Ok(name) = name.into_string() else {
                continue;
            };
            match value.into_string() {
                Ok(value) => {
                    env.vars.insert(name, value);
                }
                Err(_) => {
                    env.not_text.insert(name);
                }
            }
        }
        env
    }

    /// Whether `name` is set to a value that is not UTF-8 text.
    pub fn is_not_text(&self, name: &str) -> bool {
        self.not_text.contains(name)
    }

    /// The variables set to a value that is not UTF-8 text.
    pub fn names_not_text(&self) -> impl Iterator<Item = &str> {
        self.not_text.iter().map(String::as_str)
    }

    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
            not_text: BTreeSet::new(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Every variable name, in sorted order (values stay private: they may hold secrets).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }

    /// The variables whose names start with `prefix`, for config-rs's environment source.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.vars
            .range(prefix.to_owned()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Names only: values may hold secrets.
impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.vars.keys()).finish()
    }
}
