//! `POST /v1/Sims/{Sid}`: exact form bodies, done vs scheduled, refusals before sending, and
//! every documented error answer.

use std::time::Duration;

use httpmock::Method::{GET, POST};
use httpmock::MockServer;
use simcore::Error;
use supersim_client::{
    CallbackMethod, Client, SettableStatus, Status, UpdateSimBuilder, Updated, errors,
};

use crate::*;

type Case = (
    &'static str,
    fn(UpdateSimBuilder) -> UpdateSimBuilder,
    &'static str,
);

/// Every field alone, each status, both fleet forms: the builder and the exact body it sends.
const FIELD_ALONE: &[Case] = &[
    (
        "unique_name",
        |u| u.unique_name("MySIM"),
        "UniqueName=MySIM",
    ),
    (
        "status ready",
        |u| u.status(SettableStatus::Ready),
        "Status=ready",
    ),
    (
        "status active",
        |u| u.status(SettableStatus::Active),
        "Status=active",
    ),
    (
        "status inactive",
        |u| u.status(SettableStatus::Inactive),
        "Status=inactive",
    ),
    (
        "fleet sid",
        |u| u.fleet(FLEET),
        "Fleet=HFaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ),
    ("fleet name", |u| u.fleet("My Fleet"), "Fleet=My+Fleet"),
    (
        "callback_url",
        |u| u.callback_url("http://127.0.0.1:9876/path"),
        "CallbackUrl=http%3A%2F%2F127.0.0.1%3A9876%2Fpath",
    ),
    (
        "callback_method GET",
        |u| u.callback_method(CallbackMethod::Get),
        "CallbackMethod=GET",
    ),
    (
        "callback_method POST",
        |u| u.callback_method(CallbackMethod::Post),
        "CallbackMethod=POST",
    ),
    (
        "account_sid",
        |u| u.account_sid(OTHER_ACCOUNT),
        "AccountSid=ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
    ),
];

#[tokio::test]
async fn each_field_alone_sends_exactly_that_pair() {
    let server = MockServer::start_async().await;
    let client = client(&server);
    let expected = fixture_sim("update_unique_name_200.json");
    for (name, set, body) in FIELD_ALONE {
        let mock = server
            .mock_async(|when, then| {
                when.method(POST)
                    .path(SIM_PATH)
                    .header("authorization", basic())
                    .header("content-type", FORM)
                    .header("user-agent", USER_AGENT)
                    .body(*body);
                then.status(200)
                    .header("content-type", "application/json")
                    .body(fixture("update_unique_name_200.json"));
            })
            .await;
        let outcome = set(client.update_sim(SIM)).send().await;
        assert_eq!(
            outcome.unwrap_or_else(|e| panic!("{name}: {e}")),
            Updated::Done(Some(expected.clone())),
            "{name}"
        );
        assert_eq!(mock.calls_async().await, 1, "{name}");
        mock.delete_async().await;
    }
}

#[tokio::test]
async fn all_fields_together() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(SIM_PATH)
                .header("authorization", basic())
                .header("content-type", FORM)
                .body(
                    "UniqueName=MySIM&Status=active&Fleet=My+Fleet\
                     &CallbackUrl=https%3A%2F%2Fexample.com%2Fdone%3Fsim%3D1&CallbackMethod=GET\
                     &AccountSid=ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                );
            then.status(202).body(fixture("update_status_202.json"));
        })
        .await;
    let outcome = client(&server)
        .update_sim(SIM)
        .account_sid(OTHER_ACCOUNT)
        .callback_method(CallbackMethod::Get)
        .callback_url("https://example.com/done?sim=1")
        .fleet("My Fleet")
        .status(SettableStatus::Active)
        .unique_name("MySIM")
        .send()
        .await
        .unwrap();
    // The callback was sent (the body above); the answer is the SIM, scheduled.
    assert_eq!(
        outcome,
        Updated::Pending(Some(fixture_sim("update_status_202.json")))
    );
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_202_is_scheduled_with_the_callback_given() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).path(SIM_PATH).body(
                "Status=active&CallbackUrl=http%3A%2F%2F127.0.0.1%3A9876%2Fpath&CallbackMethod=POST",
            );
            then.status(202)
                .header("content-type", "application/json")
                .body(fixture("update_status_202.json"));
        })
        .await;
    let outcome = client(&server)
        .update_sim(SIM)
        .status(SettableStatus::Active)
        .callback_url("http://127.0.0.1:9876/path")
        .callback_method(CallbackMethod::Post)
        .send()
        .await
        .unwrap();
    assert!(outcome.is_pending());
    assert_eq!(outcome.resource().unwrap().status, Some(Status::Scheduled));
    match outcome {
        Updated::Pending(Some(sim)) => assert_eq!(sim.sid.as_deref(), Some(SIM)),
        other => panic!("{other:?}"),
    }
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_202_without_callback_and_a_200_reading_scheduled() {
    let server = MockServer::start_async().await;
    let client = client(&server);
    let scheduled = fixture_sim("update_status_202.json");
    // Without a callback URL, the method alone names no callback; the default method is POST.
    let m = server
        .mock_async(|when, then| {
            when.method(POST).path(SIM_PATH).body("Status=inactive");
            then.status(202).body(fixture("update_status_202.json"));
        })
        .await;
    let outcome = client
        .update_sim(SIM)
        .status(SettableStatus::Inactive)
        .send()
        .await
        .unwrap();
    assert_eq!(outcome, Updated::Pending(Some(scheduled.clone())));
    m.assert_calls_async(1).await;
    m.delete_async().await;
    // Older Twilio answers were 200 with the SIM in `scheduled`: still scheduled.
    let m = server
        .mock_async(|when, then| {
            when.method(POST).path(SIM_PATH).body("Status=active");
            then.status(200).body(fixture("update_status_202.json"));
        })
        .await;
    let outcome = client
        .update_sim(SIM)
        .status(SettableStatus::Active)
        .send()
        .await
        .unwrap();
    assert_eq!(outcome, Updated::Pending(Some(scheduled)));
    m.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_transfer_returns_the_sim_in_its_new_account() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(SIM_PATH)
                .body("Fleet=My+Fleet&AccountSid=ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
            then.status(200).body(fixture("update_transfer_200.json"));
        })
        .await;
    let outcome = client(&server)
        .update_sim(SIM)
        .account_sid(OTHER_ACCOUNT)
        .fleet("My Fleet")
        .known_status(Status::New)
        .send()
        .await
        .unwrap();
    let sim = outcome.into_resource().unwrap();
    assert_eq!(sim.account_sid.as_deref(), Some(OTHER_ACCOUNT));
    assert_eq!(sim.fleet_sid.as_deref(), Some(FLEET));
    assert_eq!(sim.status, Some(Status::New));
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_sim_is_addressed_by_its_unique_name_as_one_path_segment() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v1/Sims/pump%207%2Fnorth")
                .body("Status=inactive");
            then.status(200)
                .body(fixture("update_unique_name_200.json"));
        })
        .await;
    let outcome = client(&server)
        .update_sim("pump 7/north")
        .status(SettableStatus::Inactive)
        .send()
        .await
        .unwrap();
    assert!(!outcome.is_pending());
    mock.assert_calls_async(1).await;
}

/// Expected refusal: the error's kind and the field (or the transition) it names.
#[derive(Debug)]
enum Refusal {
    Invalid(&'static str),
    Transition(&'static str, &'static str),
}

fn assert_refusal(name: &str, err: Error, expected: &Refusal) {
    assert!(err.was_not_sent(), "{name}: {err}");
    match (err, expected) {
        (Error::Invalid(e), Refusal::Invalid(field)) => {
            assert_eq!(e.field(), *field, "{name}: {e}")
        }
        (Error::Transition(t), Refusal::Transition(from, to)) => {
            assert_eq!((t.from.as_str(), t.to.as_str()), (*from, *to), "{name}")
        }
        (other, _) => panic!("{name}: expected {expected:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn invalid_updates_are_refused_before_sending() {
    let server = MockServer::start_async().await;
    let anything = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200)
                .body(fixture("update_unique_name_200.json"));
        })
        .await;
    let client = client(&server);
    let cases: Vec<(&str, UpdateSimBuilder, Refusal)> = vec![
        (
            "no field",
            client.update_sim(SIM),
            Refusal::Invalid("update"),
        ),
        (
            "malformed sim sid",
            client
                .update_sim("HSXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX")
                .unique_name("x"),
            Refusal::Invalid("sim"),
        ),
        (
            "account sid as sim",
            client.update_sim(ACCOUNT).unique_name("x"),
            Refusal::Invalid("sim"),
        ),
        (
            "empty sim",
            client.update_sim("").unique_name("x"),
            Refusal::Invalid("sim"),
        ),
        (
            "malformed fleet sid",
            client
                .update_sim(SIM)
                .fleet("HFzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"),
            Refusal::Invalid("fleet"),
        ),
        (
            "sim sid as fleet",
            client.update_sim(SIM).fleet(SIM),
            Refusal::Invalid("fleet"),
        ),
        (
            "empty fleet",
            client.update_sim(SIM).fleet(""),
            Refusal::Invalid("fleet"),
        ),
        (
            "relative callback",
            client.update_sim(SIM).callback_url("/done"),
            Refusal::Invalid("callback_url"),
        ),
        (
            "ftp callback",
            client
                .update_sim(SIM)
                .callback_url("ftp://example.com/done"),
            Refusal::Invalid("callback_url"),
        ),
        (
            "short account sid",
            client.update_sim(SIM).account_sid("AC123"),
            Refusal::Invalid("account_sid"),
        ),
        (
            "key sid as account",
            client
                .update_sim(SIM)
                .account_sid("SKaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            Refusal::Invalid("account_sid"),
        ),
        (
            "empty unique name",
            client.update_sim(SIM).unique_name(""),
            Refusal::Invalid("unique_name"),
        ),
        (
            "sid-shaped unique name",
            client.update_sim(SIM).unique_name(FLEET),
            Refusal::Invalid("unique_name"),
        ),
        (
            "account move once active",
            client
                .update_sim(SIM)
                .account_sid(OTHER_ACCOUNT)
                .known_status(Status::Active),
            Refusal::Invalid("account_sid"),
        ),
        (
            "account move while ready",
            client
                .update_sim(SIM)
                .account_sid(OTHER_ACCOUNT)
                .known_status(Status::Ready),
            Refusal::Invalid("account_sid"),
        ),
        (
            "active to ready",
            client
                .update_sim(SIM)
                .status(SettableStatus::Ready)
                .known_status(Status::Active),
            Refusal::Transition("active", "ready"),
        ),
        (
            "inactive to ready",
            client
                .update_sim(SIM)
                .status(SettableStatus::Ready)
                .known_status(Status::Inactive),
            Refusal::Transition("inactive", "ready"),
        ),
        (
            "fleet while scheduled",
            client
                .update_sim(SIM)
                .fleet(FLEET)
                .known_status(Status::Scheduled),
            Refusal::Invalid("fleet"),
        ),
    ];
    for (name, update, expected) in cases {
        let err = update.send().await.expect_err(name);
        assert_refusal(name, err, &expected);
    }
    anything.assert_calls_async(0).await;
}

#[tokio::test]
async fn the_current_status_from_a_fetched_sim() {
    let server = MockServer::start_async().await;
    let anything = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200)
                .body(fixture("update_unique_name_200.json"));
        })
        .await;
    let client = client(&server);
    let mut sim = fixture_sim("fetch_200.json");
    sim.status = Some(Status::Active);
    let err = client
        .update_sim(SIM)
        .status(SettableStatus::Ready)
        .current(&sim)
        .send()
        .await
        .unwrap_err();
    assert_refusal("current", err, &Refusal::Transition("active", "ready"));
    anything.assert_calls_async(0).await;
    // A status this crate does not know is left to Twilio.
    let outcome = client
        .update_sim(SIM)
        .status(SettableStatus::Active)
        .known_status(Status::from("suspended"))
        .send()
        .await;
    assert!(outcome.is_ok(), "{outcome:?}");
    anything.assert_calls_async(1).await;
}

#[tokio::test]
async fn fetch_current_checks_against_twilio_s_status() {
    let server = MockServer::start_async().await;
    let fetch = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(SIM_PATH)
                .header("authorization", basic());
            // The spec's fetch example: a `new` SIM.
            then.status(200).body(fixture("fetch_200.json"));
        })
        .await;
    let update = server
        .mock_async(|when, then| {
            when.method(POST).path(SIM_PATH).body("Status=ready");
            then.status(202).body(fixture("update_status_202.json"));
        })
        .await;
    let client = client(&server);
    let outcome = client
        .update_sim(SIM)
        .status(SettableStatus::Ready)
        .fetch_current()
        .send()
        .await
        .unwrap();
    assert!(outcome.is_pending());
    fetch.assert_calls_async(1).await;
    update.assert_calls_async(1).await;
    fetch.delete_async().await;

    let fetch = server
        .mock_async(|when, then| {
            when.method(GET).path(SIM_PATH);
            then.status(200)
                .body(fixture("fetch_200.json").replace("\"new\"", "\"inactive\""));
        })
        .await;
    let err = client
        .update_sim(SIM)
        .status(SettableStatus::Ready)
        .fetch_current()
        .send()
        .await
        .unwrap_err();
    assert_refusal(
        "fetched inactive",
        err,
        &Refusal::Transition("inactive", "ready"),
    );
    let err = client
        .update_sim(SIM)
        .account_sid(OTHER_ACCOUNT)
        .fetch_current()
        .send()
        .await
        .unwrap_err();
    assert_refusal("fetched inactive", err, &Refusal::Invalid("account_sid"));
    fetch.assert_calls_async(2).await;
    update.assert_calls_async(1).await;
}

async fn error_answer(
    status: u16,
    content_type: &str,
    body: String,
    retry_after: Option<&str>,
    attempts: u32,
) -> (Error, usize) {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).path(SIM_PATH);
            let then = then.status(status).header("content-type", content_type);
            let then = match retry_after {
                Some(v) => then.header("retry-after", v),
                None => then,
            };
            then.body(body);
        })
        .await;
    let client = Client::builder()
        .account(ACCOUNT, TOKEN)
        .base_url(server.base_url())
        .retry(fast_retry(attempts))
        .build()
        .unwrap();
    let err = client
        .update_sim(SIM)
        .status(SettableStatus::Active)
        .send()
        .await
        .unwrap_err();
    (err, mock.calls_async().await)
}

#[tokio::test]
async fn not_found_20404() {
    let (err, calls) =
        error_answer(404, "application/json", fixture("error_404.json"), None, 3).await;
    assert_eq!(calls, 1);
    assert!(err.is_not_found());
    assert!(!err.is_retryable());
    assert_eq!(errors::Code::of(&err), Some(errors::Code::NotFound));
    let api = err.api().unwrap();
    assert_eq!(api.code, Some(20404));
    assert_eq!(
        api.message,
        "The requested resource /v1/Sims/HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa was not found"
    );
    assert_eq!(
        api.more_info.as_deref(),
        Some("https://www.twilio.com/docs/errors/20404")
    );
    assert_eq!(
        err.to_string(),
        "twilio: HTTP 404 (code 20404): The requested resource /v1/Sims/HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa was not found (see https://www.twilio.com/docs/errors/20404); retrying will not help"
    );
}

#[tokio::test]
async fn status_change_refused_400_83010_and_fleet_while_scheduled_83009() {
    let (err, calls) = error_answer(
        400,
        "application/json",
        fixture("error_400_83010.json"),
        None,
        3,
    )
    .await;
    assert_eq!(calls, 1);
    assert_eq!(err.status(), Some(400));
    assert_eq!(
        errors::Code::of(&err),
        Some(errors::Code::StatusChangeNotAllowed)
    );
    let api = err.api().unwrap();
    assert_eq!(api.code, Some(83010));
    assert_eq!(
        api.message,
        "The requested status change is not allowed for a Super SIM in its current status."
    );
    assert_eq!(
        api.more_info.as_deref(),
        Some("https://www.twilio.com/docs/errors/83010")
    );
    let (err, calls) = error_answer(
        400,
        "application/json",
        fixture("error_400_83009.json"),
        None,
        3,
    )
    .await;
    assert_eq!(calls, 1);
    assert_eq!(
        errors::Code::of(&err),
        Some(errors::Code::FleetUpdateWhileScheduled)
    );
}

#[tokio::test]
async fn too_many_requests_20429_is_retried_then_surfaced() {
    let (err, calls) = error_answer(
        429,
        "application/json",
        fixture("error_429_20429.json"),
        Some("1"),
        2,
    )
    .await;
    assert_eq!(calls, 2, "retried once");
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(errors::Code::of(&err), Some(errors::Code::TooManyRequests));
    let api = err.api().unwrap();
    assert_eq!((api.status, api.code, api.attempts), (429, Some(20429), 2));
    assert_eq!(
        err.to_string(),
        "twilio: HTTP 429 (code 20429): Too many requests; retry after 1s; after 2 attempts (see https://www.twilio.com/docs/errors/20429); retrying may help"
    );
}

#[tokio::test]
async fn a_500_html_page_is_an_api_error_not_retried() {
    let (err, calls) = error_answer(500, "text/html", fixture("error_500.html"), None, 3).await;
    assert_eq!(calls, 1);
    assert!(!err.is_retryable());
    let api = err.api().unwrap();
    assert_eq!((api.status, api.code), (500, None));
    assert_eq!(api.message, "HTML page: 500 Internal Server Error");
}

#[tokio::test]
async fn a_503_with_an_empty_body_is_retried() {
    let (err, calls) = error_answer(503, "text/plain", String::new(), None, 3).await;
    assert_eq!(calls, 3);
    let api = err.api().unwrap();
    assert_eq!((api.status, api.attempts), (503, 3));
    assert_eq!(api.message, "(empty body)");
}

#[tokio::test]
async fn an_unreadable_success_is_a_decode_error() {
    let (err, calls) = {
        let server = MockServer::start_async().await;
        let mock = server
            .mock_async(|when, then| {
                when.method(POST).path(SIM_PATH);
                then.status(200).body("<html>maintenance</html>");
            })
            .await;
        let err = client(&server)
            .update_sim(SIM)
            .unique_name("MySIM")
            .send()
            .await
            .unwrap_err();
        (err, mock.calls_async().await)
    };
    assert_eq!(calls, 1);
    match err {
        Error::Decode {
            status, snippet, ..
        } => {
            assert_eq!(status, 200);
            assert_eq!(snippet, "<html>maintenance</html>");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn secrets_never_print_even_on_a_401() {
    let (err, calls) = error_answer(
        401,
        "application/json",
        fixture("error_401_20003.json"),
        None,
        3,
    )
    .await;
    assert_eq!(calls, 1);
    assert!(err.is_unauthorized());
    assert_eq!(errors::Code::of(&err), Some(errors::Code::Authentication));
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("SENTINEL"), "{text}");
        assert!(!text.contains(&basic()[6..]), "{text}");
    }
    let builder = Client::builder().account(ACCOUNT, TOKEN);
    assert!(!format!("{builder:?}").contains("SENTINEL"));
    let client = builder.build().unwrap();
    let debug = format!("{client:?}");
    assert!(!debug.contains("SENTINEL"), "{debug}");
    assert!(!debug.contains(&basic()[6..]), "{debug}");
    assert!(debug.contains(ACCOUNT), "{debug}");
    let keyed = Client::builder()
        .api_key("SKaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "SENTINEL-api-secret")
        .build()
        .unwrap();
    assert!(!format!("{keyed:?}").contains("SENTINEL"));
}

#[tokio::test]
async fn an_api_key_is_sent_as_basic_auth() {
    let server = MockServer::start_async().await;
    let key = "SKaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let expected = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{key}:SENTINEL-api-secret")
        )
    );
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(SIM_PATH)
                .header("authorization", expected)
                .body("UniqueName=MySIM");
            then.status(200)
                .body(fixture("update_unique_name_200.json"));
        })
        .await;
    let client = Client::builder()
        .api_key(key, "SENTINEL-api-secret")
        .base_url(server.base_url())
        .build()
        .unwrap();
    let outcome = client
        .update_sim(SIM)
        .unique_name("MySIM")
        .send()
        .await
        .unwrap();
    assert_eq!(
        outcome.resource().unwrap().unique_name.as_deref(),
        Some("MySIM")
    );
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn rules_the_documents_do_not_back_are_left_to_the_api() {
    let server = MockServer::start_async().await;
    let status = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(SIM_PATH)
                .header("content-type", FORM)
                .body("Status=active");
            then.status(202)
                .header("content-type", "application/json")
                .body(fixture("update_status_202.json"));
        })
        .await;
    let client = client(&server);
    // A status change while scheduled: Twilio documents only that a Fleet change fails then.
    let outcome = client
        .update_sim(SIM)
        .status(SettableStatus::Active)
        .known_status(Status::Scheduled)
        .send()
        .await
        .unwrap();
    assert!(outcome.is_pending());
    status.assert_calls_async(1).await;

    // AccountSid with a status this crate does not know: Twilio judges.
    let moved = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(SIM_PATH)
                .body(format!("AccountSid={OTHER_ACCOUNT}"));
            then.status(200)
                .header("content-type", "application/json")
                .body(fixture("update_transfer_200.json"));
        })
        .await;
    client
        .update_sim(SIM)
        .account_sid(OTHER_ACCOUNT)
        .known_status(Status::from("suspended"))
        .send()
        .await
        .unwrap();
    moved.assert_calls_async(1).await;

    // A unique name shorter than a display name may be, through SimProvider.
    let short = server
        .mock_async(|when, then| {
            when.method(POST).path(SIM_PATH).body("UniqueName=P7");
            then.status(200)
                .header("content-type", "application/json")
                .body(fixture("update_unique_name_200.json"));
        })
        .await;
    let change = simcore::SimChange::new().display_name(simcore::SimName::parse("P7").unwrap());
    simcore::SimProvider::apply(&client, SIM, &change)
        .await
        .unwrap();
    short.assert_calls_async(1).await;
}

#[tokio::test]
async fn setting_the_status_it_already_has_sends_nothing() {
    let server = MockServer::start_async().await;
    let anything = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(500);
        })
        .await;
    let client = client(&server);
    let outcome = client
        .update_sim(SIM)
        .status(SettableStatus::Active)
        .known_status(Status::Active)
        .send()
        .await
        .unwrap();
    assert_eq!(outcome, Updated::Unchanged);
    anything.assert_calls_async(0).await;
    anything.delete_async().await;
    // With a name too, only the name is sent.
    let name = server
        .mock_async(|when, then| {
            when.method(POST).path(SIM_PATH).body("UniqueName=MySIM");
            then.status(200)
                .header("content-type", "application/json")
                .body(fixture("update_unique_name_200.json"));
        })
        .await;
    client
        .update_sim(SIM)
        .status(SettableStatus::Active)
        .unique_name("MySIM")
        .known_status(Status::Active)
        .send()
        .await
        .unwrap();
    name.assert_calls_async(1).await;
}
