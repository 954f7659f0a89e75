//! One key check against one upstream: `GET /api/v1/workspaces` with the key.

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use serde::Deserialize;

use super::health::{Health, Workspace};
use crate::client::UpstreamClient;
use crate::config::Timeouts;
use crate::proxy::{ProxyError, X_API_KEY, X_TENANT_ID};
use crate::upstream::Upstream;

const WORKSPACES_PATH: &str = "/api/v1/workspaces";
/// Enough for hundreds of workspaces; a larger answer is not a workspace list.
const MAX_BODY: usize = 1024 * 1024;
const REPORTED_BODY: usize = 1024;
/// The workspace list is small and cheap for LangSmith to produce.
const CHECK_ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

#[derive(Deserialize)]
struct WorkspaceItem {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    role_name: Option<String>,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    permissions: Vec<String>,
}

/// Checks `key` against `upstream`, sending `workspace` as X-Tenant-Id when given.
pub async fn probe(
    client: &UpstreamClient,
    upstream: &Upstream,
    key: &HeaderValue,
    workspace: Option<&HeaderValue>,
    timeouts: &Timeouts,
) -> Health {
    let timeout = timeouts.connect + CHECK_ANSWER_TIMEOUT;
    let uri = upstream.target(&http::uri::PathAndQuery::from_static(WORKSPACES_PATH));
    let mut request = Request::get(uri);
    if let Some(headers) = request.headers_mut() {
        headers.insert(X_API_KEY, key.clone());
        headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static(concat!("langsmith-proxy/", env!("CARGO_PKG_VERSION"), " key-check")),
        );
        if let Some(workspace) = workspace {
            headers.insert(X_TENANT_ID, workspace.clone());
        }
    }
    let Ok(request) = request.body(Empty::<Bytes>::new().map_err(|never| match never {}).boxed()) else {
        return Health::Unreachable {
            error: "cannot build the check request".to_owned(),
            answered: None,
            fix: Vec::new(),
        };
    };
    let answer = tokio::time::timeout(timeout, async {
        let response = client.request(request).await.map_err(|e| {
            let error = ProxyError::from_client_error(&e, timeouts);
            (error.to_string(), error.fix_beyond_network(upstream.url()))
        })?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| (format!("reading the answer failed: {e}"), Vec::new()))?
            .to_bytes();
        Ok::<_, (String, Vec<String>)>((status, body))
    })
    .await;
    match answer {
        Err(_) => Health::Unreachable {
            error: format!("no answer within {}", humantime::format_duration(timeout)),
            answered: None,
            fix: Vec::new(),
        },
        Ok(Err((error, fix))) => Health::Unreachable {
            error,
            answered: None,
            fix,
        },
        Ok(Ok((status, body))) => interpret(status, &body, key.as_bytes()),
    }
}

/// `key` is the key sent, blanked from what is quoted of the answer.
fn interpret(status: StatusCode, body: &[u8], key: &[u8]) -> Health {
    if status.is_success() {
        return match serde_json::from_slice::<Vec<WorkspaceItem>>(body) {
            Ok(items) => Health::Valid {
                workspaces: items
                    .into_iter()
                    .map(|item| Workspace {
                        name: item.display_name.unwrap_or_default(),
                        id: item.id,
                        role_name: item.role_name,
                        read_only: item.read_only,
                        permissions: item.permissions,
                    })
                    .collect(),
            },
            Err(_) => Health::Unreachable {
                error: format!("{WORKSPACES_PATH} answered {status} with something that is not a workspace list (is the upstream the LangSmith API?)"),
                answered: Some(status.as_u16()),
                fix: Vec::new(),
            },
        };
    }
    // Logged: an upstream that echoes request headers must not put the key in the log.
    let text = crate::secret::quote_redacted(body, key, REPORTED_BODY);
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        Health::Rejected {
            status: status.as_u16(),
            body: text,
        }
    } else {
        Health::Unreachable {
            error: format!("{WORKSPACES_PATH} answered {status}: {text}"),
            answered: Some(status.as_u16()),
            fix: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"sk-not-a-langsmith-key-1234";

    #[test]
    fn reads_workspaces_and_rejections() {
        let body = br#"[{"id":"w1","display_name":"Prod","role_name":"Viewer","read_only":true,"permissions":["runs:read"],"tenant_handle":"p"}]"#;
        let Health::Valid { workspaces } = interpret(StatusCode::OK, body, KEY) else {
            panic!("expected valid");
        };
        assert_eq!(workspaces[0].name, "Prod");
        assert_eq!(workspaces[0].role_name.as_deref(), Some("Viewer"));
        assert!(workspaces[0].read_only);
        assert_eq!(
            interpret(StatusCode::UNAUTHORIZED, b"{\"detail\":\"Invalid token\"}", KEY),
            Health::Rejected {
                status: 401,
                body: "{\"detail\":\"Invalid token\"}".into()
            }
        );
        assert!(matches!(
            interpret(StatusCode::OK, b"<html>", KEY),
            Health::Unreachable { .. }
        ));
        assert!(matches!(
            interpret(StatusCode::BAD_GATEWAY, b"", KEY),
            Health::Unreachable { .. }
        ));
        // An answer that echoes the key sent, whatever its shape, is quoted without it.
        assert_eq!(
            interpret(StatusCode::FORBIDDEN, b"bad key sk-not-a-langsmith-key-1234", KEY),
            Health::Rejected {
                status: 403,
                body: "bad key [key redacted]".into()
            }
        );
    }
}
