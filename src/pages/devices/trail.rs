//! The pages walked through with Next, for Previous: per tab, for one search, filter, sort and
//! page size (another view starts a new trail).

use super::view_state::ListView;
use crate::api::query::encode;
use crate::url_state::UrlState;

/// Where the pages walked through are kept, so that Previous goes back through them (a reload
/// keeps them: sessionStorage is per tab).
const TRAIL_KEY: &str = "attach-center.devices.trail";

/// Stored as lines: the view's query, then `<position>\t<page token>` per page (an empty
/// token is the first page).
struct Trail {
    /// The view's query without its page.
    view: String,
    /// (page token, position) of each page before the one shown, oldest first.
    pages: Vec<(Option<String>, Option<u64>)>,
}

fn key_of(view: &ListView) -> String {
    encode(&view.without_page().to_pairs())
}

fn storage() -> Option<web_sys::Storage> {
    leptos::prelude::window().session_storage().ok().flatten()
}

fn load(view: &ListView) -> Trail {
    let key = key_of(view);
    let stored = storage().and_then(|s| s.get_item(TRAIL_KEY).ok().flatten());
    let mut lines = stored.as_deref().unwrap_or_default().lines();
    let pages = if lines.next() == Some(key.as_str()) {
        lines
            .filter_map(|line| {
                let (from, token) = line.split_once('\t')?;
                Some((
                    (!token.is_empty()).then(|| token.to_owned()),
                    from.parse().ok(),
                ))
            })
            .collect()
    } else {
        Vec::new()
    };
    Trail { view: key, pages }
}

fn save(trail: &Trail) {
    let mut text = trail.view.clone();
    for (page, from) in &trail.pages {
        text.push('\n');
        text.push_str(&from.unwrap_or(1).to_string());
        text.push('\t');
        text.push_str(page.as_deref().unwrap_or_default());
    }
    if let Some(storage) = storage() {
        let _ = storage.set_item(TRAIL_KEY, &text);
    }
}

/// Remembers `here` before going on to the next page.
pub fn push(here: &ListView) {
    let mut trail = load(here);
    // A page already on the trail (after Back, say) cuts it there.
    if let Some(at) = trail.pages.iter().position(|(page, _)| *page == here.page) {
        trail.pages.truncate(at);
    }
    trail.pages.push((here.page.clone(), here.from));
    save(&trail);
}

/// The page before `here`, if this tab walked to `here` with Next.
pub fn pop(here: &ListView) -> Option<ListView> {
    let mut trail = load(here);
    let (page, from) = trail.pages.pop()?;
    save(&trail);
    let mut back = here.clone();
    back.page = page;
    back.from = from;
    Some(back)
}
