//! The SDK profile file (`~/.langsmith/config.json`, or `LANGSMITH_CONFIG_FILE`), read the way
//! the SDKs read it: `{"current_profile": NAME, "profiles": {NAME: {api_key, api_url,
//! workspace_id, oauth: {access_token, refresh_token}}}}`; `LANGSMITH_PROFILE` picks the profile,
//! else `current_profile`, else `default`.

use std::path::PathBuf;

use serde_json::{Map, Value as Json};

use super::effective::KeyValue;
use crate::env::Env;

/// The selected profile's settings. The key is kept only in its redacted form.
#[derive(Debug)]
pub struct Profile {
    pub name: String,
    pub path: PathBuf,
    pub api_key: Option<KeyValue>,
    pub api_url: Option<String>,
    pub workspace_id: Option<String>,
    /// An OAuth token from `langsmith login`, sent as `Authorization: Bearer` when no key is set.
    pub oauth: bool,
}

#[derive(Debug)]
pub enum ProfileState {
    /// No file at the default location (or no home directory to look in).
    NoFile {
        path: Option<PathBuf>,
    },
    /// `LANGSMITH_CONFIG_FILE` names a file that does not exist.
    Missing {
        path: PathBuf,
    },
    /// The file exists but is not a profile file the SDKs can use; they ignore it.
    Unreadable {
        path: PathBuf,
        reason: String,
    },
    /// A file without a selected profile: no `LANGSMITH_PROFILE`, `current_profile` or `default`.
    NoneSelected {
        path: PathBuf,
    },
    /// The selected name is not in the file.
    NotFound {
        path: PathBuf,
        name: String,
        selected_by: &'static str,
    },
    Selected(Profile),
}

impl ProfileState {
    pub fn selected(&self) -> Option<&Profile> {
        match self {
            Self::Selected(profile) => Some(profile),
            _ => None,
        }
    }
}

/// Finds and reads the profile file named by `env`.
pub fn load(env: &Env) -> ProfileState {
    let explicit = env.get("LANGSMITH_CONFIG_FILE").filter(|path| !path.is_empty());
    let path = match explicit {
        Some(path) => PathBuf::from(path),
        None => match ["HOME", "USERPROFILE"].into_iter().find_map(|name| env.get(name)) {
            Some(home) => PathBuf::from(home).join(".langsmith").join("config.json"),
            None => return ProfileState::NoFile { path: None },
        },
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(path, &text, env.get("LANGSMITH_PROFILE")),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => match explicit {
            Some(_) => ProfileState::Missing { path },
            None => ProfileState::NoFile { path: Some(path) },
        },
        Err(error) => ProfileState::Unreadable {
            path,
            reason: error.to_string(),
        },
    }
}

/// Parses the file's text and selects the profile; `requested` is `LANGSMITH_PROFILE`.
pub fn parse(path: PathBuf, text: &str, requested: Option<&str>) -> ProfileState {
    let unreadable = |reason: String| ProfileState::Unreadable {
        path: path.clone(),
        reason,
    };
    let root: Json = match serde_json::from_str(text) {
        Ok(root) => root,
        Err(error) => return unreadable(format!("not valid JSON: {error}")),
    };
    let Some(profiles) = root.get("profiles").and_then(Json::as_object) else {
        return unreadable("no `profiles` object".to_owned());
    };
    let current = root.get("current_profile").and_then(Json::as_str);
    let (name, selected_by) = match (requested.filter(|n| !n.is_empty()), current.filter(|n| !n.is_empty())) {
        (Some(name), _) => (name, "LANGSMITH_PROFILE"),
        (None, Some(name)) => (name, "current_profile"),
        (None, None) if profiles.contains_key("default") => ("default", "default"),
        (None, None) => return ProfileState::NoneSelected { path },
    };
    match profiles.get(name).and_then(Json::as_object) {
        Some(fields) => ProfileState::Selected(profile(name, path, fields)),
        None => ProfileState::NotFound {
            path,
            name: name.to_owned(),
            selected_by,
        },
    }
}

fn profile(name: &str, path: PathBuf, fields: &Map<String, Json>) -> Profile {
    let text = |field: &str| {
        fields
            .get(field)
            .and_then(Json::as_str)
            .filter(|v| !v.trim().is_empty())
    };
    let oauth = fields.get("oauth").and_then(Json::as_object);
    let has_token = |field: &str| {
        oauth
            .and_then(|o| o.get(field))
            .and_then(Json::as_str)
            .is_some_and(|t| !t.trim().is_empty())
    };
    Profile {
        name: name.to_owned(),
        path,
        // The SDKs strip whitespace and quotes from a profile's key before using it.
        api_key: text("api_key").map(|raw| KeyValue::read(raw.trim().trim_matches(['"', '\'']))),
        api_url: text("api_url").map(str::to_owned),
        workspace_id: text("workspace_id").map(str::to_owned),
        oauth: has_token("access_token") || has_token("refresh_token"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{"current_profile": "work", "profiles": {
        "work": {"api_url": "https://eu.api.smith.langchain.com", "workspace_id": "w"},
        "default": {"api_key": " \"lsv2_pt_abcdefghijklmnopqrstuvwxyz\" ", "oauth": {"access_token": "t"}}}}"#;

    fn name(state: &ProfileState) -> Option<&str> {
        state.selected().map(|p| p.name.as_str())
    }

    #[test]
    fn selects_like_the_sdks() {
        let path = PathBuf::from("c.json");
        assert_eq!(name(&parse(path.clone(), FILE, None)), Some("work"));
        assert_eq!(name(&parse(path.clone(), FILE, Some("default"))), Some("default"));
        let no_current = r#"{"profiles": {"default": {}}}"#;
        assert_eq!(name(&parse(path.clone(), no_current, None)), Some("default"));
        assert!(matches!(
            parse(path.clone(), FILE, Some("ghost")),
            ProfileState::NotFound {
                selected_by: "LANGSMITH_PROFILE",
                ..
            }
        ));
        assert!(matches!(
            parse(path.clone(), r#"{"profiles": {"x": {}}}"#, None),
            ProfileState::NoneSelected { .. }
        ));
        assert!(matches!(
            parse(path.clone(), "{", None),
            ProfileState::Unreadable { .. }
        ));
        assert!(matches!(parse(path, "[]", None), ProfileState::Unreadable { .. }));
    }

    #[test]
    fn keeps_only_the_key_hint() {
        let state = parse(PathBuf::from("c.json"), FILE, Some("default"));
        let profile = state.selected().expect("selected");
        assert!(profile.oauth);
        let key = profile.api_key.as_ref().expect("key");
        assert_eq!(key.describe(), "lsv2_pt_…wxyz (personal_access_token)");
        assert!(!format!("{profile:?}").contains("abcdefghijklmnop"));
    }
}
