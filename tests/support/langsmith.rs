//! A fake LangSmith with just enough behaviour for diagnoses: a key that is valid or not, a
//! workspace list, org-scoped keys, per-path permissions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::Method;

use super::{FakeUpstream, Recorded, Reply};

pub const WS_A: &str = "11111111-1111-1111-1111-111111111111";
pub const WS_B: &str = "22222222-2222-2222-2222-222222222222";
/// A service key, valid only with a workspace at [`LangSmith::org_scoped`].
pub const SERVICE_KEY: &str = "lsv2_sk_00000000000000000000000000000000abcdef12_1234567890";

pub struct LangSmith {
    pub valid_key: &'static str,
    /// Once set, the valid key is refused too (revoked while the proxy runs).
    pub revoked: AtomicBool,
    /// Status and body for a key it does not accept.
    pub reject: (u16, &'static str),
    /// (id, name, role, read_only)
    pub workspaces: Vec<(&'static str, &'static str, &'static str, bool)>,
    /// Requests without X-Tenant-Id get 403 org_scoped_key_requires_workspace.
    pub org_scoped: bool,
    /// This method and path prefix get a bare 403.
    pub forbidden: Option<(Method, &'static str)>,
}

impl Default for LangSmith {
    fn default() -> Self {
        Self {
            valid_key: super::TEST_KEY,
            revoked: AtomicBool::new(false),
            reject: (401, r#"{"detail":"Invalid token"}"#),
            workspaces: vec![(WS_A, "Production", "Admin", false)],
            org_scoped: false,
            forbidden: None,
        }
    }
}

impl LangSmith {
    /// A LangSmith where the test key is not valid (another key is), answering `reject`.
    pub fn refusing_test_key(reject: (u16, &'static str)) -> Self {
        Self {
            valid_key: "lsv2_pt_someone_elses_key_000000000000000000",
            reject,
            ..Self::default()
        }
    }

    /// A LangSmith where [`SERVICE_KEY`] is valid, but only with an X-Tenant-Id.
    pub fn org_scoped() -> Self {
        Self {
            valid_key: SERVICE_KEY,
            org_scoped: true,
            ..Self::default()
        }
    }

    pub async fn start(self) -> (FakeUpstream, Arc<Self>) {
        let behaviour = Arc::new(self);
        let handler = behaviour.clone();
        (FakeUpstream::start(move |req| handler.answer(req)).await, behaviour)
    }

    pub fn revoke(&self) {
        self.revoked.store(true, Ordering::SeqCst);
    }

    fn answer(&self, req: &Recorded) -> Reply {
        let key_ok = req.header("x-api-key") == Some(self.valid_key) && !self.revoked.load(Ordering::SeqCst);
        if !key_ok {
            return Reply::json(self.reject.0, self.reject.1);
        }
        let tenant = req.header("x-tenant-id");
        if self.org_scoped && tenant.is_none() {
            return Reply::json(403, r#"{"error":"org_scoped_key_requires_workspace"}"#);
        }
        if req.target.starts_with("/api/v1/workspaces") {
            let list: Vec<_> = self
                .workspaces
                .iter()
                .map(|(id, name, role, read_only)| {
                    serde_json::json!({"id": id, "display_name": name, "role_name": role, "read_only": read_only,
                        "permissions": [], "organization_id": "o", "is_personal": false, "tenant_handle": name})
                })
                .collect();
            return Reply::json(200, &serde_json::Value::Array(list).to_string());
        }
        if tenant.is_some_and(|t| !self.workspaces.iter().any(|(id, ..)| *id == t)) {
            return Reply::json(403, r#"{"detail":"Forbidden"}"#);
        }
        if let Some((method, prefix)) = &self.forbidden {
            if req.method == method && req.target.starts_with(prefix) {
                return Reply::json(403, r#"{"detail":"Forbidden"}"#);
            }
        }
        Reply::ok()
    }
}
