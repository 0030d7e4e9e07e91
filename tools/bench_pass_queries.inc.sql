-- The three searches (included twice by bench_pass_queries.sql).
\echo 'ledger step:'
EXPLAIN (ANALYZE, COSTS off, SUMMARY on)
SELECT id FROM centrapay_payment_request
 WHERE ledger_pending = true AND centrapay_id IS NOT NULL
   AND (next_poll_at IS NULL OR next_poll_at <= now())
 ORDER BY id DESC LIMIT 20;
\echo 'external step:'
EXPLAIN (ANALYZE, COSTS off, SUMMARY on)
SELECT id FROM centrapay_payment_request
 WHERE external_pending = true
   AND (next_poll_at IS NULL OR next_poll_at <= now())
 ORDER BY id DESC LIMIT 20;
\echo 'give-back step:'
EXPLAIN (ANALYZE, COSTS off, SUMMARY on)
SELECT id FROM centrapay_payment_request
 WHERE status = 'paid' AND pos_payment_id IS NULL AND given_back IS NOT TRUE
   AND NOT COALESCE(refunded_by_void, FALSE)
   AND ((void_requested AND NOT COALESCE(pos_told_paid, FALSE)
         AND status_changed_at < now() - interval '15 minutes')
        OR pos_abandoned_at IS NOT NULL)
   AND (next_poll_at IS NULL OR next_poll_at <= now())
 LIMIT 20;
