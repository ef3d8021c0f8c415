use crate::browser::Browser;
use crate::start_server;

#[tokio::test]
async fn connectors_and_tokens_lists_the_attached_hierarchies() {
    let app = start_server().await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&app.url("/tenant-admin/connectors"))
        .await
        .unwrap();
    browser
        .wait_for("//table[@aria-label='Configuration Manager hierarchies']//td[normalize-space()='Contoso Europe']")
        .await;
    let table = browser
        .text_of("table[aria-label='Configuration Manager hierarchies'] tbody")
        .await;
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(
        table.contains("Contoso Headquarters CHQ 2207 Healthy Online"),
        "{table}"
    );
    assert!(
        table.contains("Contoso Europe EUR 2010 Healthy Online"),
        "{table}"
    );
    assert!(
        table.contains(" 240") && table.contains(" 120"),
        "device counts: {table}"
    );
    browser.close().await;
    app.shut_down().await;
}
