//! The words of a diagnosis follow the evidence: whose workspace, whether the key was ever
//! checked, the form of Retry-After; and which answers are explained at all.

use http::StatusCode;

use super::*;

#[test]
fn the_words_follow_what_was_sent_and_known() {
    let org_scoped = r#"{"error":"org_scoped_key_requires_workspace"}"#;
    let dropped = classify_row(&Row {
        workspace_sent: Some(WS_A),
        ..row("workspace sent, yet required", 403, org_scoped, Code::WorkspaceRequired)
    });
    assert_eq!(dropped.code, Code::WorkspaceRequired);
    assert!(
        dropped
            .summary
            .contains(&format!("although X-Tenant-Id {WS_A} was sent")),
        "{}",
        dropped.summary
    );
    assert!(
        !dropped.fix.iter().any(|f| f.contains("--workspace-id")),
        "{:?}",
        dropped.fix
    );

    let unchecked = classify_row(&row(
        "check off",
        401,
        r#"{"detail":"Invalid token"}"#,
        Code::KeyRejected,
    ));
    assert!(unchecked.summary.contains("key check is off"), "{}", unchecked.summary);
    let unreachable = record(
        Health::Unreachable {
            error: "down".to_owned(),
            answered: None,
            fix: Vec::new(),
        },
        None,
        RegionVerdict::NotProbed,
    );
    let unreached = classify_row(&Row {
        check: Some(unreachable),
        ..row(
            "check unreachable",
            401,
            r#"{"detail":"Invalid token"}"#,
            Code::KeyRejected,
        )
    });
    assert!(
        unreached.summary.contains("could not check it"),
        "{}",
        unreached.summary
    );

    let dated = classify_row(&Row {
        retry_after: Some("Wed, 25 Nov 2026 12:00:00 GMT"),
        ..row("429 with a date", 429, "{}", Code::RateLimited)
    });
    assert!(
        dated.fix[0].starts_with("Wait until Wed, 25 Nov 2026"),
        "{:?}",
        dated.fix
    );
}

#[test]
fn a_json_405_is_the_apis_own_answer() {
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, "application/json".parse().expect("value"));
    assert!(!crate::diagnosis::wants(StatusCode::METHOD_NOT_ALLOWED, &headers));
    headers.insert(http::header::CONTENT_TYPE, "text/html".parse().expect("value"));
    assert!(crate::diagnosis::wants(StatusCode::METHOD_NOT_ALLOWED, &headers));
    assert!(crate::diagnosis::wants(
        StatusCode::METHOD_NOT_ALLOWED,
        &http::HeaderMap::new()
    ));
}

#[test]
fn workspace_words_say_whose_workspace_it_was() {
    let denied = |workspace_from_proxy| {
        classify_row(&Row {
            workspace_sent: Some(WS_B),
            workspace_from_proxy,
            check: Some(valid(vec![workspace(WS_A, "Admin", false)])),
            ..row("denied", 403, r#"{"detail":"Forbidden"}"#, Code::WorkspaceDenied)
        })
    };
    let from_proxy = denied(true);
    assert!(
        from_proxy.summary.starts_with("The proxy's workspace_id is"),
        "{}",
        from_proxy.summary
    );
    assert!(
        !from_proxy.fix[1].contains("LANGSMITH_WORKSPACE_ID"),
        "{:?}",
        from_proxy.fix
    );
    let from_app = denied(false);
    assert!(
        from_app.summary.starts_with("The app asked for workspace"),
        "{}",
        from_app.summary
    );

    // No workspace sent, a key reaching two: the role is not known, so none is named.
    let two = vec![workspace(WS_A, "Viewer", true), workspace(WS_B, "Admin", false)];
    let unsure = classify_row(&Row {
        check: Some(valid(two)),
        ..row("which role?", 403, r#"{"detail":"Forbidden"}"#, Code::PermissionDenied)
    });
    assert_eq!(unsure.code, Code::PermissionDenied);
    assert!(unsure.summary.contains("its role"), "{}", unsure.summary);
}
