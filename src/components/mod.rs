pub mod dialog;
pub mod error_banner;
pub mod loaded;
pub mod pager;
pub mod permission;
pub mod shell;
pub mod table;
pub mod toast;
