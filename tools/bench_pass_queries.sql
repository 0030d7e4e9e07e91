-- What the engine's pass asks PostgreSQL four times a second, after a year of
-- payments: ROWS paid and claimed requests (100,000 by default: about 275 a day)
-- are added to the demo's in one transaction, the three searches of the pass's
-- background steps are timed with their indexes (models/centrapay_payment_request.py,
-- ``init``) and without them, and everything is rolled back.
--
--   psql -d pos_centrapay_demo -v rows=100000 -f tools/bench_pass_queries.sql
--
-- Dropping the indexes (rolled back too) locks the table until the end: run it
-- while no till pays. The searches are those of ``centrapay.engine._centrapay_pass``
-- as the ORM writes them; doc/benchmarks.md §8.9 has the figures.
\set ON_ERROR_STOP on
\if :{?rows}
\else
\set rows 100000
\endif
SET bench.rows = :rows;
BEGIN;
DO $$
DECLARE
    cols text;
BEGIN
    SELECT string_agg(quote_ident(column_name), ', ')
      INTO cols
      FROM information_schema.columns
     WHERE table_name = 'centrapay_payment_request'
       AND column_name NOT IN ('id', 'external_ref', 'centrapay_id');
    EXECUTE format(
        'INSERT INTO centrapay_payment_request (external_ref, centrapay_id, %s)'
        ' SELECT ''bench-'' || g, ''bench-'' || g, %s'
        ' FROM generate_series(1, %s) g,'
        ' (SELECT * FROM centrapay_payment_request WHERE status = ''paid'''
        '   AND pos_payment_id IS NOT NULL ORDER BY id LIMIT 1) r',
        cols, 'r.' || replace(cols, ', ', ', r.'), current_setting('bench.rows')
    );
END
$$;
ANALYZE centrapay_payment_request;
SELECT count(*) AS requests FROM centrapay_payment_request;

\echo '--- with the indexes'
\i tools/bench_pass_queries.inc.sql
DROP INDEX centrapay_payment_request_ledger_idx,
    centrapay_payment_request_external_idx,
    centrapay_payment_request_abandoned_idx;
\echo '--- without them'
\i tools/bench_pass_queries.inc.sql
ROLLBACK;
