//! wasm-bindgen tests in headless Chromium: the fetch helper's error mapping against the real
//! server (started by scripts/test, its URL compiled in as ADMIN_TEST_SERVER, with an account
//! whose password is ADMIN_TEST_PASSWORD), and a component.
#![cfg(target_arch = "wasm32")]

use admin_api::{Collection, Device, ErrorCode, Me, SignIn};
use admin_center::api::{self, ApiError};
use admin_center::components::error_banner::ErrorBanner;
use leptos::prelude::*;
use leptos::reactive::computed::ScopedFuture;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn server() -> &'static str {
    match option_env!("ADMIN_TEST_SERVER") {
        Some(url) => url,
        None => panic!(
            "ADMIN_TEST_SERVER names the server these tests call: run them with scripts/test"
        ),
    }
}

const USER: &str = "wasm@tests.example";

/// Signs the test account in: the session cookie is the browser's from then on.
async fn sign_in() -> Me {
    let Some(password) = option_env!("ADMIN_TEST_PASSWORD") else {
        panic!(
            "ADMIN_TEST_PASSWORD is the test account's password: run these tests with scripts/test"
        )
    };
    api::post(
        &format!("{}/api/v1/session", server()),
        &SignIn {
            user_name: USER.into(),
            password: password.into(),
        },
        &[],
    )
    .await
    .expect("the test account signs in")
}

#[wasm_bindgen_test]
async fn signing_in_and_out_and_a_401_calls_the_handler() {
    let me = sign_in().await;
    assert_eq!(me.user_principal_name, USER);
    let calls = std::rc::Rc::new(std::cell::Cell::new(0));
    let seen = calls.clone();
    api::on_unauthenticated(move || seen.set(seen.get() + 1));
    let again: Me = api::get(&format!("{}/api/v1/me", server())).await.unwrap();
    assert_eq!(again, me);
    assert_eq!(calls.get(), 0);
    let signed_out: Option<admin_api::identity::SignedOut> = api::send_maybe_content(
        gloo_net::http::Method::DELETE,
        &format!("{}/api/v1/session", server()),
    )
    .await
    .expect("signs out");
    assert_eq!(signed_out, None, "a local account signs out here only");
    let error = api::get::<Me>(&format!("{}/api/v1/me", server()))
        .await
        .unwrap_err();
    assert!(error.is_unauthenticated(), "{error:?}");
    assert_eq!(calls.get(), 1, "the 401 handler ran once");
    api::on_unauthenticated(|| {});
}

#[wasm_bindgen_test]
async fn a_success_decodes_into_the_shared_types() {
    sign_in().await;
    let page: Collection<Device> =
        api::get(&format!("{}/api/v1/devices?$top=2&$count=true", server()))
            .await
            .expect("the demo tenant lists");
    assert_eq!(page.value.len(), 2);
    assert!(page.count.unwrap() > 2);
    assert!(page.next_link.is_some());
}

#[wasm_bindgen_test]
async fn a_404_maps_to_the_servers_error_body() {
    sign_in().await;
    let error = api::get::<Device>(&format!("{}/api/v1/devices/no-such-id", server()))
        .await
        .unwrap_err();
    match &error {
        ApiError::Server {
            status,
            code,
            message,
            request_id,
            ..
        } => {
            assert_eq!(*status, 404);
            assert_eq!(*code, ErrorCode::NotFound);
            assert!(message.contains("no-such-id"), "{message}");
            assert!(!request_id.is_empty());
        }
        other => panic!("expected the server's error, got {other:?}"),
    }
    assert!(error.is_not_found());
}

#[wasm_bindgen_test]
async fn a_bad_query_option_keeps_its_target() {
    sign_in().await;
    let error = api::get::<Collection<Device>>(&format!("{}/api/v1/devices?$top=0", server()))
        .await
        .unwrap_err();
    match error {
        ApiError::Server {
            status,
            code,
            target,
            ..
        } => {
            assert_eq!((status, code), (400, ErrorCode::BadRequest));
            assert_eq!(target.as_deref(), Some("$top"));
        }
        other => panic!("expected the server's error, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn an_error_without_a_json_body_keeps_its_status() {
    // The test runner's own web server answers this with a 404 that is not the contract's body.
    let error = api::get::<Device>("/no-such-file.json").await.unwrap_err();
    assert!(
        matches!(error, ApiError::Status { status: 404, .. }),
        "{error:?}"
    );
}

#[wasm_bindgen_test]
async fn an_unreachable_server_is_a_network_error() {
    let error = api::get::<Device>("http://127.0.0.1:9/api/v1/devices")
        .await
        .unwrap_err();
    assert!(matches!(error, ApiError::Network(_)), "{error:?}");
    assert!(error.to_string().contains("could not be reached"));
}

#[wasm_bindgen_test]
async fn cleaning_up_the_owner_aborts_the_request() {
    sign_in().await;
    let owner = Owner::new();
    let url = format!("{}/api/v1/devices?$top=1000", server());
    let mut request =
        Box::pin(owner.with(|| ScopedFuture::new(api::get::<Collection<Device>>(&url))));
    assert!(
        futures::poll!(&mut request).is_pending(),
        "the request is in flight"
    );
    owner.cleanup();
    assert_eq!(request.await.unwrap_err(), ApiError::Aborted);
}

#[wasm_bindgen_test]
fn the_error_banner_shows_the_message_and_request_id_and_retries() {
    let document = document();
    let host: web_sys::HtmlElement = document.create_element("div").unwrap().unchecked_into();
    document.body().unwrap().append_child(&host).unwrap();
    let retries = RwSignal::new(0);
    let error = ApiError::Server {
        status: 503,
        code: ErrorCode::ServiceUnavailable,
        message: "The store is busy.".into(),
        target: None,
        request_id: "req-42".into(),
    };
    let _mounted = leptos::mount::mount_to(host.clone(), move || {
        view! { <ErrorBanner error on_retry=move |_| retries.update(|n| *n += 1) /> }
    });

    let banner = host
        .query_selector("[role=alert]")
        .unwrap()
        .expect("the banner is an alert");
    let text = banner.text_content().unwrap();
    assert!(text.contains("The store is busy."), "{text}");
    assert!(text.contains("req-42"), "{text}");
    let retry: web_sys::HtmlElement = host
        .query_selector("button")
        .unwrap()
        .unwrap()
        .unchecked_into();
    assert_eq!(retry.text_content().unwrap(), "Retry");
    retry.click();
    retry.click();
    assert_eq!(retries.get_untracked(), 2);
}
