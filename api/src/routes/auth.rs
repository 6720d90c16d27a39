//! Signup, login, token refresh and logout, and the current user.
use std::time::Duration;

use std::net::IpAddr;

use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
};
use chrono::{DateTime, Utc};
use kpix_shared::{
    auth::{password, tokens},
    db::{
        self, login_throttle::Rule, organizations::OrganizationRow, refresh_tokens::Rotation,
        users::UserRow,
    },
    domain::kpi::Role,
    ids::{OrganizationId, SessionId, UserId},
    validate,
};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, Postgres, Transaction};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult},
    extract::{AuthConn, AuthUser, ClientAddr, Email, Json, Password, Text},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(change_password))
        .routes(routes!(me))
        // tokens and the user's details stay out of every cache
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"email": "ana@example.com", "password": "a long password", "full_name": "Ana Martin", "organization_name": "Acme"}))]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    pub email: Email,
    pub password: Password,
    pub full_name: Text<200>,
    pub organization_name: Text<200>,
}

/// Any strings: an e-mail no account can have is answered as a wrong
/// password is (401), so that the answer tells nothing about accounts.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"email": "ana@example.com", "password": "a long password"}))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"current_password": "a long password", "new_password": "another long passphrase"}))]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// Not a common password either.
    pub new_password: Password,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"refresh_token": "the refresh_token of a token response"}))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// A user with their organization, as the frontend shows the signed-in user.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub id: UserId,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub is_active: bool,
    pub organization_id: OrganizationId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub organization: OrganizationResponse,
}

impl MeResponse {
    fn new(user: UserRow, organization: OrganizationRow) -> Self {
        Self {
            id: user.id,
            email: user.email,
            full_name: user.full_name,
            role: user.role,
            is_active: user.is_active,
            organization_id: user.organization_id,
            created_at: user.created_at,
            updated_at: user.updated_at,
            organization: organization.into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Lifetime of the access token, in seconds.
    pub expires_in: u64,
    pub user: MeResponse,
}

/// Create an organization and its first user, an ADMIN.
#[utoipa::path(post, path = "/auth/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, description = "The organization's first session.", body = TokenResponse),
        (status = 409, description = "An account with this e-mail exists."),
        (status = 429, description = "Too many signups from this address.")))]
async fn signup(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Json(body): Json<SignupRequest>,
) -> ApiResult<(StatusCode, axum::Json<TokenResponse>)> {
    state.rate_limits.signup.check(client)?;
    let mut errors = Vec::new();
    let email = body.email.check("email", &mut errors);
    body.password.check("password", &mut errors);
    let full_name = body.full_name.check("full_name", &mut errors);
    let org_name = body
        .organization_name
        .check("organization_name", &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let password = body.password.0;
    let hash = state
        .hash_blocking(move || password::hash_password(&password))
        .await??;

    let organization_id = OrganizationId::new();
    let mut tx = db::begin(&state.pool, organization_id).await?;
    let organization = db::organizations::insert(&mut tx, organization_id, &org_name).await?;
    let user = db::users::insert(
        &mut tx,
        db::users::NewUser {
            organization_id: organization.id,
            email: &email,
            full_name: &full_name,
            password_hash: &hash,
            role: Role::Admin,
        },
    )
    .await
    .map_err(email_taken)?;
    let response = issue_tokens(&state, &mut tx, user, organization, SessionId::new()).await?;
    tx.commit().await?;
    tracing::info!(audit = "signup", user_id = %response.user.id, organization_id = %response.user.organization_id, "organization created");
    Ok((StatusCode::CREATED, axum::Json(response)))
}

/// Maps the unique e-mail violation to a 409.
pub fn email_taken(error: sqlx::Error) -> ApiError {
    if db::is_unique_violation(&error, db::users::EMAIL_KEY) {
        ApiError::conflict("email_taken", "an account with this e-mail already exists")
    } else {
        error.into()
    }
}

impl From<password::HashError> for ApiError {
    fn from(error: password::HashError) -> Self {
        ApiError::Internal(anyhow::Error::new(error))
    }
}

impl From<tokens::TokenError> for ApiError {
    fn from(error: tokens::TokenError) -> Self {
        ApiError::Internal(anyhow::Error::new(error))
    }
}

/// One account from one address: a password guesser's budget.
const PAIR_RULE: Rule = Rule {
    max_attempts: 5,
    window: Duration::from_secs(900),
    lock: Duration::from_secs(300),
};
/// One address, whatever the accounts: a credential-stuffing budget. No rule
/// counts an account alone: a flood from one address would then lock its
/// owner out everywhere (DESIGN §8).
const ADDRESS_RULE: Rule = Rule {
    max_attempts: 50,
    window: Duration::from_secs(900),
    lock: Duration::from_secs(900),
};

/// Exchange e-mail and password for tokens. Unknown e-mail and wrong password
/// get the same answer, in the same time.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, description = "A new session.", body = TokenResponse),
        (status = 401, description = "Wrong e-mail or password (the same answer for both), or a deactivated user."),
        (status = 429, description = "Too many logins from this address, or failed ones for this account.")))]
async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Json(body): Json<LoginRequest>,
) -> ApiResult<axum::Json<TokenResponse>> {
    state.rate_limits.login.check(client)?;
    let (user, throttled) = authenticate(&state, client, &body.email, body.password).await?;
    let mut tx = db::begin(&state.pool, user.organization_id).await?;
    db::login_throttle::succeeded(&mut tx, &throttled).await?;
    let organization = db::organizations::find(&mut tx, user.organization_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("user {} has no organization", user.id))?;
    let response = issue_tokens(&state, &mut tx, user, organization, SessionId::new()).await?;
    tx.commit().await?;
    tracing::info!(audit = "login", user_id = %response.user.id, client = %client, "login succeeded");
    Ok(axum::Json(response))
}

/// The active user whose e-mail and password these are, and the throttle
/// keys their attempt was counted under (given back on success). Attempts
/// are counted before the password is checked, so concurrent ones cannot
/// pass the limit; every refusal is the same 401, logged with its reason.
async fn authenticate(
    state: &AppState,
    client: IpAddr,
    email: &str,
    given: String,
) -> ApiResult<(UserRow, Vec<String>)> {
    // an e-mail no account can have is refused like a wrong one, before any lookup
    let Ok(email) = validate::email(email).map(|e| e.to_lowercase()) else {
        tracing::warn!(audit = "login_failed", client = %client, reason = "malformed e-mail", "login failed");
        return Err(ApiError::Unauthorized("invalid e-mail or password".into()));
    };
    let keys = [
        (
            throttle_key("pair", &format!("{email}|{client}")),
            PAIR_RULE,
        ),
        (throttle_key("addr", &client.to_string()), ADDRESS_RULE),
    ];
    let shown = masked(&email);
    let mut conn = state.pool.acquire().await?;
    count_attempt(&mut conn, &keys).await.inspect_err(|_| {
        tracing::warn!(audit = "login_throttled", email = %shown, client = %client, "login refused: too many attempts");
    })?;
    let found = db::users::find_for_login(&mut conn, &email).await?;
    let stored = found
        .as_ref()
        .map(|(_, hash)| hash.clone())
        .unwrap_or_else(|| password::DUMMY_HASH.clone());
    // no database connection is held while queued for the hasher: a login
    // flood must not starve the pool the other endpoints need
    drop(conn);
    let matches = given.chars().count() <= validate::MAX_PASSWORD_CHARS
        && !given.contains('\0')
        && state
            .hash_blocking(move || password::verify_password(&given, &stored))
            .await?;
    let user = match found {
        Some((user, _)) if matches && user.is_active => user,
        found => {
            let reason = match found {
                None => "unknown e-mail",
                Some((u, _)) if !u.is_active && matches => "deactivated user",
                Some(_) => "wrong password",
            };
            tracing::warn!(audit = "login_failed", email = %shown, client = %client, reason, "login failed");
            return Err(ApiError::Unauthorized("invalid e-mail or password".into()));
        }
    };
    Ok((user, keys.into_iter().map(|(key, _)| key).collect()))
}

/// Counts a password attempt under `keys` before the password is checked,
/// so concurrent attempts queue here and cannot pass a rule's limit; a 429
/// once one is reached.
async fn count_attempt(conn: &mut PgConnection, keys: &[(String, Rule)]) -> ApiResult<()> {
    match db::login_throttle::admit(conn, keys).await? {
        None => Ok(()),
        Some(retry_after_secs) => Err(ApiError::TooManyRequests {
            retry_after_secs,
            detail: "too many failed attempts".into(),
        }),
    }
}

/// An e-mail as failed-login lines show it: enough to recognise one's own,
/// not a list of the accounts someone tried (`an***@example.com`).
fn masked(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let kept: String = local.chars().take(2).collect();
            format!("{kept}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// A bounded key for the login counters, whatever the input's length.
fn throttle_key(kind: &str, subject: &str) -> String {
    let digest = tokens::hash_refresh_token(subject);
    format!(
        "{kind}:{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// Exchange a refresh token for new tokens; the old one stops working.
/// Presenting an already rotated token revokes its whole family.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, description = "The session's new tokens.", body = TokenResponse),
        (status = 401, description = "An unknown, expired, revoked or already used refresh token."),
        (status = 429, description = "Too many refreshes from this address.")))]
async fn refresh(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<axum::Json<TokenResponse>> {
    state.rate_limits.refresh.check(client)?;
    let hash = tokens::hash_refresh_token(body.refresh_token.trim());
    let mut tx = session_transaction(&state, &hash).await?;
    let rotation = db::refresh_tokens::rotate(&mut tx, &hash).await?;
    let (user_id, family_id) = match rotation {
        Rotation::Rotated { user_id, family_id } => (user_id, family_id),
        Rotation::Reused { user_id, family_id } => {
            tx.commit().await?;
            tracing::warn!(audit = "refresh_token_reuse", user_id = %user_id, family_id = %family_id, "rotated refresh token presented again: family revoked");
            return Err(ApiError::Unauthorized("invalid refresh token".into()));
        }
        Rotation::Invalid => return Err(ApiError::Unauthorized("invalid refresh token".into())),
    };
    let user = db::users::find_by_id(&mut tx, user_id)
        .await?
        .filter(|u| u.is_active)
        .ok_or_else(|| ApiError::Unauthorized("invalid refresh token".into()))?;
    let organization = db::organizations::find(&mut tx, user.organization_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("user {} has no organization", user.id))?;
    let response = issue_tokens(&state, &mut tx, user, organization, family_id).await?;
    tx.commit().await?;
    Ok(axum::Json(response))
}

/// Change one's password. The other sessions end at once, their access
/// tokens included; this one goes on.
#[utoipa::path(post, path = "/auth/password", tag = "auth", request_body = ChangePasswordRequest,
    responses((status = 204, description = "Changed; the other sessions have ended."),
        (status = 403, description = "`current_password` is not the caller's password."),
        (status = 429, description = "Too many wrong current passwords.")),
    security(("bearer" = [])))]
async fn change_password(
    State(state): State<AppState>,
    auth: AuthUser,
    ClientAddr(client): ClientAddr,
    Json(body): Json<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    validate::password(&body.new_password).map_err(|m| ApiError::invalid("new_password", m))?;
    // the current password is guessed like a login's: the same budget
    let keys = [(
        throttle_key(
            "pair",
            &format!("{}|{client}", auth.user.email.to_lowercase()),
        ),
        PAIR_RULE,
    )];
    let mut conn = state.pool.acquire().await?;
    count_attempt(&mut conn, &keys).await?;
    let mut tx = db::begin_on(&mut conn, auth.caller.organization_id).await?;
    let stored = db::users::password_hash(&mut tx, auth.user.id).await?;
    drop(tx);
    drop(conn);
    let new_hash = rehash(&state, stored, body.current_password, body.new_password.0);
    let Some(hash) = new_hash.await? else {
        tracing::warn!(audit = "password_change_failed", user_id = %auth.user.id, client = %client, "wrong current password");
        // a well-formed request whose credential does not convince: 403
        // (RFC 9110), not a 422, and not a 401 that would end the session
        return Err(ApiError::forbidden("current_password is not your password"));
    };
    let mut tx = auth.begin(&state.pool).await?;
    db::users::set_password(&mut tx, auth.user.id, &hash).await?;
    let ended =
        db::refresh_tokens::revoke_other_sessions(&mut tx, auth.user.id, auth.session_id).await?;
    let throttled: Vec<String> = keys.into_iter().map(|(key, _)| key).collect();
    db::login_throttle::succeeded(&mut tx, &throttled).await?;
    tx.commit().await?;
    tracing::info!(audit = "password_changed", user_id = %auth.user.id, tokens_revoked = ended, "password changed; other sessions ended");
    Ok(StatusCode::NO_CONTENT)
}

/// The hash of `new` when `current` is the password `stored` hashes, off
/// the runtime: the new password is hashed only once the current one is right.
async fn rehash(
    state: &AppState,
    stored: String,
    current: String,
    new: String,
) -> ApiResult<Option<String>> {
    let hash = state
        .hash_blocking(move || {
            (current.chars().count() <= validate::MAX_PASSWORD_CHARS
                && password::verify_password(&current, &stored))
            .then(|| password::hash_password(&new))
        })
        .await?;
    Ok(hash.transpose()?)
}

/// Revoke the refresh token's family (this session on every device it reached).
#[utoipa::path(post, path = "/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204), (status = 401)))]
async fn logout(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<StatusCode> {
    let hash = tokens::hash_refresh_token(body.refresh_token.trim());
    let mut tx = session_transaction(&state, &hash).await?;
    let (user_id, family_id) = db::refresh_tokens::family_of(&mut tx, &hash)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("invalid refresh token".into()))?;
    db::refresh_tokens::revoke_family(&mut tx, family_id).await?;
    tx.commit().await?;
    tracing::info!(audit = "logout", user_id = %user_id, "session revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(get, path = "/auth/me", tag = "auth", responses((status = 200, body = MeResponse), (status = 401)),
    security(("bearer" = [])))]
async fn me(AuthConn { auth, mut conn }: AuthConn) -> ApiResult<axum::Json<MeResponse>> {
    let organization = db::organizations::find(&mut conn, auth.caller.organization_id)
        .await?
        .ok_or(ApiError::NotFound("organization"))?;
    Ok(axum::Json(MeResponse::new(auth.user, organization)))
}

/// A transaction acting for the organization of a refresh token's user:
/// 401 when no session has that token.
async fn session_transaction(
    state: &AppState,
    token_hash: &[u8],
) -> ApiResult<Transaction<'static, Postgres>> {
    let mut conn = state.pool.acquire().await?;
    let organization_id = db::refresh_tokens::organization_of(&mut conn, token_hash)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("invalid refresh token".into()))?;
    drop(conn);
    Ok(db::begin(&state.pool, organization_id).await?)
}

async fn issue_tokens(
    state: &AppState,
    conn: &mut PgConnection,
    user: UserRow,
    organization: OrganizationRow,
    family_id: SessionId,
) -> ApiResult<TokenResponse> {
    let access_token = state
        .tokens
        .issue_access(user.id, user.organization_id, family_id)?;
    let refresh_token = tokens::new_refresh_token();
    let ttl =
        chrono::Duration::from_std(state.config.refresh_token_ttl).map_err(anyhow::Error::new)?;
    db::refresh_tokens::insert(
        conn,
        user.id,
        family_id,
        &tokens::hash_refresh_token(&refresh_token),
        Utc::now() + ttl,
    )
    .await?;
    Ok(TokenResponse {
        access_token,
        refresh_token,
        token_type: "bearer",
        expires_in: state.tokens.access_ttl().as_secs(),
        user: MeResponse::new(user, organization),
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = OrganizationRow)]
pub struct OrganizationResponse {
    pub id: OrganizationId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<OrganizationRow> for OrganizationResponse {
    fn from(row: OrganizationRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            created_at: row.created_at,
        }
    }
}
