//! HTTPS end to end: the server serves TLS itself (--tls-cert, --tls-key) and the site connector
//! attaches over it, trusting the organization's CA from a file; without that CA it refuses.

use admin_server::{Config, Server};
use site_connector::{HierarchyConfig, SimulatedHierarchy, SiteConnector, SiteOptions};

#[tokio::test]
async fn a_site_attaches_over_https_trusting_a_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let dist = dir.path().join("dist");
    std::fs::create_dir(&dist).unwrap();
    std::fs::write(dist.join("index.html"), crate::INDEX_HTML).unwrap();
    let mut config = Config::for_test(
        format!("sqlite:{}", dir.path().join("db/admin.db").display()),
        dist,
    );
    config.tls_cert = Some(cert.clone());
    config.tls_key = Some(key);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = Server::start(&config, async {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    let url = server.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let ca = std::fs::read(&cert).unwrap();

    // An HTTPS client that trusts the CA reaches the API; the session cookie would be Secure.
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let response = client.get(format!("{url}/api/v1/me")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    // Plain HTTP on the same port is not served.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/api/v1/me", server.addr))
        .send()
        .await;
    assert!(
        plain.is_err() || plain.unwrap().status() != 401,
        "no plain HTTP answer"
    );

    let token = admin_server::domain::connectors::new_onboarding_token(
        server.store(),
        &config,
        &admin_server::store::audit::Actor::command_line(),
    )
    .await
    .unwrap()
    .token;
    let hierarchy = || SimulatedHierarchy::new(HierarchyConfig::new("Secure", "SEC", 2207, 40, 91));
    // Without the CA, the platform's store does not trust a self-made certificate: refused, and
    // the token is not spent.
    let refused = SiteConnector::attach(&url, &token, hierarchy(), SiteOptions::default()).await;
    let error = refused.err().expect("an untrusted certificate is refused");
    assert!(error.is_network(), "{error}");
    let site = SiteConnector::attach(
        &url,
        &token,
        hierarchy(),
        SiteOptions {
            ca_pem: Some(ca),
            ..SiteOptions::default()
        },
    )
    .await
    .expect("attached over HTTPS");
    let synced = site.full_sync().await.unwrap();
    assert_eq!(synced.device_count, 40);
    site.client().heartbeat().await.unwrap();
    stop.send(()).unwrap();
    server.finished().await.unwrap();
}
