//! The SDK profile file: unusable or missing when named, a selected profile that is absent,
//! and settings the profile supplies because the environment does not (SDK ≥ 0.8.1).

use super::Facts;
use crate::doctor::finding::{Code, Finding};
use crate::doctor::profile::ProfileState;
use crate::doctor::sdk_env::{printable, Origin};

pub fn check(f: &Facts<'_>) -> Vec<Finding> {
    let mut findings: Vec<Finding> = file_problem(f.profile).into_iter().collect();
    findings.extend(overrides(f));
    findings
}

fn file_problem(state: &ProfileState) -> Option<Finding> {
    Some(match state {
        ProfileState::Missing { path } => Finding::new(
            Code::ProfileUnreadable,
            format!(
                "LANGSMITH_CONFIG_FILE names {}, which does not exist: the SDKs use no profile.",
                path.display()
            ),
            ["fix the path, or unset LANGSMITH_CONFIG_FILE".to_owned()],
        ),
        ProfileState::Unreadable { path, reason } => Finding::new(
            Code::ProfileUnreadable,
            format!(
                "{} is not a profile file the SDKs can use ({reason}); they ignore it.",
                path.display()
            ),
            [format!(
                "fix or remove {}; `langsmith login` writes a valid one",
                path.display()
            )],
        ),
        ProfileState::NotFound {
            path,
            name,
            selected_by,
        } => Finding::new(
            Code::ProfileNotFound,
            format!(
                "{selected_by} selects profile `{name}`, which {} does not have: the SDKs use no profile.",
                path.display()
            ),
            [format!(
                "set LANGSMITH_PROFILE to a profile in {}, or unset it",
                path.display()
            )],
        ),
        ProfileState::NoFile { .. } | ProfileState::NoneSelected { .. } | ProfileState::Selected(_) => return None,
    })
}

fn overrides(f: &Facts<'_>) -> Option<Finding> {
    let profile = f.profile.selected()?;
    let effective = f.effective;
    let from_profile = |origin: &Origin| matches!(origin, Origin::Profile { .. });
    let mut supplied = Vec::new();
    if from_profile(&effective.endpoint.origin) {
        supplied.push(format!("api_url {}", effective.shown_endpoint()));
    }
    if let Some(key) = effective.key.as_ref().filter(|key| from_profile(&key.origin)) {
        supplied.push(format!("the key {}", key.value.describe()));
    }
    if let Some(workspace) = effective.workspace_id.as_ref().filter(|w| from_profile(&w.origin)) {
        supplied.push(format!("workspace_id {}", printable(&workspace.value)));
    }
    if supplied.is_empty() {
        return None;
    }
    Some(Finding::new(
        Code::ProfileOverrides,
        format!(
            "Profile `{}` in {} supplies {}: SDKs that read profiles (Python ≥ 0.8.1) use them because the environment sets none.",
            profile.name,
            profile.path.display(),
            supplied.join(", ")
        ),
        [
            "set these in the environment, which wins over the profile (eval \"$(langsmith-proxy env)\" sets the endpoint and key)".to_owned(),
            "or remove them from the profile, or pick another with LANGSMITH_PROFILE".to_owned(),
        ],
    ))
}
