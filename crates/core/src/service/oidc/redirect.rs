//! Redirect URIs: what a client may register, and how a requested one
//! matches (exactly, RFC 9700 §4.1.3; a loopback one on any port, RFC 8252 §7.3).

use url::{Host, Url};

use crate::error::{Error, Result};

/// Longest redirect URI.
const MAX_URI: usize = 2048;

/// Checks the URIs a client registers; returns them unchanged.
pub(super) fn check_all(field: &'static str, uris: &[String], public: bool) -> Result<Vec<String>> {
    if uris.len() > super::MAX_URIS {
        return Err(Error::invalid(field, "at most 32 may be registered"));
    }
    let mut out: Vec<String> = Vec::with_capacity(uris.len());
    for uri in uris {
        check(field, uri, public)?;
        if !out.contains(uri) {
            out.push(uri.clone());
        }
    }
    Ok(out)
}

/// One URI a client registers: absolute, no fragment, no credentials; https,
/// or http on a loopback address, or (public clients, RFC 8252 §7.1) a
/// private-use scheme in reverse-domain form.
fn check(field: &'static str, uri: &str, public: bool) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid(field, format!("{uri:?} {why}")));
    if uri.len() > MAX_URI || uri.chars().any(|c| c.is_control() || c == ' ') {
        return bad("is too long or holds spaces or control characters");
    }
    let Ok(url) = Url::parse(uri) else {
        return bad("is not an absolute URI");
    };
    if url.fragment().is_some() {
        return bad("must not have a fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return bad("must not carry credentials");
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => bad("must use https (http only on a loopback address)"),
        scheme if public && scheme.contains('.') => Ok(()),
        _ => bad("must use https, http on a loopback address, or (public clients) a reverse-domain scheme"),
    }
}

/// http on 127.0.0.1, [::1] or localhost.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The registered URI `requested` stands for: byte-for-byte equal, or a
/// registered http loopback-IP URI that differs only in its port.
pub(super) fn find<'a>(registered: &'a [String], requested: &str) -> Option<&'a str> {
    if let Some(hit) = registered.iter().find(|r| r.as_str() == requested) {
        return Some(hit);
    }
    let req = Url::parse(requested).ok()?;
    // Only a URI already in its normal form: the one redirected to is the
    // one compared.
    if req.as_str() != requested
        || req.scheme() != "http"
        || !matches!(req.host(), Some(Host::Ipv4(_) | Host::Ipv6(_)))
    {
        return None;
    }
    registered.iter().map(String::as_str).find(|r| {
        Url::parse(r).ok().is_some_and(|mut reg| {
            is_loopback(&reg)
                && matches!(reg.host(), Some(Host::Ipv4(_) | Host::Ipv6(_)))
                && reg.set_port(req.port()).is_ok()
                && reg.as_str() == req.as_str()
                && requested.len() <= MAX_URI
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn registration_rules() {
        assert!(check_all("r", &v(&["https://app.example/cb?x=1"]), false).is_ok());
        assert!(check_all("r", &v(&["http://127.0.0.1:8000/cb"]), false).is_ok());
        assert!(check_all("r", &v(&["http://localhost/cb"]), false).is_ok());
        assert!(check_all("r", &v(&["http://app.example/cb"]), false).is_err());
        assert!(check_all("r", &v(&["https://app.example/cb#f"]), false).is_err());
        assert!(check_all("r", &v(&["https://u:p@app.example/cb"]), false).is_err());
        assert!(check_all("r", &v(&["/cb"]), false).is_err());
        assert!(check_all("r", &v(&["com.example.app:/cb"]), true).is_ok());
        assert!(check_all("r", &v(&["com.example.app:/cb"]), false).is_err());
        assert!(check_all("r", &v(&["javascript:alert(1)"]), true).is_err());
    }

    #[test]
    fn matching_is_exact_except_loopback_ports() {
        let reg = v(&[
            "https://app.example/cb",
            "http://127.0.0.1/native",
            "http://[::1]:1/n",
        ]);
        assert!(find(&reg, "https://app.example/cb").is_some());
        assert!(find(&reg, "https://app.example/cb/").is_none());
        assert!(find(&reg, "https://APP.example/cb").is_none());
        assert!(find(&reg, "https://app.example/cb?x=1").is_none());
        assert!(find(&reg, "https://app.example:8443/cb").is_none());
        assert_eq!(
            find(&reg, "http://127.0.0.1:51234/native"),
            Some("http://127.0.0.1/native")
        );
        assert!(find(&reg, "http://127.0.0.1:51234/native/x").is_none());
        assert!(find(&reg, "http://[::1]:9/n").is_some());
        assert!(find(&reg, "http://localhost:9/native").is_none());
    }
}
