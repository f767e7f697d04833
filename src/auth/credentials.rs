//! Reading the credential a request presents, without judging whether it is valid.
//!
//! The contract fixes one order: an `Authorization` header alone decides when present, and
//! only without one does the `romm_session` cookie count. Parsing is pure and never fails
//! the request: a value that cannot be read becomes [`Presented::Malformed`], which a
//! protected route answers with 401 and a public route ignores.

use std::fmt;

use axum::http::{header, HeaderMap};
use base64::Engine;
use secrecy::SecretString;

/// The cookie that carries the browser session.
pub const SESSION_COOKIE: &str = "romm_session";

/// The cookie that carries the CSRF token; readable by scripts on purpose.
pub const CSRF_COOKIE: &str = "romm_csrftoken";

/// The credential a request presents, as read from its headers.
pub enum Presented {
    None,
    Basic {
        username: String,
        password: SecretString,
    },
    /// A bearer value that starts with `rmm_`: a client API token.
    ClientToken(SecretString),
    /// Any other bearer value, read as an OAuth2 access token.
    Jwt(SecretString),
    Session(SecretString),
    /// An `Authorization` header that cannot be read; `basic` picks the challenge.
    Malformed {
        basic: bool,
        reason: &'static str,
    },
}

impl fmt::Debug for Presented {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Presented::None => "none",
            Presented::Basic { .. } => "basic",
            Presented::ClientToken(_) => "client_token",
            Presented::Jwt(_) => "jwt",
            Presented::Session(_) => "session",
            Presented::Malformed { .. } => "malformed",
        };
        formatter.write_str(kind)
    }
}

impl Presented {
    /// Reads the credential from the headers in the contract's order.
    pub fn from_headers(headers: &HeaderMap) -> Presented {
        match headers.get(header::AUTHORIZATION) {
            Some(value) => match value.to_str() {
                Ok(value) => parse_authorization(value),
                Err(_) => {
                    // The scheme may still be readable, and picks the challenge.
                    let scheme = value.as_bytes().get(..6).unwrap_or_default();
                    let basic = scheme.eq_ignore_ascii_case(b"basic ");
                    Presented::Malformed {
                        basic,
                        reason: "non-ASCII header",
                    }
                }
            },
            None => match cookie(headers, SESSION_COOKIE) {
                Some(value) if !value.is_empty() => Presented::Session(SecretString::from(value)),
                _ => Presented::None,
            },
        }
    }

    /// Whether the request carries an `Authorization` header (and so skips CSRF checks).
    pub fn is_header(&self) -> bool {
        !matches!(self, Presented::None | Presented::Session(_))
    }
}

fn parse_authorization(value: &str) -> Presented {
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        parse_basic(rest)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() {
            Presented::Malformed {
                basic: false,
                reason: "empty bearer token",
            }
        } else if rest.starts_with("rmm_") {
            Presented::ClientToken(SecretString::from(rest))
        } else {
            Presented::Jwt(SecretString::from(rest))
        }
    } else {
        Presented::Malformed {
            basic: false,
            reason: "unknown authorization scheme",
        }
    }
}

fn parse_basic(encoded: &str) -> Presented {
    let malformed = |reason| Presented::Malformed {
        basic: true,
        reason,
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
        return malformed("basic credentials are not base64");
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return malformed("basic credentials are not UTF-8");
    };
    let Some((username, password)) = decoded.split_once(':') else {
        return malformed("basic credentials have no colon");
    };
    // Clients with no credentials configured send `Basic Og==` (":"): that is nobody.
    if username.is_empty() && password.is_empty() {
        return Presented::None;
    }
    if username.is_empty() {
        return malformed("basic credentials have no username");
    }
    Presented::Basic {
        username: username.to_owned(),
        password: SecretString::from(password),
    }
}

/// The value of the named cookie, from any `Cookie` header of the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use secrecy::ExposeSecret;

    use super::*;

    fn with_authorization(value: &str) -> Presented {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        Presented::from_headers(&headers)
    }

    fn basic(credentials: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    }

    #[test]
    fn basic_credentials_split_at_the_first_colon() {
        let Presented::Basic { username, password } = with_authorization(&basic("ann:pa:ss"))
        else {
            panic!("expected basic credentials");
        };
        assert_eq!(username, "ann");
        assert_eq!(password.expose_secret(), "pa:ss");
    }

    #[test]
    fn scheme_names_are_case_insensitive() {
        assert!(matches!(
            with_authorization(&basic("a:b").replace("Basic", "bAsIc")),
            Presented::Basic { .. }
        ));
        assert!(matches!(
            with_authorization("BEARER rmm_abc"),
            Presented::ClientToken(_)
        ));
        assert!(matches!(
            with_authorization("bearer eyJ.x.y"),
            Presented::Jwt(_)
        ));
    }

    #[test]
    fn unreadable_headers_are_malformed_not_errors() {
        for value in [
            "Basic !!!",
            "Basic bm9jb2xvbg==",
            "Bearer",
            "Bearer  ",
            "Token abc",
            "Basic OnBhc3M=",
        ] {
            assert!(
                matches!(with_authorization(value), Presented::Malformed { .. }),
                "{value}"
            );
        }
        let invalid_utf8 = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode([0xff, b':', b'x'])
        );
        assert!(matches!(
            with_authorization(&invalid_utf8),
            Presented::Malformed { basic: true, .. }
        ));
    }

    #[test]
    fn empty_basic_credentials_are_anonymous() {
        assert!(matches!(with_authorization("Basic Og=="), Presented::None));
    }

    #[test]
    fn the_header_wins_over_the_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; romm_session=xyz"),
        );
        assert!(matches!(
            Presented::from_headers(&headers),
            Presented::Session(_)
        ));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert!(matches!(
            Presented::from_headers(&headers),
            Presented::Jwt(_)
        ));
    }
}
