//! Signup, login, tokens, refresh rotation, logout, deactivation and login
//! limiting. What a request answers is checked in process on the router; the
//! tests of log lines, client addresses, rate limits, concurrent clients,
//! settings and a body over the limit run the real `kpix-api`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use futures::future::join_all;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kpix_tests::{
    ApiClient, DEFAULT_PASSWORD, RouterApp, Session, TestApp, assert_invalid_field, assert_problem,
    unique_email,
};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

// -- helpers ----------------------------------------------------------------

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The claims of a token as the API issued it.
fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// Access-token claims as the API issues them, for `session`'s user and session.
fn claims_for(session: &Session, iat: i64, exp: i64) -> Value {
    json!({
        "iss": "kpix",
        "aud": "kpix-api",
        "sub": session.user_id,
        "org": session.organization_id,
        "sid": payload(&session.token)["sid"],
        "typ": "access",
        "iat": iat,
        "exp": exp,
        "jti": Uuid::now_v7(),
    })
}

fn sign(algorithm: Algorithm, secret: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("sign token")
}

fn b64(json: &Value) -> String {
    URL_SAFE_NO_PAD.encode(json.to_string())
}

async fn me_with_token(app: &ApiClient, token: &str) -> kpix_tests::TestResponse {
    app.send(app.request(Method::GET, "/auth/me").bearer_auth(token))
        .await
}

fn assert_token_response(body: &Value, email: &str, role: &str) {
    assert!(
        body["access_token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| t.len() >= 32)
    );
    assert_eq!(body["token_type"], "bearer");
    let user = &body["user"];
    assert!(user["id"].as_str().unwrap().parse::<Uuid>().is_ok());
    assert_eq!(
        user["email"].as_str().unwrap().to_lowercase(),
        email.to_lowercase()
    );
    assert!(user["full_name"].is_string());
    assert_eq!(user["role"], role);
    assert_eq!(user["is_active"], true);
    assert!(user["created_at"].is_string());
    assert_eq!(user["organization_id"], user["organization"]["id"]);
    assert!(user["organization"]["name"].is_string());
    assert!(user["organization"]["created_at"].is_string());
    assert!(user.get("password_hash").is_none() && user.get("password").is_none());
}

// -- the happy path ---------------------------------------------------------

#[tokio::test]
async fn signup_login_me_refresh_logout() {
    let app = RouterApp::start().await;
    let email = unique_email("ada");

    let signup = app
        .post_json_anon(
            "/auth/signup",
            &json!({"email": email, "password": DEFAULT_PASSWORD, "full_name": "Ada Lovelace", "organization_name": "Analytical Engines"}),
        )
        .await;
    signup.assert_status(201);
    assert_token_response(&signup.body, &email, "ADMIN");
    assert_eq!(
        signup.body["user"]["organization"]["name"],
        "Analytical Engines"
    );
    assert_eq!(signup.body["user"]["full_name"], "Ada Lovelace");

    let login = app.login(&email, DEFAULT_PASSWORD).await;
    login.assert_status(200);
    assert_token_response(&login.body, &email, "ADMIN");
    assert_eq!(login.body["user"]["id"], signup.body["user"]["id"]);
    let session = Session::from_token_response(&login.body, &email, DEFAULT_PASSWORD);

    let me = app.get(&session, "/auth/me").await;
    me.assert_status(200);
    assert_eq!(me.body["id"], signup.body["user"]["id"]);
    assert_eq!(me.body["role"], "ADMIN");
    assert_eq!(me.body["organization"]["name"], "Analytical Engines");

    let refreshed = app.refresh(&session.refresh_token).await;
    refreshed.assert_status(200);
    assert_token_response(&refreshed.body, &email, "ADMIN");
    let renewed = Session::from_token_response(&refreshed.body, &email, DEFAULT_PASSWORD);
    assert_ne!(renewed.refresh_token, session.refresh_token);
    app.get(&renewed, "/auth/me").await.assert_status(200);

    let logout = app
        .post_json_anon(
            "/auth/logout",
            &json!({"refresh_token": renewed.refresh_token}),
        )
        .await;
    logout.assert_status(204);
    assert_problem(&app.refresh(&renewed.refresh_token).await, 401);
}

#[tokio::test]
async fn emails_are_trimmed_and_case_insensitive() {
    let app = RouterApp::start().await;
    let email = unique_email("Grace.Hopper");
    let spelled = format!("  {}  ", email.to_uppercase());
    app.post_json_anon(
        "/auth/signup",
        &json!({"email": spelled, "password": DEFAULT_PASSWORD, "full_name": "Grace", "organization_name": "Navy"}),
    )
    .await
    .assert_status(201);

    app.login(&email.to_lowercase(), DEFAULT_PASSWORD)
        .await
        .assert_status(200);
    app.login(&format!(" {} ", email.to_uppercase()), DEFAULT_PASSWORD)
        .await
        .assert_status(200);

    let again = app
        .post_json_anon(
            "/auth/signup",
            &json!({"email": email.to_lowercase(), "password": DEFAULT_PASSWORD, "full_name": "Other", "organization_name": "Other"}),
        )
        .await;
    assert_eq!(assert_problem(&again, 409), "email_taken");
}

// -- wrong credentials ------------------------------------------------------

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;

    let wrong_password = app.login(&admin.email, "not the password").await;
    let unknown_email = app.login(&unique_email("nobody"), DEFAULT_PASSWORD).await;

    assert_problem(&wrong_password, 401);
    assert_problem(&unknown_email, 401);
    assert_eq!(wrong_password.body, unknown_email.body);
    assert!(wrong_password.body.get("access_token").is_none());
    assert!(
        app.logs().contains(r#""audit":"login_failed""#),
        "{}",
        app.logs()
    );
}

#[tokio::test]
async fn an_over_long_password_at_login_is_refused_not_a_crash() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;

    let resp = app.login(&admin.email, &"x".repeat(100_000)).await;

    assert_problem(&resp, 401);
}

#[tokio::test]
async fn passwords_and_secrets_never_reach_the_logs() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    app.login(&admin.email, DEFAULT_PASSWORD)
        .await
        .assert_status(200);
    app.login(&admin.email, "a wrong but secret password").await;

    let logs = app.logs();
    assert!(logs.contains(r#""audit":"login""#), "{logs}");
    assert!(!logs.contains(DEFAULT_PASSWORD));
    assert!(!logs.contains("a wrong but secret password"));
    assert!(!logs.contains(&app.jwt_secret));
    assert!(!logs.contains(&admin.refresh_token));
}

// -- access tokens ----------------------------------------------------------

#[tokio::test]
async fn a_hand_signed_token_with_the_right_key_is_accepted() {
    // control for the forgery tests below: the forging itself is right
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let token = sign(
        Algorithm::HS256,
        app.jwt_secret.as_bytes(),
        &claims_for(&admin, now(), now() + 600),
    );

    me_with_token(&app, &token).await.assert_status(200);
}

#[tokio::test]
async fn forged_expired_and_misused_tokens_get_401() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let secret = app.jwt_secret.as_bytes();
    let valid = claims_for(&admin, now(), now() + 600);

    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&valid)
    );
    let alg_none_upper = format!(
        "{}.{}.",
        b64(&json!({"alg": "None", "typ": "JWT"})),
        b64(&valid)
    );
    let hs512 = sign(Algorithm::HS512, secret, &valid);
    let wrong_key = sign(
        Algorithm::HS256,
        b"another secret of at least thirty-two bytes",
        &valid,
    );
    // a real token with its claims swapped: the signature no longer matches
    let genuine = admin.token.clone();
    let signature = genuine.rsplit('.').next().unwrap();
    let mut raised = valid.clone();
    raised["exp"] = json!(now() + 86_400 * 365);
    let tampered = format!(
        "{}.{}.{signature}",
        genuine.split('.').next().unwrap(),
        b64(&raised)
    );
    let expired = sign(
        Algorithm::HS256,
        secret,
        &claims_for(&admin, now() - 7200, now() - 3600),
    );
    let mut refresh_typed = valid.clone();
    refresh_typed["typ"] = json!("refresh");
    let refresh_typed = sign(Algorithm::HS256, secret, &refresh_typed);
    let mut untyped = valid.clone();
    untyped.as_object_mut().unwrap().remove("typ");
    let untyped = sign(Algorithm::HS256, secret, &untyped);
    let mut other_org = valid.clone();
    other_org["org"] = json!(Uuid::now_v7());
    let other_org = sign(Algorithm::HS256, secret, &other_org);
    let mut ghost = valid.clone();
    ghost["sub"] = json!(Uuid::now_v7());
    let ghost = sign(Algorithm::HS256, secret, &ghost);
    let with = |claim: &str, value: Value| {
        let mut claims = valid.clone();
        claims[claim] = value;
        sign(Algorithm::HS256, secret, &claims)
    };
    let without = |claim: &str| {
        let mut claims = valid.clone();
        claims.as_object_mut().unwrap().remove(claim);
        sign(Algorithm::HS256, secret, &claims)
    };

    let cases = [
        ("alg none", alg_none),
        ("alg None", alg_none_upper),
        ("HS512 with the right key", hs512),
        ("bad signature", wrong_key),
        ("tampered claims", tampered),
        ("expired", expired),
        (
            "refresh token used as access token",
            admin.refresh_token.clone(),
        ),
        ("typ refresh", refresh_typed),
        ("no typ", untyped),
        ("organization not the user's", other_org),
        ("unknown user", ghost),
        ("another issuer", with("iss", json!("someone-else"))),
        ("another audience", with("aud", json!("another-api"))),
        ("no issuer", without("iss")),
        ("no audience", without("aud")),
        (
            "issued a year ahead",
            with("iat", json!(now() + 365 * 86_400)),
        ),
        ("unknown session", with("sid", json!(Uuid::now_v7()))),
        ("no session", without("sid")),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (name, token) in cases {
        let resp = me_with_token(&app, &token).await;
        assert_eq!(resp.status, 401, "{name}: {}", resp.text);
        assert_problem(&resp, 401);
    }
    // the genuine token still works: the refusals above are about the tokens
    me_with_token(&app, &genuine).await.assert_status(200);
}

#[tokio::test]
async fn missing_or_malformed_authorization_gets_401() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;

    let no_header = app.get_anon("/auth/me").await;
    assert_problem(&no_header, 401);
    for value in [
        "".to_owned(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        format!("Basic {}", admin.token),
        format!("Token {}", admin.token),
        admin.token.clone(),
    ] {
        let resp = app
            .send(
                app.request(Method::GET, "/auth/me")
                    .header("authorization", &value),
            )
            .await;
        assert_eq!(resp.status, 401, "Authorization: {value:?}: {}", resp.text);
        assert_problem(&resp, 401);
    }
}

// -- refresh tokens ---------------------------------------------------------

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_its_family() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    let other_device = app.login_session(&admin.email, &admin.password).await;

    let first = app.refresh(&admin.refresh_token).await;
    first.assert_status(200);
    let successor = first.body["refresh_token"].as_str().unwrap().to_owned();

    // the rotated token comes back: stolen, or replayed
    let reuse = app.refresh(&admin.refresh_token).await;
    assert_problem(&reuse, 401);

    // the whole family is gone, including the legitimate successor
    assert_problem(&app.refresh(&successor).await, 401);
    assert!(app.logs().contains(r#""audit":"refresh_token_reuse""#));
    // another login is another family, untouched
    app.refresh(&other_device.refresh_token)
        .await
        .assert_status(200);
}

#[tokio::test]
async fn parallel_refresh_with_one_token_has_exactly_one_winner() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;

    let results = join_all((0..10).map(|_| app.refresh(&admin.refresh_token))).await;

    let winners: Vec<_> = results.iter().filter(|r| r.status == 200).collect();
    let losers = results.iter().filter(|r| r.status == 401).count();
    assert_eq!(
        (winners.len(), losers),
        (1, 9),
        "statuses: {:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for resp in results.iter().filter(|r| r.status == 401) {
        assert_problem(resp, 401);
    }
    // the losers presented a rotated token: reuse, so the family is revoked,
    // including the winner's successor
    let successor = winners[0].body["refresh_token"].as_str().unwrap();
    assert_problem(&app.refresh(successor).await, 401);
    assert_problem(&app.refresh(&admin.refresh_token).await, 401);
    // signing in again still works
    app.login(&admin.email, &admin.password)
        .await
        .assert_status(200);
}

#[tokio::test]
async fn unknown_refresh_tokens_get_401() {
    let app = RouterApp::start().await;
    app.signup("Acme").await;

    for token in ["", "nope", &"0".repeat(64)] {
        assert_problem(&app.refresh(token).await, 401);
        let logout = app
            .post_json_anon("/auth/logout", &json!({"refresh_token": token}))
            .await;
        assert_problem(&logout, 401);
    }
}

#[tokio::test]
async fn logout_ends_only_that_session() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let laptop = app.login_session(&admin.email, &admin.password).await;

    app.post_json_anon(
        "/auth/logout",
        &json!({"refresh_token": admin.refresh_token}),
    )
    .await
    .assert_status(204);

    assert_problem(&app.refresh(&admin.refresh_token).await, 401);
    // the session's access token stops at once too, not when it expires
    assert_problem(&app.get(&admin, "/auth/me").await, 401);
    app.get(&laptop, "/auth/me").await.assert_status(200);
    app.refresh(&laptop.refresh_token).await.assert_status(200);
}

#[tokio::test]
async fn changing_ones_password_ends_the_other_sessions() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    let laptop = app.login_session(&admin.email, &admin.password).await;
    let change = |current: &str, new: &str| {
        let body = json!({"current_password": current, "new_password": new});
        let app = &app;
        let admin = &admin;
        async move { app.post_json(admin, "/auth/password", &body).await }
    };
    let wrong = change("not my password", "a brand new passphrase").await;
    assert_eq!(assert_problem(&wrong, 403), "forbidden");
    assert!(wrong.text.contains("current_password"), "{}", wrong.text);
    assert_invalid_field(&change(&admin.password, "azertyuiop").await, "new_password");
    assert_invalid_field(&change(&admin.password, "short").await, "new_password");
    app.login(&admin.email, &admin.password)
        .await
        .assert_status(200);

    change(&admin.password, "a brand new passphrase")
        .await
        .assert_status(204);

    // the other session ends, access and refresh token alike
    assert_problem(&app.get(&laptop, "/auth/me").await, 401);
    assert_problem(&app.refresh(&laptop.refresh_token).await, 401);
    // this one goes on
    app.get(&admin, "/auth/me").await.assert_status(200);
    app.refresh(&admin.refresh_token).await.assert_status(200);
    assert_problem(&app.login(&admin.email, &admin.password).await, 401);
    app.login(&admin.email, "a brand new passphrase")
        .await
        .assert_status(200);
    assert!(app.logs().contains(r#""audit":"password_changed""#));
}

#[tokio::test]
async fn common_passwords_are_refused_at_signup_and_user_creation() {
    let app = RouterApp::start().await;
    for common in ["password", "motdepasse", "Azertyuiop", "12345678"] {
        let resp = app
            .post_json_anon(
                "/auth/signup",
                &json!({"email": unique_email("c"), "password": common,
                    "full_name": "C", "organization_name": "Commune"}),
            )
            .await;
        assert_invalid_field(&resp, "password");
    }
    let admin = app.signup("Acme").await;
    let resp = app
        .post_json(
            &admin,
            "/users",
            &json!({"email": unique_email("u"), "full_name": "U", "password": "iloveyou", "role": "USER"}),
        )
        .await;
    assert_invalid_field(&resp, "password");
}

// -- deactivation -----------------------------------------------------------

#[tokio::test]
async fn a_deactivated_user_is_locked_out_until_reactivated() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let user = app.create_user(&admin, "USER").await;
    app.get(&user, "/auth/me").await.assert_status(200);

    let patch = app
        .patch_json(
            &admin,
            &format!("/users/{}", user.user_id),
            &json!({"is_active": false}),
        )
        .await;
    patch.assert_status(200);
    assert_eq!(patch.body["is_active"], false);

    assert_problem(&app.get(&user, "/auth/me").await, 401);
    assert_problem(&app.get(&user, "/teams").await, 401);
    assert_problem(&app.login(&user.email, &user.password).await, 401);
    assert_problem(&app.refresh(&user.refresh_token).await, 401);
    // the admin is unaffected
    app.get(&admin, "/auth/me").await.assert_status(200);

    app.patch_json(
        &admin,
        &format!("/users/{}", user.user_id),
        &json!({"is_active": true}),
    )
    .await
    .assert_status(200);
    let back = app.login_session(&user.email, &user.password).await;
    app.get(&back, "/auth/me").await.assert_status(200);
}

// -- login limiting ---------------------------------------------------------

#[tokio::test]
async fn repeated_wrong_passwords_are_limited_per_account() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    let colleague = app.create_user(&admin, "USER").await;

    for attempt in 1..=5 {
        let resp = app
            .login(&admin.email, &format!("wrong password {attempt}"))
            .await;
        assert_eq!(resp.status, 401, "attempt {attempt}: {}", resp.text);
    }
    // even the right password is refused for now
    let limited = app.login(&admin.email, &admin.password).await;

    assert_eq!(assert_problem(&limited, 429), "too_many_requests");
    let retry_after: u64 = limited
        .header("retry-after")
        .expect("Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert!(
        (1..=3600).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    assert!(limited.body.get("access_token").is_none());
    assert!(app.logs().contains(r#""audit":"login_throttled""#));
    // another account from the same address is unaffected
    app.login(&colleague.email, &colleague.password)
        .await
        .assert_status(200);
    // existing sessions keep working
    app.get(&admin, "/auth/me").await.assert_status(200);
}

#[tokio::test]
async fn concurrent_logins_cannot_pass_the_limit() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_LOGINS_PER_MINUTE", "0")]).await;
    let admin = app.signup("Acme").await;
    // 100 logins at once for one account from one address; the right
    // password is the 61st. Counted before the password is checked, at most
    // 5 are checked at all: the rest are refused, the right one included.
    let logins = (0..100).map(|n| {
        let password = if n == 60 {
            admin.password.clone()
        } else {
            format!("wrong password {n}")
        };
        let app = &app;
        let email = admin.email.clone();
        async move { app.login(&email, &password).await.status }
    });
    let statuses = join_all(logins).await;
    let checked = statuses.iter().filter(|s| **s != 429).count();
    assert!(checked <= 5, "{checked} passwords checked: {statuses:?}");
    assert!(
        statuses.iter().all(|s| [200, 401, 429].contains(s)),
        "{statuses:?}"
    );
    let admitted_wrong = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(
        checked, 5,
        "the first five are checked ({admitted_wrong} were wrong)"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_a_flood_locks_out_its_own_address_only() {
    let app = TestApp::spawn_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ("RATE_LIMIT_LOGINS_PER_MINUTE", "0"),
    ])
    .await;
    let admin = app.signup("Acme").await;
    let login_from = |address: &'static str, email: String, password: String| {
        let app = &app;
        async move {
            let request = app
                .request(Method::POST, "/auth/login")
                .header("x-forwarded-for", format!("192.0.2.1, {address}"))
                .json(&json!({"email": email, "password": password}));
            app.send(request).await
        }
    };
    // 60 failed logins with random e-mails from one address, through the proxy
    for _ in 0..60 {
        login_from("203.0.113.7", unique_email("nobody"), "wrong".into()).await;
    }
    let flooder = login_from("203.0.113.7", admin.email.clone(), admin.password.clone()).await;
    assert_problem(&flooder, 429);
    // everybody else, behind the same proxy, signs in
    login_from("198.51.100.9", admin.email.clone(), admin.password.clone())
        .await
        .assert_status(200);
    let lines = app.log_lines();
    let failed = lines
        .iter()
        .find(|l| l["audit"] == "login_failed")
        .expect("a login_failed line");
    assert_eq!(failed["client"], "203.0.113.7", "{failed}");
}

#[tokio::test]
async fn forwarded_addresses_from_untrusted_peers_are_not_believed() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_LOGINS_PER_MINUTE", "0")]).await;
    let admin = app.signup("Acme").await;
    // a client claiming a new address each time is still one address
    for n in 0..55 {
        let request = app
            .request(Method::POST, "/auth/login")
            .header("x-forwarded-for", format!("198.51.100.{n}"))
            .json(&json!({"email": unique_email("nobody"), "password": "wrong"}));
        app.send(request).await;
    }
    let request = app
        .request(Method::POST, "/auth/login")
        .header("x-forwarded-for", "198.51.100.200")
        .json(&json!({"email": admin.email, "password": admin.password}));
    assert_problem(&app.send(request).await, 429);
}

#[tokio::test]
async fn failed_login_lines_never_show_the_email_in_clear() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    app.login(&admin.email, "a wrong password").await;
    app.login("somebody.else@example.com", "a wrong password")
        .await;
    let lines = app.log_lines();
    let failed: Vec<&Value> = lines
        .iter()
        .filter(|l| l["audit"] == "login_failed")
        .collect();
    assert_eq!(failed.len(), 2, "{lines:?}");
    assert_eq!(failed[1]["email"], "so***@example.com");
    let logs = app.logs();
    assert!(!logs.contains("somebody.else@example.com"));
    assert!(!logs.contains(&admin.email), "{logs}");
}

#[tokio::test]
async fn signups_refreshes_logins_and_uploads_are_rate_limited_per_address() {
    let app = TestApp::spawn_with(&[
        ("RATE_LIMIT_SIGNUPS_PER_HOUR", "3"),
        ("RATE_LIMIT_REFRESHES_PER_MINUTE", "2"),
        ("RATE_LIMIT_LOGINS_PER_MINUTE", "4"),
        ("RATE_LIMIT_UPLOADS_PER_MINUTE", "1"),
    ])
    .await;
    let admin = app.signup("First").await;
    app.signup("Second").await;
    app.signup("Third").await;
    let fourth = app
        .post_json_anon(
            "/auth/signup",
            &json!({"email": unique_email("four"), "password": DEFAULT_PASSWORD,
                "full_name": "Four", "organization_name": "Fourth"}),
        )
        .await;
    assert_eq!(assert_problem(&fourth, 429), "too_many_requests");
    let wait: u64 = fourth.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&wait), "Retry-After: {wait}");

    let mut refresh_token = admin.refresh_token.clone();
    for _ in 0..2 {
        let resp = app.refresh(&refresh_token).await;
        resp.assert_status(200);
        refresh_token = resp.body["refresh_token"].as_str().unwrap().to_owned();
    }
    assert_problem(&app.refresh(&refresh_token).await, 429);

    for n in 0..4 {
        let resp = app.login(&admin.email, &admin.password).await;
        assert_eq!(resp.status, 200, "login {n}: {}", resp.text);
    }
    assert_problem(&app.login(&admin.email, &admin.password).await, 429);

    let upload = || {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"kpi_code,period,value\nX,2025-01,1\n".to_vec())
                .file_name("v.csv"),
        );
        app.send(
            app.authed(&admin, Method::POST, "/imports/kpi-values")
                .multipart(form),
        )
    };
    upload().await.assert_status(202);
    assert_problem(&upload().await, 429);
    assert!(app.logs().contains(r#""audit":"rate_limited""#));
}

#[tokio::test]
async fn token_responses_are_never_cached_and_no_response_is_sniffed() {
    let app = RouterApp::start().await;
    let signup = app
        .post_json_anon(
            "/auth/signup",
            &json!({"email": unique_email("a"), "password": DEFAULT_PASSWORD,
                "full_name": "A", "organization_name": "Acme"}),
        )
        .await;
    signup.assert_status(201);
    let email = signup.body["user"]["email"].as_str().unwrap().to_owned();
    let login = app.login(&email, DEFAULT_PASSWORD).await;
    let refresh = app
        .refresh(login.body["refresh_token"].as_str().unwrap())
        .await;
    for resp in [&signup, &login, &refresh] {
        assert_eq!(resp.header("cache-control"), Some("no-store"));
        assert_eq!(resp.header("x-content-type-options"), Some("nosniff"));
    }
    for path in ["/health/live", "/api/v1/openapi.json", "/api/v1/nowhere"] {
        let resp = app.get_anon(path).await;
        assert_eq!(
            resp.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
    }
}

// -- malformed input --------------------------------------------------------

#[tokio::test]
async fn signup_rejects_invalid_fields_with_422() {
    let app = RouterApp::start().await;
    let valid = || json!({"email": unique_email("v"), "password": DEFAULT_PASSWORD, "full_name": "Val", "organization_name": "Org"});
    let with = |field: &str, value: Value| {
        let mut body = valid();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = valid();
        body.as_object_mut().unwrap().remove(field);
        body
    };

    let mut cases: Vec<(&str, Value, &str)> = vec![
        (
            "short password",
            with("password", json!("1234567")),
            "password",
        ),
        (
            "huge password",
            with("password", json!("p".repeat(1025))),
            "password",
        ),
        (
            "over-long full_name",
            with("full_name", json!("n".repeat(201))),
            "full_name",
        ),
        (
            "blank full_name",
            with("full_name", json!("   ")),
            "full_name",
        ),
        (
            "over-long organization_name",
            with("organization_name", json!("o".repeat(201))),
            "organization_name",
        ),
        (
            "over-long email",
            with("email", json!(format!("{}@example.com", "e".repeat(250)))),
            "email",
        ),
        ("missing email", without("email"), "email"),
        ("missing password", without("password"), "password"),
        ("email not a string", with("email", json!(42)), "email"),
        (
            "full_name null",
            with("full_name", Value::Null),
            "full_name",
        ),
        ("extra field", with("role", json!("USER")), "role"),
    ];
    cases.push((
        "control character in full_name",
        with("full_name", json!("Ada\u{0}Lovelace")),
        "full_name",
    ));
    cases.push((
        "control character in organization_name",
        with("organization_name", json!("Acme\u{7}")),
        "organization_name",
    ));
    for bad in [
        "",
        "ana",
        "ana@",
        "@example.com",
        "ana@example",
        "a b@example.com",
        "ana@@example.com",
        "ana\u{0}@example.com",
    ] {
        cases.push(("bad e-mail", with("email", json!(bad)), "email"));
    }
    for (name, body, field) in cases {
        let resp = app.post_json_anon("/auth/signup", &body).await;
        assert_eq!(resp.status, 422, "{name}: {}", resp.text);
        assert_invalid_field(&resp, field);
    }
}

#[tokio::test]
async fn auth_routes_reject_malformed_bodies_without_500() {
    let app = RouterApp::start().await;
    app.signup("Acme").await;

    for (path, first_field) in [
        ("/auth/signup", "email"),
        ("/auth/login", "email"),
        ("/auth/refresh", "refresh_token"),
        ("/auth/logout", "refresh_token"),
    ] {
        let truncated = format!(r#"{{"{first_field}": "#);
        for malformed in [truncated.as_str(), "{,}", "nul"] {
            let resp = app
                .post_raw(None, path, "application/json", malformed.to_owned())
                .await;
            assert_eq!(resp.status, 400, "{path} {malformed}: {}", resp.text);
            assert_eq!(assert_problem(&resp, 400), "malformed_json", "{path}");
        }
        let empty = app.post_raw(None, path, "application/json", "").await;
        assert_problem(&empty, 400);
        let not_json = app.post_raw(None, path, "text/plain", "{}").await;
        assert_problem(&not_json, 415);
        let no_type = app
            .send(
                app.request(Method::POST, path)
                    .body(r#"{"refresh_token":"x"}"#),
            )
            .await;
        assert_problem(&no_type, 415);
        let array = app.post_raw(None, path, "application/json", "[]").await;
        assert_problem(&array, 422);
        let object_missing_fields = app.post_raw(None, path, "application/json", "{}").await;
        assert_problem(&object_missing_fields, 422);
    }
    let extra = app
        .post_json_anon(
            "/auth/login",
            &json!({"email": "a@b.co", "password": "12345678", "remember": true}),
        )
        .await;
    assert_invalid_field(&extra, "remember");
    let wrong_type = app
        .post_json_anon("/auth/refresh", &json!({"refresh_token": 12}))
        .await;
    assert_invalid_field(&wrong_type, "refresh_token");
}

#[tokio::test]
async fn an_oversized_body_gets_413() {
    let app = TestApp::spawn().await;
    let huge = json!({"email": "a@b.co", "password": "x".repeat(2 * 1024 * 1024)});

    let resp = app.post_json_anon("/auth/login", &huge).await;

    assert_problem(&resp, 413);
}

#[tokio::test]
async fn odd_login_input_is_refused_without_500() {
    let app = TestApp::spawn().await;
    app.signup("Acme").await;
    let mut failures = Vec::new();

    for email in [
        "a\u{0}b@example.com".to_owned(),
        // random, so that PostgreSQL cannot compress it below its index row limit
        format!("{}@example.com", kpix_tests::random_alphanumeric(10_000)),
        "".to_owned(),
        "   ".to_owned(),
        "\u{202e}admin@example.com".to_owned(),
    ] {
        let resp = app.login(&email, DEFAULT_PASSWORD).await;
        if resp.status == 401 || resp.status == 422 {
            assert_problem(&resp, resp.status);
        } else {
            failures.push(format!(
                "e-mail {:?}: {} {}",
                truncate(&email),
                resp.status,
                resp.text
            ));
        }
    }
    let nul_password = app.login("someone@example.com", "pass\u{0}word").await;
    if nul_password.status != 401 {
        failures.push(format!(
            "NUL in password: {} {}",
            nul_password.status, nul_password.text
        ));
    }
    let errors: Vec<_> = app
        .logs()
        .lines()
        .filter(|l| l.contains(r#""level":"ERROR""#))
        .map(truncate_line)
        .collect();
    assert!(
        failures.is_empty(),
        "{failures:#?}\nerrors logged: {errors:#?}"
    );
}

fn truncate(text: &str) -> String {
    text.chars().take(40).collect()
}

fn truncate_line(text: &str) -> String {
    text.chars().take(600).collect()
}

#[tokio::test]
async fn a_json_content_type_with_parameters_is_accepted() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let body = json!({"email": admin.email, "password": admin.password}).to_string();

    let resp = app
        .post_raw(None, "/auth/login", "application/json; charset=utf-8", body)
        .await;

    resp.assert_status(200);
}

#[tokio::test]
async fn concurrent_signups_with_one_email_create_one_account() {
    let app = TestApp::spawn().await;
    let email = unique_email("race");
    let body = json!({"email": email, "password": DEFAULT_PASSWORD, "full_name": "Racer", "organization_name": "Race"});

    let results = join_all((0..6).map(|_| app.post_json_anon("/auth/signup", &body))).await;

    let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    for resp in results.iter().filter(|r| r.status != 201) {
        assert_eq!(assert_problem(resp, 409), "email_taken");
    }
}

#[tokio::test]
async fn an_expired_refresh_token_gets_401() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let db = app.db().await;
    sqlx::query("update refresh_token set expires_at = now() - interval '1 second'")
        .execute(&db)
        .await
        .unwrap();

    assert_problem(&app.refresh(&admin.refresh_token).await, 401);
}

#[tokio::test]
async fn an_access_token_stops_working_when_its_lifetime_ends() {
    let app = TestApp::spawn_with(&[("ACCESS_TOKEN_TTL_SECONDS", "1")]).await;
    let admin = app.signup("Acme").await;
    app.get(&admin, "/auth/me").await.assert_status(200);

    // 1 s of lifetime plus the verifier's few seconds of clock leeway
    let expired = kpix_tests::poll_until(std::time::Duration::from_secs(20), || async {
        let resp = app.get(&admin, "/auth/me").await;
        (resp.status != 200).then_some(resp)
    })
    .await;

    assert_problem(&expired, 401);
    // a refresh gives a working token again
    let renewed = app.refresh(&admin.refresh_token).await;
    renewed.assert_status(200);
    let token = renewed.body["access_token"].as_str().unwrap();
    me_with_token(&app, token).await.assert_status(200);
}
