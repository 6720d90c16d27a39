//! Access tokens (HS256 JWT, short-lived) and opaque refresh tokens (random,
//! stored as their SHA-256).
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::ids::{OrganizationId, SessionId, UserId};

/// Tells an access token from any other token signed with the same key.
pub const ACCESS_TOKEN_TYPE: &str = "access";
/// Who issues the access tokens (`iss`) and who they are for (`aud`).
pub const ISSUER: &str = "kpix";
pub const AUDIENCE: &str = "kpix-api";
/// Clock difference tolerated between replicas, in seconds.
const LEEWAY_SECONDS: i64 = 5;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    pub org: OrganizationId,
    /// The session: the refresh-token family of the login. Logout and a
    /// password change end it, and its access tokens with it.
    pub sid: SessionId,
    pub typ: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
}

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_ttl: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("not an access token")]
    WrongType,
    #[error("issued in the future")]
    FromTheFuture,
}

impl TokenKeys {
    pub fn new(secret: &[u8], access_ttl: Duration) -> Self {
        // HS256 only: a token naming another algorithm (or none) is refused
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = LEEWAY_SECONDS as u64;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl,
        }
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    pub fn issue_access(
        &self,
        user_id: UserId,
        organization_id: OrganizationId,
        session_id: SessionId,
    ) -> Result<String, TokenError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: user_id,
            org: organization_id,
            sid: session_id,
            typ: ACCESS_TOKEN_TYPE.to_owned(),
            iat: now,
            exp: now + self.access_ttl.as_secs() as i64,
            jti: Uuid::now_v7(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    pub fn verify_access(&self, token: &str) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?;
        if data.claims.typ != ACCESS_TOKEN_TYPE {
            return Err(TokenError::WrongType);
        }
        // jsonwebtoken checks `exp`, not `iat`: a token dated ahead is forged
        // or from a clock that cannot be trusted
        if data.claims.iat > chrono::Utc::now().timestamp() + LEEWAY_SECONDS {
            return Err(TokenError::FromTheFuture);
        }
        Ok(data.claims)
    }
}

/// A new opaque refresh token: 256 random bits, URL-safe hex.
pub fn new_refresh_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the database stores of a refresh token.
pub fn hash_refresh_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64_free::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn keys() -> TokenKeys {
        TokenKeys::new(SECRET, Duration::from_secs(900))
    }

    /// Minimal base64url (no padding) so tests can forge tokens by hand.
    mod base64_free {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        pub fn b64url(input: &[u8]) -> String {
            let mut out = String::new();
            for chunk in input.chunks(3) {
                let b = [
                    chunk[0],
                    *chunk.get(1).unwrap_or(&0),
                    *chunk.get(2).unwrap_or(&0),
                ];
                let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
                let chars = chunk.len() + 1;
                for i in 0..chars {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
            out
        }
    }

    fn claims_json(typ: &str, iat: i64, exp: i64) -> String {
        serde_json::json!({"iss": ISSUER, "aud": AUDIENCE, "sub": Uuid::now_v7(), "org": Uuid::now_v7(),
            "sid": Uuid::now_v7(), "typ": typ, "iat": iat, "exp": exp, "jti": Uuid::now_v7()})
        .to_string()
    }

    fn signed(claims: &serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(SECRET),
        )
        .expect("encode")
    }

    #[test]
    fn issuer_audience_and_issue_time_are_checked() {
        let now = chrono::Utc::now().timestamp();
        let good: serde_json::Value =
            serde_json::from_str(&claims_json("access", now, now + 600)).expect("claims");
        assert!(keys().verify_access(&signed(&good)).is_ok());
        for (claim, value) in [
            ("iss", serde_json::json!("someone-else")),
            ("aud", serde_json::json!("another-api")),
            ("iat", serde_json::json!(now + 365 * 86_400)),
        ] {
            let mut claims = good.clone();
            claims[claim] = value;
            assert!(keys().verify_access(&signed(&claims)).is_err(), "{claim}");
            let mut claims = good.clone();
            claims.as_object_mut().expect("an object").remove(claim);
            assert!(
                keys().verify_access(&signed(&claims)).is_err(),
                "no {claim}"
            );
        }
    }

    #[test]
    fn an_issued_access_token_verifies() {
        let keys = keys();
        let user = UserId::new();
        let org = OrganizationId::new();
        let token = keys
            .issue_access(user, org, SessionId::new())
            .expect("issue");
        let claims = keys.verify_access(&token).expect("verify");
        assert_eq!((claims.sub, claims.org), (user, org));
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn alg_none_is_refused() {
        let now = chrono::Utc::now().timestamp();
        let token = format!(
            "{}.{}.",
            b64url(br#"{"alg":"none","typ":"JWT"}"#),
            b64url(claims_json("access", now, now + 600).as_bytes())
        );
        assert!(keys().verify_access(&token).is_err());
    }

    #[test]
    fn another_algorithm_is_refused() {
        let now = chrono::Utc::now().timestamp();
        let claims: Claims =
            serde_json::from_str(&claims_json("access", now, now + 600)).expect("claims");
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .expect("encode");
        assert!(keys().verify_access(&token).is_err());
    }

    #[test]
    fn a_bad_signature_is_refused() {
        let other = TokenKeys::new(
            b"another secret of thirty-two bytes!!",
            Duration::from_secs(900),
        );
        let token = other
            .issue_access(UserId::new(), OrganizationId::new(), SessionId::new())
            .expect("issue");
        assert!(keys().verify_access(&token).is_err());
    }

    #[test]
    fn an_expired_token_is_refused() {
        let now = chrono::Utc::now().timestamp();
        let claims: Claims =
            serde_json::from_str(&claims_json("access", now - 3600, now - 60)).expect("claims");
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .expect("encode");
        assert!(keys().verify_access(&token).is_err());
    }

    #[test]
    fn a_token_of_another_type_is_refused() {
        let now = chrono::Utc::now().timestamp();
        let claims: Claims =
            serde_json::from_str(&claims_json("refresh", now, now + 600)).expect("claims");
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .expect("encode");
        assert!(matches!(
            keys().verify_access(&token),
            Err(TokenError::WrongType)
        ));
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let a = new_refresh_token();
        let b = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(hash_refresh_token(&a), hash_refresh_token(&a));
        assert_ne!(hash_refresh_token(&a), hash_refresh_token(&b));
        assert_eq!(hash_refresh_token(&a).len(), 32);
    }
}
