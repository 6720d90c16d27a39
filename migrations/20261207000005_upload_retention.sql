-- Uploaded files are deleted once their job has ended (after
-- UPLOAD_RETENTION_HOURS, 0 by default): the worker looks for finished jobs
-- whose file is still stored, deletes the file, and clears storage_key.
create index data_import_job_stored_file_idx on data_import_job (finished_at)
    where storage_key is not null and finished_at is not null;
