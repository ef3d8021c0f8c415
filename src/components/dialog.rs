//! A modal confirmation: focus moves into it and stays there (Tab cycles), Escape cancels, and
//! focus returns to what opened it. A destructive one opens with focus on Cancel (as Fluent and the
//! WAI-ARIA dialog pattern advise), so that Enter never destroys by accident.

use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

#[component]
pub fn ConfirmDialog(
    #[prop(into)] title: String,
    children: Children,
    #[prop(into)] confirm_label: String,
    #[prop(into)] on_confirm: Callback<()>,
    #[prop(into)] on_cancel: Callback<()>,
    /// A destructive confirmation is styled as one.
    #[prop(optional)]
    danger: bool,
) -> impl IntoView {
    let dialog = NodeRef::<html::Div>::new();
    let confirm = NodeRef::<html::Button>::new();
    let cancel = NodeRef::<html::Button>::new();
    let opener = document()
        .active_element()
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        .map(send_wrapper::SendWrapper::new);
    on_cleanup(move || {
        if let Some(opener) = opener {
            let _ = opener.focus();
        }
    });
    Effect::new(move |_| {
        let safe_choice = if danger { cancel.get() } else { confirm.get() };
        if let Some(button) = safe_choice {
            let _ = button.focus();
        }
    });
    let on_keydown = move |event: web_sys::KeyboardEvent| {
        if event.key() == "Escape" {
            event.prevent_default();
            on_cancel.run(());
            return;
        }
        if event.key() == "Tab" {
            keep_focus_inside(&event, dialog);
        }
    };
    view! {
        <div class="dialog-backdrop">
            <div
                class="dialog"
                role="dialog"
                aria-modal="true"
                aria-labelledby="dialog-title"
                node_ref=dialog
                on:keydown=on_keydown
            >
                <h2 id="dialog-title">{title}</h2>
                <div class="dialog-body">{children()}</div>
                <div class="dialog-buttons">
                    <button
                        class="button primary"
                        class:danger=danger
                        node_ref=confirm
                        on:click=move |_| on_confirm.run(())
                    >
                        {confirm_label}
                    </button>
                    <button class="button" node_ref=cancel on:click=move |_| on_cancel.run(())>
                        "Cancel"
                    </button>
                </div>
            </div>
        </div>
    }
}

/// Tab from the last focusable element of the dialog goes to its first, Shift+Tab from the first
/// to the last: focus stays inside the dialog.
fn keep_focus_inside(event: &web_sys::KeyboardEvent, dialog: NodeRef<html::Div>) {
    let Some(dialog) = dialog.get() else { return };
    let Ok(focusable) = dialog.query_selector_all("button:not([disabled]), a[href], input, select")
    else {
        return;
    };
    let count = focusable.length();
    if count == 0 {
        return;
    }
    let element = |i: u32| {
        focusable
            .item(i)
            .and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
    };
    let (first, last) = (element(0), element(count - 1));
    let active = document().active_element();
    let at = |target: &Option<web_sys::HtmlElement>| matches!((target, &active), (Some(t), Some(a)) if t.is_same_node(Some(a)));
    if event.shift_key() && at(&first) {
        event.prevent_default();
        if let Some(last) = last {
            let _ = last.focus();
        }
    } else if !event.shift_key() && at(&last) {
        event.prevent_default();
        if let Some(first) = first {
            let _ = first.focus();
        }
    }
}
