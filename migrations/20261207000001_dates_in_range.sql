-- Dates are years 1900 to 2199 (domain::period::check_date), checked by the
-- API and the import; the database holds the same bound as a second layer.
-- A date far outside (9999-12-31, written before the check existed) made the
-- reports fail for the whole organization: period_end 10000-01-02 cannot be
-- read back.
--
-- Rows written before the check that lie outside are kept, not lost, in
-- out_of_range_row (as JSON, for an administrator to look at), then removed
-- from kpi_value; an action keeps its row with its due date cleared.
create table out_of_range_row (
    table_name text not null,
    row_data jsonb not null,
    moved_at timestamptz not null default now()
);

with moved as (
    delete from kpi_value
     where period_start not between '1900-01-01' and '2199-12-31'
        or period_end not between '1900-01-01' and '2199-12-31'
    returning *
)
insert into out_of_range_row (table_name, row_data)
select 'kpi_value', to_jsonb(moved) from moved;

insert into out_of_range_row (table_name, row_data)
select 'action_plan', to_jsonb(a) from action_plan a
 where due_date not between '1900-01-01' and '2199-12-31';
update action_plan set due_date = null
 where due_date not between '1900-01-01' and '2199-12-31';

alter table kpi_value add constraint kpi_value_period_in_range
    check (period_start >= '1900-01-01' and period_end <= '2199-12-31');
alter table action_plan add constraint action_plan_due_date_in_range
    check (due_date between '1900-01-01' and '2199-12-31');
