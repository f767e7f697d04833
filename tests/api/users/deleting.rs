//! Deleting users, and the rules that always keep an enabled admin.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use romm_server::auth::scopes::Role;
use serde_json::json;

use super::{
    assert_detail_mentions, assert_forbidden_for_lack_of, basic_status, delete_as, get_as,
    session_status, stored_account, update_as, update_from, user_count, user_path,
};
use crate::harness::{Browser, RequestBuilder, TestApp, TestResponse, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    deleting_needs_users_write,
    deleting_yourself_is_400_and_an_unknown_user_is_404,
    deleting_a_user_removes_the_account,
    the_last_admin_cannot_demote_or_disable_themselves,
    a_disabled_admin_does_not_count_as_another_admin,
    the_store_refuses_to_delete_the_last_enabled_admin,
    two_admins_deleting_each_other_at_once_leave_one_admin,
    two_admins_demoting_each_other_at_once_leave_one_admin,
);

/// How often each mutual race runs; a lost race shows itself only on some interleavings.
const RACE_ROUNDS: usize = 8;

/// An admin with a browser session, for the races between two admins.
struct SignedInAdmin {
    id: i64,
    browser: Browser,
}

async fn signed_in_admin(app: &TestApp, username: &str) -> SignedInAdmin {
    let user = app.user(username, Role::Admin).await;
    let browser = app.login(username).await;
    SignedInAdmin {
        id: user.id,
        browser,
    }
}

fn delete_from(browser: &Browser, id: i64) -> Request<Body> {
    RequestBuilder::new(Method::DELETE, &user_path(id))
        .browser(browser)
        .build()
}

#[derive(Debug, PartialEq)]
enum RaceOutcome {
    FirstWon,
    SecondWon,
}

/// Which of two racing requests won; exactly one must succeed and the other be refused
/// with one of `refusals`, never a 5xx.
fn race_outcome(
    first: &TestResponse,
    second: &TestResponse,
    success: StatusCode,
    refusals: &[StatusCode],
) -> RaceOutcome {
    let report = format!(
        "{} {} / {} {}",
        first.status,
        first.text(),
        second.status,
        second.text()
    );
    if first.status == success && refusals.contains(&second.status) {
        RaceOutcome::FirstWon
    } else if second.status == success && refusals.contains(&first.status) {
        RaceOutcome::SecondWon
    } else {
        panic!("exactly one request must win the race: {report}");
    }
}

async fn deleting_needs_users_write(app: TestApp) {
    app.user("vera", Role::Viewer).await;
    let bob = app.user("bob", Role::Viewer).await;

    let by_viewer = delete_as(&app, "vera", bob.id).await;
    assert_forbidden_for_lack_of(&by_viewer, "users.write");

    let anonymous = RequestBuilder::new(Method::DELETE, &user_path(bob.id)).build();
    assert_eq!(app.send(anonymous).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(user_count(&app).await, 2);
}

async fn deleting_yourself_is_400_and_an_unknown_user_is_404(app: TestApp) {
    let root = app.user("root", Role::Admin).await;
    app.user("second", Role::Admin).await;

    let yourself = delete_as(&app, "root", root.id).await;
    assert_detail_mentions(&yourself, StatusCode::BAD_REQUEST, "yourself");

    let unknown = delete_as(&app, "root", root.id + 100).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.detail(), "User not found");
    assert_eq!(user_count(&app).await, 2);
}

async fn deleting_a_user_removes_the_account(app: TestApp) {
    app.user("root", Role::Admin).await;
    let bob = app.user("bob", Role::Editor).await;

    let response = delete_as(&app, "root", bob.id).await;

    assert_eq!(response.status, StatusCode::NO_CONTENT);
    assert!(app.store().find_user(bob.id).await.unwrap().is_none());
    let again = delete_as(&app, "root", bob.id).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let read = get_as(&app, "root", &user_path(bob.id)).await;
    assert_eq!(read.status, StatusCode::NOT_FOUND);
}

async fn the_last_admin_cannot_demote_or_disable_themselves(app: TestApp) {
    let root = app.user("root", Role::Admin).await;
    app.user("vera", Role::Viewer).await;
    let browser = app.login("root").await;
    let before = stored_account(&app, root.id).await;

    let refused_changes = [
        json!({"role": "viewer"}),
        json!({"role": "editor", "email": "root@example.com"}),
        json!({"enabled": false}),
        json!({"enabled": false, "username": "renamed"}),
    ];
    for body in &refused_changes {
        let response = update_from(&app, &browser, root.id, body).await;
        assert_detail_mentions(&response, StatusCode::CONFLICT, "last admin");
    }

    assert_eq!(stored_account(&app, root.id).await, before);
    assert_eq!(session_status(&app, &browser).await, StatusCode::OK);
    let users = "/api/users";
    assert_eq!(
        basic_status(&app, users, "root", PASSWORD).await,
        StatusCode::OK
    );
}

async fn a_disabled_admin_does_not_count_as_another_admin(app: TestApp) {
    let root = app.user("root", Role::Admin).await;
    let spare = app.user("spare", Role::Admin).await;
    let disabled = update_as(&app, "root", spare.id, &json!({"enabled": false})).await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text());
    let before = stored_account(&app, root.id).await;

    let demote = update_as(&app, "root", root.id, &json!({"role": "viewer"})).await;
    assert_detail_mentions(&demote, StatusCode::CONFLICT, "last admin");
    assert_eq!(stored_account(&app, root.id).await, before);

    let delete_disabled = delete_as(&app, "root", spare.id).await;
    assert_eq!(delete_disabled.status, StatusCode::NO_CONTENT);
}

async fn the_store_refuses_to_delete_the_last_enabled_admin(app: TestApp) {
    // Through the API the caller is always another enabled admin, so only a race reaches
    // this rule; the store must hold it on its own.
    let root = app.user("root", Role::Admin).await;
    app.user("vera", Role::Viewer).await;

    let result = app.store().delete_user(root.id).await;

    assert!(
        matches!(result, Err(romm_server::store::StoreError::Conflict(_))),
        "{result:?}"
    );
    assert!(app.store().find_user(root.id).await.unwrap().is_some());
}

async fn two_admins_deleting_each_other_at_once_leave_one_admin(app: TestApp) {
    let mut incumbent = signed_in_admin(&app, "incumbent").await;

    for round in 0..RACE_ROUNDS {
        let challenger = signed_in_admin(&app, &format!("challenger{round}")).await;
        let (by_incumbent, by_challenger) = tokio::join!(
            app.send(delete_from(&incumbent.browser, challenger.id)),
            app.send(delete_from(&challenger.browser, incumbent.id)),
        );

        // The loser finds the last admin (409) or its own account already gone (401).
        let refusals = [StatusCode::UNAUTHORIZED, StatusCode::CONFLICT];
        let outcome = race_outcome(
            &by_incumbent,
            &by_challenger,
            StatusCode::NO_CONTENT,
            &refusals,
        );
        if outcome == RaceOutcome::SecondWon {
            incumbent = challenger;
        }
        let users = app.store().list_users().await.unwrap();
        assert_eq!(users.len(), 1, "round {round}");
        assert_eq!(users[0].role, Role::Admin, "round {round}");
    }
}

async fn two_admins_demoting_each_other_at_once_leave_one_admin(app: TestApp) {
    let mut incumbent = signed_in_admin(&app, "incumbent").await;
    let demote = json!({"role": "viewer"});

    for round in 0..RACE_ROUNDS {
        let challenger = signed_in_admin(&app, &format!("challenger{round}")).await;
        let (by_incumbent, by_challenger) = tokio::join!(
            update_from(&app, &incumbent.browser, challenger.id, &demote),
            update_from(&app, &challenger.browser, incumbent.id, &demote),
        );

        // The loser finds the last admin (409), its session ended (401), or its new role
        // without users.write (403) when its request was read in the middle of the change.
        let refusals = [
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::CONFLICT,
        ];
        let outcome = race_outcome(&by_incumbent, &by_challenger, StatusCode::OK, &refusals);
        if outcome == RaceOutcome::SecondWon {
            incumbent = challenger;
        }
        let users = app.store().list_users().await.unwrap();
        let admins = users.iter().filter(|user| user.role == Role::Admin).count();
        assert_eq!(admins, 1, "round {round}");
    }
}
