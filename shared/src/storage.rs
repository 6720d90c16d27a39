//! The object store holding uploaded import files: a local folder by default,
//! S3-compatible storage (AWS S3, MinIO, …) for `s3://bucket/prefix` URLs.
use std::sync::Arc;

use crate::ids::{ImportJobId, OrganizationId};
use futures::TryStreamExt;
use object_store::{
    ObjectStore, ObjectStoreExt, WriteMultipart, aws::AmazonS3Builder, local::LocalFileSystem,
    path::Path,
};
use tokio::io::AsyncRead;
use tokio_util::io::StreamReader;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("STORAGE_URL '{url}' is invalid: {reason}")]
    Config { url: String, reason: String },
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("upload larger than {limit} bytes")]
    TooLarge { limit: u64 },
}

/// Where import files live; cheap to clone.
#[derive(Clone, Debug)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

impl Storage {
    /// Opens the store named by a `file:///dir` or `s3://bucket/prefix` URL.
    /// S3 settings come from the usual `AWS_*` variables (`AWS_ENDPOINT` and
    /// `AWS_ALLOW_HTTP=true` for MinIO).
    pub fn from_url(url: &str) -> Result<Self, StorageError> {
        let config_error = |reason: String| StorageError::Config {
            url: url.to_owned(),
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|e| config_error(e.to_string()))?;
        match parsed.scheme() {
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|()| config_error("not an absolute file path".into()))?;
                std::fs::create_dir_all(&dir)
                    .map_err(|e| config_error(format!("cannot create {}: {e}", dir.display())))?;
                let store = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| config_error(e.to_string()))?;
                Ok(Self {
                    store: Arc::new(store),
                    prefix: Path::default(),
                })
            }
            "s3" => {
                let bucket = parsed
                    .host_str()
                    .ok_or_else(|| config_error("no bucket".into()))?;
                let store = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(|e| config_error(e.to_string()))?;
                Ok(Self {
                    store: Arc::new(store),
                    prefix: Path::from(parsed.path().trim_matches('/')),
                })
            }
            other => Err(config_error(format!(
                "scheme '{other}' is not supported (file:// or s3://)"
            ))),
        }
    }

    /// Writes and reads back a small marker object: at start, a wrong bucket,
    /// missing credentials or a read-only store are found before the first
    /// upload fails. The marker stays, for [`Self::check_reachable`].
    pub async fn check_writable(&self) -> Result<(), StorageError> {
        let marker = self.marker();
        self.store
            .put(&marker, bytes::Bytes::from_static(b"kpix").into())
            .await?;
        self.store.get(&marker).await?.bytes().await?;
        Ok(())
    }

    /// The marker is still there: the store answers (readiness probes run
    /// every few seconds: one HEAD request, no write).
    pub async fn check_reachable(&self) -> Result<(), StorageError> {
        self.store.head(&self.marker()).await?;
        Ok(())
    }

    fn marker(&self) -> Path {
        self.prefix.clone().join(".kpix-ready")
    }

    /// The key of an import file: one folder per organization.
    pub fn import_key(&self, organization_id: OrganizationId, job_id: ImportJobId) -> String {
        let mut key = self.prefix.clone();
        for part in ["imports", &organization_id.to_string(), &job_id.to_string()] {
            key = key.join(part);
        }
        key.to_string()
    }

    /// Starts a streaming upload; parts go out as they fill, so a large file
    /// is never held whole in memory.
    pub async fn start_upload(&self, key: &str) -> Result<Upload, StorageError> {
        let upload = self.store.put_multipart(&Path::from(key)).await?;
        Ok(Upload {
            writer: WriteMultipart::new(upload),
            written: 0,
        })
    }

    /// Streams an object chunk by chunk, so that reading a large file never
    /// holds it whole in memory.
    pub async fn reader(
        &self,
        key: &str,
    ) -> Result<impl AsyncRead + Send + Unpin + 'static, StorageError> {
        let chunks = self.store.get(&Path::from(key)).await?.into_stream();
        Ok(StreamReader::new(chunks.map_err(std::io::Error::other)))
    }

    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        Ok(self.store.delete(&Path::from(key)).await?)
    }
}

/// An upload in progress.
pub struct Upload {
    writer: WriteMultipart,
    written: u64,
}

impl Upload {
    /// Appends a chunk, refusing to go past `limit` bytes in all.
    pub async fn write(&mut self, chunk: &[u8], limit: u64) -> Result<(), StorageError> {
        self.written += chunk.len() as u64;
        if self.written > limit {
            return Err(StorageError::TooLarge { limit });
        }
        self.writer.wait_for_capacity(4).await?;
        self.writer.write(chunk);
        Ok(())
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    pub async fn finish(self) -> Result<(), StorageError> {
        self.writer.finish().await?;
        Ok(())
    }

    pub async fn abort(self) -> Result<(), StorageError> {
        Ok(self.writer.abort().await?)
    }
}
