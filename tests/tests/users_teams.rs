//! Users and teams: ADMIN management, USER limits, organization isolation,
//! input validation and pagination. In process on the router, but for the
//! tests that read the audit log lines or race two admins, which run the real
//! `kpix-api`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kpix_tests::{
    DEFAULT_PASSWORD, RouterApp, TestApp, assert_invalid_field, assert_problem, unique_email,
};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

fn ids(body: &Value) -> Vec<String> {
    body.as_array()
        .expect("a JSON array")
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

// -- users ------------------------------------------------------------------

#[tokio::test]
async fn an_admin_creates_a_user_who_can_log_in() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    let email = unique_email("bob");

    let created = app
        .post_json(
            &admin,
            "/users",
            &json!({"email": email, "full_name": "Bob Builder", "password": DEFAULT_PASSWORD, "role": "USER"}),
        )
        .await;

    created.assert_status(201);
    let user = &created.body;
    assert_eq!(user["email"], email.as_str());
    assert_eq!(user["full_name"], "Bob Builder");
    assert_eq!(user["role"], "USER");
    assert_eq!(user["is_active"], true);
    assert_eq!(user["organization_id"], admin.organization_id.to_string());
    assert!(user["created_at"].is_string());
    assert!(
        !created.text.contains("password") && !created.text.contains("argon2"),
        "{}",
        created.text
    );
    let bob = app.login_session(&email, DEFAULT_PASSWORD).await;
    assert_eq!(bob.user_id, created.id());
    assert_eq!(bob.role, "USER");
    assert!(app.logs().contains(r#""audit":"user_created""#));
}

#[tokio::test]
async fn a_created_user_defaults_to_the_user_role() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;

    let created = app
        .post_json(
            &admin,
            "/users",
            &json!({"email": unique_email("d"), "full_name": "D", "password": DEFAULT_PASSWORD}),
        )
        .await;

    created.assert_status(201);
    assert_eq!(created.body["role"], "USER");
}

#[tokio::test]
async fn a_taken_email_is_a_conflict_whatever_its_case() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let other_org = app.signup("Globex").await;

    for email in [admin.email.to_uppercase(), other_org.email.clone()] {
        let resp = app
            .post_json(
                &admin,
                "/users",
                &json!({"email": email, "full_name": "Dup", "password": DEFAULT_PASSWORD, "role": "USER"}),
            )
            .await;
        assert_eq!(assert_problem(&resp, 409), "email_taken", "{email}");
    }
}

#[tokio::test]
async fn admins_list_all_users_and_everyone_lists_active_members() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let alice = app.create_user(&admin, "USER").await;
    let gone = app.create_user(&admin, "USER").await;
    app.patch_json(
        &admin,
        &format!("/users/{}", gone.user_id),
        &json!({"is_active": false}),
    )
    .await
    .assert_status(200);

    let all = app.get(&admin, "/users").await;
    let members = app.get(&alice, "/users/members").await;

    all.assert_status(200);
    members.assert_status(200);
    let all_ids = ids(&all.body);
    let member_ids = ids(&members.body);
    for session in [&admin, &alice, &gone] {
        assert!(all_ids.contains(&session.user_id.to_string()));
    }
    assert!(member_ids.contains(&admin.user_id.to_string()));
    assert!(member_ids.contains(&alice.user_id.to_string()));
    assert!(!member_ids.contains(&gone.user_id.to_string()));
    let one = app.get(&admin, &format!("/users/{}", gone.user_id)).await;
    one.assert_status(200);
    assert_eq!(one.body["is_active"], false);
}

#[tokio::test]
async fn an_admin_renames_and_changes_roles() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    let user = app.create_user(&admin, "USER").await;

    let renamed = app
        .patch_json(
            &admin,
            &format!("/users/{}", user.user_id),
            &json!({"full_name": "  New Name "}),
        )
        .await;
    renamed.assert_status(200);
    assert_eq!(renamed.body["full_name"], "New Name");
    assert_eq!(renamed.body["role"], "USER");
    assert_eq!(renamed.body["is_active"], true);

    // the promotion applies to the token the user already holds
    assert_problem(
        &app.post_json(&user, "/teams", &json!({"name": "Ops"}))
            .await,
        403,
    );
    app.patch_json(
        &admin,
        &format!("/users/{}", user.user_id),
        &json!({"role": "ADMIN"}),
    )
    .await
    .assert_status(200);
    app.post_json(&user, "/teams", &json!({"name": "Ops"}))
        .await
        .assert_status(201);

    // and so does a demotion
    app.patch_json(
        &admin,
        &format!("/users/{}", user.user_id),
        &json!({"role": "USER"}),
    )
    .await
    .assert_status(200);
    assert_problem(
        &app.post_json(&user, "/teams", &json!({"name": "Sales"}))
            .await,
        403,
    );
    assert!(app.logs().contains(r#""audit":"user_role_changed""#));
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_removed() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let me = format!("/users/{}", admin.user_id);

    for patch in [json!({"is_active": false}), json!({"role": "USER"})] {
        let resp = app.patch_json(&admin, &me, &patch).await;
        assert_eq!(assert_problem(&resp, 409), "last_admin", "{patch}");
    }
    // nothing changed
    let still = app.get(&admin, &me).await;
    still.assert_status(200);
    assert_eq!(
        (
            still.body["role"].as_str(),
            still.body["is_active"].as_bool()
        ),
        (Some("ADMIN"), Some(true))
    );

    // with a second admin, the first may step down
    let second = app.create_user(&admin, "ADMIN").await;
    app.patch_json(&second, &me, &json!({"role": "USER"}))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = TestApp::spawn().await;
    let first = app.signup("Acme").await;
    let second = app.create_user(&first, "ADMIN").await;

    let demote = json!({"role": "USER"});
    let (first_path, second_path) = (
        format!("/users/{}", first.user_id),
        format!("/users/{}", second.user_id),
    );
    let (a, b) = tokio::join!(
        app.patch_json(&first, &second_path, &demote),
        app.patch_json(&second, &first_path, &demote),
    );

    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert!(
        statuses == [200, 403] || statuses == [200, 409],
        "{} {} / {} {}",
        a.status,
        a.text,
        b.status,
        b.text
    );
    let first_role = app.get(&first, "/auth/me").await.body["role"].clone();
    let second_role = app.get(&second, "/auth/me").await.body["role"].clone();
    let roles = [first_role, second_role];
    assert_eq!(
        roles.iter().filter(|r| **r == "ADMIN").count(),
        1,
        "{roles:?}"
    );
}

#[tokio::test]
async fn names_at_the_length_limit_are_accepted_in_characters_not_bytes() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let accented = "é".repeat(200);

    let team = app
        .post_json(&admin, "/teams", &json!({"name": accented}))
        .await;
    let user = app
        .patch_json(
            &admin,
            &format!("/users/{}", admin.user_id),
            &json!({"full_name": accented}),
        )
        .await;

    team.assert_status(201);
    assert_eq!(team.body["name"], accented.as_str());
    user.assert_status(200);
    assert_eq!(user.body["full_name"], accented.as_str());
}

// -- USER limits ------------------------------------------------------------

#[tokio::test]
async fn a_user_gets_403_on_admin_routes() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let user = app.create_user(&admin, "USER").await;
    let colleague = app.create_user(&admin, "USER").await;
    let team = app.create_team(&admin, "Ops").await;
    app.add_team_member(&admin, team, colleague.user_id).await;

    let new_user = json!({"email": unique_email("x"), "full_name": "X", "password": DEFAULT_PASSWORD, "role": "ADMIN"});
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/users".into(), None),
        (Method::POST, "/users".into(), Some(new_user)),
        (Method::GET, format!("/users/{}", colleague.user_id), None),
        (
            Method::PATCH,
            format!("/users/{}", colleague.user_id),
            Some(json!({"is_active": false})),
        ),
        (
            Method::PATCH,
            format!("/users/{}", user.user_id),
            Some(json!({"role": "ADMIN"})),
        ),
        (Method::POST, "/teams".into(), Some(json!({"name": "Mine"}))),
        (
            Method::PATCH,
            format!("/teams/{team}"),
            Some(json!({"name": "Renamed"})),
        ),
        (Method::DELETE, format!("/teams/{team}"), None),
        (
            Method::POST,
            format!("/teams/{team}/members"),
            Some(json!({"user_id": user.user_id})),
        ),
        (
            Method::DELETE,
            format!("/teams/{team}/members/{}", colleague.user_id),
            None,
        ),
    ];
    for (method, path, body) in cases {
        let resp = app
            .send_json(&user, method.clone(), &path, body.as_ref())
            .await;
        assert_eq!(resp.status, 403, "{method} {path}: {}", resp.text);
        assert_eq!(assert_problem(&resp, 403), "forbidden");
    }

    // nothing was written
    let me = app.get(&user, "/auth/me").await;
    assert_eq!(me.body["role"], "USER");
    let team_now = app.get(&admin, &format!("/teams/{team}")).await;
    team_now.assert_status(200);
    assert_eq!(team_now.body["name"], "Ops");
    let members: Vec<_> = team_now.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_id"].clone())
        .collect();
    assert_eq!(members, vec![json!(colleague.user_id)]);
    let colleague_now = app
        .get(&admin, &format!("/users/{}", colleague.user_id))
        .await;
    assert_eq!(colleague_now.body["is_active"], true);
}

#[tokio::test]
async fn a_user_reads_teams_and_members() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let user = app.create_user(&admin, "USER").await;
    let team = app.create_team(&admin, "Ops").await;
    app.add_team_member(&admin, team, user.user_id).await;

    let teams = app.get(&user, "/teams").await;
    let one = app.get(&user, &format!("/teams/{team}")).await;
    let members = app.get(&user, "/users/members").await;

    teams.assert_status(200);
    assert_eq!(ids(&teams.body), vec![team.to_string()]);
    one.assert_status(200);
    assert_eq!(one.body["members"][0]["user_id"], user.user_id.to_string());
    members.assert_status(200);
}

#[tokio::test]
async fn every_route_needs_a_token() {
    let app = RouterApp::start().await;
    let id = Uuid::now_v7();
    let cases = [
        (Method::GET, "/auth/me".to_owned()),
        (Method::GET, "/users".to_owned()),
        (Method::POST, "/users".to_owned()),
        (Method::GET, "/users/members".to_owned()),
        (Method::GET, format!("/users/{id}")),
        (Method::PATCH, format!("/users/{id}")),
        (Method::GET, "/teams".to_owned()),
        (Method::POST, "/teams".to_owned()),
        (Method::GET, format!("/teams/{id}")),
        (Method::PATCH, format!("/teams/{id}")),
        (Method::DELETE, format!("/teams/{id}")),
        (Method::POST, format!("/teams/{id}/members")),
        (Method::DELETE, format!("/teams/{id}/members/{id}")),
    ];
    for (method, path) in cases {
        let resp = app
            .send(app.request(method.clone(), &path).json(&json!({})))
            .await;
        assert_eq!(resp.status, 401, "{method} {path}: {}", resp.text);
        assert_problem(&resp, 401);
    }
}

// -- teams ------------------------------------------------------------------

#[tokio::test]
async fn teams_lifecycle() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let user = app.create_user(&admin, "USER").await;

    let created = app
        .post_json(&admin, "/teams", &json!({"name": "  Quality "}))
        .await;
    created.assert_status(201);
    assert_eq!(created.body["name"], "Quality");
    assert_eq!(
        created.body["organization_id"],
        admin.organization_id.to_string()
    );
    assert_eq!(created.body["members"], json!([]));
    let team = created.id();
    let path = format!("/teams/{team}");

    let duplicate = app
        .post_json(&admin, "/teams", &json!({"name": "Quality"}))
        .await;
    assert_eq!(assert_problem(&duplicate, 409), "team_name_taken");

    let renamed = app
        .patch_json(&admin, &path, &json!({"name": "Quality & Safety"}))
        .await;
    renamed.assert_status(200);
    assert_eq!(renamed.body["name"], "Quality & Safety");

    let added = app
        .post_json(
            &admin,
            &format!("{path}/members"),
            &json!({"user_id": user.user_id}),
        )
        .await;
    added.assert_status(201);
    let member = &added.body["members"][0];
    assert_eq!(member["user_id"], user.user_id.to_string());
    assert_eq!(member["email"], user.email.as_str());
    let again = app
        .post_json(
            &admin,
            &format!("{path}/members"),
            &json!({"user_id": user.user_id}),
        )
        .await;
    assert_eq!(assert_problem(&again, 409), "already_member");

    let listed = app.get(&admin, &path).await;
    assert_eq!(listed.body["members"].as_array().unwrap().len(), 1);

    let member_path = format!("{path}/members/{}", user.user_id);
    app.delete(&admin, &member_path).await.assert_status(204);
    assert_problem(&app.delete(&admin, &member_path).await, 404);
    assert_eq!(app.get(&admin, &path).await.body["members"], json!([]));

    app.delete(&admin, &path).await.assert_status(204);
    assert_problem(&app.get(&admin, &path).await, 404);
    assert_problem(&app.delete(&admin, &path).await, 404);
    // the former member still exists
    app.get(&user, "/auth/me").await.assert_status(200);
}

// -- organization isolation -------------------------------------------------

#[tokio::test]
async fn another_organizations_users_and_teams_are_404() {
    let app = RouterApp::start().await;
    let admin_a = app.signup("Acme").await;
    let user_a = app.create_user(&admin_a, "USER").await;
    let team_a = app.create_team(&admin_a, "Ops").await;
    app.add_team_member(&admin_a, team_a, user_a.user_id).await;
    let admin_b = app.signup("Globex").await;
    let user_b = app.create_user(&admin_b, "USER").await;
    let team_b = app.create_team(&admin_b, "Ops").await;

    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/users/{}", user_a.user_id), None),
        (
            Method::PATCH,
            format!("/users/{}", user_a.user_id),
            Some(json!({"is_active": false})),
        ),
        (
            Method::PATCH,
            format!("/users/{}", admin_a.user_id),
            Some(json!({"role": "USER"})),
        ),
        (Method::GET, format!("/teams/{team_a}"), None),
        (
            Method::PATCH,
            format!("/teams/{team_a}"),
            Some(json!({"name": "Taken over"})),
        ),
        (Method::DELETE, format!("/teams/{team_a}"), None),
        (
            Method::POST,
            format!("/teams/{team_a}/members"),
            Some(json!({"user_id": user_b.user_id})),
        ),
        (
            Method::DELETE,
            format!("/teams/{team_a}/members/{}", user_a.user_id),
            None,
        ),
        // B's own team, A's user
        (
            Method::POST,
            format!("/teams/{team_b}/members"),
            Some(json!({"user_id": user_a.user_id})),
        ),
        (
            Method::DELETE,
            format!("/teams/{team_b}/members/{}", user_a.user_id),
            None,
        ),
    ];
    for (method, path, body) in cases {
        let resp = app
            .send_json(&admin_b, method.clone(), &path, body.as_ref())
            .await;
        assert_eq!(resp.status, 404, "{method} {path}: {}", resp.text);
        assert_problem(&resp, 404);
    }

    // B's lists show none of A
    let users_b = ids(&app.get(&admin_b, "/users").await.body);
    let members_b = ids(&app.get(&user_b, "/users/members").await.body);
    let teams_b = ids(&app.get(&admin_b, "/teams").await.body);
    for list in [&users_b, &members_b] {
        assert!(!list.contains(&user_a.user_id.to_string()));
        assert!(!list.contains(&admin_a.user_id.to_string()));
    }
    assert_eq!(teams_b, vec![team_b.to_string()]);
    assert_eq!(
        app.get(&admin_b, &format!("/teams/{team_b}")).await.body["members"],
        json!([])
    );

    // and A's data is untouched
    let team_now = app.get(&admin_a, &format!("/teams/{team_a}")).await;
    team_now.assert_status(200);
    assert_eq!(team_now.body["name"], "Ops");
    assert_eq!(team_now.body["members"].as_array().unwrap().len(), 1);
    app.get(&user_a, "/auth/me").await.assert_status(200);
    assert_eq!(app.get(&admin_a, "/auth/me").await.body["role"], "ADMIN");
}

#[tokio::test]
async fn another_organizations_id_looks_exactly_like_a_missing_one() {
    let app = RouterApp::start().await;
    let admin_a = app.signup("Acme").await;
    let team_a = app.create_team(&admin_a, "Ops").await;
    let admin_b = app.signup("Globex").await;

    for (foreign, missing) in [
        (
            format!("/users/{}", admin_a.user_id),
            format!("/users/{}", Uuid::now_v7()),
        ),
        (
            format!("/teams/{team_a}"),
            format!("/teams/{}", Uuid::now_v7()),
        ),
    ] {
        let foreign = app.get(&admin_b, &foreign).await;
        let missing = app.get(&admin_b, &missing).await;
        assert_problem(&foreign, 404);
        assert_problem(&missing, 404);
        assert_eq!(foreign.body, missing.body);
    }
}

// -- malformed input --------------------------------------------------------

#[tokio::test]
async fn non_uuid_path_ids_are_400() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let team = app.create_team(&admin, "Ops").await;

    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/users/not-a-uuid".into(), None),
        (Method::GET, "/users/123".into(), None),
        (
            Method::PATCH,
            "/users/not-a-uuid".into(),
            Some(json!({"full_name": "X"})),
        ),
        (Method::GET, "/teams/not-a-uuid".into(), None),
        (
            Method::PATCH,
            "/teams/not-a-uuid".into(),
            Some(json!({"name": "X"})),
        ),
        (Method::DELETE, "/teams/not-a-uuid".into(), None),
        (
            Method::POST,
            "/teams/not-a-uuid/members".into(),
            Some(json!({"user_id": admin.user_id})),
        ),
        (
            Method::DELETE,
            format!("/teams/{team}/members/not-a-uuid"),
            None,
        ),
        (
            Method::DELETE,
            format!("/teams/not-a-uuid/members/{}", admin.user_id),
            None,
        ),
        (Method::GET, format!("/teams/{}", "9".repeat(5000)), None),
    ];
    for (method, path, body) in cases {
        let resp = app
            .send_json(&admin, method.clone(), &path, body.as_ref())
            .await;
        assert_eq!(resp.status, 400, "{method} {path}: {}", resp.text);
        assert_eq!(assert_problem(&resp, 400), "invalid_path_parameter");
    }
}

#[tokio::test]
async fn invalid_user_bodies_are_422_naming_the_field() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let user = app.create_user(&admin, "USER").await;
    let user_path = format!("/users/{}", user.user_id);
    let create = |field: &str, value: Value| {
        let mut body = json!({"email": unique_email("v"), "full_name": "Val", "password": DEFAULT_PASSWORD, "role": "USER"});
        if value.is_null() {
            body.as_object_mut().unwrap().remove(field);
        } else {
            body[field] = value;
        }
        body
    };

    let cases: Vec<(Method, &str, Value, &str)> = vec![
        (
            Method::POST,
            "/users",
            create("email", json!("not-an-email")),
            "email",
        ),
        (
            Method::POST,
            "/users",
            create("email", json!("a b@example.com")),
            "email",
        ),
        (
            Method::POST,
            "/users",
            create("email", Value::Null),
            "email",
        ),
        (
            Method::POST,
            "/users",
            create("password", json!("short")),
            "password",
        ),
        (
            Method::POST,
            "/users",
            create("full_name", json!("n".repeat(201))),
            "full_name",
        ),
        (
            Method::POST,
            "/users",
            create("full_name", json!("")),
            "full_name",
        ),
        (
            Method::POST,
            "/users",
            create("role", json!("ROOT")),
            "role",
        ),
        (
            Method::POST,
            "/users",
            create("organization_id", json!(Uuid::now_v7())),
            "organization_id",
        ),
        (
            Method::POST,
            "/users",
            create("is_active", json!(false)),
            "is_active",
        ),
        (
            Method::PATCH,
            &user_path,
            json!({"is_active": "no"}),
            "is_active",
        ),
        (
            Method::PATCH,
            &user_path,
            json!({"role": "SUPERUSER"}),
            "role",
        ),
        (
            Method::PATCH,
            &user_path,
            json!({"full_name": "n".repeat(201)}),
            "full_name",
        ),
        (
            Method::PATCH,
            &user_path,
            json!({"full_name": "   "}),
            "full_name",
        ),
        (
            Method::PATCH,
            &user_path,
            json!({"full_name": 12}),
            "full_name",
        ),
        (
            Method::PATCH,
            &user_path,
            json!({"full_name": "Bob\u{0}by"}),
            "full_name",
        ),
        (
            Method::POST,
            "/users",
            create("full_name", json!("Bob\u{1b}[31m")),
            "full_name",
        ),
        (
            Method::POST,
            "/users",
            create("email", json!("bob\u{0}@example.com")),
            "email",
        ),
        (
            Method::PATCH,
            &user_path,
            json!({"email": "new@example.com"}),
            "email",
        ),
    ];
    for (method, path, body, field) in cases {
        let resp = app
            .send_json(&admin, method.clone(), path, Some(&body))
            .await;
        assert_eq!(resp.status, 422, "{method} {path} {body}: {}", resp.text);
        assert_invalid_field(&resp, field);
    }
    // nothing changed
    let now = app.get(&admin, &user_path).await;
    assert_eq!(
        (now.body["is_active"].as_bool(), now.body["role"].as_str()),
        (Some(true), Some("USER"))
    );
}

#[tokio::test]
async fn a_wrong_type_for_a_role_is_422_naming_the_field() {
    // valid JSON of the wrong type is invalid data (422), not a malformed body (400)
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let user_path = format!("/users/{}", admin.user_id);

    for role in [json!(1), json!(true), json!(["ADMIN"])] {
        let created = app
            .post_json(
                &admin,
                "/users",
                &json!({"email": unique_email("r"), "full_name": "R", "password": DEFAULT_PASSWORD, "role": role}),
            )
            .await;
        assert_invalid_field(&created, "role");
        let patched = app
            .patch_json(&admin, &user_path, &json!({"role": role}))
            .await;
        assert_invalid_field(&patched, "role");
    }
}

#[tokio::test]
async fn invalid_team_bodies_are_422_naming_the_field() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let team = app.create_team(&admin, "Ops").await;
    let team_path = format!("/teams/{team}");
    let members_path = format!("/teams/{team}/members");

    let cases: Vec<(Method, &str, Value, &str)> = vec![
        (Method::POST, "/teams", json!({}), "name"),
        (Method::POST, "/teams", json!({"name": ""}), "name"),
        (Method::POST, "/teams", json!({"name": "   "}), "name"),
        (
            Method::POST,
            "/teams",
            json!({"name": "t".repeat(201)}),
            "name",
        ),
        (Method::POST, "/teams", json!({"name": 5}), "name"),
        (
            Method::POST,
            "/teams",
            json!({"name": "Ok", "color": "red"}),
            "color",
        ),
        (
            Method::PATCH,
            &team_path,
            json!({"name": "t".repeat(201)}),
            "name",
        ),
        (Method::PATCH, &team_path, json!({"name": null}), "name"),
        (Method::POST, "/teams", json!({"name": "Ops\u{0}"}), "name"),
        (
            Method::PATCH,
            &team_path,
            json!({"name": "Ops\u{8}"}),
            "name",
        ),
        (Method::POST, &members_path, json!({}), "user_id"),
        (
            Method::POST,
            &members_path,
            json!({"user_id": "not-a-uuid"}),
            "user_id",
        ),
        (
            Method::POST,
            &members_path,
            json!({"user_id": 42}),
            "user_id",
        ),
    ];
    for (method, path, body, field) in cases {
        let resp = app
            .send_json(&admin, method.clone(), path, Some(&body))
            .await;
        assert_eq!(resp.status, 422, "{method} {path} {body}: {}", resp.text);
        assert_invalid_field(&resp, field);
    }
}

#[tokio::test]
async fn malformed_json_on_user_and_team_writes_is_400() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let team = app.create_team(&admin, "Ops").await;

    for (method, path) in [
        (Method::POST, "/users".to_owned()),
        (Method::PATCH, format!("/users/{}", admin.user_id)),
        (Method::POST, "/teams".to_owned()),
        (Method::PATCH, format!("/teams/{team}")),
        (Method::POST, format!("/teams/{team}/members")),
    ] {
        for raw in ["{,}", "{\"", "\u{0}"] {
            let resp = app
                .send(
                    app.authed(&admin, method.clone(), &path)
                        .header("content-type", "application/json")
                        .body(raw),
                )
                .await;
            assert_eq!(resp.status, 400, "{method} {path} {raw:?}: {}", resp.text);
            assert_problem(&resp, 400);
        }
        let wrong_type = app
            .send(
                app.authed(&admin, method.clone(), &path)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("name=x"),
            )
            .await;
        assert_problem(&wrong_type, 415);
    }
}

// -- pagination -------------------------------------------------------------

#[tokio::test]
async fn user_lists_are_paginated_with_a_next_link() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    for _ in 0..4 {
        app.create_user(&admin, "USER").await;
    }

    let mut seen = Vec::new();
    let mut url = app.url("/users?limit=2");
    let mut pages = 0;
    loop {
        let page = app
            .send(app.raw().get(&url).bearer_auth(&admin.token))
            .await;
        page.assert_status(200);
        let page_ids = ids(&page.body);
        assert!(page_ids.len() <= 2, "{}", page.text);
        seen.extend(page_ids);
        pages += 1;
        assert!(pages <= 5, "too many pages");
        match page.next_link() {
            Some(next) => {
                assert!(
                    next.starts_with("/api/v1/users?") || next.starts_with(&app.url("/users?")),
                    "next link {next:?} does not point at /api/v1/users"
                );
                url = app.resolve_link(&next);
            }
            None => break,
        }
    }

    assert_eq!(seen.len(), 5, "{seen:?}");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5, "a user appeared twice: {seen:?}");
}

#[tokio::test]
async fn bad_pagination_parameters_are_422() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;

    for query in [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "limit=-1",
        "cursor=not-a-cursor",
    ] {
        for path in ["/users", "/users/members", "/teams"] {
            let resp = app.get(&admin, &format!("{path}?{query}")).await;
            assert_eq!(resp.status, 422, "{path}?{query}: {}", resp.text);
            assert_problem(&resp, 422);
        }
    }
    app.get(&admin, "/users?limit=1000")
        .await
        .assert_status(200);
}

#[tokio::test]
async fn deleting_a_team_leaves_its_dashboards_to_their_owner_and_admins() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let owner = app.create_user(&admin, "USER").await;
    let member = app.create_user(&admin, "USER").await;
    let outsider = app.create_user(&admin, "USER").await;
    let team = app.create_team(&admin, "Qualité").await;
    app.add_team_member(&admin, team, owner.user_id).await;
    app.add_team_member(&admin, team, member.user_id).await;
    let created = app
        .post_json(
            &owner,
            "/dashboards",
            &json!({"title": "Audits", "team_id": team}),
        )
        .await;
    created.assert_status(201);
    assert_eq!(created.body["is_private"], false);
    let path = format!("/dashboards/{}", created.id());
    app.get(&member, &path).await.assert_status(200);
    assert_problem(&app.get(&outsider, &path).await, 404);

    app.delete(&admin, &format!("/teams/{team}"))
        .await
        .assert_status(204);

    // nobody gains sight of it: neither the outsider nor the former members
    for (who, session) in [("outsider", &outsider), ("former member", &member)] {
        assert_problem(&app.get(session, &path).await, 404);
        let listed = app.get(session, "/dashboards").await;
        assert!(
            !ids(&listed.body).contains(&created.id().to_string()),
            "{who} lists it"
        );
    }
    let kept = app.get(&owner, &path).await;
    kept.assert_status(200);
    assert_eq!(
        (&kept.body["team_id"], &kept.body["is_private"]),
        (&Value::Null, &json!(true))
    );
    app.get(&admin, &path).await.assert_status(200);

    // its owner shares it again with everyone: only then does it widen
    let shared = app
        .patch_json(&owner, &path, &json!({"team_id": null}))
        .await;
    shared.assert_status(200);
    assert_eq!(shared.body["is_private"], false);
    app.get(&outsider, &path).await.assert_status(200);
}
