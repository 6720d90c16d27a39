//! The import task: its payload and queue, shared by the API (producer) and
//! the worker (consumer).
use apalis_core::task::builder::TaskBuilder;
use serde::{Deserialize, Serialize};

use crate::file_kind::{self, FileKind};
use crate::ids::ImportJobId;

/// The queue both processes name explicitly (never apalis' default type name,
/// which would change with a refactor).
pub const IMPORT_QUEUE: &str = "kpix.import_kpi_values";

/// Attempts for infrastructure failures; a bad file fails the job at once.
pub const IMPORT_MAX_ATTEMPTS: usize = 5;

/// Tasks carry ids only (the worker reloads the job row), and the trace
/// context of the upload, so that the job's span continues its trace.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportTask {
    pub job_id: ImportJobId,
    /// W3C `traceparent` of the upload's request span; absent in tasks
    /// queued without traces, or by an earlier release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// Pushes the task on the caller's transaction, so the job row and its task
/// commit (or roll back) together.
pub async fn enqueue_import(
    conn: &mut sqlx::PgConnection,
    task: &ImportTask,
) -> Result<(), apalis_postgres::Error> {
    let payload = serde_json::to_vec(task)
        .map_err(|e| apalis_postgres::Error::Database(sqlx::Error::Encode(Box::new(e))))?;
    let task = TaskBuilder::new(payload)
        .max_attempts(IMPORT_MAX_ATTEMPTS)
        .build();
    apalis_postgres::queries::push_tasks(conn, IMPORT_QUEUE, vec![task]).await
}

/// The media types an upload may declare for its file part, and their job
/// type (the OpenAPI document lists them).
pub const UPLOAD_MEDIA_TYPES: &[(&str, crate::domain::ImportType)] = &[
    ("text/csv", crate::domain::ImportType::Csv),
    ("text/tab-separated-values", crate::domain::ImportType::Csv),
    ("text/plain", crate::domain::ImportType::Csv),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        crate::domain::ImportType::Excel,
    ),
    ("application/vnd.ms-excel", crate::domain::ImportType::Excel),
    (
        "application/vnd.oasis.opendocument.spreadsheet",
        crate::domain::ImportType::Excel,
    ),
];

/// [`UPLOAD_MEDIA_TYPES`] as one comma-separated list.
pub fn upload_media_types() -> String {
    UPLOAD_MEDIA_TYPES
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The job type of an upload: from its first bytes, or else from the media
/// type its part declares, or else from its name. A file declared or named
/// as a CSV or a spreadsheet whose content is not one (binary junk renamed
/// .csv) becomes a job that fails with the worker's message, as other
/// damaged files do; `None` (any other file) is an unsupported type.
pub fn upload_type(
    head: &[u8],
    filename: Option<&str>,
    media_type: Option<&str>,
) -> Option<crate::domain::ImportType> {
    use crate::domain::ImportType;
    let declared = || {
        let essence = media_type?.split(';').next()?.trim().to_ascii_lowercase();
        UPLOAD_MEDIA_TYPES
            .iter()
            .find(|(name, _)| *name == essence)
            .map(|(_, kind)| *kind)
    };
    file_kind::detect(head, filename)
        .map(FileKind::import_type)
        .or_else(declared)
        .or_else(|| {
            let extension = filename?.rsplit_once('.')?.1.to_ascii_lowercase();
            match extension.as_str() {
                "csv" | "txt" | "tsv" => Some(ImportType::Csv),
                "xlsx" | "xlsm" | "xls" | "ods" => Some(ImportType::Excel),
                _ => None,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ImportType;

    #[test]
    fn uploads_are_sorted_by_content() {
        let csv = |head: &[u8]| upload_type(head, None, None);
        assert_eq!(csv(b"kpi_code,period,value\n"), Some(ImportType::Csv));
        assert_eq!(
            csv("Indicateur;P\u{e9}riode".as_bytes()),
            Some(ImportType::Csv)
        );
        assert_eq!(csv(b"\xef\xbb\xbfkpi;period"), Some(ImportType::Csv));
        let ole = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0];
        assert_eq!(csv(&ole), Some(ImportType::Excel));
        assert_eq!(csv(b"\x7fELF\x02\x01\x01\x00"), None);
    }

    #[test]
    fn binary_uploads_named_as_a_supported_file_become_jobs() {
        let junk = b"\x7fELF\x02\x01\x01\x00";
        assert_eq!(
            upload_type(junk, Some("valeurs.CSV"), None),
            Some(ImportType::Csv)
        );
        assert_eq!(
            upload_type(junk, Some("valeurs.xlsx"), None),
            Some(ImportType::Excel)
        );
        assert_eq!(upload_type(junk, Some("rapport.pdf"), None), None);
        assert_eq!(upload_type(junk, Some("csv"), None), None);
        assert_eq!(upload_type(junk, None, None), None);
        // a declared media type counts as a name does
        assert_eq!(
            upload_type(junk, Some("x.png"), Some("text/csv; charset=utf-8")),
            Some(ImportType::Csv)
        );
        assert_eq!(
            upload_type(junk, None, Some("application/vnd.ms-excel")),
            Some(ImportType::Excel)
        );
        assert_eq!(upload_type(junk, Some("x.png"), Some("image/png")), None);
        // the content decides when it is recognized
        let ole = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0];
        assert_eq!(
            upload_type(&ole, Some("a.csv"), Some("text/csv")),
            Some(ImportType::Excel)
        );
    }
}
