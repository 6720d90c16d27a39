//! Input rules for text fields, shared by every endpoint: each returns the
//! cleaned value or a message saying what is wrong. Lengths count the
//! characters as sent, spaces included (what JSON Schema's `maxLength`
//! counts, so that the published rule is the rule).

/// Trims an e-mail and checks its shape; comparison is case-insensitive in
/// the database, the spelling given is kept.
pub fn email(raw: &str) -> Result<String, String> {
    if raw.chars().count() > 254 {
        return Err("must be at most 254 characters".into());
    }
    let email = raw.trim();
    let Some((local, domain)) = email.split_once('@') else {
        return Err("must be an e-mail address such as name@example.com".into());
    };
    let valid = !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email.to_owned())
    } else {
        Err("must be an e-mail address such as name@example.com".into())
    }
}

pub const MIN_PASSWORD_CHARS: usize = 8;
/// Caps argon2 input so a huge password cannot be used to burn CPU.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// A new password: 8 to 1024 characters (as JSON Schema counts them, so the
/// published length is the rule), no NUL (login refuses NUL), and not one of
/// the common passwords of public breach lists, which are tried first by
/// anyone guessing.
pub fn password(raw: &str) -> Result<(), String> {
    let chars = raw.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(format!("must be at most {MAX_PASSWORD_CHARS} characters"));
    }
    if raw.contains('\0') {
        return Err("must not contain NUL characters".into());
    }
    if COMMON_PASSWORDS.contains(raw.to_lowercase().as_str()) {
        return Err("is one of the most common passwords; choose another".into());
    }
    Ok(())
}

/// `auth/common_passwords.txt`, read once.
static COMMON_PASSWORDS: std::sync::LazyLock<std::collections::HashSet<&'static str>> =
    std::sync::LazyLock::new(|| {
        include_str!("auth/common_passwords.txt")
            .lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect()
    });

/// A required text: trimmed, not empty, at most `max` characters, no
/// control characters but tab and line breaks.
pub fn required_text(raw: &str, max: usize) -> Result<String, String> {
    optional_text(raw, max)?.ok_or_else(|| "must not be empty".into())
}

/// An optional text: trimmed, empty becomes `None`, at most `max` characters.
pub fn optional_text(raw: &str, max: usize) -> Result<Option<String>, String> {
    if raw.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    // the text as sent: a vertical tab is refused even where trim would drop it
    if raw
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err("must not contain control characters".into());
    }
    let text = raw.trim();
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_checked() {
        assert_eq!(
            email("  Ana@Example.com ").as_deref(),
            Ok("Ana@Example.com")
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "a b@example.com",
            "ana@@example.com",
            "ana@.com",
        ] {
            assert!(email(bad).is_err(), "{bad} accepted");
        }
        assert!(email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn passwords_have_bounds() {
        assert!(password("1234567").is_err());
        assert!(password("1234567a8").is_ok());
        assert!(password("correct horse battery staple").is_ok());
        assert!(password(&"x".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
        assert!(password(&"é".repeat(MAX_PASSWORD_CHARS)).is_ok());
        assert!(password("1234567a8\0").is_err());
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for common in [
            "password",
            "12345678",
            "Password",
            "AZERTYUIOP",
            "motdepasse",
            "iloveyou",
            "chouchou",
        ] {
            assert_eq!(
                password(common),
                Err("is one of the most common passwords; choose another".into()),
                "{common}"
            );
        }
        assert!(COMMON_PASSWORDS.len() > 10_000);
    }

    #[test]
    fn texts_are_trimmed_and_bounded() {
        assert_eq!(required_text("  Qualité ", 10).as_deref(), Ok("Qualité"));
        assert!(required_text("   ", 10).is_err());
        assert!(required_text("abcdefghijk", 10).is_err());
        assert_eq!(optional_text("  ", 10), Ok(None));
        assert!(optional_text("a\u{0}b", 10).is_err());
        assert!(optional_text("a\u{b}", 10).is_err());
        // the length as sent: what the document's maxLength says
        assert!(required_text(" abcdefghij", 10).is_err());
        assert!(email(&format!(" {}@example.com", "a".repeat(242))).is_err());
    }
}
