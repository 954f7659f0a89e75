//! What kind of place the endpoint is: the web app, a LangSmith region, a loopback address
//! (this proxy, or nothing), or somewhere else (self-hosted LangSmith, a remote proxy).

use std::net::IpAddr;

use http::Uri;

use super::probe::{Answer, Probe};
use crate::upstream::REGIONS;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointKind {
    /// Not an http(s) URL; the reason says what is wrong.
    Invalid(String),
    /// The web app (`smith.langchain.com`); `api_url` is the API of the same region.
    WebUi {
        api_url: String,
    },
    /// A LangSmith SaaS API host, reached directly.
    Region(&'static str),
    /// A loopback address, and what answers there.
    Loopback {
        uri: Uri,
        answer: Answer,
    },
    Other,
}

const WEB_UI_DOMAIN: &str = "smith.langchain.com";

/// Classifies `url`; only a loopback address is probed.
pub fn classify(url: &str, probe: &dyn Probe) -> EndpointKind {
    let url = url.trim().trim_end_matches('/');
    if url.starts_with(['"', '\'']) || url.ends_with(['"', '\'']) {
        return EndpointKind::Invalid("it is wrapped in quotes (the JS SDK keeps them)".to_owned());
    }
    let Ok(uri) = url.parse::<Uri>() else {
        return EndpointKind::Invalid("it is not a URL".to_owned());
    };
    let default_port = match uri.scheme_str() {
        Some("http") => 80,
        Some("https") => 443,
        _ => return EndpointKind::Invalid("it does not start with http:// or https://".to_owned()),
    };
    let Some(host) = uri.host().map(str::to_ascii_lowercase) else {
        return EndpointKind::Invalid("it has no host".to_owned());
    };
    if let Some((region, _)) = REGIONS
        .iter()
        .find(|(_, api)| api.strip_prefix("https://") == Some(host.as_str()))
    {
        return EndpointKind::Region(region);
    }
    if is_web_ui(&host) {
        let api_host = format!("{}api.{WEB_UI_DOMAIN}", host.strip_suffix(WEB_UI_DOMAIN).unwrap_or(""));
        return EndpointKind::WebUi {
            api_url: format!("https://{api_host}"),
        };
    }
    if is_loopback(&host) {
        let answer = probe.probe(&host, uri.port_u16().unwrap_or(default_port));
        return EndpointKind::Loopback { uri, answer };
    }
    EndpointKind::Other
}

/// `smith.langchain.com` and its regional twins, but not their `api.` hosts.
fn is_web_ui(host: &str) -> bool {
    host == WEB_UI_DOMAIN
        || host
            .strip_suffix(WEB_UI_DOMAIN)
            .and_then(|rest| rest.strip_suffix('.'))
            .is_some_and(|region| !region.is_empty() && !region.split('.').any(|label| label == "api"))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Answer);

    impl Probe for Fixed {
        fn probe(&self, _: &str, _: u16) -> Answer {
            self.0
        }
    }

    fn kind(url: &str) -> EndpointKind {
        classify(url, &Fixed(Answer::Proxy))
    }

    #[test]
    fn tells_web_app_from_api() {
        let web = |api: &str| EndpointKind::WebUi {
            api_url: api.to_owned(),
        };
        assert_eq!(
            kind("https://smith.langchain.com/"),
            web("https://api.smith.langchain.com")
        );
        assert_eq!(
            kind("https://EU.smith.langchain.com"),
            web("https://eu.api.smith.langchain.com")
        );
        assert_eq!(
            kind("https://apac.smith.langchain.com/o/1"),
            web("https://apac.api.smith.langchain.com")
        );
        assert_eq!(kind("https://api.smith.langchain.com"), EndpointKind::Region("us"));
        assert_eq!(kind("https://eu.api.smith.langchain.com/"), EndpointKind::Region("eu"));
        assert_eq!(kind("https://aws.api.smith.langchain.com"), EndpointKind::Region("aws"));
        assert_eq!(kind("https://dev.api.smith.langchain.com"), EndpointKind::Other);
        assert_eq!(kind("https://notsmith.langchain.com"), EndpointKind::Other);
    }

    #[test]
    fn finds_loopback_and_bad_urls() {
        for url in [
            "http://127.0.0.1:7878",
            "http://localhost:7878",
            "http://[::1]:7878",
            "http://0.0.0.0:1",
        ] {
            assert!(
                matches!(
                    kind(url),
                    EndpointKind::Loopback {
                        answer: Answer::Proxy,
                        ..
                    }
                ),
                "{url}"
            );
        }
        assert!(matches!(
            classify("http://127.0.0.1:7878", &Fixed(Answer::Nothing)),
            EndpointKind::Loopback {
                answer: Answer::Nothing,
                ..
            }
        ));
        assert_eq!(kind("https://langsmith.example.com/api/v1"), EndpointKind::Other);
        for url in [
            "\"http://127.0.0.1:7878\"",
            "127.0.0.1:7878",
            "ftp://x",
            "not a url",
            "http://",
        ] {
            assert!(matches!(kind(url), EndpointKind::Invalid(_)), "{url}");
        }
    }
}
