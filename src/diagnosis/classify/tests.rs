//! One table row per cause: what the upstream said, with which key and what the check knows.

use std::time::SystemTime;

use http::{Method, StatusCode};

use super::*;
use crate::diagnosis::{Code, UpstreamBody};
use crate::key_check::CheckRecord;

const WS_A: &str = "11111111-1111-1111-1111-111111111111";
const WS_B: &str = "22222222-2222-2222-2222-222222222222";

fn workspace(id: &str, role: &str, read_only: bool) -> Workspace {
    Workspace {
        id: id.to_owned(),
        name: format!("ws-{}", &id[..4]),
        role_name: Some(role.to_owned()),
        read_only,
        permissions: vec![],
    }
}

fn record(health: Health, last_valid_at: Option<SystemTime>, region: RegionVerdict) -> CheckRecord {
    CheckRecord {
        fingerprint: "sha256:x".to_owned(),
        validated: matches!(health, Health::Valid { .. }),
        health,
        checked_at: Some(SystemTime::now()),
        last_valid_at,
        region,
    }
}

fn valid(workspaces: Vec<Workspace>) -> CheckRecord {
    record(
        Health::Valid { workspaces },
        Some(SystemTime::now()),
        RegionVerdict::NotProbed,
    )
}

fn rejected(last_valid_at: Option<SystemTime>, region: RegionVerdict) -> CheckRecord {
    let health = Health::Rejected {
        status: 401,
        body: String::new(),
    };
    record(health, last_valid_at, region)
}

fn needs_workspace() -> CheckRecord {
    let health = Health::Rejected {
        status: 403,
        body: r#"{"error":"org_scoped_key_requires_workspace"}"#.to_owned(),
    };
    record(health, Some(SystemTime::now()), RegionVerdict::NotProbed)
}

/// One row: what the upstream said, with which key and what the check knows → the code.
struct Row {
    name: &'static str,
    status: u16,
    body: &'static str,
    content_type: Option<&'static str>,
    method: Method,
    path: &'static str,
    kind: Option<KeyKind>,
    suspicion: Option<&'static str>,
    client_key: bool,
    workspace_sent: Option<&'static str>,
    workspace_from_proxy: bool,
    check: Option<CheckRecord>,
    retry_after: Option<&'static str>,
    expect: Code,
}

fn row(name: &'static str, status: u16, body: &'static str, expect: Code) -> Row {
    Row {
        name,
        status,
        body,
        content_type: Some("application/json"),
        method: Method::POST,
        path: "/runs/multipart",
        kind: Some(KeyKind::PersonalAccessToken),
        suspicion: None,
        client_key: false,
        workspace_sent: None,
        workspace_from_proxy: false,
        check: None,
        retry_after: Some("30"),
        expect,
    }
}

fn classify_row(row: &Row) -> Diagnosis {
    let body = UpstreamBody::parse(row.body.as_bytes(), row.content_type, b"");
    let credential = match (row.client_key, row.kind) {
        (true, _) => CredentialEvidence::Client,
        (false, Some(kind)) => CredentialEvidence::Proxy {
            source: "env:LANGSMITH_API_KEY".to_owned(),
            kind,
            hint: "lsv2_pt_…abcd".to_owned(),
            suspicion: row.suspicion,
            check: row.check.as_ref(),
            replaced_by: None,
        },
        (false, None) => CredentialEvidence::None,
    };
    classify(&Evidence {
        status: StatusCode::from_u16(row.status).expect("status"),
        method: &row.method,
        path: row.path,
        body: &body,
        credential,
        workspace_sent: row.workspace_sent,
        workspace_from_proxy: row.workspace_from_proxy,
        upstream_url: "https://api.smith.langchain.com",
        upstream_region: Some("us"),
        retry_after: row.retry_after,
    })
}

fn table() -> Vec<Row> {
    let eu = RegionVerdict::AcceptedIn {
        region: "eu".to_owned(),
        url: "https://eu.api.smith.langchain.com".to_owned(),
    };
    vec![
        Row {
            kind: None,
            ..row("no key at all", 401, r#"{"detail":"Invalid token"}"#, Code::KeyMissing)
        },
        Row {
            kind: Some(KeyKind::Unrecognized),
            suspicion: Some("it does not start with lsv2_pt_ or lsv2_sk_"),
            ..row(
                "not a LangSmith key",
                401,
                r#"{"detail":"Invalid token"}"#,
                Code::KeyMalformed,
            )
        },
        Row {
            suspicion: Some("it is shorter than LangSmith keys"),
            ..row(
                "truncated lsv2_pt_ key",
                401,
                r#"{"detail":"Invalid token"}"#,
                Code::KeyMalformed,
            )
        },
        Row {
            kind: Some(KeyKind::Legacy),
            ..row("ls__ key", 401, r#"{"detail":"Invalid token"}"#, Code::KeyLegacy)
        },
        row(
            "server says legacy",
            401,
            r#"{"detail":"Using legacy API key. Please generate a new API key."}"#,
            Code::KeyLegacy,
        ),
        row(
            "server says outdated v1",
            401,
            "{\"error\":\"Unauthorized: Using outdated v1 api key. Please use v2 api key.\"}\n",
            Code::KeyLegacy,
        ),
        row(
            "never validated",
            401,
            "{\"error\":\"Unauthorized\"}\n",
            Code::KeyRejected,
        ),
        Row {
            check: Some(rejected(None, RegionVerdict::RejectedEverywhere)),
            ..row(
                "rejected by the check too",
                401,
                r#"{"detail":"Invalid token"}"#,
                Code::KeyRejected,
            )
        },
        Row {
            check: Some(rejected(Some(SystemTime::UNIX_EPOCH), RegionVerdict::NotProbed)),
            ..row("valid earlier", 401, r#"{"detail":"Invalid token"}"#, Code::KeyRevoked)
        },
        Row {
            check: Some(rejected(None, eu.clone())),
            ..row(
                "accepted in eu",
                403,
                "{\"error\":\"Forbidden\"}\n",
                Code::KeyWrongRegion,
            )
        },
        row(
            "org-scoped error",
            403,
            r#"{"error":"org_scoped_key_requires_workspace"}"#,
            Code::WorkspaceRequired,
        ),
        Row {
            kind: Some(KeyKind::ServiceKey),
            ..row(
                "bare 403 for a service key without workspace",
                403,
                "",
                Code::WorkspaceRequired,
            )
        },
        Row {
            kind: Some(KeyKind::ServiceKey),
            check: Some(rejected(None, eu)),
            ..row(
                "bare 403 for a service key accepted in eu",
                403,
                "{\"error\":\"Forbidden\"}\n",
                Code::KeyWrongRegion,
            )
        },
        Row {
            kind: Some(KeyKind::ServiceKey),
            check: Some(rejected(
                Some(SystemTime::UNIX_EPOCH),
                RegionVerdict::RejectedEverywhere,
            )),
            ..row(
                "bare 403 for a service key the check rejects",
                403,
                "{\"error\":\"Forbidden\"}\n",
                Code::KeyRevoked,
            )
        },
        Row {
            kind: Some(KeyKind::ServiceKey),
            check: Some(valid(vec![workspace(WS_A, "Viewer", true)])),
            ..row(
                "bare 403 for a service key with one read-only workspace",
                403,
                "{\"error\":\"Forbidden\"}\n",
                Code::PermissionDenied,
            )
        },
        Row {
            kind: Some(KeyKind::ServiceKey),
            check: Some(valid(vec![
                workspace(WS_A, "Admin", false),
                workspace(WS_B, "Admin", false),
            ])),
            ..row(
                "bare 403 for a service key reaching several workspaces",
                403,
                "{\"error\":\"Forbidden\"}\n",
                Code::WorkspaceRequired,
            )
        },
        Row {
            workspace_sent: Some(WS_A),
            check: Some(needs_workspace()),
            ..row(
                "bare 403 for an org-scoped key with its workspace",
                403,
                "{\"error\":\"Forbidden\"}\n",
                Code::ForbiddenUnexplained,
            )
        },
        Row {
            kind: Some(KeyKind::Unrecognized),
            suspicion: Some("it does not start with lsv2_pt_ or lsv2_sk_"),
            ..row(
                "a placeholder key draws a bare 403",
                403,
                "{\"error\":\"Forbidden\"}\n",
                Code::KeyMalformed,
            )
        },
        Row {
            kind: Some(KeyKind::Unrecognized),
            suspicion: Some("it does not start with lsv2_pt_ or lsv2_sk_"),
            workspace_sent: Some(WS_A),
            ..row(
                "a 403 naming its reason is not about the key's shape",
                403,
                r#"{"detail":"You do not have permission to write to project X"}"#,
                Code::ForbiddenUnexplained,
            )
        },
        Row {
            kind: Some(KeyKind::Unrecognized),
            suspicion: Some("it does not start with lsv2_pt_ or lsv2_sk_"),
            check: Some(valid(vec![workspace(WS_A, "Viewer", true)])),
            ..row(
                "an odd-looking key LangSmith knows is not malformed",
                403,
                "{\"error\":\"Forbidden\"}\n",
                Code::PermissionDenied,
            )
        },
        Row {
            check: Some(needs_workspace()),
            ..row(
                "bare 403 for a key the check found org-scoped",
                403,
                r#"{"detail":"Forbidden"}"#,
                Code::WorkspaceRequired,
            )
        },
        Row {
            client_key: true,
            ..row(
                "client's own key, org-scoped",
                403,
                r#"{"error":"org_scoped_key_requires_workspace"}"#,
                Code::WorkspaceRequired,
            )
        },
        Row {
            workspace_sent: Some(WS_B),
            check: Some(valid(vec![workspace(WS_A, "Admin", false)])),
            ..row(
                "workspace the key cannot reach",
                403,
                r#"{"detail":"Forbidden"}"#,
                Code::WorkspaceDenied,
            )
        },
        Row {
            workspace_sent: Some(WS_A),
            check: Some(valid(vec![workspace(WS_A, "Viewer", true)])),
            ..row(
                "read-only role writes",
                403,
                r#"{"detail":"Forbidden"}"#,
                Code::PermissionDenied,
            )
        },
        Row {
            client_key: true,
            ..row(
                "client's own key",
                401,
                r#"{"detail":"Invalid token"}"#,
                Code::ClientKeyRejected,
            )
        },
        row(
            "web UI 405",
            405,
            "<html><head><title>405 Not Allowed</title></head></html>",
            Code::UpstreamIsWebUi,
        ),
        Row {
            content_type: Some("text/html"),
            ..row(
                "web UI HTML 404",
                404,
                "<!doctype html><html>app</html>",
                Code::UpstreamIsWebUi,
            )
        },
        Row {
            content_type: Some("text/html"),
            ..row(
                "a firewall's HTML 403 is not the web app",
                403,
                "<html><body>Access denied</body></html>",
                Code::ForbiddenUnexplained,
            )
        },
        row(
            "rate limited",
            429,
            r#"{"detail":"Too many requests"}"#,
            Code::RateLimited,
        ),
        row(
            "403 nobody can explain",
            403,
            r#"{"detail":"Forbidden"}"#,
            Code::ForbiddenUnexplained,
        ),
    ]
}

#[test]
fn every_row_gets_its_code() {
    for row in table() {
        let diagnosis = classify_row(&row);
        assert_eq!(diagnosis.code, row.expect, "row: {}", row.name);
        assert!(!diagnosis.fix.is_empty(), "row {} has no fix", row.name);
        assert!(!diagnosis.summary.is_empty());
    }
}

#[test]
fn explanations_name_the_facts() {
    let rows = table();
    let find = |code: Code| classify_row(rows.iter().find(|r| r.expect == code).expect("row"));
    let region = find(Code::KeyWrongRegion);
    assert!(region.fix[0].contains("--upstream eu"), "{:?}", region.fix);
    assert!(region.fix[1].contains("https://eu.api.smith.langchain.com"));
    let denied = find(Code::WorkspaceDenied);
    assert!(denied.fix[0].contains(WS_A), "{:?}", denied.fix);
    let permission = find(Code::PermissionDenied);
    assert!(
        permission.summary.contains("Viewer") && permission.summary.contains("read-only"),
        "{}",
        permission.summary
    );
    let revoked = find(Code::KeyRevoked);
    assert!(revoked.summary.contains("1970-01-01T00:00:00Z"), "{}", revoked.summary);
    let missing_workspace = find(Code::WorkspaceRequired);
    assert!(missing_workspace.fix.iter().any(|f| f.contains("--workspace-id")));
    let rejected = find(Code::KeyRejected);
    assert!(rejected.fix.iter().any(|f| f.contains("LANGSMITH_API_KEY")));
}

#[test]
fn rate_limits_name_the_documented_limit() {
    let limit = |method: Method, path: &'static str, body: &'static str| {
        let row = Row {
            method,
            path,
            ..row("429", 429, body, Code::RateLimited)
        };
        classify_row(&row).summary
    };
    assert!(limit(Method::POST, "/runs/multipart", "{}").contains("5,000 POST/PATCH /runs"));
    assert!(limit(Method::DELETE, "/sessions/abc", "{}").contains("30 DELETE /sessions"));
    assert!(limit(Method::GET, "/runs/0a1b", "{}").contains("30 GET /runs/{id}"));
    assert!(limit(Method::GET, "/api/v1/runs/0a1b", "{}").contains("30 GET /runs/{id}"));
    assert!(limit(Method::POST, "/feedback", "{}").contains("5,000 POST /feedback"));
    assert!(limit(Method::GET, "/datasets", "{}").contains("2,000"));
    assert!(limit(Method::POST, "/runs/multipart", r#"{"error":"usage_limit_exceeded"}"#).contains("usage limit"));
}

/// What the words of a diagnosis say, beyond its code.
mod words;
