//! CSV exports (devices, the audit log): streamed from a reader task, each cell that a spreadsheet
//! would run as a formula neutralized.

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::{stream, StreamExt};

use crate::store::devices::CsvChunk;
use crate::store::error::StoreResult;

/// An export's turn for `user_id`: one export per user, a few at once (`state.exports`), each
/// refusal in words.
pub fn turn(
    state: &crate::state::AppState,
    user_id: &str,
) -> crate::error::AppResult<crate::turns::Turn> {
    state.exports.begin(user_id.as_bytes()).map_err(|refused| {
        refused.error(
            "Your previous export is still running. Wait for it to finish, then export again.",
            &format!(
                "{} exports are already running, the most this server runs at once. Try again shortly.",
                state.exports.at_once()
            ),
        )
    })
}

/// Chunks read ahead of the response at most.
pub const CHUNKS_WAITING: usize = 4;

/// The CSV response: `header`, then the rows `receiver` brings until `Done`, as the attachment
/// `filename`. A reader that stopped without `Done` ends the body with an error, so that the
/// client sees the connection fail rather than a CSV that looks complete. Fused: the compression
/// layer may poll the body again after its end.
pub fn streamed(
    filename: &'static str,
    header: Vec<u8>,
    receiver: tokio::sync::mpsc::Receiver<StoreResult<CsvChunk>>,
) -> Response {
    let pages = stream::unfold(Some(receiver), |receiver| async move {
        let mut receiver = receiver?;
        let stopped = match receiver.recv().await {
            Some(Ok(CsvChunk::Rows(records))) => {
                let rows = rows(records.iter().map(|record| {
                    record
                        .iter()
                        .map(|field| neutralized(field.as_deref().unwrap_or("")))
                }));
                return Some((Ok(rows), Some(receiver)));
            }
            Some(Ok(CsvChunk::Done)) => return None,
            Some(Err(error)) => error.to_string(),
            None => "its reader stopped".to_owned(),
        };
        tracing::error!(error = %stopped, "the export stopped part-way");
        Some((
            Err(std::io::Error::other("the export stopped part-way")),
            None,
        ))
    });
    let body = stream::iter([Ok::<_, std::io::Error>(header)])
        .chain(pages)
        .fuse();
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// A cell that a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, or a tab or carriage
/// return before one) gets a leading `'`, as OWASP's CSV injection guidance recommends: a device
/// named `=HYPERLINK(...)` by a site is shown as text, never run.
pub fn neutralized(field: &str) -> std::borrow::Cow<'_, str> {
    if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{field}").into()
    } else {
        field.into()
    }
}

/// Records as CSV lines.
pub fn rows<R, F>(records: impl Iterator<Item = R>) -> Vec<u8>
where
    R: IntoIterator<Item = F>,
    F: AsRef<str>,
{
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    for record in records {
        for field in record {
            writer
                .write_field(field.as_ref())
                .expect("writing to memory cannot fail");
        }
        writer
            .write_record(None::<&[u8]>)
            .expect("writing to memory cannot fail");
    }
    writer.into_inner().expect("writing to memory cannot fail")
}
