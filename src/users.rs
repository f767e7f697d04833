//! The rules on usernames, emails and passwords, and user creation shared by the API, the
//! command line and the start-up bootstrap.

use secrecy::{ExposeSecret, SecretString};

use crate::auth::password::PasswordHasher;
use crate::auth::scopes::Role;
use crate::error::{ApiError, FieldError};
use crate::store::{NewUser, Store, StoreResult, User};

pub const USERNAME_LENGTH: std::ops::RangeInclusive<usize> = 3..=255;
pub const PASSWORD_LENGTH: std::ops::RangeInclusive<usize> = 8..=256;
const EMAIL_MAX_LENGTH: usize = 254;

/// Checks a username and returns it lower-cased, as it is stored.
pub fn normalize_username(username: &str) -> Result<String, String> {
    let length = username.chars().count();
    if !USERNAME_LENGTH.contains(&length) {
        return Err("must be 3 to 255 characters long".to_owned());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !username.chars().all(allowed) {
        return Err("may contain only letters, digits, '_' and '-'".to_owned());
    }
    Ok(username.to_ascii_lowercase())
}

/// Checks an email address and returns it trimmed, or `None` for an empty one.
pub fn normalize_email(email: &str) -> Result<Option<String>, String> {
    let email = email.trim();
    if email.is_empty() {
        return Ok(None);
    }
    let invalid = || "is not a valid email address".to_owned();
    if email.len() > EMAIL_MAX_LENGTH || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid());
    }
    let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
    let domain_is_valid = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@');
    if local.is_empty() || local.contains('@') || !domain_is_valid {
        return Err(invalid());
    }
    Ok(Some(email.to_owned()))
}

/// Checks a new password's length, counted in characters so any Unicode is allowed.
pub fn check_password_rules(password: &SecretString) -> Result<(), String> {
    let length = password.expose_secret().chars().count();
    if PASSWORD_LENGTH.contains(&length) {
        Ok(())
    } else {
        Err("must be 8 to 256 characters long".to_owned())
    }
}

/// A user to create, as a caller asked for it.
pub struct UserRequest {
    pub username: String,
    pub email: Option<String>,
    pub password: SecretString,
    pub role: Role,
}

/// Validates every field, collecting all problems into one 422.
pub fn validate(request: &UserRequest) -> Result<(String, Option<String>), ApiError> {
    let mut errors = Vec::new();
    let mut problem = |field: &str, result: Result<(), String>| {
        if let Err(message) = result {
            errors.push(FieldError {
                field: field.to_owned(),
                message,
            });
        }
    };
    let username = normalize_username(&request.username);
    problem(
        "username",
        username.as_ref().map(|_| ()).map_err(Clone::clone),
    );
    let email = normalize_email(request.email.as_deref().unwrap_or(""));
    problem("email", email.as_ref().map(|_| ()).map_err(Clone::clone));
    problem("password", check_password_rules(&request.password));

    match (username, email) {
        (Ok(username), Ok(email)) if errors.is_empty() => Ok((username, email)),
        _ => Err(ApiError::validation(errors)),
    }
}

/// Validates, hashes and stores a new user; `first_only` creates it only while no user exists.
pub async fn create_user(
    store: &dyn Store,
    passwords: &PasswordHasher,
    request: UserRequest,
    first_only: bool,
) -> Result<Option<User>, ApiError> {
    let (username, email) = validate(&request)?;
    let password_hash = passwords.hash(&request.password).await?;
    let new_user = NewUser {
        username,
        email,
        password_hash,
        role: request.role,
    };
    let created: StoreResult<Option<User>> = if first_only {
        store.create_first_user(new_user).await
    } else {
        store.create_user(new_user).await.map(Some)
    };
    Ok(created?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_checked_and_lower_cased() {
        assert_eq!(normalize_username("Alice_01-x").unwrap(), "alice_01-x");
        for bad in ["ab", "with space", "ünï", "semi;colon", &"a".repeat(256)] {
            assert!(normalize_username(bad).is_err(), "{bad}");
        }
        assert!(normalize_username(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert_eq!(
            normalize_email(" a@b.example ").unwrap().as_deref(),
            Some("a@b.example")
        );
        assert_eq!(normalize_email("").unwrap(), None);
        for bad in [
            "plain",
            "@b.example",
            "a@b",
            "a@.b",
            "a b@c.example",
            "a@b..example",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_counted_in_characters() {
        assert!(check_password_rules(&SecretString::from("ééééééé")).is_err());
        assert!(check_password_rules(&SecretString::from("éééééééé")).is_ok());
        assert!(check_password_rules(&SecretString::from("x".repeat(257))).is_err());
    }

    #[test]
    fn validation_reports_every_bad_field() {
        let request = UserRequest {
            username: "x".to_owned(),
            email: Some("nope".to_owned()),
            password: SecretString::from("short"),
            role: Role::Viewer,
        };
        let Err(ApiError::Validation { errors, .. }) = validate(&request) else {
            panic!("three bad fields must fail validation");
        };
        let fields: Vec<_> = errors.iter().map(|error| error.field.as_str()).collect();
        assert_eq!(fields, ["username", "email", "password"]);
    }
}
