//! Requests that change state (stopping a run) must come from this client's
//! own pages or from a program, never from a page on another site: a
//! cross-site form POST could otherwise stop a run (CSRF), since browsers
//! send such forms without asking. Browsers say where a request comes from
//! (`Sec-Fetch-Site`, `Origin`); programs like curl send neither and pass.

use axum::http::{HeaderMap, header};

/// Why a state-changing request is refused, if it is.
pub fn cross_site(headers: &HeaderMap) -> Option<String> {
    let text = |name| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site"))
        && !matches!(site, "same-origin" | "none")
    {
        return Some(format!(
            "a request from another site ({site}) cannot change runs"
        ));
    }
    let origin = text(header::ORIGIN)?;
    let host = text(header::HOST).unwrap_or_default();
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'));
    if origin_host.is_some_and(|origin_host| origin_host.eq_ignore_ascii_case(host)) {
        return None;
    }
    Some(format!(
        "a request from {origin} cannot change runs on {host}: use this client's own page"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn own_pages_and_programs_pass_other_sites_do_not() {
        // curl and other programs.
        assert_eq!(cross_site(&headers(&[("host", "127.0.0.1:3333")])), None);
        // The client's own page.
        let own = headers(&[
            ("host", "127.0.0.1:3333"),
            ("origin", "http://127.0.0.1:3333"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(cross_site(&own), None);
        // Another site, or another port of this host, or a sandboxed page.
        for (origin, site) in [
            ("http://evil.example", "cross-site"),
            ("http://127.0.0.1:8080", "same-site"),
            ("null", "cross-site"),
        ] {
            let refused = headers(&[
                ("host", "127.0.0.1:3333"),
                ("origin", origin),
                ("sec-fetch-site", site),
            ]);
            assert!(cross_site(&refused).is_some(), "{origin}");
            let without_fetch_metadata = headers(&[("host", "127.0.0.1:3333"), ("origin", origin)]);
            assert!(cross_site(&without_fetch_metadata).is_some(), "{origin}");
        }
    }
}
