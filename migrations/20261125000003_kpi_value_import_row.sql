-- The row of the imported file that wrote a value. An import upserts in
-- batches and never overwrites a value it wrote itself: such a conflict is the
-- same KPI and period twice in one file, and this column names the first row
-- in the error report, so the worker keeps no per-row memory of the file.
alter table kpi_value add column import_row bigint;
